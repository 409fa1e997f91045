//! TreeSHAP with missing values against the real `shap` (pinned 0.51): on a scikit-learn forest
//! trained with gaps (its trees' `missing_go_to_left` exported as the dump's `children_default`)
//! against `shap.TreeExplainer` run on the sklearn model itself, and on our own forest trained
//! with gaps against shap run on our dump. Rows to explain and background rows have gaps; some
//! rows sit exactly on thresholds. Path-dependent within 1e-9, interventional within 1e-6 (shap's
//! interventional code keeps thresholds and leaf values in float32).

mod common;

use credrisk::forest::dump::{InputDtype, read_dump};
use credrisk::forest::{Forest, ForestParams, MaxFeatures, fit};
use credrisk::shap::TreeShap;
use std::path::Path;

/// Writes `train.csv` (2000 rows and their label), `rows.csv` (500 held-out rows) and
/// `background.csv` (150 training rows), fits a RandomForestClassifier on the training rows and
/// writes it (`model.joblib`) and its dump (`sklearn_forest.json`). Every value is float32-exact
/// and on a dyadic grid (integers, 1/8, 1/16, 1/64), so every threshold (a midpoint) is exact in
/// float32 too: sklearn's float32 inputs and shap's float32 thresholds route as float64 does.
/// Gaps come after the label: 20 % of ages at random, half the incomes above their 70th
/// percentile, dependents missing for 30 % of class 0 and 5 % of class 1, 15 % of scores.
const TRAIN_PY: &str = r#"
import os, sys, json
import numpy as np, joblib
from sklearn.ensemble import RandomForestClassifier
out = sys.argv[1]
rng = np.random.default_rng(2024)
n = 2650
X = np.column_stack([
    rng.integers(18, 80, n),                        # age
    np.round(rng.lognormal(13, 0.6, n) / 1000),     # income (thousands)
    rng.integers(0, 2, n),                          # owner
    np.round(rng.uniform(0, 1, n) * 64) / 64,       # debt ratio
    rng.integers(0, 10, n),                         # dependents
    np.round(rng.normal(0, 1, n) * 16) / 16,        # score
    np.round(rng.exponential(1, n) * 8) / 8,        # delinquency
]).astype(np.float64)
logit = (0.05 * (X[:, 0] - 45) + 0.9 * np.log(X[:, 1] / 440) + 0.7 * X[:, 2] + 1.5 * (X[:, 3] - 0.5)
         - 0.2 * (X[:, 4] - 5) + 0.6 * X[:, 5] * X[:, 2] - 0.4 * X[:, 6])
y = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
X[rng.random(n) < 0.2, 0] = np.nan
X[(X[:, 1] > np.quantile(X[:, 1], 0.7)) & (rng.random(n) < 0.5), 1] = np.nan
X[rng.random(n) < np.where(y, 0.05, 0.3), 4] = np.nan
X[rng.random(n) < 0.15, 5] = np.nan
assert np.array_equal(X[~np.isnan(X)], X[~np.isnan(X)].astype(np.float32)), "float32-exact"
names = ["age", "income", "owner", "debt_ratio", "dependents", "score", "delinquency"]
rf = RandomForestClassifier(n_estimators=20, max_depth=8, random_state=0, n_jobs=1).fit(X[:2000], y[:2000])
joblib.dump(rf, os.path.join(out, "model.joblib"))
with open(os.path.join(out, "sklearn_forest.json"), "w") as fh:
    json.dump(export_forest(rf, names), fh)
def write(name, rows, labels=None):
    with open(os.path.join(out, name), "w") as fh:
        fh.write(",".join(names + (["y"] if labels is not None else [])) + "\n")
        for i, r in enumerate(rows):
            values = [repr(float(v)) for v in r] + ([str(int(labels[i]))] if labels is not None else [])
            fh.write(",".join(values) + "\n")
write("train.csv", X[:2000], y[:2000])
write("rows.csv", X[2000:2500])
write("background.csv", X[rng.choice(2000, 150, replace=False)])
"#;

