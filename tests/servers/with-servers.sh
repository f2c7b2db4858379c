#!/usr/bin/env bash
# Runs a command beside a real S3-compatible server (s3s-fs, which checks request signatures)
# and a real PostgreSQL, both on 127.0.0.1, and stops them afterwards.
#
# Exports for the suites:
#   PICSMITH_TEST_S3_ENDPOINT   http://127.0.0.1:PORT   (buckets are folders of PICSMITH_TEST_S3_ROOT)
#   PICSMITH_TEST_S3_ROOT       the server's data folder: a test makes a bucket with mkdir
#   PICSMITH_TEST_POSTGRES      postgres://postgres@127.0.0.1:PORT (a test makes its own database)
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY   the credentials the server checks
# A server that cannot start is reported and left out; the suites then say SKIPPED for it.
#
#   bash tests/servers/with-servers.sh cargo test --release -p picsmith --test suite storage::
set -uo pipefail

work=$(mktemp -d /tmp/picsmith-servers.XXXXXX)
chmod 755 "$work"
s3_pid=""
pg_data=""
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
	[ -n "$s3_pid" ] && kill "$s3_pid" 2>/dev/null && wait "$s3_pid" 2>/dev/null
	[ -n "$pg_data" ] && as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

s3s=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
if [ -x "$s3s" ]; then
	port=$(free_port)
	mkdir -p "$work/s3"
	export AWS_ACCESS_KEY_ID=picsmith-test AWS_SECRET_ACCESS_KEY=picsmith-test-secret AWS_REGION=us-east-1
	"$s3s" --host 127.0.0.1 --port "$port" --access-key "$AWS_ACCESS_KEY_ID" \
		--secret-key "$AWS_SECRET_ACCESS_KEY" "$work/s3" >"$work/s3.log" 2>&1 &
	s3_pid=$!
	if wait_for_port "$port"; then
		export PICSMITH_TEST_S3_ENDPOINT="http://127.0.0.1:$port" PICSMITH_TEST_S3_ROOT="$work/s3"
		echo "with-servers: s3s-fs on 127.0.0.1:$port"
	else
		echo "with-servers: s3s-fs did not start:"; cat "$work/s3.log"
	fi
else
	echo "with-servers: s3s-fs is not installed (make setup installs it); S3 tests will be SKIPPED"
fi

if [ -x "$PG_BIN/initdb" ]; then
	port=$(free_port)
	mkdir -p "$work/pg"
	[ "$(id -u)" -eq 0 ] && chown postgres "$work/pg"
	if as_postgres "$PG_BIN/initdb" -D "$work/pg/data" -A trust -U postgres --no-sync >"$work/pg-init.log" 2>&1 &&
		as_postgres "$PG_BIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
			-o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null; then
		pg_data="$work/pg/data"
		export PICSMITH_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port"
		echo "with-servers: PostgreSQL on 127.0.0.1:$port"
	else
		echo "with-servers: PostgreSQL did not start:"; cat "$work/pg-init.log" "$work/pg/log" 2>/dev/null | tail -20
	fi
else
	echo "with-servers: no PostgreSQL at $PG_BIN; PostgreSQL tests will be SKIPPED"
fi

"$@"
