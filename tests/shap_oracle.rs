//! Our TreeSHAP against the real `shap` package (tests/oracles/shap_oracle.py, pinned shap 0.51)
//! on the same forest: path-dependent within 1e-9, interventional within 1e-6, our additivity
//! within 1e-12; and our dump reader/writer against scikit-learn's export.
//!
//! The forest here is a scikit-learn RandomForestClassifier exported by
//! tests/oracles/sklearn_to_dump.py. [`check_against_shap`] takes any `credrisk-forest/1` dump
//! and rows, so a forest trained by `credrisk train` (dump from `credrisk export-forest`, rows
//! from `credrisk encode`) plugs into the same check.

mod common;

use credrisk::forest::Forest;
use credrisk::forest::dump::read_dump;
use credrisk::shap::TreeShap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Trains a small forest on float32-exact synthetic data (sklearn compares in float32) and
/// exports it; writes held-out rows and a background sample as CSV, and sklearn's own
/// probabilities for the rows. With a missing share > 0, income and debt_ratio are missing (NaN,
/// an empty CSV cell) in that share of all rows, so sklearn learns where missing values go.
const TRAIN_PY: &str = r#"
import json, os, subprocess, sys
import numpy as np, joblib
from sklearn.ensemble import RandomForestClassifier
out, dump_tool, missing = sys.argv[1], sys.argv[2], float(sys.argv[3])
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
for column in (1, 4):
    X[rng.uniform(size=n) < missing, column] = np.nan
names = ["age", "income", "owner=yes", "owner=no", "debt_ratio", "dependents", "score", "delinquency"]
rf = RandomForestClassifier(n_estimators=20, max_depth=8, random_state=0, n_jobs=1).fit(X[:2000], y[:2000])
joblib.dump(rf, os.path.join(out, "model.joblib"))
subprocess.run([sys.executable, dump_tool, os.path.join(out, "model.joblib"), "--out",
                os.path.join(out, "sklearn_forest.json"), "--feature-names", ",".join(names)], check=True)
def write(name, rows):
    with open(os.path.join(out, name), "w") as fh:
        fh.write(",".join(names) + "\n")
        fh.writelines(",".join("" if np.isnan(v) else repr(float(v)) for v in r) + "\n" for r in rows)
write("rows.csv", X[2000:2500])
with open(os.path.join(out, "sklearn_proba.json"), "w") as fh:
    json.dump(rf.predict_proba(X[2000:2500])[:, 1].tolist(), fh)
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
    keys = (("feature", internal), ("threshold", internal), ("cover", None), ("value", leaf),
            ("children_default", internal))
    for key, mask in keys:
        x, y = np.array(s[key]), np.array(o[key])
        if mask is not None:
            x, y = x[mask], y[mask]
        assert np.array_equal(x, y), f"tree {t}: {key} differs"
    gap = np.max(np.abs(np.array(s["value"]) - np.array(o["value"])))
    assert gap <= 1e-12, f"tree {t}: internal values differ by {gap}"
print("same trees")
"#;

fn oracle_script() -> PathBuf {
    common::oracle("shap_oracle.py")
}

/// Row-major numbers of a CSV whose header is `names` (the files written here and by Python); an
/// empty cell is a missing value (NaN).
fn read_csv(path: &Path, names: &[String]) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap().split(',').collect::<Vec<_>>(), names, "{}", path.display());
    let number = |v: &str| if v.is_empty() { f64::NAN } else { v.parse::<f64>().unwrap() };
    lines.map(|line| line.split(',').map(number).collect()).collect()
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
    let tool = common::oracle("sklearn_to_dump.py");
    common::python_ok(TRAIN_PY, &[dir.to_str().unwrap(), tool.to_str().unwrap(), "0"]);

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

#[test]
fn treeshap_matches_the_real_shap_with_missing_values_on_a_sklearn_forest() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let tool = common::oracle("sklearn_to_dump.py");
    common::python_ok(TRAIN_PY, &[dir.to_str().unwrap(), tool.to_str().unwrap(), "0.15"]);

    let sklearn = read_dump(dir.join("sklearn_forest.json")).unwrap();
    let forest = sklearn.forest;
    // Training saw missing incomes and debt ratios, so both directions occur at their splits.
    let defaults: Vec<bool> = forest
        .trees
        .iter()
        .flat_map(|t| t.nodes.iter().filter(|n| !n.is_leaf() && [1, 4].contains(&n.feature)))
        .map(|n| n.default_left)
        .collect();
    assert!(defaults.contains(&true) && defaults.contains(&false), "{defaults:?}");

    let names = &sklearn.feature_names;
    let rows = read_csv(&dir.join("rows.csv"), names);
    let background = read_csv(&dir.join("background.csv"), names);
    let missing = rows.iter().filter(|r| r.iter().any(|v| v.is_nan())).count();
    assert!(missing >= 100, "{missing} of {} rows have a missing value", rows.len());
    assert!(background.iter().any(|r| r.iter().any(|v| v.is_nan())), "no missing value in the background");
    // Routing missing values as scikit-learn does: its own probabilities, row by row.
    let theirs: Vec<f64> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sklearn_proba.json")).unwrap()).unwrap();
    for (i, (ours, theirs)) in forest.predict_rows(&rows.concat()).iter().zip(&theirs).enumerate() {
        assert!((ours - theirs).abs() < 1e-12, "row {i}: ours {ours}, sklearn {theirs}");
    }

    check_against_shap(dir, &dir.join("sklearn_forest.json"), &forest, names, &rows, &background);
}

