//! End-to-end tests of `credrisk report` (#16): html5lib parses the page strictly; headless
//! Chromium loads it with the network blocked (no failed or blocked request, no console error)
//! and the full-page screenshot is kept in target/report-screens; every number of the JSON twin
//! equals the one `train` wrote to metrics.json, `credrisk fairness --json` and `credrisk monitor
//! --json` print for the same rows, and the walk-through customer's contributions and reasons are
//! `credrisk explain`'s; the Markdown format writes its PNGs; the page prints to PDF; bad input is
//! one line and exit 2.

mod common;

use common::{ok_in, run_in};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A model trained on one seed and judged on a held-out file of another (`--test-data`), and a
/// model trained on a split of one file; each with its report in English.
fn fixture() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        ok_in(d, &["generate", "--rows", "6000", "--seed", "5", "--prefix", "train", "--quiet"]);
        ok_in(d, &["generate", "--rows", "3000", "--seed", "6", "--prefix", "test", "--quiet"]);
        let small = ["--n-estimators", "30", "--max-depth", "10", "--quiet", "--no-tracking"];
        let mut args =
            vec!["train", "--data", "train.parquet", "--test-data", "test.parquet", "--outputs", "out"];
        args.extend_from_slice(&small);
        ok_in(d, &args);
        let mut args = vec!["train", "--data", "train.parquet", "--outputs", "split"];
        args.extend_from_slice(&small);
        ok_in(d, &args);
        ok_in(
            d,
            &[
                "report",
                "--model",
                "out/model",
                "--data",
                "test.parquet",
                "--out",
                "report.html",
                "--lang",
                "en",
            ],
        );
        tmp
    })
    .path()
}

