//! Our TreeSHAP against the real `shap` package (../shared/tools/shap_oracle.py, pinned shap 0.51)
//! on the same forest: path-dependent within 1e-9, interventional within 1e-6, our additivity
//! within 1e-12; and our dump reader/writer against scikit-learn's export.
//!
//! The forest here is a scikit-learn RandomForestClassifier exported by
//! ../shared/tools/sklearn_to_dump.py. [`check_against_shap`] takes any `credrisk-forest/1` dump
//! and rows, so a forest trained by `credrisk train` (dump from `credrisk export-forest`, rows
//! from `credrisk encode`) plugs into the same check.

mod common;

use credrisk::forest::Forest;
use credrisk::forest::dump::read_dump;
use credrisk::shap::TreeShap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Trains a small forest on float32-exact synthetic data (sklearn compares in float32) and
/// exports it; writes held-out rows and a background sample as CSV.
const TRAIN_PY: &str = r#"
import os, subprocess, sys
import numpy as np, joblib
from sklearn.ensemble import RandomForestClassifier
out, dump_tool = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(2024)
n = 2600
X = np.column_stack([
    rng.integers(18, 80, n),                    # age (integer: many rows tie)
    np.round(rng.lognormal(13, 0.6, n), -3),    # income
    rng.integers(0, 2, n),                      # a one-hot column
    rng.integers(0, 2, n),
    rng.uniform(0, 1, n).round(2),              # a ratio on a coarse grid
    rng.integers(0, 10, n),
    rng.normal(0, 1, n),
    rng.exponential(1, n),
]).astype(np.float32).astype(np.float64)
logit = (0.05 * (X[:, 0] - 45) + 0.9 * np.log(X[:, 1] / 4.4e5) + 0.7 * X[:, 2] - 0.5 * X[:, 3]
         + 1.5 * (X[:, 4] - 0.5) - 0.2 * (X[:, 5] - 5) + 0.6 * X[:, 6] * X[:, 2] - 0.4 * X[:, 7])
y = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
names = ["age", "income", "owner=yes", "owner=no", "debt_ratio", "dependents", "score", "delinquency"]
rf = RandomForestClassifier(n_estimators=20, max_depth=8, random_state=0, n_jobs=1).fit(X[:2000], y[:2000])
joblib.dump(rf, os.path.join(out, "model.joblib"))
subprocess.run([sys.executable, dump_tool, os.path.join(out, "model.joblib"), "--out",
                os.path.join(out, "sklearn_forest.json"), "--feature-names", ",".join(names)], check=True)
def write(name, rows):
    with open(os.path.join(out, name), "w") as fh:
        fh.write(",".join(names) + "\n")
        fh.writelines(",".join(repr(float(v)) for v in r) + "\n" for r in rows)
write("rows.csv", X[2000:2500])
write("background.csv", X[rng.choice(2000, 150, replace=False)])
"#;

/// Exits non-zero unless two dumps hold the same trees: structure, features, thresholds, covers
/// and leaf values bit for bit; internal values (which we recompute) within 1e-12.
const SAME_TREES_PY: &str = r#"
import json, sys
import numpy as np
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["feature_names"] == b["feature_names"], "feature names differ"
assert len(a["trees"]) == len(b["trees"]), "tree counts differ"
for t, (s, o) in enumerate(zip(a["trees"], b["trees"])):
    left = np.array(s["children_left"])
    internal, leaf = left >= 0, left < 0
    assert s["children_left"] == o["children_left"] and s["children_right"] == o["children_right"], t
    for key, mask in (("feature", internal), ("threshold", internal), ("cover", None), ("value", leaf)):
        x, y = np.array(s[key]), np.array(o[key])
        if mask is not None:
            x, y = x[mask], y[mask]
        assert np.array_equal(x, y), f"tree {t}: {key} differs"
    gap = np.max(np.abs(np.array(s["value"]) - np.array(o["value"])))
    assert gap <= 1e-12, f"tree {t}: internal values differ by {gap}"
print("same trees")
"#;

fn oracle_script() -> PathBuf {
    common::shared().join("tools/shap_oracle.py")
}

/// Row-major numbers of a CSV whose header is `names` (the files written here and by Python).
fn read_csv(path: &Path, names: &[String]) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap().split(',').collect::<Vec<_>>(), names, "{}", path.display());
    lines.map(|line| line.split(',').map(|v| v.parse::<f64>().unwrap()).collect()).collect()
}

