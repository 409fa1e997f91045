//! The forest against scikit-learn (the pinned venv), on data numpy generates: held-out ROC-AUC of
//! the same hyperparameters (scored by sklearn's `roc_auc_score` for both), one unbootstrapped
//! tree against `DecisionTreeClassifier` row for row, the out-of-bag score against `oob_score_`,
//! and our importance formula on sklearn's own trees against `feature_importances_`.

mod common;

use credrisk::forest::{Forest, ForestParams, MaxFeatures, Node, Tree, fit};
use std::fmt::Write as _;
use std::path::Path;

/// Writes `train.csv` (20k rows) and `test.csv` (50k rows): ten features of mixed kinds (normal,
/// skewed, counts, binary, noise) and a label from a logistic model with an interaction. With
/// `grid`, every feature is rounded to at most ~200 distinct values (so our bins are exact).
const MAKE_DATA: &str = r#"
import sys
import numpy as np
out, seed, grid = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "grid"
rng = np.random.default_rng(seed)
n = 70_000
x = np.column_stack([
    rng.normal(size=n),
    np.round(np.exp(rng.normal(13.0, 0.6, n))),
    rng.poisson(2.0, n),
    rng.random(n) < 0.45,
    rng.random(n),
    np.round(rng.normal(size=n) * 10) / 10,
    rng.random(n) < 0.1,
    rng.integers(18, 80, n),
    rng.normal(size=n),
    rng.random(n),
]).astype(np.float64)
if grid:
    x[:, 1] = np.exp(np.round(np.log(x[:, 1]) * 30) / 30)
    for j in (0, 8):
        x[:, j] = np.round(x[:, j] * 20) / 20
    for j in (4, 9):
        x[:, j] = np.round(x[:, j] * 200) / 200
logit = (0.9 * x[:, 0] + 1.2 * np.log(x[:, 1] / 440_000) - 0.3 * (x[:, 2] - 2) - 0.7 * x[:, 3]
         + 1.5 * (x[:, 4] - 0.5) * x[:, 5] + np.where(x[:, 7] > 40, 0.6, -0.2) - 0.8 * x[:, 6])
y = rng.random(n) < 1 / (1 + np.exp(-logit))
header = ",".join([f"x{i}" for i in range(x.shape[1])] + ["y"])
for name, rows in [("train", slice(0, 20_000)), ("test", slice(20_000, n))]:
    data = np.column_stack([x[rows], y[rows]])
    np.savetxt(f"{out}/{name}.csv", data, delimiter=",", header=header, comments="", fmt="%.17g")
"#;

/// Fits sklearn's forest on train.csv, scores it and our predictions (ours.csv) on test.csv.
const SKLEARN_FOREST: &str = r#"
import sys, json
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
d = sys.argv[1]
train = np.loadtxt(f"{d}/train.csv", delimiter=",", skiprows=1)
test = np.loadtxt(f"{d}/test.csv", delimiter=",", skiprows=1)
ours = np.loadtxt(f"{d}/ours.csv")
rf = RandomForestClassifier(n_estimators=100, max_depth=10, min_samples_leaf=5, max_features="sqrt",
                            oob_score=True, n_jobs=-1, random_state=0)
rf.fit(train[:, :-1], train[:, -1].astype(bool))
theirs = rf.predict_proba(test[:, :-1])[:, 1]
print(json.dumps({"sklearn_auc": roc_auc_score(test[:, -1], theirs), "ours_auc": roc_auc_score(test[:, -1], ours),
                  "sklearn_oob": rf.oob_score_}))
"#;

/// One tree without bootstrap on every feature, in the tree's node order, plus its predictions on
/// the training rows.
const SKLEARN_TREE: &str = r#"
import sys, json
import numpy as np
from sklearn.tree import DecisionTreeClassifier
d = sys.argv[1]
train = np.loadtxt(f"{d}/train.csv", delimiter=",", skiprows=1)
X, y = train[:, :-1], train[:, -1].astype(bool)
tree = DecisionTreeClassifier(max_depth=6, min_samples_leaf=20, random_state=0).fit(X, y)
print(json.dumps({"leaves": int(tree.get_n_leaves()), "depth": int(tree.get_depth()),
                  "train_proba": tree.predict_proba(X)[:, 1].tolist()}))
"#;

/// A fitted sklearn forest exported with tests/oracles/sklearn_to_dump.py, and its importances.
const SKLEARN_IMPORTANCES: &str = r#"
import sys, json
import numpy as np
sys.path.insert(0, sys.argv[2])
from sklearn.ensemble import RandomForestClassifier
from sklearn_to_dump import export_forest
d = sys.argv[1]
train = np.loadtxt(f"{d}/train.csv", delimiter=",", skiprows=1)
rf = RandomForestClassifier(n_estimators=20, max_depth=8, min_samples_leaf=3, random_state=1)
rf.fit(train[:, :-1], train[:, -1].astype(bool))
print(json.dumps({"dump": export_forest(rf), "importances": rf.feature_importances_.tolist()}))
"#;

struct Csv {
    columns: Vec<Vec<f64>>,
    y: Vec<bool>,
}

fn read_csv(path: &Path) -> Csv {
    let text = std::fs::read_to_string(path).expect("csv written");
    let mut lines = text.lines();
    let n_columns = lines.next().expect("header").split(',').count();
    let mut columns = vec![Vec::new(); n_columns - 1];
    let mut y = Vec::new();
    for line in lines {
        let values: Vec<f64> = line.split(',').map(|v| v.parse().expect("a number")).collect();
        for (column, &v) in columns.iter_mut().zip(&values) {
            column.push(v);
        }
        y.push(values[n_columns - 1] == 1.0);
    }
    Csv { columns, y }
}

