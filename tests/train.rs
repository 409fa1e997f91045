//! End-to-end tests of `credrisk train` (and the model it writes) against independent oracles:
//! scikit-learn's RandomForestClassifier on the same rows, and a NumPy walk of the exported forest.

mod common;

use common::{ok_in, python_ok, run_in};
use serde_json::Value;
use std::path::Path;

fn generate(dir: &Path, prefix: &str, rows: usize, seed: u64) -> String {
    let rows = rows.to_string();
    let seed = seed.to_string();
    ok_in(dir, &["generate", "--rows", &rows, "--seed", &seed, "--prefix", prefix, "--quiet"]);
    format!("{prefix}.parquet")
}

fn train(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["train", "--quiet", "--tracking-uri", "mlruns"];
    args.extend_from_slice(extra);
    ok_in(dir, &args);
    let text = std::fs::read_to_string(dir.join("outputs/metrics.json")).expect("metrics.json");
    serde_json::from_str(&text).expect("metrics.json is JSON")
}

#[test]
fn trains_end_to_end_and_writes_every_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = generate(dir, "data/train", 6000, 3);
    let m = train(dir, &["--data", &data, "--n-estimators", "30"]);
    for key in [
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "ks",
        "gini",
        "fit_seconds",
    ] {
        assert!(m[key].as_f64().is_some_and(f64::is_finite), "{key} = {}", m[key]);
    }
    assert_eq!(m["n_train"], 4800);
    assert_eq!(m["n_test"], 1200);
    let auc = m["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.70 && auc < 0.90, "AUC {auc}");
    assert!((m["gini"].as_f64().unwrap() - (2.0 * auc - 1.0)).abs() < 1e-12);
    assert!(m["ceiling"]["roc_auc"].as_f64().unwrap() >= auc - 0.03);
    assert_eq!(
        m["calibration"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum::<u64>(),
        1200
    );
    for png in ["confusion_matrix", "roc_curve", "calibration", "feature_importance"] {
        let bytes = std::fs::read(dir.join(format!("outputs/{png}.png"))).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png}");
    }
    for file in ["MLmodel", "model.crm", "feature_schema.json", "forest.json"] {
        assert!(dir.join("outputs/model").join(file).is_file(), "{file}");
    }
    let mlmodel = std::fs::read_to_string(dir.join("outputs/model/MLmodel")).unwrap();
    assert!(mlmodel.contains("credrisk"), "{mlmodel}");
    let leftovers: Vec<_> = walk(dir).into_iter().filter(|p| p.to_string_lossy().ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

/// scikit-learn's reference model on the same files: one-hot categories, numbers as they are, a
/// RandomForestClassifier with the given trees, depth, leaf size and seed (max_features sqrt).
const SKLEARN_FOREST: &str = r#"
import json, sys
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
train, test = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
n_estimators, max_depth, min_samples_leaf, seed = map(int, sys.argv[3:7])
features = [c for c in train.columns if c not in ("approved", "approval_score")]
assert len(features) == 16, features
categorical = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
numeric = [c for c in features if c not in categorical]
model = Pipeline([
    ("encode", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
                                  ("num", "passthrough", numeric)])),
    ("forest", RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth,
                                      min_samples_leaf=min_samples_leaf, max_features="sqrt",
                                      n_jobs=-1, random_state=seed)),
]).fit(train[features], train["approved"])
proba = model.predict_proba(test[features])[:, 1]
print(json.dumps({"test_roc_auc": roc_auc_score(test["approved"], proba), "categorical": categorical}))
"#;

#[test]
fn auc_is_within_tolerance_of_scikit_learn_on_the_same_held_out_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let train_file = generate(dir, "train", 20_000, 11);
    let test_file = generate(dir, "test", 50_000, 12);
    let params = ["--n-estimators", "100", "--max-depth", "12", "--min-samples-leaf", "20", "--seed", "42"];
    let mut args = vec!["--data", train_file.as_str(), "--test-data", test_file.as_str()];
    args.extend_from_slice(&params);
    let ours = train(dir, &args)["roc_auc"].as_f64().unwrap();
    let out = python_ok(
        SKLEARN_FOREST,
        &[
            dir.join(&train_file).to_str().unwrap(),
            dir.join(&test_file).to_str().unwrap(),
            "100",
            "12",
            "20",
            "42",
        ],
    );
    let report: Value = serde_json::from_str(out.trim()).expect("the sklearn script prints JSON");
    let one_hot = ["gender", "region", "education_level", "marital_status", "housing_status"];
    assert_eq!(
        report["categorical"],
        serde_json::json!(one_hot),
        "scikit-learn one-hot encodes the categories"
    );
    let sklearn = report["test_roc_auc"].as_f64().unwrap();
    assert!(ours >= sklearn - 0.005, "credrisk AUC {ours:.5} vs scikit-learn {sklearn:.5}");
}

#[test]
fn the_exported_forest_predicts_exactly_what_the_model_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = generate(dir, "data", 4000, 5);
    train(dir, &["--data", &data, "--n-estimators", "15", "--no-tracking"]);
    ok_in(dir, &["encode", "--model", "outputs/model", "--data", &data, "--out", "rows.csv"]);
    let out = ok_in(dir, &["explain", "--model", "outputs/model", "--customer", &data, "--format", "json"]);
    let ours: Vec<f64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["probability"].as_f64().unwrap())
        .collect();
    std::fs::write(dir.join("ours.json"), serde_json::to_string(&ours).unwrap()).unwrap();
    // An independent reader: route every row through the dump with NumPy, x <= t goes left.
    let script = r#"
