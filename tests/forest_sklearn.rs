//! The forest against scikit-learn (the pinned venv), on data numpy generates, complete and with
//! gaps (NaN, at random and not): held-out ROC-AUC of the same hyperparameters (scored by
//! sklearn's `roc_auc_score` for both), one unbootstrapped tree against `DecisionTreeClassifier`
//! node for node and row for row, the out-of-bag score against `oob_score_`, and our importance
//! formula on sklearn's own trees against `feature_importances_`.

mod common;

use credrisk::forest::{Forest, ForestParams, MaxFeatures, Tree, fit};
use std::fmt::Write as _;
use std::path::Path;

/// Writes `train.csv` (20k rows) and `test.csv` (50k rows): ten features of mixed kinds (normal,
/// skewed, counts, binary, noise) and a label from a logistic model with an interaction. With
/// `grid`, every feature is rounded to at most ~200 distinct values (so our bins are exact). With
/// `gaps`, values go missing after the label is drawn: 20 %, 15 % and 30 % of x0, x3 and x8 at
/// random, half the incomes (x1) above their 70th percentile, 40 % of the ages (x7) under 30, and
/// the noise x9 for 30 % of class 0 and 5 % of class 1 (not at random: that a value is missing
/// says something about it, for x9 all there is to say).
const MAKE_DATA: &str = r#"
import sys
import numpy as np
out, seed, grid, gaps = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "grid", sys.argv[4] == "gaps"
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
if gaps:
    for j, share in ((0, 0.2), (3, 0.15), (8, 0.3)):
        x[rng.random(n) < share, j] = np.nan
    x[(x[:, 1] > np.quantile(x[:, 1], 0.7)) & (rng.random(n) < 0.5), 1] = np.nan
    x[(x[:, 7] < 30) & (rng.random(n) < 0.4), 7] = np.nan
    x[rng.random(n) < np.where(y, 0.05, 0.3), 9] = np.nan
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

/// One tree without bootstrap on every feature: its nodes in sklearn's order (as a dump tree, see
/// tests/oracles/sklearn_to_dump.py), and its predictions on the training and the test rows.
const SKLEARN_TREE: &str = r#"
import sys, json
import numpy as np
from sklearn.tree import DecisionTreeClassifier
d = sys.argv[1]
train = np.loadtxt(f"{d}/train.csv", delimiter=",", skiprows=1)
test = np.loadtxt(f"{d}/test.csv", delimiter=",", skiprows=1)
X, y = train[:, :-1], train[:, -1].astype(bool)
tree = DecisionTreeClassifier(max_depth=6, min_samples_leaf=20, random_state=0).fit(X, y)
print(json.dumps({"leaves": int(tree.get_n_leaves()), "depth": int(tree.get_depth()),
                  "tree": export_tree(tree.tree_),
                  "train_proba": tree.predict_proba(X)[:, 1].tolist(),
                  "test_proba": tree.predict_proba(test[:, :-1])[:, 1].tolist()}))
"#;

/// A fitted sklearn forest as a dump (tests/oracles/sklearn_to_dump.py), and its importances.
const SKLEARN_IMPORTANCES: &str = r#"
import sys, json
import numpy as np
from sklearn.ensemble import RandomForestClassifier
d = sys.argv[1]
train = np.loadtxt(f"{d}/train.csv", delimiter=",", skiprows=1)
rf = RandomForestClassifier(n_estimators=20, max_depth=8, min_samples_leaf=3, random_state=1)
rf.fit(train[:, :-1], train[:, -1].astype(bool))
names = [f"x{i}" for i in range(train.shape[1] - 1)]
print(json.dumps({"dump": export_forest(rf, names), "importances": rf.feature_importances_.tolist()}))
"#;

struct Csv {
    columns: Vec<Vec<f64>>,
    y: Vec<bool>,
}

/// Reads a CSV numpy wrote (missing values are `nan`).
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