fn generate(dir: &Path, kind: &str) -> (Csv, Csv) {
    common::python_ok(MAKE_DATA, &[dir.to_str().expect("utf-8 path"), "5", kind]);
    (read_csv(&dir.join("train.csv")), read_csv(&dir.join("test.csv")))
}

fn row(data: &Csv, i: usize) -> Vec<f64> {
    data.columns.iter().map(|c| c[i]).collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("python prints JSON")
}

#[test]
fn held_out_auc_matches_scikit_learn_and_oob_score_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = generate(dir.path(), "continuous");
    let params = ForestParams {
        n_estimators: 100,
        max_depth: Some(10),
        min_samples_leaf: 5,
        max_features: MaxFeatures::Sqrt,
        bootstrap: true,
        seed: 3,
        oob_score: true,
    };
    let fitted = fit(&params, &train.columns, &train.y, &|_| {}).unwrap();
    let mut ours = String::new();
    for i in 0..test.y.len() {
        writeln!(ours, "{:.17e}", fitted.forest.predict(&row(&test, i))).unwrap();
    }
    std::fs::write(dir.path().join("ours.csv"), ours).unwrap();
    let scores = json(&common::python_ok(SKLEARN_FOREST, &[dir.path().to_str().unwrap()]));
    let (sk_auc, our_auc) = (scores["sklearn_auc"].as_f64().unwrap(), scores["ours_auc"].as_f64().unwrap());
    eprintln!("held-out ROC-AUC: ours {our_auc:.5}, sklearn {sk_auc:.5}");
    assert!(our_auc >= sk_auc - 0.005, "ours {our_auc} < sklearn {sk_auc} - 0.005");
    assert!(sk_auc > 0.7, "the data has signal: {sk_auc}");
    let oob = fitted.oob.unwrap();
    let sk_oob = scores["sklearn_oob"].as_f64().unwrap();
    eprintln!("OOB accuracy: ours {:.5}, sklearn {sk_oob:.5}", oob.accuracy);
    assert!((oob.accuracy - sk_oob).abs() < 0.015, "OOB accuracy {} vs sklearn {sk_oob}", oob.accuracy);
    assert_eq!(oob.n_scored, train.y.len());
}

#[test]
fn one_unbootstrapped_tree_predicts_the_training_rows_as_scikit_learn_does() {
    // With every feature searched, no bootstrap and at most 256 distinct values per feature (so
    // our bins are the exact values), CART is deterministic up to exact ties in the Gini decrease:
    // the trees must agree on every training row.
    let dir = tempfile::tempdir().unwrap();
    let (train, _) = generate(dir.path(), "grid");
    let params = ForestParams {
        n_estimators: 1,
        max_depth: Some(6),
        min_samples_leaf: 20,
        max_features: MaxFeatures::All,
        bootstrap: false,
        seed: 0,
        oob_score: false,
    };
    let tree = &fit(&params, &train.columns, &train.y, &|_| {}).unwrap().forest.trees[0];
    let theirs = json(&common::python_ok(SKLEARN_TREE, &[dir.path().to_str().unwrap()]));
    let their_proba: Vec<f64> =
        theirs["train_proba"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(tree.n_leaves() as u64, theirs["leaves"].as_u64().unwrap());
    assert_eq!(tree.depth() as u64, theirs["depth"].as_u64().unwrap());
    for (i, theirs) in their_proba.iter().enumerate() {
        let ours = tree.predict(&row(&train, i));
        assert!((ours - theirs).abs() < 1e-12, "training row {i}: ours {ours}, sklearn {theirs}");
    }
}

/// Reads a `credrisk-forest/1` dump (written by sklearn_to_dump.py) into our trees.
fn forest_from_dump(dump: &serde_json::Value) -> Forest {
    let list = |tree: &serde_json::Value, key: &str| -> Vec<f64> {
        tree[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    };
    let trees = dump["trees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let (left, right, feature) =
                (list(t, "children_left"), list(t, "children_right"), list(t, "feature"));
            let (threshold, value, cover) = (list(t, "threshold"), list(t, "value"), list(t, "cover"));
            let nodes = (0..left.len())
                .map(|i| {
                    if left[i] < 0.0 {
                        Node::leaf(value[i], cover[i])
                    } else {
                        Node {
                            threshold: threshold[i],
                            value: value[i],
                            cover: cover[i],
                            feature: feature[i] as u32,
                            left: left[i] as u32,
                            right: right[i] as u32,
                            default_left: false,
                        }
                    }
                })
                .collect();
            Tree { nodes }
        })
        .collect();
    Forest { n_features: dump["feature_names"].as_array().unwrap().len(), trees }
}

#[test]
fn importances_computed_from_value_and_cover_equal_scikit_learns() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "continuous");
    let tools = common::root().join("tests/oracles");
    let out = json(&common::python_ok(
        SKLEARN_IMPORTANCES,
        &[dir.path().to_str().unwrap(), tools.to_str().unwrap()],
    ));
    let forest = forest_from_dump(&out["dump"]);
    let ours = forest.feature_importances();
    let theirs: Vec<f64> =
        out["importances"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(ours.len(), theirs.len());
    for (f, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert!((a - b).abs() < 1e-9, "feature {f}: ours {a} vs sklearn {b}");
    }
}
