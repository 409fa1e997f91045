//! End-to-end tests of `credrisk fairness`: every group metric and disparity against Fairlearn's
//! `MetricFrame` on the same rows (to 1e-12), the bootstrap intervals against Fairlearn's own
//! bootstrap (within sampling error), the same bytes whatever the thread count, the PNG, bad
//! input, and the fairness metrics `train` logs, read back with the real MLflow client.

mod common;

use common::{ok_in, run_in};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::sync::OnceLock;

/// A small batch and a small model trained on another seed, shared by the tests of this file.
fn fixture() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        ok_in(d, &["generate", "--rows", "6000", "--seed", "5", "--prefix", "train", "--quiet"]);
        ok_in(d, &["generate", "--rows", "10000", "--seed", "11", "--prefix", "batch", "--csv", "--quiet"]);
        ok_in(
            d,
            &[
                "train",
                "--data",
                "train.parquet",
                "--n-estimators",
                "30",
                "--quiet",
                "--no-tracking",
                "--outputs",
                "out",
            ],
        );
        tmp
    })
    .path()
}

fn fairness(extra: &[&str]) -> Output {
    let mut args = vec!["fairness", "--model", "out/model", "--data", "batch.parquet"];
    args.extend_from_slice(extra);
    run_in(fixture(), &args)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs the Fairlearn oracle on the rows `credrisk fairness --rows` wrote.
fn oracle(rows: &Path, min_group: u32, n_boot: u32, by: &[&str]) -> Value {
    let out = std::process::Command::new(common::python())
        .arg(common::oracle("fairness_oracle.py"))
        .arg(rows)
        .args([min_group.to_string(), n_boot.to_string(), "42".to_string()])
        .args(by)
        .output()
        .expect("python runs");
    assert!(out.status.success(), "oracle failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

const DISPARITIES: [&str; 8] = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "demographic_parity_difference_to_overall",
    "demographic_parity_ratio_to_overall",
    "equal_opportunity_difference_to_overall",
    "equalized_odds_difference_to_overall",
];
const GROUP_METRICS: [&str; 7] =
    ["selection_rate", "mean_probability", "observed_rate", "tpr", "fpr", "precision", "roc_auc"];

fn close(ours: &Value, theirs: &Value, what: &str) {
    let (a, b) = (ours.as_f64(), theirs.as_f64());
    match (a, b) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-12, "{what}: credrisk {a} vs Fairlearn {b}"),
        _ => panic!("{what}: credrisk {ours} vs Fairlearn {theirs}"),
    }
}