/// Which data `MAKE_DATA` writes.
#[derive(Debug, Clone, Copy)]
struct Kind {
    /// Every feature on a coarse grid (our bins are then the exact values).
    grid: bool,
    /// Values missing, at random and not.
    gaps: bool,
    seed: u64,
}

fn generate(dir: &Path, kind: Kind) -> (Csv, Csv) {
    let grid = if kind.grid { "grid" } else { "continuous" };
    let gaps = if kind.gaps { "gaps" } else { "complete" };
    common::python_ok(MAKE_DATA, &[dir.to_str().expect("utf-8 path"), &kind.seed.to_string(), grid, gaps]);
    let (train, test) = (read_csv(&dir.join("train.csv")), read_csv(&dir.join("test.csv")));
    let missing =
        |f: usize| train.columns[f].iter().filter(|x| x.is_nan()).count() as f64 / train.y.len() as f64;
    if kind.gaps {
        // The gaps are there: x0 at random (20 %), x1 not at random (half of the top 30 %).
        assert!((missing(0) - 0.2).abs() < 0.02 && (missing(1) - 0.15).abs() < 0.02, "{}", missing(1));
    } else {
        assert!((0..train.columns.len()).all(|f| missing(f) == 0.0));
    }
    (train, test)
}

fn row(data: &Csv, i: usize) -> Vec<f64> {
    data.columns.iter().map(|c| c[i]).collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("python prints JSON")
}

/// Runs `script` after the dump export's definitions (`export_tree`, `export_forest`).
fn python_with_export(script: &str, args: &[&str]) -> serde_json::Value {
    json(&common::python_ok(&format!("{}{script}", common::sklearn_export_prelude()), args))
}

/// The dump of a sklearn forest (or of one tree wrapped as a forest) as our trees.
fn forest_from_dump(dump: &serde_json::Value) -> Forest {
    Forest::from_dump(&dump.to_string()).expect("a valid dump").forest
}

fn floats(value: &serde_json::Value) -> Vec<f64> {
    value.as_array().expect("an array").iter().map(|v| v.as_f64().expect("a number")).collect()
}

/// Held-out ROC-AUC of our forest and of sklearn's with the same hyperparameters on the same
/// split (sklearn's `roc_auc_score` scores both), and both out-of-bag accuracies.
fn compare_with_random_forest(kind: Kind) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = generate(dir.path(), kind);
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
    eprintln!("{kind:?} held-out ROC-AUC: ours {our_auc:.5}, sklearn {sk_auc:.5}");
    assert!(sk_auc > 0.7, "the data has signal: {sk_auc}");
    let oob = fitted.oob.unwrap();
    let sk_oob = scores["sklearn_oob"].as_f64().unwrap();
    eprintln!("{kind:?} OOB accuracy: ours {:.5}, sklearn {sk_oob:.5}", oob.accuracy);
    assert!((oob.accuracy - sk_oob).abs() < 0.015, "OOB accuracy {} vs sklearn {sk_oob}", oob.accuracy);
    assert_eq!(oob.n_scored, train.y.len());
    (our_auc, sk_auc)
}

#[test]
fn held_out_auc_matches_scikit_learn_and_oob_score_agrees() {
    let (ours, sklearn) = compare_with_random_forest(Kind { grid: false, gaps: false, seed: 5 });
    assert!(ours >= sklearn - 0.005, "ours {ours} < sklearn {sklearn} - 0.005");
}

#[test]
fn with_gaps_held_out_auc_is_within_0_01_of_scikit_learn_on_three_data_sets() {
    for seed in [5, 6, 7] {
        let (ours, sklearn) = compare_with_random_forest(Kind { grid: false, gaps: true, seed });
        assert!((ours - sklearn).abs() <= 0.01, "seed {seed}: ours {ours} vs sklearn {sklearn}");
    }
}

