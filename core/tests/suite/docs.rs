//! The README's parameter table is generated from the registry; this keeps the copy current.
//! Regenerate with `PICSMITH_BLESS=1 cargo test --release -p picsmith --test suite docs::`.

use crate::common;

const BEGIN: &str = "<!-- parameters:begin (generated from core/src/params.rs) -->\n";
const END: &str = "<!-- parameters:end -->";

#[test]
fn readme_parameter_table_matches_the_registry() {
    let path = common::repo_dir().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("README lacks the parameters:begin marker")
        + BEGIN.len();
    let end = readme[start..]
        .find(END)
        .expect("README lacks the parameters:end marker")
        + start;
    let table = picsmith::params::markdown_table();
    if readme[start..end] == table {
        return;
    }
    if std::env::var_os("PICSMITH_BLESS").is_some() {
        let updated = format!("{}{}{}", &readme[..start], table, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's parameter table is stale; regenerate it with \
         `PICSMITH_BLESS=1 cargo test --release -p picsmith --test suite docs::`"
    );
}