/// shap.TreeExplainer on the sklearn model itself: path-dependent, and interventional over every
/// background row (shap's default masker would keep only 100), class 1.
const SHAP_SKLEARN_PY: &str = r#"
import sys, json, csv, warnings
import numpy as np, joblib, shap
model, rows, background = sys.argv[1:4]
read = lambda p: np.array([[float(v) for v in r] for r in list(csv.reader(open(p)))[1:]])
rf, X, bg = joblib.load(model), read(rows), read(background)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    path = shap.TreeExplainer(rf, feature_perturbation="tree_path_dependent")
    path_values = np.asarray(path.shap_values(X))[:, :, 1]
    masker = shap.maskers.Independent(bg, max_samples=len(bg))
    inter = shap.TreeExplainer(rf, data=masker, feature_perturbation="interventional")
    inter_values = np.asarray(inter.shap_values(X, check_additivity=False))[:, :, 1]
print(json.dumps({
    "prediction": rf.predict_proba(X)[:, 1].tolist(),
    "path": {"base": float(path.expected_value[1]), "values": path_values.tolist()},
    "interventional": {"base": float(inter.expected_value[1]), "values": inter_values.tolist()},
}))
"#;

/// shap.TreeExplainer on a `credrisk-forest/1` dump, handed over as shap's dict model with
/// `children_default`. shap's interventional code keeps thresholds in float32, so thresholds and
/// inputs are replaced by an exact order-preserving code (threshold k of a feature -> 2k + 1, a
/// value -> 2 #{thresholds below it}, NaN stays missing): every `x <= t` decision is kept, and
/// SHAP values only depend on the routing.
const SHAP_DUMP_PY: &str = r#"
import sys, json, csv, warnings
import numpy as np, shap
dump, rows, background = sys.argv[1:4]
read = lambda p: np.array([[float(v) for v in r] for r in list(csv.reader(open(p)))[1:]])
forest, X, bg = json.load(open(dump)), read(rows), read(background)
trees = [{k: np.asarray(v) for k, v in t.items()} for t in forest["trees"]]
p = len(forest["feature_names"])
split = lambda t: t["children_left"] >= 0
codes = [np.unique(np.concatenate([t["threshold"][split(t) & (t["feature"] == f)] for t in trees]))
         for f in range(p)]
def encode(A):
    out = np.full_like(A, np.nan)
    for f in range(p):
        present = ~np.isnan(A[:, f])
        out[present, f] = 2.0 * np.searchsorted(codes[f], A[present, f], side="left")
    return out
def shap_tree(t):
    internal = split(t)
    thresholds = np.zeros(len(internal))
    for f in np.unique(t["feature"][internal]):
        at = internal & (t["feature"] == f)
        thresholds[at] = 2.0 * np.searchsorted(codes[f], t["threshold"][at]) + 1.0
    return {"children_left": t["children_left"].astype(np.int32),
            "children_right": t["children_right"].astype(np.int32),
            "children_default": t["children_default"].astype(np.int32),
            "features": np.where(internal, t["feature"], -2).astype(np.int32),
            "thresholds": thresholds,
            "values": (t["value"] / len(trees)).reshape(-1, 1),
            "node_sample_weight": t["cover"].astype(np.float64)}
model = {"trees": [shap_tree(t) for t in trees], "base_offset": 0.0, "tree_output": "probability",
         "objective": "binary_crossentropy", "input_dtype": np.float64, "internal_dtype": np.float64}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    path = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    path_values = path.shap_values(encode(X))
    masker = shap.maskers.Independent(encode(bg), max_samples=len(bg))
    inter = shap.TreeExplainer(model, data=masker, feature_perturbation="interventional")
    inter_values = inter.shap_values(encode(X), check_additivity=False)
base = lambda e: float(np.asarray(e.expected_value).reshape(-1)[0])
print(json.dumps({
    "prediction": np.asarray(path.model.predict(encode(X))).reshape(-1).tolist(),
    "path": {"base": base(path), "values": np.asarray(path_values).tolist()},
    "interventional": {"base": base(inter), "values": np.asarray(inter_values).tolist()},
}))
"#;

/// Rows of a CSV written by Python or by `write_csv` (missing values are `nan` or `NaN`); with
/// `label`, the last column is split off as the label.
fn read_csv(path: &Path, label: bool) -> (Vec<String>, Vec<Vec<f64>>, Vec<bool>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let mut names: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let (mut rows, mut y) = (Vec::new(), Vec::new());
    for line in lines {
        let mut values: Vec<f64> = line.split(',').map(|v| v.parse().expect("a number")).collect();
        if label {
            y.push(values.pop() == Some(1.0));
        }
        rows.push(values);
    }
    if label {
        names.pop();
    }
    (names, rows, y)
}

