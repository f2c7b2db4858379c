//! Helpers shared by the integration tests: where the corpus and fixtures are.

use std::path::PathBuf;

/// `$PICSMITH_CORPUS`, else `../shared/corpus` beside the checkout.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("PICSMITH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
}

#[allow(dead_code)] // not every test file uses every helper
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Reads a corpus file, or says visibly why the test is skipped.
#[allow(dead_code)]
pub fn corpus_file(name: &str) -> Option<Vec<u8>> {
    let path = corpus_dir().join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            eprintln!(
                "SKIPPED: corpus file {} is absent (set PICSMITH_CORPUS)",
                path.display()
            );
            None
        }
    }
}
