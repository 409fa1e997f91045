//! End-to-end tests of `credrisk explain`: answers, reasons for denials in both languages,
//! per-column output, many-customer files, and field-level validation errors.

mod common;

use common::{ok_in, run_in};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::OnceLock;

/// One small trained model shared by every test in this file (training is the slow part).
fn model_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        ok_in(d, &["generate", "--rows", "8000", "--seed", "21", "--prefix", "data", "--quiet"]);
        ok_in(
            d,
            &[
                "train",
                "--data",
                "data.parquet",
                "--n-estimators",
                "40",
                "--quiet",
                "--tracking-uri",
                "mlruns",
            ],
        );
        tmp
    })
    .path()
}

/// The seed's example customer (examples/customer.json) with some fields changed.
fn customer(overrides: Value) -> Value {
    let mut c = common::seed_customer();
    for (k, v) in overrides.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn denied() -> Value {
    customer(json!({"income": 250000, "delinquency_rate": 0.45, "credit_inquiries": 9,
                    "avg_monthly_payment": 180000, "education_level": "basica", "credit_history_months": 6}))
}

fn explain(file_json: &Value, extra: &[&str]) -> Vec<Value> {
    let dir = model_dir();
    let file = tempfile::NamedTempFile::with_suffix_in(".json", dir).unwrap();
    std::fs::write(file.path(), file_json.to_string()).unwrap();
    let mut args = vec!["explain", "--customer", file.path().to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let out = ok_in(dir, &args);
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_denied_customer_gets_at_most_four_reasons_never_a_protected_one() {
    let answers = explain(&json!({"customer": denied()}), &["--lang", "en"]);
    let a = &answers[0];
    assert_eq!(a["approved"], false);
    let p = a["probability"].as_f64().unwrap();
    assert!(p < 0.5, "{p}");
    assert_eq!(a["method"], "tree_path_dependent");
    assert_eq!(a["output_space"], "probability");
    assert!((a["margin"].as_f64().unwrap() - (p - 0.5)).abs() < 1e-15);
    let contributions = a["contributions"].as_array().unwrap();
    assert_eq!(contributions.len(), 17, "16 fields + debt_to_income");
    let sum: f64 = contributions.iter().map(|c| c["shap"].as_f64().unwrap()).sum();
    assert!((a["base_value"].as_f64().unwrap() + sum - p).abs() <= 1e-12);
    let shaps: Vec<f64> = contributions.iter().map(|c| c["shap"].as_f64().unwrap().abs()).collect();
    assert!(shaps.windows(2).all(|w| w[0] >= w[1]), "sorted by |shap|");
    let reasons = a["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty() && reasons.len() <= 4, "{reasons:?}");
    for r in reasons {
        assert!(r["shap"].as_f64().unwrap() < 0.0);
        assert!(!["gender", "marital_status", "age"].contains(&r["feature"].as_str().unwrap()));
        assert!(r["text"].as_str().unwrap().contains("approved"), "{r}");
    }
    let delinquency =
        reasons.iter().find(|r| r["feature"] == "delinquency_rate").expect("delinquency is a reason");
    assert!(delinquency["text"].as_str().unwrap().contains("45%"), "{delinquency}");
    assert!(a["model"]["run_id"].as_str().is_some_and(|r| r.len() == 32), "{}", a["model"]);
}

#[test]
fn reasons_are_in_spanish_by_default_and_top_limits_them() {
    let a = &explain(&denied(), &["--top", "2"])[0];
    let reasons = a["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 2);
    assert!(reasons[0]["text"].as_str().unwrap().contains("mediana"), "{}", reasons[0]);
    let approved = &explain(&customer(json!({"income": 3000000, "delinquency_rate": 0.0})), &[])[0];
    assert_eq!(approved["approved"], true);
    assert_eq!(approved["reasons"], json!([]));
}

#[test]
fn per_column_contributions_use_the_dump_feature_names() {
    let a = &explain(&denied(), &["--per-column"])[0];
    let dump: Value = serde_json::from_str(
        &std::fs::read_to_string(model_dir().join("outputs/model/forest.json")).unwrap(),
    )
    .unwrap();
    let mut names: Vec<String> = a["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["feature"].as_str().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> =
        dump["feature_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn many_customers_come_back_in_input_order() {
    let answers = explain(&json!([denied(), customer(json!({})), {"customer": denied()}]), &[]);
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0], answers[2]);
    assert_ne!(answers[0]["probability"], answers[1]["probability"]);
}

#[test]
fn categories_match_case_and_accent_insensitively_and_answer_canonically() {
    let a = &explain(&customer(json!({"region": "VALPARAISO"})), &[])[0];
    let region = a["contributions"].as_array().unwrap().iter().find(|c| c["feature"] == "region").unwrap();
    assert_eq!(region["value"], "Valparaíso");
}

#[test]
fn out_of_training_range_values_are_answered_with_a_warning() {
    let a = &explain(&customer(json!({"income": 90000000})), &[])[0];
    let warnings = a["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["field"] == "income" && w["kind"] == "out_of_training_range"),
        "{warnings:?}"
    );
}

#[test]
fn invalid_customers_are_one_line_naming_every_field() {
    let dir = model_dir();
    let cases = [
        (json!({"customer": customer(json!({"region": "Lima"}))}), vec!["region", "Valparaíso"]),
        (json!(customer(json!({"income": -1, "gender": 0}))), vec!["income", "gender"]),
        (
            json!([customer(json!({})), customer(json!({"delinquency_rate": 2}))]),
            vec!["customer 2", "delinquency_rate"],
        ),
    ];
    for (body, expected) in cases {
        let path = dir.join("bad.json");
        std::fs::write(&path, body.to_string()).unwrap();
        let out = run_in(dir, &["explain", "--customer", "bad.json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        for e in expected {
            assert!(stderr.contains(e), "{e} not in {stderr}");
        }
    }
    std::fs::write(dir.join("broken.json"), "{\"customer\": {").unwrap();
    let out = run_in(dir, &["explain", "--customer", "broken.json"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run_in(dir, &["explain", "--customer", "broken.json", "--lang", "fr"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("es or en"));
}

/// Defects of issue #11: a customer file that is not UTF-8 exited 3 (an internal failure), and
/// a repeated key silently kept its last value.
#[test]
fn ambiguous_or_undecodable_customer_files_are_refused_with_exit_2() {
    let dir = model_dir();
    let text = customer(json!({})).to_string();
    let repeated = text.replacen("{", "{\"age\": 17, ", 1);
    std::fs::write(dir.join("repeated.json"), &repeated).unwrap();
    let mut latin1 = text.replace("Metropolitana", "Valpara\u{ed}so").into_bytes();
    let at = latin1.windows(2).position(|w| w == "\u{ed}".as_bytes()).unwrap();
    latin1.splice(at..at + 2, [0xED]);
    std::fs::write(dir.join("latin1.json"), latin1).unwrap();
    for (file, expected) in [("repeated.json", "age: appears more than once"), ("latin1.json", "not UTF-8")] {
        let out = run_in(dir, &["explain", "--customer", file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{file}: {stderr}");
    }
}

#[test]
fn the_text_report_shows_the_decision_bars_and_reasons() {
    let dir = model_dir();
    std::fs::write(dir.join("denied.json"), denied().to_string()).unwrap();
    let out = ok_in(dir, &["explain", "--customer", "denied.json", "--lang", "en"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("DENIED"), "{text}");
    assert!(text.contains("Reasons:"), "{text}");
    assert!(text.contains('█'), "{text}");
    assert!(text.contains("the model's average probability"), "the base is explained: {text}");
    assert!(text.contains("Delinquency rate"), "fields by their labels: {text}");

    // Every word of the Spanish report is Spanish, and numbers have decimal commas.
    let out = ok_in(dir, &["explain", "--customer", "denied.json"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in
        ["RECHAZADO", "P(aprobación) = 0,", "umbral 0,50", "margen -0,", "Motivos:", "Tasa de morosidad"]
    {
        assert!(text.contains(expected), "{expected:?} missing: {text}");
    }
    for english in ["approved", "threshold", "margin", "Reasons", "delinquency_rate", "base 0."] {
        assert!(!text.contains(english), "English {english:?} in the Spanish report: {text}");
    }
}
