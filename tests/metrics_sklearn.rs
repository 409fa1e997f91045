//! Our metrics against scikit-learn's on the same seeded labels and probabilities (with ties, exact
//! 0 and 1, and probabilities on the calibration bucket edges), computed by the pinned venv's real
//! sklearn (and scipy's two-sample KS test); every value must agree to 1e-9.

mod common;

use credrisk::metrics;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

const TOLERANCE: f64 = 1e-9;

struct Case {
    name: &'static str,
    y: Vec<bool>,
    p: Vec<f64>,
    threshold: f64,
}

/// Probabilities that depend on the label (so AUC is far from ½), rounded to `decimals` to make
/// ties, with a share of exact 0s, 1s and bucket-edge values mixed in.
fn random_case(
    name: &'static str,
    seed: u64,
    n: usize,
    positive_rate: f64,
    decimals: i32,
    threshold: f64,
) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let edges = [0.0, 1.0, 0.1, 0.3, 0.30000000000000004, 0.5, 0.7000000000000001, 0.9];
    let scale = 10f64.powi(decimals);
    let (mut y, mut p) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let label = rng.random_bool(positive_rate);
        let prob = if rng.random_bool(0.05) {
            edges[rng.random_range(0..edges.len())]
        } else {
            let shift = if label { 0.25 } else { 0.0 };
            ((0.75 * rng.random::<f64>() + shift) * scale).round() / scale
        };
        y.push(label);
        p.push(prob);
    }
    Case { name, y, p, threshold }
}

fn cases() -> Vec<Case> {
    vec![
        random_case("two decimals, many ties", 1, 3000, 0.4, 2, 0.5),
        random_case("one decimal, threshold on a tie", 2, 2000, 0.5, 1, 0.3),
        random_case("continuous", 3, 5000, 0.3, 15, 0.5),
        random_case("rare positives", 4, 2000, 0.03, 3, 0.2),
        random_case("tiny", 5, 9, 0.5, 1, 0.5),
    ]
}

const SKLEARN: &str = r#"
import json, sys
import numpy as np
from scipy.stats import ks_2samp
from sklearn.calibration import calibration_curve
from sklearn.metrics import (accuracy_score, average_precision_score, brier_score_loss, confusion_matrix,
    f1_score, log_loss, precision_score, recall_score, roc_auc_score, roc_curve)

out = []
for case in json.load(open(sys.argv[1])):
    y = np.array(case["y"], dtype=int)
    p = np.array(case["p"], dtype=np.float64)
    pred = (p >= case["threshold"]).astype(int)
    fpr, tpr, thresholds = roc_curve(y, p)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    # ECE from its definition, with calibration_curve's own binning for the bucket weights.
    counts = np.bincount(np.searchsorted(np.linspace(0.0, 1.0, 11)[1:-1], p), minlength=10)
    weights = counts[counts > 0] / len(p)
    all_fpr, all_tpr, all_thresholds = roc_curve(y, p, drop_intermediate=False)
    gaps = np.abs(all_tpr - all_fpr)
    out.append({
        "ece": float(np.sum(weights * np.abs(prob_true - prob_pred))),
        "ks_cutoff": float(all_thresholds[np.argmax(gaps)]) if gaps.max() > 0 else None,
        "base_rate": float(y.mean()),
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "brier": brier_score_loss(y, p),
        "log_loss": log_loss(y, p),
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, zero_division=0),
        "recall": recall_score(y, pred, zero_division=0),
        "f1": f1_score(y, pred, zero_division=0),
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "ks_roc": float(np.max(np.abs(tpr - fpr))),
        "ks_scipy": float(ks_2samp(p[y == 1], p[y == 0]).statistic),
        "roc_fpr": fpr.tolist(),
        "roc_tpr": tpr.tolist(),
        "roc_thresholds": [None if np.isinf(t) else float(t) for t in thresholds],
        "calibration_true": prob_true.tolist(),
        "calibration_pred": prob_pred.tolist(),
    })
print(json.dumps(out))
"#;

fn sklearn_values(cases: &[Case]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.json");
    let payload: Vec<Value> = cases
        .iter()
        .map(|c| json!({"y": c.y.iter().map(|&b| u8::from(b)).collect::<Vec<_>>(), "p": c.p, "threshold": c.threshold}))
        .collect();
    std::fs::write(&input, serde_json::to_vec(&payload).unwrap()).unwrap();
    let stdout = common::python_ok(SKLEARN, &[input.to_str().unwrap()]);
    serde_json::from_str(&stdout).expect("the sklearn script prints JSON")
}

fn float(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("sklearn gave no number for {key}: {}", v[key]))
}

fn floats(v: &Value, key: &str) -> Vec<f64> {
    v[key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::INFINITY)).collect()
}