fn screens() -> PathBuf {
    let dir = common::root().join("target/report-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs tests/oracles/report_check.py on a report; keeps the screenshot as `shot`.
fn check(html: &Path, shot: &str) -> Value {
    let out = Command::new(common::python())
        .arg(common::oracle("report_check.py"))
        .arg(html)
        .arg(screens().join(shot))
        .output()
        .expect("python runs");
    assert!(out.status.success(), "report_check.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("checker JSON")
}

fn checked() -> &'static Value {
    static CHECKED: OnceLock<Value> = OnceLock::new();
    CHECKED.get_or_init(|| check(&fixture().join("report.html"), "report-en.png"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn the_page_parses_strictly_loads_offline_without_errors_and_has_every_section() {
    let c = checked();
    assert_eq!(c["errors"], Value::Array(vec![]), "console errors");
    assert_eq!(c["failed"], Value::Array(vec![]), "failed requests");
    assert_eq!(c["blocked"], Value::Array(vec![]), "requests leaving the file");
    assert_eq!(c["external"], Value::Array(vec![]), "src/href pointing elsewhere");
    let sections: Vec<&str> = c["sections"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(
        sections,
        ["summary", "card", "data", "performance", "interpretability", "fairness-stability"]
    );
    assert!(c["svgs"].as_u64().unwrap() >= 20, "charts are inline SVG: {}", c["svgs"]);
    assert_eq!(c["shown"]["title"], "Credit risk model report");
    assert!(c["shown"]["overflow"].as_i64().unwrap() <= 0, "no horizontal scroll at 1280 px");
    assert!(c["bytes"].as_u64().unwrap() < 3_000_000, "a few MB at most: {}", c["bytes"]);
    assert!(screens().join("report-en.png").is_file());
}

#[test]
fn performance_numbers_are_those_of_metrics_json() {
    let twin = &checked()["twin"];
    let metrics = read_json(&fixture().join("out/metrics.json"));
    let ours = &twin["performance"]["metrics"];
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
        "threshold",
        "confusion_matrix",
        "calibration",
    ] {
        assert_eq!(ours[key], metrics[key], "{key}");
    }
    assert_eq!(twin["performance"]["scope"], "whole_file");
    assert_eq!(twin["performance"]["ceiling"]["roc_auc"], metrics["ceiling"]["roc_auc"]);
    assert_eq!(twin["performance"]["ceiling"]["brier"], metrics["ceiling"]["brier"]);
    assert_eq!(twin["summary"]["roc_auc"], metrics["roc_auc"]);
    // What the page shows is the twin's value, rounded.
    let facts: Vec<String> = checked()["shown"]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let auc = format!("{:.4}", metrics["roc_auc"].as_f64().unwrap());
    assert!(facts.iter().any(|f| f.starts_with(&auc)), "{auc} in {facts:?}");
    // The decile table adds up to the rows and its deciles are in descending probability.
    let deciles = twin["performance"]["ks_deciles"].as_array().unwrap();
    let n: u64 = deciles.iter().map(|d| d["n"].as_u64().unwrap()).sum();
    assert_eq!(n, metrics["n_test"].as_u64().unwrap());
    let cm = &metrics["confusion_matrix"];
    let good: u64 = deciles.iter().map(|d| d["good"].as_u64().unwrap()).sum();
    assert_eq!(good, cm["tp"].as_u64().unwrap() + cm["fn"].as_u64().unwrap());
    assert_eq!(checked()["shown"]["deciles"].as_array().unwrap().len(), deciles.len());
}

#[test]
fn the_training_file_gives_the_runs_own_held_out_numbers() {
    let d = fixture();
    ok_in(
        d,
        &[
            "report",
            "--model",
            "split/model",
            "--data",
            "train.parquet",
            "--out",
            "split.md",
            "--format",
            "md",
            "--shap-rows",
            "300",
        ],
    );
    let twin = read_json(&d.join("split.json"));
    let metrics = read_json(&d.join("split/metrics.json"));
    assert_eq!(twin["performance"]["scope"], "held_out");
    for key in ["roc_auc", "brier", "ks", "confusion_matrix", "calibration"] {
        assert_eq!(twin["performance"]["metrics"][key], metrics[key], "{key}");
    }
    assert_eq!(twin["performance"]["n"], metrics["n_test"]);
    // Markdown: every chart is a PNG beside it, linked from the text.
    let md = std::fs::read_to_string(d.join("split.md")).unwrap();
    let pngs: Vec<_> = std::fs::read_dir(d.join("split_files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(pngs.len() >= 20, "{pngs:?}");
    for png in &pngs {
        assert!(md.contains(&format!("(split_files/{png})")), "{png} is linked");
        let bytes = std::fs::read(d.join("split_files").join(png)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
    assert!(md.starts_with("# Informe del modelo de riesgo de crédito"));
    assert!(md.contains("## Interpretabilidad"));
}

#[test]
fn fairness_and_stability_are_those_of_the_fairness_and_monitor_commands() {
    let d = fixture();
    let twin = &checked()["twin"];
    let out = run_in(d, &["fairness", "--model", "out/model", "--data", "test.parquet", "--json"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(twin["fairness"], stdout_json(&out));
    let out = run_in(
        d,
        &[
            "monitor",
            "--model",
            "out/model",
            "--data",
            "test.parquet",
            "--json",
            "--no-tracking",
            "--lang",
            "en",
        ],
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let monitor = stdout_json(&out);
    for key in ["n_rows", "inputs", "score", "approval", "thresholds", "alerts", "warnings"] {
        assert_eq!(twin["stability"][key], monitor[key], "{key}");
    }
}

#[test]
fn the_walk_through_is_a_denied_maule_customer_explained_as_explain_does() {
    let d = fixture();
    let walk = &checked()["twin"]["interpretability"]["walkthrough"];
    assert_eq!(walk["customer"]["region"], "Maule");
    assert_eq!(walk["answer"]["approved"], false);
    std::fs::write(
        d.join("walk.json"),
        serde_json::to_vec(&serde_json::json!({"customer": walk["customer"]})).unwrap(),
    )
    .unwrap();
    let out = ok_in(
        d,
        &["explain", "--model", "out/model", "--customer", "walk.json", "--format", "json", "--lang", "en"],
    );
    let answer = stdout_json(&out);
    for key in [
        "approved",
        "probability",
        "threshold",
        "base_value",
        "contributions",
        "reasons",
        "warnings",
        "method",
    ] {
        assert_eq!(walk["answer"][key], answer[key], "{key}");
    }
    // The reasons table shows the same reasons in the same order.
    let shown = checked()["shown"]["reasons"].as_array().unwrap();
    let reasons = answer["reasons"].as_array().unwrap();
    assert_eq!(shown.len(), reasons.len());
    for (row, reason) in shown.iter().zip(reasons) {
        assert_eq!(row[4], reason["text"]);
    }
    // Coverage counts only denials, and cites no protected attribute or proxy.
    let cov = &checked()["twin"]["interpretability"]["coverage"];
    assert!(cov["denied"].as_u64().unwrap() > 0);
    assert!(cov["with_one_reason"].as_u64() <= cov["denied"].as_u64());
    for cited in cov["cited"].as_array().unwrap() {
        assert!(
            !["age", "gender", "region", "marital_status"].contains(&cited[0].as_str().unwrap()),
            "{cited}"
        );
    }
}

#[test]
fn another_customer_can_be_walked_through_and_the_report_reads_in_spanish() {
    let d = fixture();
    ok_in(
        d,
        &[
            "report",
            "--model",
            "out/model",
            "--data",
            "test.parquet",
            "--out",
            "es.html",
            "--customer",
            common::example("customer.json").to_str().unwrap(),
            "--shap-rows",
            "200",
        ],
    );
    let c = check(&d.join("es.html"), "report-es-customer.png");
    assert_eq!(c["errors"], Value::Array(vec![]));
    assert_eq!(c["shown"]["title"], "Informe del modelo de riesgo de crédito");
    let walk = &c["twin"]["interpretability"]["walkthrough"];
    assert_eq!(walk["row"], Value::Null);
    for (field, value) in common::seed_customer().as_object().unwrap() {
        let ours = &walk["customer"][field];
        assert!(
            ours == value || ours.as_f64().is_some_and(|v| Some(v) == value.as_f64()),
            "{field}: {ours} vs {value}"
        );
    }
    assert_eq!(c["twin"]["interpretability"]["rows_explained"], 200);
}

#[test]
fn the_page_prints_to_pdf_one_section_per_page_at_least() {
    let d = fixture();
    let pdf = d.join("report.pdf");
    let out = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            "--disable-background-networking",
            "--no-first-run",
        ])
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", d.join("report.html").display()))
        .output()
        .expect("chromium runs");
    assert!(pdf.is_file(), "no PDF: {}", String::from_utf8_lossy(&out.stderr));
    let prefix = screens().join("report-print");
    // Pages an earlier run left would count too.
    for old in std::fs::read_dir(screens()).unwrap().flatten() {
        if old.file_name().to_string_lossy().starts_with("report-print") {
            std::fs::remove_file(old.path()).unwrap();
        }
    }
    let out = Command::new("pdftoppm")
        .args(["-png", "-r", "50"])
        .arg(&pdf)
        .arg(&prefix)
        .output()
        .expect("pdftoppm runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pages = std::fs::read_dir(screens())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("report-print"))
        .count();
    assert!(pages >= 6, "each section starts a page: {pages} pages");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let d = fixture();
    let one = common::seed_customer();
    std::fs::write(d.join("two.json"), serde_json::to_vec(&serde_json::json!([one, one])).unwrap()).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--data", "nope.parquet", "--out", "x.html"], "nope.parquet"),
        (vec!["--data", "test.parquet", "--out", "x.html", "--format", "pdf"], "--format"),
        (vec!["--data", "test.parquet", "--out", "x.html", "--lang", "fr"], "fr"),
        (vec!["--data", "test.parquet", "--out", "out", "--lang", "en"], "directory"),
        (vec!["--data", "test.parquet", "--out", "x.html", "--shap-rows", "0"], "--shap-rows"),
        (vec!["--data", "test.parquet", "--out", "x.html", "--customer", "two.json"], "two.json"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["report", "--model", "out/model"];
        args.extend_from_slice(&extra);
        let out = run_in(d, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{extra:?}: one line: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!d.join("x.html").exists(), "nothing written");
    }
}