#[test]
fn every_group_metric_and_disparity_matches_fairlearns_metricframe() {
    let dir = fixture();
    let rows = dir.join("rows_points.csv");
    let by = ["gender", "region", "age", "marital_status", "gender*marital_status"];
    let by_arg = by.join(",");
    // --min-group 150 leaves small regions and intersections listed but not judged.
    let out = fairness(&[
        "--json",
        "--n-boot",
        "0",
        "--min-group",
        "150",
        "--by",
        &by_arg,
        "--rows",
        rows.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "the synthetic regions differ by design: an alert");
    let ours = json_of(&out);
    let theirs = oracle(&rows, 150, 0, &by);
    for m in ["selection_rate", "mean_probability", "observed_rate", "tpr", "fpr", "precision"] {
        close(&ours["overall"][m], &theirs["overall"][m], &format!("overall {m}"));
    }
    let mut some_not_judged = false;
    for name in by {
        let (o, t) = (&ours["by"][name], &theirs["by"][name]);
        let tg = t["groups"].as_object().unwrap();
        assert_eq!(o["groups"].as_object().unwrap().len(), tg.len(), "{name}: the same groups");
        let mut judged: Vec<&str> = o["groups"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, g)| g["judged"] == true)
            .map(|(k, _)| k.as_str())
            .collect();
        judged.sort_unstable();
        let expected: Vec<&str> =
            t["judged"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(judged, expected, "{name}: the judged groups");
        some_not_judged |= judged.len() < tg.len();
        for (label, g) in tg {
            for m in GROUP_METRICS {
                close(&o["groups"][label][m], &g[m], &format!("{name} {label} {m}"));
            }
        }
        for d in DISPARITIES {
            close(&o[d], &t[d], &format!("{name} {d}"));
        }
    }
    assert!(some_not_judged, "the fixture should flag some small groups");
}

#[test]
fn bootstrap_intervals_agree_with_fairlearns_bootstrap_within_sampling_error() {
    let dir = fixture();
    let rows = dir.join("rows_boot.csv");
    // Fairlearn's bootstrap costs ~0.4 s of CPU per replicate here, hence 100 replicates and one
    // grouping (both sides draw 100; every rate and disparity interval is compared).
    let out = fairness(&["--json", "--n-boot", "100", "--by", "gender", "--rows", rows.to_str().unwrap()]);
    let ours = json_of(&out);
    let theirs = oracle(&rows, 50, 100, &["gender"]);
    // Each endpoint is a 2.5% / 97.5% quantile of 100 replicates: its standard error is about
    // 0.27 σ (σ the statistic's bootstrap SD, the interval ≈ 3.92 σ wide), so two independent
    // bootstraps differ by about 0.38 σ ≈ 0.1 of the width. Tolerance: 0.4 of Fairlearn's width
    // (≈ 4 standard errors).
    let check = |what: &str, a: &Value, b: &Value| {
        let (a0, a1) = (a[0].as_f64().unwrap(), a[1].as_f64().unwrap());
        let (b0, b1) = (b[0].as_f64().unwrap(), b[1].as_f64().unwrap());
        let width = b1 - b0;
        assert!(width > 0.0, "{what}: Fairlearn's interval is empty");
        let off = (a0 - b0).abs().max((a1 - b1).abs());
        assert!(off <= 0.4 * width, "{what}: credrisk [{a0}, {a1}] vs Fairlearn [{b0}, {b1}]");
    };
    let (o, t) = (&ours["by"]["gender"], &theirs["by"]["gender"]);
    let mut compared = 0;
    for (label, g) in t["groups"].as_object().unwrap() {
        for m in ["selection_rate", "mean_probability", "observed_rate", "tpr", "fpr", "precision"] {
            let key = format!("{m}_ci");
            check(&format!("gender {label} {m}"), &o["groups"][label][&key], &g[&key]);
            compared += 1;
        }
    }
    for d in DISPARITIES {
        let key = format!("{d}_ci");
        check(&format!("gender {d}"), &o[&key], &t[&key]);
        compared += 1;
    }
    assert_eq!(compared, 2 * 6 + 8);
}

#[test]
fn the_intervals_are_the_same_bytes_whatever_the_thread_count() {
    let run = |threads: &str| {
        let out = common::credrisk()
            .current_dir(fixture())
            .env("RAYON_NUM_THREADS", threads)
            .args(["fairness", "--model", "out/model", "--data", "batch.parquet", "--json", "--n-boot", "60"])
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let one = run("1");
    assert_eq!(one, run("2"));
    let report: Value = serde_json::from_slice(&one).unwrap();
    assert!(report["by"]["gender"]["demographic_parity_ratio_ci"][0].is_f64());
}

#[test]
fn the_table_reads_in_both_languages_and_the_png_is_drawn() {
    let png = fixture().join("fair.png");
    let en = fairness(&["--lang", "en", "--n-boot", "20", "--png", png.to_str().unwrap()]);
    let text = String::from_utf8(en.stdout).unwrap();
    assert!(text.contains("approval rate") && text.contains("demographic parity"), "{text}");
    assert!(text.contains("Alerts ("), "{text}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let es = fairness(&["--lang", "es", "--n-boot", "0"]);
    let text = String::from_utf8(es.stdout).unwrap();
    assert!(text.contains("tasa de aprobación") && text.contains("paridad demográfica"), "{text}");
    assert!(text.contains("Alertas ("), "{text}");
}

#[test]
fn generous_thresholds_exit_zero() {
    let out =
        fairness(&["--json", "--n-boot", "0", "--by", "gender", "--max-difference", "1", "--min-ratio", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_of(&out)["alerts"], serde_json::json!([]));
}

/// Writes `batch.csv` without the named column (or with the header only) as `name`.
fn batch_variant(name: &str, drop: Option<&str>, header_only: bool) -> String {
    let text = std::fs::read_to_string(fixture().join("batch.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len()).filter(|&i| Some(header[i]) != drop).collect();
    let pick = |line: &str| {
        let cells: Vec<&str> = line.split(',').collect();
        keep.iter().map(|&i| cells[i]).collect::<Vec<_>>().join(",")
    };
    let mut out = vec![pick(&header.join(","))];
    if !header_only {
        out.extend(lines.map(pick));
    }
    std::fs::write(fixture().join(name), out.join("\n") + "\n").unwrap();
    name.to_string()
}

fn one_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("credrisk: error: "), "{err}");
    err
}

#[test]
fn a_batch_without_labels_reports_selection_rates_and_says_what_it_skipped() {
    let file = batch_variant("unlabelled.csv", Some("approved"), false);
    let out =
        run_in(fixture(), &["fairness", "--model", "out/model", "--data", &file, "--json", "--n-boot", "0"]);
    assert!(out.status.code().is_some_and(|c| c <= 1));
    let report = json_of(&out);
    assert_eq!(report["labelled"], false);
    let g = &report["by"]["gender"]["groups"]["f"];
    assert!(g["selection_rate"].as_f64().unwrap() > 0.0);
    assert!(g["tpr"].is_null() && g["roc_auc"].is_null() && g["observed_rate"].is_null());
    assert!(report["by"]["gender"]["equalized_odds_difference"].is_null());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped"), "{stderr}");
    let table = run_in(
        fixture(),
        &["fairness", "--model", "out/model", "--data", &file, "--lang", "en", "--n-boot", "0"],
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("no label column: `approved`"), "{text}");
    let header = text.lines().find(|l| l.trim_start().starts_with("group")).unwrap();
    assert!(header.contains("approval rate") && !header.contains("TPR"), "{text}");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let missing = batch_variant("nogender.csv", Some("gender"), false);
    let err = one_error_line(&run_in(fixture(), &["fairness", "--model", "out/model", "--data", &missing]));
    assert!(err.contains("gender"), "{err}");
    let empty = batch_variant("empty.csv", None, true);
    let err = one_error_line(&run_in(fixture(), &["fairness", "--model", "out/model", "--data", &empty]));
    assert!(err.contains("no rows") || err.contains("empty"), "{err}");
    let err = one_error_line(&fairness(&["--by", "shoe_size"]));
    assert!(err.contains("shoe_size") && err.contains("fields are"), "{err}");
    let err = one_error_line(&fairness(&["--bands", "age=30,20"]));
    assert!(err.contains("increase"), "{err}");
    let err = one_error_line(&fairness(&["--bands", "gender=1,2"]));
    assert!(err.contains("numeric"), "{err}");
    one_error_line(&fairness(&["--min-ratio", "2"]));
}

#[test]
fn train_logs_searchable_fairness_metrics_into_its_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::copy(fixture().join("train.parquet"), d.join("train.parquet")).unwrap();
    ok_in(
        d,
        &["train", "--data", "train.parquet", "--n-estimators", "8", "--quiet", "--tracking-uri", "mlruns"],
    );
    let script = r#"
import json, os, sys, mlflow
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
mlflow.set_tracking_uri("file://" + sys.argv[1])
runs = mlflow.search_runs(experiment_names=["credrisk"], filter_string="metrics.`fairness/gender/dp_ratio` > 0", output_format="list")
m = runs[0].data.metrics
print(json.dumps({k: v for k, v in m.items() if k.startswith("fairness/")}))
"#;
    let mlruns = d.join("mlruns");
    let out = common::python_ok(script, &[mlruns.to_str().unwrap()]);
    let metrics: Value = serde_json::from_str(out.trim()).unwrap();
    let m = metrics.as_object().unwrap();
    let f = m["fairness/gender/selection_rate/f"].as_f64().unwrap();
    let male = m["fairness/gender/selection_rate/m"].as_f64().unwrap();
    let ratio = m["fairness/gender/dp_ratio"].as_f64().unwrap();
    assert!((ratio - f.min(male) / f.max(male)).abs() < 1e-12, "{metrics}");
    assert!(m.contains_key("fairness/region/selection_rate/O_Higgins"), "{metrics}");
    assert!(m.contains_key("fairness/age/dp_difference"), "{metrics}");
    assert!(m.len() < 80, "a sane number of fairness metrics: {}", m.len());
}