fn write_csv(path: &Path, names: &[String], rows: &[Vec<f64>]) {
    let mut text = names.join(",") + "\n";
    for row in rows {
        // `{:?}` prints the shortest string that parses back to the same f64.
        text += &row.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",");
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Runs the oracle; returns (exit code, stdout + stderr).
fn run_oracle(dump: &Path, rows: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(common::python())
        .arg(oracle_script())
        .arg("--model")
        .arg(dump)
        .arg("--rows")
        .arg(rows)
        .args(extra)
        .output()
        .expect("the oracle runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Explains `rows` with `shap` and writes the oracle's compare file; asserts our additivity.
fn write_ours(shap: &TreeShap, rows: &[Vec<f64>], names: &[String], path: &Path) -> serde_json::Value {
    let flat: Vec<f64> = rows.concat();
    let explanations = shap.explain_rows(&flat).unwrap();
    let worst = explanations.iter().map(|e| e.additivity_error()).fold(0.0, f64::max);
    assert!(worst <= 1e-12, "{:?} additivity error {worst:e}", shap.method());
    let ours = serde_json::json!({
        "expected_value": shap.base_value(),
        "shap_values": explanations.iter().map(|e| e.values.clone()).collect::<Vec<_>>(),
        "prediction": explanations.iter().map(|e| e.prediction).collect::<Vec<_>>(),
        "feature_names": names,
    });
    std::fs::write(path, serde_json::to_string(&ours).unwrap()).unwrap();
    ours
}

/// The whole check on any dump: both methods against shap within the issue's tolerances, our
/// additivity within 1e-12, and a tampered answer must be caught (the comparison is live).
fn check_against_shap(
    dir: &Path,
    dump: &Path,
    forest: &Forest,
    names: &[String],
    rows: &[Vec<f64>],
    bg: &[Vec<f64>],
) {
    let rows_csv = dir.join("explain_rows.csv");
    let bg_csv = dir.join("explain_background.csv");
    write_csv(&rows_csv, names, rows);
    write_csv(&bg_csv, names, bg);

    let path = TreeShap::path_dependent(forest).unwrap();
    let ours_path = dir.join("ours_path.json");
    let mut ours = write_ours(&path, rows, names, &ours_path);
    let (code, text) = run_oracle(
        dump,
        &rows_csv,
        &["--mode", "path", "--compare", ours_path.to_str().unwrap(), "--tol", "1e-9"],
    );
    assert_eq!(code, 0, "path-dependent mismatch against shap:\n{text}");
    eprintln!("path-dependent: {text}");

    let inter = TreeShap::interventional(forest, &bg.concat()).unwrap();
    let ours_inter = dir.join("ours_interventional.json");
    write_ours(&inter, rows, names, &ours_inter);
    let args = ["--mode", "interventional", "--background", bg_csv.to_str().unwrap(), "--compare"];
    let (code, text) =
        run_oracle(dump, &rows_csv, &[&args[..], &[ours_inter.to_str().unwrap(), "--tol", "1e-6"]].concat());
    assert_eq!(code, 0, "interventional mismatch against shap:\n{text}");
    eprintln!("interventional: {text}");

    // A 2e-9 error in one value must fail the 1e-9 comparison.
    let v = ours["shap_values"][rows.len() / 2][1].as_f64().unwrap();
    ours["shap_values"][rows.len() / 2][1] = serde_json::json!(v + 2e-9);
    std::fs::write(&ours_path, ours.to_string()).unwrap();
    let (code, text) = run_oracle(
        dump,
        &rows_csv,
        &["--mode", "path", "--compare", ours_path.to_str().unwrap(), "--tol", "1e-9"],
    );
    assert_eq!(code, 1, "the oracle should have caught a 2e-9 error:\n{text}");
}

/// Rows that sit exactly on thresholds the trees use (x <= t goes left: the routing edge case).
fn rows_on_thresholds(forest: &Forest, rows: &[Vec<f64>], count: usize) -> Vec<Vec<f64>> {
    let splits: Vec<(usize, f64)> = forest
        .trees
        .iter()
        .flat_map(|t| t.nodes.iter().filter(|n| !n.is_leaf()).map(|n| (n.feature as usize, n.threshold)))
        .collect();
    (0..count)
        .map(|i| {
            let mut row = rows[i % rows.len()].clone();
            for k in 0..3 {
                let (f, t) = splits[(i * 7 + k * 131) % splits.len()];
                row[f] = t;
            }
            row
        })
        .collect()
}

#[test]
fn treeshap_matches_the_real_shap_on_a_sklearn_forest() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let tool = common::shared().join("tools/sklearn_to_dump.py");
    common::python_ok(TRAIN_PY, &[dir.to_str().unwrap(), tool.to_str().unwrap()]);

    let sklearn = read_dump(dir.join("sklearn_forest.json")).unwrap();
    assert_eq!(sklearn.forest.trees.len(), 20);
    // Our writer's export of the same forest: same trees, and float64 routing, so rows exactly on
    // a threshold mean the same to shap and to us.
    let ours_dump = dir.join("ours_forest.json");
    sklearn.forest.write_dump(&sklearn.feature_names, &ours_dump).unwrap();
    let same = common::python_ok(
        SAME_TREES_PY,
        &[dir.join("sklearn_forest.json").to_str().unwrap(), ours_dump.to_str().unwrap()],
    );
    assert_eq!(same.trim(), "same trees");
    let forest = read_dump(&ours_dump).unwrap().forest;

    let names = &sklearn.feature_names;
    let mut rows = read_csv(&dir.join("rows.csv"), names);
    let on_thresholds = rows_on_thresholds(&forest, &rows, 100);
    rows.extend(on_thresholds);
    let background = read_csv(&dir.join("background.csv"), names);
    let predictions = forest.predict_rows(&rows.concat());
    let denied = predictions.iter().filter(|&&p| p < 0.5).count();
    assert!(denied >= 50 && rows.len() - denied >= 50, "both classes among the rows ({denied} below 0.5)");
    assert!(rows.len() >= 500 && background.len() >= 100);

    check_against_shap(dir, &ours_dump, &forest, names, &rows, &background);
}