fn assert_close(case: &str, what: &str, ours: f64, theirs: f64) {
    assert!((ours - theirs).abs() <= TOLERANCE, "{case}: {what}: ours {ours} vs sklearn {theirs}");
}

fn assert_all_close(case: &str, what: &str, ours: &[f64], theirs: &[f64]) {
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{case}: {what}: {} points vs sklearn's {}",
        ours.len(),
        theirs.len()
    );
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        let same = (a.is_infinite() && a == b) || (a - b).abs() <= TOLERANCE;
        assert!(same, "{case}: {what}[{i}]: ours {a} vs sklearn {b}");
    }
}

#[test]
fn every_metric_matches_sklearn_to_1e_9() {
    let cases = cases();
    let expected = sklearn_values(&cases);
    for (case, sk) in cases.iter().zip(&expected) {
        let (name, y, p, t) = (case.name, &case.y[..], &case.p[..], case.threshold);
        let has_extremes = p.contains(&0.0) && p.contains(&1.0);
        assert!(has_extremes || name == "tiny", "{name}: the data must hold exact 0s and 1s");

        // The single-metric functions.
        assert_close(name, "roc_auc", metrics::roc_auc(y, p), float(sk, "roc_auc"));
        assert_close(name, "gini", metrics::gini(y, p), 2.0 * float(sk, "roc_auc") - 1.0);
        assert_close(name, "pr_auc", metrics::pr_auc(y, p), float(sk, "pr_auc"));
        assert_close(name, "brier", metrics::brier(y, p), float(sk, "brier"));
        assert_close(name, "log_loss", metrics::log_loss(y, p), float(sk, "log_loss"));
        assert_close(name, "accuracy", metrics::accuracy(y, p, t), float(sk, "accuracy"));
        assert_close(name, "precision", metrics::precision(y, p, t), float(sk, "precision"));
        assert_close(name, "recall", metrics::recall(y, p, t), float(sk, "recall"));
        assert_close(name, "f1", metrics::f1(y, p, t), float(sk, "f1"));
        assert_close(name, "ks (roc_curve)", metrics::ks(y, p), float(sk, "ks_roc"));
        assert_close(name, "ks (scipy ks_2samp)", metrics::ks(y, p), float(sk, "ks_scipy"));

        let cm = serde_json::to_value(metrics::confusion_matrix(y, p, t).unwrap()).unwrap();
        assert_eq!(cm, sk["confusion_matrix"], "{name}: confusion matrix");

        let curve = metrics::roc_curve(y, p);
        assert_all_close(name, "roc fpr", &curve.fpr, &floats(sk, "roc_fpr"));
        assert_all_close(name, "roc tpr", &curve.tpr, &floats(sk, "roc_tpr"));
        assert_all_close(name, "roc thresholds", &curve.thresholds, &floats(sk, "roc_thresholds"));

        let filled: Vec<_> = metrics::calibration(y, p).into_iter().filter(|b| b.count > 0).collect();
        let observed: Vec<f64> = filled.iter().map(|b| b.observed_rate.unwrap()).collect();
        let predicted: Vec<f64> = filled.iter().map(|b| b.mean_predicted.unwrap()).collect();
        assert_all_close(name, "calibration observed rate", &observed, &floats(sk, "calibration_true"));
        assert_all_close(name, "calibration mean predicted", &predicted, &floats(sk, "calibration_pred"));

        // evaluate(), the path `credrisk train` takes, gives the same numbers in one pass.
        let m = metrics::evaluate(y, p, t).unwrap();
        let json = serde_json::to_value(&m).unwrap();
        for key in ["roc_auc", "pr_auc", "brier", "log_loss", "accuracy", "precision", "recall", "f1"] {
            assert_close(name, &format!("evaluate().{key}"), float(&json, key), float(sk, key));
        }
        assert_close(name, "evaluate().ks", m.ks, float(sk, "ks_roc"));
        assert_close(name, "ece", metrics::ece(y, p), float(sk, "ece"));
        assert_close(name, "evaluate().ece", m.ece, float(sk, "ece"));
        assert_close(name, "ks_cutoff", metrics::ks_cutoff(y, p), float(sk, "ks_cutoff"));
        assert_close(name, "evaluate().ks_cutoff", m.ks_cutoff, float(sk, "ks_cutoff"));
        assert_close(name, "evaluate().base_rate", m.base_rate, float(sk, "base_rate"));
        assert_close(name, "evaluate().gini", m.gini, 2.0 * float(sk, "roc_auc") - 1.0);
        assert_eq!(json["confusion_matrix"], sk["confusion_matrix"], "{name}: evaluate().confusion_matrix");
    }
}
