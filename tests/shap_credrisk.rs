//! Our TreeSHAP on a forest trained by `credrisk train`, checked against the real `shap` package
//! (`tests/oracles/shap_oracle.py`) through the CLI a user has: `encode` gives the feature
//! vectors, `export-forest` the dump, `explain --per-column --format json` our values.

mod common;

use common::{ok_in, python_ok};
use serde_json::{Value, json};
use std::path::Path;

const ROWS: usize = 600;

fn setup(dir: &Path) {
    ok_in(dir, &["generate", "--rows", "4000", "--seed", "31", "--prefix", "train", "--quiet"]);
    ok_in(dir, &["generate", "--rows", &ROWS.to_string(), "--seed", "32", "--prefix", "rows", "--quiet"]);
    ok_in(dir, &["generate", "--rows", "150", "--seed", "33", "--prefix", "bg", "--quiet"]);
    ok_in(
        dir,
        &[
            "train",
            "--data",
            "train.parquet",
            "--n-estimators",
            "25",
            "--max-depth",
            "10",
            "--quiet",
            "--no-tracking",
        ],
    );
    ok_in(dir, &["export-forest", "--model", "outputs/model", "--out", "forest.json"]);
    ok_in(dir, &["encode", "--model", "outputs/model", "--data", "rows.parquet", "--out", "rows.csv"]);
    ok_in(dir, &["encode", "--model", "outputs/model", "--data", "bg.parquet", "--out", "bg.csv"]);
    for r in ["approved", "cutoff"] {
        let sample = format!("outputs/model/reference_{r}.parquet");
        ok_in(
            dir,
            &["encode", "--model", "outputs/model", "--data", &sample, "--out", &format!("ref_{r}.csv")],
        );
    }
}

/// Our answers as the oracle's `--compare` file: SHAP values per encoded column, dump order;
/// every answer must name `reference`.
fn ours(dir: &Path, extra: &[&str], reference: &str, out: &str) -> (usize, f64) {
    let mut args = vec![
        "explain",
        "--model",
        "outputs/model",
        "--customer",
        "rows.parquet",
        "--format",
        "json",
        "--per-column",
    ];
    args.extend_from_slice(extra);
    let stdout = String::from_utf8(ok_in(dir, &args).stdout).unwrap();
    let dump: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("forest.json")).unwrap()).unwrap();
    let names: Vec<&str> =
        dump["feature_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    let (mut values, mut predictions, mut base, mut denied, mut worst_additivity) =
        (vec![], vec![], 0.0, 0, 0.0f64);
    for line in stdout.lines() {
        let a: Value = serde_json::from_str(line).unwrap();
        assert_eq!(a["reference"], reference, "{line}");
        let row: Vec<f64> = names
            .iter()
            .map(|n| {
                let c = a["contributions"].as_array().unwrap().iter().find(|c| c["feature"] == *n).unwrap();
                c["shap"].as_f64().unwrap()
            })
            .collect();
        base = a["base_value"].as_f64().unwrap();
        let p = a["probability"].as_f64().unwrap();
        worst_additivity = worst_additivity.max((base + row.iter().sum::<f64>() - p).abs());
        denied += usize::from(a["approved"] == false);
        values.push(row);
        predictions.push(p);
    }
    assert_eq!(values.len(), ROWS);
    let file = json!({"expected_value": base, "shap_values": values, "prediction": predictions, "feature_names": names});
    std::fs::write(dir.join(out), file.to_string()).unwrap();
    (denied, worst_additivity)
}

fn oracle(dir: &Path, args: &[&str]) -> String {
    let tool = common::oracle("shap_oracle.py");
    let script =
        "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')";
    let mut all = vec![tool.to_str().unwrap().to_string()];
    all.extend(args.iter().map(|a| a.replace("DIR", dir.to_str().unwrap())));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    python_ok(script, &refs)
}

/// The real shap's interventional values with `background` (encoded rows) against `ours`.
fn interventional_oracle(dir: &Path, background: &str, ours: &str) {
    let (background, compare) = (format!("DIR/{background}"), format!("DIR/{ours}"));
    oracle(
        dir,
        &[
            "--model",
            "DIR/forest.json",
            "--rows",
            "DIR/rows.csv",
            "--background",
            &background,
            "--mode",
            "interventional",
            "--compare",
            &compare,
            "--tol",
            "1e-6",
        ],
    );
}

/// Path-dependent values, interventional ones against a background file, and (#20) against the
/// reference samples `train` keeps (`--reference approved|cutoff`: interventional TreeSHAP with
/// that sample as the background; the expected value is the sample's mean prediction).
#[test]
fn path_dependent_and_interventional_values_match_the_real_shap_on_a_credrisk_forest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);

    let (denied, additivity) = ours(dir, &[], "path", "ours_path.json");
    assert!(denied >= 50, "only {denied} denied customers among {ROWS}");
    assert!(additivity <= 1e-12, "additivity {additivity}");
    oracle(
        dir,
        &[
            "--model",
            "DIR/forest.json",
            "--rows",
            "DIR/rows.csv",
            "--mode",
            "path",
            "--compare",
            "DIR/ours_path.json",
            "--tol",
            "1e-9",
        ],
    );

    let (_, additivity) = ours(dir, &["--background", "bg.parquet"], "background", "ours_int.json");
    assert!(additivity <= 1e-12, "additivity {additivity}");
    interventional_oracle(dir, "bg.csv", "ours_int.json");

    for r in ["approved", "cutoff"] {
        let out = format!("ours_{r}.json");
        let (_, additivity) = ours(dir, &["--reference", r], r, &out);
        assert!(additivity <= 1e-12, "{r}: additivity {additivity}");
        interventional_oracle(dir, &format!("ref_{r}.csv"), &out);
    }
}