/// Fits one unbootstrapped tree on every feature and checks it is `DecisionTreeClassifier`'s: node
/// for node, and on every training and test row. The one freedom: where two splits of a node
/// decrease the Gini impurity exactly equally, sklearn takes the one on the feature its random
/// permutation draws first, which cannot be replayed; there the two must be an exact tie (checked
/// in integers), and that subtree and the rows reaching it are left out (at most 2 % of them),
/// as are the test rows on a threshold (see `Comparable::OnThreshold`).
fn compare_with_decision_tree(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = generate(dir.path(), kind);
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
    let theirs = python_with_export(SKLEARN_TREE, &[dir.path().to_str().unwrap()]);
    let names: Vec<String> = (0..train.columns.len()).map(|f| format!("x{f}")).collect();
    let dump = serde_json::json!({
        "format": "credrisk-forest/1", "feature_names": names, "trees": [theirs["tree"]],
    });
    let ties = assert_same_nodes(tree, &forest_from_dump(&dump).trees[0], &train);
    if ties.is_empty() {
        assert_eq!(tree.n_leaves() as u64, theirs["leaves"].as_u64().unwrap());
        assert_eq!(tree.depth() as u64, theirs["depth"].as_u64().unwrap());
    }
    for (data, key) in [(&train, "train_proba"), (&test, "test_proba")] {
        let (mut below_tie, mut on_threshold) = (0, 0);
        for (i, theirs) in floats(&theirs[key]).iter().enumerate() {
            let x = row(data, i);
            match comparable(tree, &x, &ties) {
                Comparable::BelowTie => below_tie += 1,
                Comparable::OnThreshold => on_threshold += 1,
                Comparable::Yes => {
                    let ours = tree.predict(&x);
                    assert!((ours - theirs).abs() < 1e-12, "{key} row {i}: ours {ours}, sklearn {theirs}");
                }
            }
        }
        eprintln!(
            "{kind:?} {key}: of {} rows, {below_tie} below an exact tie, {on_threshold} on a threshold",
            data.y.len()
        );
        assert!(below_tie as f64 <= 0.02 * data.y.len() as f64, "{below_tie} rows below a tie");
        assert!(on_threshold as f64 <= 0.02 * data.y.len() as f64, "{on_threshold} rows on a threshold");
    }
    if kind.gaps {
        // The comparison covers each way of placing missing values.
        let splits: Vec<_> = tree.nodes.iter().filter(|n| !n.is_leaf()).collect();
        assert!(splits.iter().any(|n| n.threshold == f64::MAX), "a present | missing split");
        assert!(splits.iter().any(|n| n.default_left) && splits.iter().any(|n| !n.default_left));
    }
}

/// Walks both trees from the root, left subtree first (the two number their nodes differently),
/// with the training rows that reach each node: the same shape, features, missing-value sides,
/// covers and values, and thresholds within float32 rounding (sklearn's are midpoints of the
/// float32-cast values, ours of the values). Returns our nodes where the two split differently
/// on an exact tie (their subtrees are not compared).
fn assert_same_nodes(ours: &Tree, theirs: &Tree, train: &Csv) -> Vec<usize> {
    let mut ties = Vec::new();
    let mut stack = vec![(0usize, 0usize, String::from("root"), (0..train.y.len()).collect::<Vec<_>>())];
    while let Some((i, j, path, rows)) = stack.pop() {
        let (a, b) = (&ours.nodes[i], &theirs.nodes[j]);
        assert_eq!(a.is_leaf(), b.is_leaf(), "{path}: leaf or not");
        assert_eq!((a.cover, b.cover), (rows.len() as f64, rows.len() as f64), "{path}: cover");
        assert!((a.value - b.value).abs() < 1e-12, "{path}: value {} vs {}", a.value, b.value);
        if a.is_leaf() {
            continue;
        }
        let same_threshold = if b.threshold == f64::MAX {
            a.threshold == f64::MAX
        } else {
            (a.threshold - b.threshold).abs() <= 1e-6 * b.threshold.abs().max(1.0)
        };
        if !(a.feature == b.feature && a.default_left == b.default_left && same_threshold) {
            let (ours_gain, theirs_gain) = (gini_proxy(a, &rows, train), gini_proxy(b, &rows, train));
            assert!(
                ours_gain.0 * theirs_gain.1 == theirs_gain.0 * ours_gain.1,
                "{path}: ours x{} <= {} (missing left {}), sklearn x{} <= {} (missing left {}), \
                 and their Gini decreases differ: {ours_gain:?} vs {theirs_gain:?}",
                a.feature,
                a.threshold,
                a.default_left,
                b.feature,
                b.threshold,
                b.default_left
            );
            eprintln!("{path}: x{} or x{} split {} rows equally well", a.feature, b.feature, rows.len());
            ties.push(i);
            continue;
        }
        let (left, right): (Vec<usize>, Vec<usize>) =
            rows.iter().partition(|&&r| a.goes_left(train.columns[a.feature as usize][r]));
        stack.push((a.right as usize, b.right as usize, format!("{path} > x{}", a.feature), right));
        stack.push((a.left as usize, b.left as usize, format!("{path} <= x{}", a.feature), left));
    }
    ties
}

