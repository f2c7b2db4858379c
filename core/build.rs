//! Embeds the SeetaFace frontal face model that the `rustface` crate ships in its package
//! (`model/seeta_fd_frontal_v1.0.bin`, BSD-2-Clause). The model is never downloaded at run
//! time and never committed here: cargo has already unpacked the rustface package when this
//! script runs, so the script finds that file and copies it into `OUT_DIR`, where
//! `src/faces.rs` includes it with `include_bytes!`.
//!
//! Where the model is looked for, in order:
//! 1. `PICSMITH_FACE_MODEL`, a path to the file (for unusual set-ups);
//! 2. the registry sources under `$CARGO_HOME` (default `~/.cargo`), whatever the registry
//!    directory's hash: `registry/src/*/rustface-<version>/model/...`;
//! 3. the package directories `cargo metadata --offline` reports (vendored or patched sources),
//!    given at most 60 s so a build can never hang on another cargo's lock.
//!
//! On Linux it asks the final link to send libjpeg's large allocations to Rust's allocator
//! (`src/jpeg/memory.rs`): for this crate's tests and examples directly, and for the bindings
//! through the `links` metadata (`DEP_PICSMITH_LINK_ARGS`), which their build scripts pass on.
//! The bindings' shared libraries are also asked to pack their relative relocations where the
//! glibc that will load them can (`packed_relocations_load_here`), and libstdc++ (for
//! openh264) is linked statically where the workspace's cargo configuration has cc link none.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The rustface version `Cargo.toml` pins with `=`.
const RUSTFACE_VERSION: &str = "0.1.7";
const MODEL_FILE: &str = "seeta_fd_frontal_v1.0.bin";
/// Size of the model file of rustface 0.1.7: a different file is refused.
const MODEL_LEN: u64 = 1_209_904;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PICSMITH_FACE_MODEL");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    let model = find_model().unwrap_or_else(|| {
        panic!(
            "picsmith: cannot find {MODEL_FILE} of the rustface {RUSTFACE_VERSION} package. \
             Set PICSMITH_FACE_MODEL to the file's path (it is in the rustface crate's model/ \
             directory)."
        )
    });
    println!("cargo:rerun-if-changed={}", model.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy(&model, out.join(MODEL_FILE))
        .unwrap_or_else(|e| panic!("picsmith: cannot copy {}: {e}", model.display()));
    if static_libstdcxx_wanted() {
        println!("cargo:rustc-link-lib=static:-bundle=stdc++");
    }
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let wrap = "-Wl,--wrap=jpeg_get_large,--wrap=jpeg_free_large";
        println!("cargo:rustc-link-arg={wrap}");
        let mut args = wrap.to_string();
        if packed_relocations_load_here() {
            args.push_str(" -Wl,-z,pack-relative-relocs");
        }
        println!("cargo:link_args={args}");
    }
}

/// Whether libstdc++ (for openh264) is linked here, statically: for the Linux targets the
/// workspace's cargo configuration names (.cargo/config.toml), cc links no C++ library. cc
/// reads the target's own variable before `CXXSTDLIB`.
fn static_libstdcxx_wanted() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    let variable = format!("CXXSTDLIB_{}", target.replace('-', "_"));
    println!("cargo:rerun-if-env-changed={variable}");
    std::env::var(&variable).as_deref() == Ok("")
}

/// Whether the shared libraries may pack their relative relocations (`DT_RELR`): about 97,000
/// of them, 2.3 MB of `.rela.dyn` that every process importing a binding read and kept resident
/// (1.4 MiB of peak RSS). Loading such a library needs glibc 2.36 or newer, so they are packed
/// only when the target is glibc on the machine that builds (whose glibc then loads them) and
/// that glibc is new enough.
fn packed_relocations_load_here() -> bool {
    let target_is_host = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    if !target_is_host || std::env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu") {
        return false;
    }
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut numbers = text.trim().trim_start_matches("glibc ").split('.');
    let major: u32 = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let minor: u32 = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    (major, minor) >= (2, 36)
}

fn find_model() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PICSMITH_FACE_MODEL") {
        let path = PathBuf::from(path);
        assert!(
            is_model(&path),
            "picsmith: PICSMITH_FACE_MODEL={} is not the {MODEL_LEN}-byte SeetaFace model",
            path.display()
        );
        return Some(path);
    }
    from_registry().or_else(from_cargo_metadata)
}

fn is_model(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == MODEL_LEN)
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

fn from_registry() -> Option<PathBuf> {
    let sources = cargo_home()?.join("registry").join("src");
    let package = format!("rustface-{RUSTFACE_VERSION}");
    let mut registries: Vec<PathBuf> = std::fs::read_dir(sources)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    registries.sort();
    registries
        .into_iter()
        .map(|registry| registry.join(&package).join("model").join(MODEL_FILE))
        .find(|path| is_model(path))
}

fn from_cargo_metadata() -> Option<PathBuf> {
    let cargo = std::env::var_os("CARGO")?;
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?).join("Cargo.toml");
    let mut child = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .arg("--manifest-path")
        .arg(manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
    });
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let text = reader.join().ok()?.ok()?;
    // Every package's "manifest_path"; the one whose directory holds the model wins. Scanning
    // the strings is enough: no JSON parser is needed for one field.
    let key = "\"manifest_path\":\"";
    text.match_indices(key)
        .filter_map(|(at, _)| {
            let rest = &text[at + key.len()..];
            let end = rest.find('"')?;
            let manifest = PathBuf::from(rest[..end].replace("\\\\", "\\"));
            Some(manifest.parent()?.join("model").join(MODEL_FILE))
        })
        .find(|path| is_model(path))
}
