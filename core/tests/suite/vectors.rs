//! Runs every case of tests/vectors/*.json through the Rust API (see tests/vectors/README.md).

use crate::common;

use std::sync::Arc;

use picsmith::{DirectoryResolver, Options, Pipeline};
use serde_json::Value;

struct Outcome {
    ran: usize,
    skipped: usize,
    failures: Vec<String>,
}

fn load_input(spec: &str) -> Result<Option<Vec<u8>>, String> {
    if let Some(name) = spec.strip_prefix("corpus:") {
        return Ok(common::corpus_file(name));
    }
    if let Some(name) = spec.strip_prefix("fixture:") {
        let path = common::repo_dir().join("tests/fixtures").join(name);
        return std::fs::read(&path)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    Err(format!(
        "input '{spec}' must start with corpus: or fixture:"
    ))
}

fn check(case: &Value) -> Result<bool, String> {
    let query = case["query"].as_str().unwrap_or("");
    let strict = case["strict"].as_bool().unwrap_or(false);
    // A build with an optional feature may expect another outcome (`expect_with`).
    let expect = picsmith::features()
        .iter()
        .find_map(|feature| case["expect_with"].get(*feature))
        .unwrap_or(&case["expect"]);
    let warnings_of =
        |w: &[picsmith::Warning]| w.iter().map(|w| w.parameter.clone()).collect::<Vec<_>>();

    let result = match case["input"].as_str() {
        None => {
            let parsed = if strict {
                Pipeline::from_query_strict(query)
            } else {
                Pipeline::from_query(query)
            };
            parsed.map(|p| (None, warnings_of(p.warnings())))
        }
        Some(spec) => {
            let Some(input) = load_input(spec)? else {
                return Ok(false);
            };
            let resolver = match case["assets"].as_str() {
                Some(folder) => {
                    let root = common::repo_dir().join("tests").join(folder);
                    let resolver = DirectoryResolver::new(&root)
                        .map_err(|e| format!("assets {}: {e}", root.display()))?;
                    Some(Arc::new(resolver) as Arc<dyn picsmith::Resolver>)
                }
                None => None,
            };
            let options = Options {
                accept: case["accept"].as_str().map(str::to_owned),
                strict,
                resolver,
                ..Options::default()
            };
            picsmith::process(&input, query, &options).map(|out| {
                let warnings = warnings_of(&out.warnings);
                (Some(out), warnings)
            })
        }
    };

    match (result, expect.get("error")) {
        (Err(err), Some(code)) => {
            if err.code() != code {
                return Err(format!("expected error {code}, got {} ({err})", err.code()));
            }
            if let Some(param) = expect.get("parameter")
                && err.parameter() != param.as_str()
            {
                return Err(format!(
                    "expected parameter {param}, got {:?}",
                    err.parameter()
                ));
            }
        }
        (Err(err), None) => return Err(format!("unexpected error {}: {err}", err.code())),
        (Ok(_), Some(code)) => return Err(format!("expected error {code}, got success")),
        (Ok((output, warnings)), None) => {
            if let Some(expected) = expect.get("warnings") {
                let expected: Vec<String> =
                    serde_json::from_value(expected.clone()).map_err(|e| e.to_string())?;
                if warnings != expected {
                    return Err(format!("warnings {warnings:?}, expected {expected:?}"));
                }
            }
            if let Some(out) = output {
                let actual = [
                    ("width", Value::from(out.width)),
                    ("height", Value::from(out.height)),
                    ("format", Value::from(out.format.name())),
                    ("vary_accept", Value::from(out.vary_accept)),
                ];
                for (key, value) in actual {
                    if let Some(want) = expect.get(key)
                        && *want != value
                    {
                        return Err(format!("{key} is {value}, expected {want}"));
                    }
                }
                if picsmith::Format::detect(&out.data) != Some(out.format) {
                    return Err(format!("output bytes are not {}", out.format));
                }
            }
        }
    }
    Ok(true)
}

fn run_all() -> Outcome {
    let mut outcome = Outcome {
        ran: 0,
        skipped: 0,
        failures: Vec::new(),
    };
    let dir = common::repo_dir().join("tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vector files in {}", dir.display());
    for file in files {
        let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let cases = doc["cases"].as_array().expect("cases array");
        for case in cases {
            let name = format!(
                "{}: {}",
                file.file_name().unwrap().to_string_lossy(),
                case["name"]
            );
            match check(case) {
                Ok(true) => outcome.ran += 1,
                Ok(false) => outcome.skipped += 1,
                Err(why) => outcome.failures.push(format!("{name}: {why}")),
            }
        }
    }
    outcome
}

#[test]
fn every_vector_passes() {
    let outcome = run_all();
    eprintln!(
        "vectors: {} ran, {} skipped (corpus absent)",
        outcome.ran, outcome.skipped
    );
    assert!(
        outcome.failures.is_empty(),
        "{} failing vectors:\n{}",
        outcome.failures.len(),
        outcome.failures.join("\n")
    );
    assert!(outcome.ran > 0, "no vector ran");
}

#[test]
fn every_declared_parameter_has_a_bad_value_vector() {
    let path = common::repo_dir().join("tests/vectors/parameters.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let refused: Vec<&str> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["expect"]["error"] == "invalid_parameter")
        .filter_map(|c| c["expect"]["parameter"].as_str())
        .collect();
    for spec in picsmith::params::PARAMS {
        assert!(
            refused.contains(&spec.name),
            "no out-of-range vector for {}",
            spec.name
        );
    }
}