/// Σ over the two children of (class-0 rows² + class-1 rows²) / rows, as the fraction (numerator,
/// denominator): the larger, the larger the Gini decrease of splitting `rows` at `node`.
fn gini_proxy(node: &credrisk::forest::Node, rows: &[usize], train: &Csv) -> (u128, u128) {
    let mut counts = [[0u128; 2]; 2];
    for &r in rows {
        let side = usize::from(!node.goes_left(train.columns[node.feature as usize][r]));
        counts[side][usize::from(train.y[r])] += 1;
    }
    let [[l0, l1], [r0, r1]] = counts;
    let (left, right) = (l0 + l1, r0 + r1);
    ((l0 * l0 + l1 * l1) * right + (r0 * r0 + r1 * r1) * left, left * right)
}

/// Whether a row's prediction can be compared with sklearn's.
enum Comparable {
    Yes,
    /// Its path passes a node where the trees split differently on an exact tie.
    BelowTie,
    /// A value on its path is within float32 rounding of the threshold: sklearn compares the
    /// float32-cast value with a midpoint of float32 values, we compare in float64, so a value
    /// exactly between two training values (a test grid point, never a training value) goes
    /// either way by rounding alone.
    OnThreshold,
}

fn comparable(tree: &Tree, x: &[f64], ties: &[usize]) -> Comparable {
    let mut i = 0;
    loop {
        let node = &tree.nodes[i];
        if ties.contains(&i) {
            return Comparable::BelowTie;
        }
        if node.is_leaf() {
            return Comparable::Yes;
        }
        let v = x[node.feature as usize];
        if (v - node.threshold).abs() <= 1e-6 * node.threshold.abs().max(1.0) {
            return Comparable::OnThreshold;
        }
        i = node.child(x);
    }
}

#[test]
fn one_unbootstrapped_tree_is_scikit_learns_node_for_node() {
    // With every feature searched, no bootstrap and at most 256 distinct values per feature (so
    // our bins are the exact values), CART is deterministic up to exact ties in the Gini decrease:
    // the trees must agree node for node, hence on every row.
    compare_with_decision_tree(Kind { grid: true, gaps: false, seed: 5 });
}

#[test]
fn with_gaps_one_unbootstrapped_tree_is_scikit_learns_node_for_node() {
    // The same with missing values: each split's side for them too, and, in nodes that saw none,
    // the larger child (the test rows have gaps where the training rows of a node had none).
    for seed in [5, 6] {
        compare_with_decision_tree(Kind { grid: true, gaps: true, seed });
    }
}

#[test]
fn importances_computed_from_value_and_cover_equal_scikit_learns() {
    for gaps in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), Kind { grid: false, gaps, seed: 5 });
        let out = python_with_export(SKLEARN_IMPORTANCES, &[dir.path().to_str().unwrap()]);
        let forest = forest_from_dump(&out["dump"]);
        let ours = forest.feature_importances();
        let theirs = floats(&out["importances"]);
        assert_eq!(ours.len(), theirs.len());
        for (f, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!((a - b).abs() < 1e-9, "gaps {gaps}, feature {f}: ours {a} vs sklearn {b}");
        }
    }
}