import csv, json, sys
import numpy as np
d = sys.argv[1]
dump = json.load(open(f"{d}/outputs/model/forest.json"))
with open(f"{d}/rows.csv") as f:
    r = csv.reader(f); header = next(r); X = np.array([[float(v) for v in row] for row in r])
assert header == dump["feature_names"], "encode header != dump feature_names"
pred = np.zeros(len(X))
for t in dump["trees"]:
    left, right = np.array(t["children_left"]), np.array(t["children_right"])
    feat, thr, val = np.array(t["feature"]), np.array(t["threshold"]), np.array(t["value"])
    node = np.zeros(len(X), dtype=int)
    while True:
        inner = left[node] != -1
        if not inner.any(): break
        go_left = X[np.arange(len(X)), feat[node]] <= thr[node]
        node = np.where(inner, np.where(go_left, left[node], right[node]), node)
    pred += val[node]
pred /= len(dump["trees"])
ours = np.array(json.load(open(f"{d}/ours.json")))
print(float(np.max(np.abs(pred - ours))), len(ours))
"#;
    let out = python_ok(script, &[dir.to_str().unwrap()]);
    let mut parts = out.split_whitespace();
    let max_diff: f64 = parts.next().unwrap().parse().unwrap();
    assert_eq!(parts.next().unwrap(), "4000");
    assert!(max_diff <= 1e-12, "dump and model disagree by {max_diff}");
}

#[test]
fn same_seed_gives_the_same_forest_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = generate(dir, "data", 3000, 9);
    let mut dumps = Vec::new();
    for threads in ["1", "2"] {
        let out = common::credrisk()
            .current_dir(dir)
            .env("RAYON_NUM_THREADS", threads)
            .args(["train", "--quiet", "--no-tracking", "--data", &data, "--n-estimators", "12"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        dumps.push(std::fs::read(dir.join("outputs/model/forest.json")).unwrap());
    }
    assert!(dumps[0] == dumps[1], "the forests differ between 1 and 2 threads");
}

#[test]
fn bad_training_data_is_one_clear_line_and_writes_no_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = generate(dir, "good", 500, 1);
    let csv_path = dir.join("good.csv");
    python_ok(
        "import pyarrow.parquet as pq, pyarrow.csv as pc, sys; pc.write_csv(pq.read_table(sys.argv[1]), sys.argv[2])",
        &[dir.join(&data).to_str().unwrap(), csv_path.to_str().unwrap()],
    );
    let good_csv = std::fs::read_to_string(&csv_path).unwrap();
    let corrupt = std::fs::read(dir.join(&data)).unwrap();
    std::fs::write(dir.join("truncated.parquet"), &corrupt[..corrupt.len() / 2]).unwrap();
    std::fs::write(dir.join("lima.csv"), good_csv.replacen("Metropolitana", "Lima", 1)).unwrap();
    let mut lines: Vec<&str> = good_csv.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let income = header.iter().position(|h| h.trim_matches('"') == "income").unwrap();
    let mut row: Vec<String> = lines[1].split(',').map(String::from).collect();
    row[income] = "-5".into();
    let negative = row.join(",");
    lines[1] = &negative;
    std::fs::write(dir.join("negative.csv"), lines.join("\n")).unwrap();
    python_ok(
        "import pyarrow.parquet as pq, sys; t = pq.read_table(sys.argv[1]); pq.write_table(t.drop(['income']), sys.argv[2])",
        &[dir.join(&data).to_str().unwrap(), dir.join("no_income.parquet").to_str().unwrap()],
    );
    std::fs::write(dir.join("empty.csv"), format!("{}\n", good_csv.lines().next().unwrap())).unwrap();
    let cases = [
        ("truncated.parquet", "truncated.parquet"),
        ("lima.csv", "Lima"),
        ("negative.csv", "income"),
        ("no_income.parquet", "income"),
        ("empty.csv", "empty.csv"),
        ("missing.parquet", "missing.parquet"),
    ];
    for (file, expected) in cases {
        let out = run_in(dir, &["train", "--quiet", "--no-tracking", "--data", file, "--outputs", "out"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{file}: {stderr}");
        assert!(stderr.contains(expected), "{file}: {stderr}");
        assert!(!dir.join("out/model/model.crm").exists(), "{file} left a model");
    }
    let out = run_in(dir, &["train", "--data", &data, "--max-features", "lots"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_corrupt_model_is_a_clear_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = generate(dir, "data", 800, 2);
    train(dir, &["--data", &data, "--n-estimators", "5", "--no-tracking"]);
    let payload = dir.join("outputs/model/model.crm");
    let mut bytes = std::fs::read(&payload).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&payload, &bytes).unwrap();
    let customer = common::example("customer.json");
    let out = run_in(dir, &["explain", "--model", "outputs/model", "--customer", customer.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("checksum"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// `--oob-score` prints the out-of-bag score it computed, the same numbers as metrics.json.
#[test]
fn the_oob_score_is_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = generate(dir, "d", 3000, 4);
    let out = ok_in(dir, &["train", "--data", &data, "--n-estimators", "20", "--oob-score", "--no-tracking"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("outputs/metrics.json")).unwrap()).unwrap();
    let oob = &metrics["oob"];
    let want = format!(
        "  OOB       ROC-AUC {:.4}   accuracy {:.4}   ({} training rows",
        oob["roc_auc"].as_f64().unwrap(),
        oob["accuracy"].as_f64().unwrap(),
        oob["n_scored"]
    );
    assert!(text.contains(&want), "{text}");
}