fn write_csv(path: &Path, names: &[String], rows: &[Vec<f64>]) {
    let mut text = names.join(",") + "\n";
    for row in rows {
        // `{:?}` prints the shortest string that parses back to the same f64 (and NaN as NaN).
        text += &row.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(",");
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The held-out rows, then rows that put values exactly on thresholds the forest uses and make
/// other values missing (both routing edge cases), one of each per row.
fn rows_to_explain(forest: &Forest, held_out: &[Vec<f64>], extra: usize) -> Vec<Vec<f64>> {
    let splits: Vec<(usize, f64)> = forest
        .trees
        .iter()
        .flat_map(|t| t.nodes.iter().filter(|n| !n.is_leaf() && n.threshold != f64::MAX))
        .map(|n| (n.feature as usize, n.threshold))
        .collect();
    let mut rows = held_out.to_vec();
    rows.extend((0..extra).map(|i| {
        let mut row = held_out[i % held_out.len()].clone();
        let (missing, _) = splits[(i * 13 + 5) % splits.len()];
        row[missing] = f64::NAN;
        let (on, threshold) = splits[(i * 7) % splits.len()];
        row[on] = threshold;
        row
    }));
    rows
}

/// Our SHAP values of `rows` by `shap` against the oracle's answer `theirs` (`{"base", "values"}`)
/// within `tol`; our additivity within 1e-12. Returns the largest difference.
fn assert_same_shap(
    what: &str,
    shap: &TreeShap,
    rows: &[Vec<f64>],
    theirs: &serde_json::Value,
    tol: f64,
) -> f64 {
    let ours = shap.explain_rows(&rows.concat()).unwrap();
    let base = theirs["base"].as_f64().unwrap();
    let values = theirs["values"].as_array().unwrap();
    assert_eq!(values.len(), rows.len());
    let mut worst = (shap.base_value() - base).abs();
    for (i, (explanation, theirs)) in ours.iter().zip(values).enumerate() {
        assert!(explanation.additivity_error() <= 1e-12, "{what} row {i}: additivity");
        for (f, (a, b)) in explanation.values.iter().zip(theirs.as_array().unwrap()).enumerate() {
            let diff = (a - b.as_f64().unwrap()).abs();
            assert!(diff <= tol, "{what} row {i} feature {f}: ours {a}, shap {b} (|diff| {diff:e})");
            worst = worst.max(diff);
        }
    }
    assert!(worst <= tol, "{what} base value: ours {}, shap {base}", shap.base_value());
    // Live numbers: the missing values matter to the answers.
    let largest = ours.iter().flat_map(|e| e.values.iter()).fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(largest > 0.05, "{what}: the largest SHAP value is only {largest}");
    eprintln!("{what}: {} rows, largest |ours - shap| {worst:.2e}", rows.len());
    worst
}

/// Checks the forest explains `rows` as shap's answer `oracle` says, both methods.
fn assert_matches_shap(
    what: &str,
    forest: &Forest,
    rows: &[Vec<f64>],
    background: &[Vec<f64>],
    oracle: &str,
) {
    let oracle: serde_json::Value = serde_json::from_str(oracle).expect("the oracle prints JSON");
    let predictions = oracle["prediction"].as_array().unwrap();
    for (i, (row, theirs)) in rows.iter().zip(predictions).enumerate() {
        let (ours, theirs) = (forest.predict(row), theirs.as_f64().unwrap());
        assert!((ours - theirs).abs() < 1e-12, "{what} row {i}: prediction ours {ours}, oracle {theirs}");
    }
    let path = TreeShap::path_dependent(forest).unwrap();
    assert_same_shap(&format!("{what} path-dependent"), &path, rows, &oracle["path"], 1e-9);
    let inter = TreeShap::interventional(forest, &background.concat()).unwrap();
    assert_same_shap(&format!("{what} interventional"), &inter, rows, &oracle["interventional"], 1e-6);
}

/// How many of `rows` have a missing value, and how many of the forest's splits send missing
/// values left and right and put present values apart from missing ones.
fn coverage(forest: &Forest, rows: &[Vec<f64>]) -> (usize, [usize; 2], usize) {
    let with_gaps = rows.iter().filter(|r| r.iter().any(|v| v.is_nan())).count();
    let splits = forest.trees.iter().flat_map(|t| t.nodes.iter().filter(|n| !n.is_leaf()));
    let mut sides = [0, 0];
    let mut apart = 0;
    for node in splits {
        sides[usize::from(node.default_left)] += 1;
        apart += usize::from(node.threshold == f64::MAX);
    }
    (with_gaps, sides, apart)
}

#[test]
fn treeshap_with_gaps_matches_shap_on_a_sklearn_forest() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::python_ok(&format!("{}{TRAIN_PY}", common::sklearn_export_prelude()), &[dir.to_str().unwrap()]);
    let dump = read_dump(dir.join("sklearn_forest.json")).unwrap();
    assert_eq!((dump.forest.trees.len(), dump.input_dtype), (20, InputDtype::Float32));
    let (names, held_out, _) = read_csv(&dir.join("rows.csv"), false);
    let (_, background, _) = read_csv(&dir.join("background.csv"), false);
    let rows = rows_to_explain(&dump.forest, &held_out, 100);
    let (with_gaps, sides, apart) = coverage(&dump.forest, &rows);
    eprintln!("{with_gaps} rows with gaps; splits missing right/left {sides:?}, present | missing {apart}");
    assert!(with_gaps >= 200 && sides[0] >= 50 && sides[1] >= 50 && apart >= 1);
    assert!(background.iter().filter(|r| r.iter().any(|v| v.is_nan())).count() >= 30);

    let rows_csv = dir.join("explain_rows.csv");
    write_csv(&rows_csv, &names, &rows);
    let args = [dir.join("model.joblib"), rows_csv, dir.join("background.csv")];
    let oracle = common::python_ok(SHAP_SKLEARN_PY, &args.each_ref().map(|p| p.to_str().unwrap()));
    assert_matches_shap("sklearn forest", &dump.forest, &rows, &background, &oracle);
}

#[test]
fn treeshap_with_gaps_matches_shap_on_our_forest_trained_with_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::python_ok(&format!("{}{TRAIN_PY}", common::sklearn_export_prelude()), &[dir.to_str().unwrap()]);
    let (names, train, y) = read_csv(&dir.join("train.csv"), true);
    let columns: Vec<Vec<f64>> = (0..names.len()).map(|f| train.iter().map(|r| r[f]).collect()).collect();
    let params = ForestParams {
        n_estimators: 20,
        max_depth: Some(8),
        min_samples_leaf: 3,
        max_features: MaxFeatures::Sqrt,
        bootstrap: true,
        seed: 11,
        oob_score: false,
    };
    let forest = fit(&params, &columns, &y, &|_| {}).unwrap().forest;
    let dump_path = dir.join("ours_forest.json");
    forest.write_dump(&names, &dump_path).unwrap();
    // What shap reads is our forest, `children_default` included (internal values aside: the
    // dump writes them as their children's cover-weighted mean, and shap recomputes them).
    let back = read_dump(&dump_path).unwrap().forest;
    for (a, b) in back.trees.iter().flat_map(|t| &t.nodes).zip(forest.trees.iter().flat_map(|t| &t.nodes)) {
        assert_eq!(
            (a.feature, a.threshold, a.left, a.right, a.cover),
            (b.feature, b.threshold, b.left, b.right, b.cover)
        );
        assert_eq!(a.default_left, b.default_left);
        assert!(!a.is_leaf() || a.value == b.value);
    }
    let (_, held_out, _) = read_csv(&dir.join("rows.csv"), false);
    let (_, background, _) = read_csv(&dir.join("background.csv"), false);
    let rows = rows_to_explain(&forest, &held_out, 100);
    let (with_gaps, sides, apart) = coverage(&forest, &rows);
    eprintln!("{with_gaps} rows with gaps; splits missing right/left {sides:?}, present | missing {apart}");
    assert!(with_gaps >= 200 && sides[0] >= 50 && sides[1] >= 50 && apart >= 1);

    let rows_csv = dir.join("explain_rows.csv");
    write_csv(&rows_csv, &names, &rows);
    let args = [dump_path, rows_csv, dir.join("background.csv")];
    let oracle = common::python_ok(SHAP_DUMP_PY, &args.each_ref().map(|p| p.to_str().unwrap()));
    assert_matches_shap("our forest", &forest, &rows, &background, &oracle);
}