/// The hand-checked tree of the dump format (root x0 <= 0.5, then x1 <= 2 on the left and
/// x0 <= 1.5 on the right); a missing x0 goes right at the root and left below it.
const HAND_DUMP: &str = r#"{"format": "credrisk-forest/1", "feature_names": ["x0", "x1", "x2"],
  "trees": [{"children_left": [1, 3, 5, -1, -1, -1, -1], "children_right": [2, 4, 6, -1, -1, -1, -1],
             "children_default": [2, 3, 5, -1, -1, -1, -1], "feature": [0, 1, 0, -1, -1, -1, -1],
             "threshold": [0.5, 2.0, 1.5, 0, 0, 0, 0], "value": [0.64, 0.4, 0.8, 0.1, 0.5, 0.6, 0.9],
             "cover": [10, 4, 6, 1, 3, 2, 4]}]}"#;

#[test]
fn the_oracle_reproduces_the_hand_checked_tree_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let model = dir.join("hand.json");
    std::fs::write(&model, HAND_DUMP).unwrap();
    // Rows (x0, x1, x2), f(x), path-dependent φ (base 0.64), interventional φ against the
    // background (0,0,0), (2,0,0) (base 0.5), worked out from the definitions. A missing x0 takes
    // the branches x0 = 1.0 would, so it is explained as the row (1.5, 5, 0) is.
    let rows = dir.join("rows.json");
    std::fs::write(
        &rows,
        r#"[{"x0": 0.0, "x1": 3.0, "x2": 0}, {"x0": 1.0, "x1": 0.0, "x2": 7}, {"x0": 0.5, "x1": 2.0, "x2": 0},
            {"x0": 1.5, "x1": 5.0, "x2": 0}, {"x0": null, "x1": 3.0, "x2": 0}]"#,
    )
    .unwrap();
    let background = dir.join("bg.csv");
    std::fs::write(&background, "x0,x1,x2\n0,0,0\n2,0,0\n").unwrap();
    let f = [0.5, 0.6, 0.1, 0.6, 0.6];
    let path_phi =
        [[-0.21, 0.07, 0.0], [0.02, -0.06, 0.0], [-0.33, -0.21, 0.0], [-0.06, 0.02, 0.0], [-0.06, 0.02, 0.0]];
    let int_phi = [[-0.3, 0.3, 0.0], [0.1, 0.0, 0.0], [-0.4, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.1, 0.0]];
    let bg = background.to_str().unwrap();
    for (mode, base, phi, tol, extra) in [
        ("path", 0.64, path_phi, 1e-12, vec![]),
        ("interventional", 0.5, int_phi, 1e-6, vec!["--background", bg]),
    ] {
        let out_file = dir.join(format!("{mode}.json"));
        let mut args = vec!["--mode", mode, "--out", out_file.to_str().unwrap()];
        args.extend(extra);
        let (code, text) = run_oracle(&model, &rows, &args);
        assert_eq!(code, 0, "{mode}: {text}");
        let got: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
        let close = |a: &serde_json::Value, b: f64| (a.as_f64().unwrap() - b).abs() <= tol;
        assert!(close(&got["expected_value"], base), "{mode}: {got}");
        for (i, (want_f, want_phi)) in f.iter().zip(&phi).enumerate() {
            assert!(close(&got["prediction"][i], *want_f), "{mode} row {i}: {got}");
            for (j, want) in want_phi.iter().enumerate() {
                assert!(close(&got["shap_values"][i][j], *want), "{mode} row {i} φ{j}: {got}");
            }
        }
    }

    // Bad input is one line and exit 2, whatever is wrong.
    let bad_default = HAND_DUMP.replace("\"children_default\": [2, 3, 5", "\"children_default\": [4, 3, 5");
    let cases = [
        (
            HAND_DUMP.replace("credrisk-forest/1", "credrisk-forest/9"),
            r#"[{"x0": 1, "x1": 2, "x2": 3}]"#,
            "format",
        ),
        (bad_default, r#"[{"x0": 1, "x1": 2, "x2": 3}]"#, "neither child"),
        (HAND_DUMP.to_string(), r#"[{"x0": 1, "x1": 2}]"#, "lacks x2"),
        (HAND_DUMP.to_string(), r#"[{"x0": 1, "x1": "two", "x2": 3}]"#, "not a number"),
        (HAND_DUMP.to_string(), r#"[{"x0": 1e999, "x1": 2, "x2": 3}]"#, "infinite"),
    ];
    for (dump, rows_text, expected) in cases {
        std::fs::write(&model, dump).unwrap();
        std::fs::write(&rows, rows_text).unwrap();
        let (code, text) = run_oracle(&model, &rows, &[]);
        assert_eq!(code, 2, "{expected}: {text}");
        assert!(text.contains(expected) && text.trim().lines().count() == 1, "{expected}: {text}");
    }
}
