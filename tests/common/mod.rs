//! Helpers shared by the end-to-end tests: the built binary, scratch directories and the pinned
//! Python venv that holds the independent oracles (pyarrow, scikit-learn, shap, mlflow).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/` beside the project root.
pub fn shared() -> PathBuf {
    root().join("..").join("shared")
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
        "{} is missing: run scripts/test.sh (it creates the pinned venv from ../shared/requirements.txt)",
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

/// Python source defining `export_forest(rf, names)`: a fitted binary scikit-learn forest as a
/// `credrisk-forest/1` dump (a dict), for scripts to paste in front of their own code. Per node:
/// value = class-1 fraction, cover = `weighted_n_node_samples`, children_default from
/// `missing_go_to_left`; sklearn's +inf threshold ("every present value left, missing right")
/// becomes the largest finite float, which routes every finite input the same way and fits in
/// JSON. `input_dtype` float32: sklearn compares inputs cast to float32.
pub const SKLEARN_TO_DUMP_PY: &str = r#"
import numpy as np

def export_tree(tree):
    left, right = tree.children_left.astype(int), tree.children_right.astype(int)
    leaf = left == -1
    value = np.asarray(tree.value, dtype=np.float64)[:, 0, :]
    threshold = np.where(leaf, 0.0, tree.threshold.astype(np.float64))
    threshold = np.where(np.isposinf(threshold), np.finfo(np.float64).max, threshold)
    missing_left = np.asarray(tree.missing_go_to_left).astype(bool)
    return {
        "children_left": left.tolist(),
        "children_right": right.tolist(),
        "children_default": np.where(leaf, -1, np.where(missing_left, left, right)).tolist(),
        "feature": np.where(leaf, -1, tree.feature.astype(int)).tolist(),
        "threshold": threshold.tolist(),
        "value": (value[:, 1] / value.sum(axis=1)).tolist(),
        "cover": tree.weighted_n_node_samples.astype(np.float64).tolist(),
    }

def export_forest(rf, names):
    assert list(rf.classes_) == [False, True] or list(rf.classes_) == [0, 1], rf.classes_
    return {"format": "credrisk-forest/1", "feature_names": list(names), "input_dtype": "float32",
            "trees": [export_tree(e.tree_) for e in rf.estimators_]}
"#;
