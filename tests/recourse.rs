//! End-to-end tests of recourse: `credrisk recourse` on many generated customers checked by an
//! independent evaluation of the exported forest (tests/oracles/recourse_check.py: the schema
//! file, the forest dump and the training data, in plain Python and pyarrow), and `POST /recourse`
//! in the real server: the same answer as the CLI, every option approved by `/predict`, the same
//! 422 as `/explain` for an invalid customer, and `max_changes` outside 1..3 refused.

mod serve_support;

use serde_json::{Value, json};
use serve_support::common::{self, ok_in, python, run_in};
use serve_support::{Fixture, Server, post_json};
use std::sync::OnceLock;

fn fixture() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(Fixture::train)
}

/// Customers the model has not seen: 80 generated rows with another seed, as a JSON array
/// (made once: the tests run in parallel over the same directory).
fn customers(fx: &Fixture) -> (std::path::PathBuf, Vec<Value>) {
    static MADE: OnceLock<(std::path::PathBuf, Vec<Value>)> = OnceLock::new();
    MADE.get_or_init(|| make_customers(fx)).clone()
}

fn make_customers(fx: &Fixture) -> (std::path::PathBuf, Vec<Value>) {
    let dir = fx.dir.path();
    ok_in(dir, &["generate", "--rows", "80", "--seed", "777", "--prefix", "fresh"]);
    let script = r#"
import json, sys, pyarrow.parquet as pq
rows = pq.read_table(sys.argv[1]).to_pylist()
for r in rows:
    r.pop("approved"); r.pop("approval_score")
json.dump(rows, open(sys.argv[2], "w"))
"#;
    let out = dir.join("fresh.json");
    common::python_ok(script, &[dir.join("fresh.parquet").to_str().unwrap(), out.to_str().unwrap()]);
    let list: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    (out, list)
}

fn lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_option_is_approved_by_an_independent_evaluation_of_the_forest() {
    let fx = fixture();
    let dir = fx.dir.path();
    let (file, list) = customers(fx);
    let out = ok_in(
        dir,
        &["recourse", "--model", fx.model(), "--customer", file.to_str().unwrap(), "--format", "json"],
    );
    let plans = lines(&out);
    assert_eq!(plans.len(), list.len());
    let plans_path = dir.join("plans.jsonl");
    std::fs::write(&plans_path, String::from_utf8_lossy(&out.stdout).as_bytes()).unwrap();
    ok_in(dir, &["export-forest", "--model", fx.model(), "--out", "forest.json"]);
    let schema = ok_in(dir, &["schema", "show", "--model", fx.model()]);
    std::fs::write(dir.join("schema.toml"), &schema.stdout).unwrap();
    let check = std::process::Command::new(python())
        .arg(common::oracle("recourse_check.py"))
        .args([
            dir.join("forest.json").to_str().unwrap(),
            dir.join("schema.toml").to_str().unwrap(),
            fx.data.to_str().unwrap(),
            file.to_str().unwrap(),
            plans_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}\n{}", String::from_utf8_lossy(&check.stderr));
    let summary: Value = serde_json::from_str(text.trim()).unwrap();
    let denied = plans.iter().filter(|p| p["approved"] == false).count();
    assert!(denied >= 10, "{denied} denied of {}", plans.len());
    assert!(summary["denied_with_options"].as_u64().unwrap() as usize >= denied / 2, "{summary}");
    assert!(summary["options_checked"].as_u64().unwrap() >= 10, "{summary}");
    assert!(summary["max_abs_probability_diff"].as_f64().unwrap() < 1e-12, "{summary}");
    // Approved customers: no options, their margin.
    for p in plans.iter().filter(|p| p["approved"] == true) {
        assert_eq!(p["options"], json!([]));
        let margin = p["probability"].as_f64().unwrap() - p["threshold"].as_f64().unwrap();
        assert!((p["margin"].as_f64().unwrap() - margin).abs() < 1e-15);
    }
    // The same file in English text: one report per customer.
    let text = ok_in(
        dir,
        &["recourse", "--model", fx.model(), "--customer", file.to_str().unwrap(), "--lang", "en"],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.matches("\n#").count() + 1, list.len(), "{text}");
    assert!(text.contains("Denied with probability") && text.contains("Approved with probability"), "{text}");
}

#[test]
fn bad_flags_and_customers_are_one_line_and_exit_2() {
    let fx = fixture();
    let dir = fx.dir.path();
    let example = common::example("denied.json");
    for (args, needle) in [
        (vec!["--max-changes", "4"], "--max-changes must be 1..=3"),
        (vec!["--max-changes", "0"], "--max-changes must be 1..=3"),
        (vec!["--lang", "fr"], "unsupported language"),
    ] {
        let mut all = vec!["recourse", "--model", fx.model(), "--customer", example.to_str().unwrap()];
        all.extend(args);
        let out = run_in(dir, &all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.starts_with("credrisk: error: ") && err.contains(needle) && err.lines().count() == 1,
            "{err}"
        );
    }
    let bad = dir.join("bad.json");
    std::fs::write(&bad, json!({"customer": {"age": 3}}).to_string()).unwrap();
    let out = run_in(dir, &["recourse", "--model", fx.model(), "--customer", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("age"));
}

#[test]
fn the_service_answers_like_the_cli_and_predict_approves_every_option() {
    let fx = fixture();
    let server = Server::start(fx.model(), &[]);
    let denied: Value =
        serde_json::from_str(&std::fs::read_to_string(common::example("denied.json")).unwrap()).unwrap();
    let (_, list) = customers(fx);
    let mut options_seen = 0;
    for customer in list.iter().take(40) {
        let reply = post_json(&server, "/recourse", &json!({"customer": customer, "lang": "en"}));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let plan = reply.json();
        assert_eq!(plan["model"]["uri"], fx.model());
        for option in plan["options"].as_array().unwrap() {
            let mut changed = customer.clone();
            for c in option["changes"].as_array().unwrap() {
                changed[c["field"].as_str().unwrap()] = c["to"].clone();
            }
            let p = post_json(&server, "/predict", &json!({"customer": changed})).json();
            assert_eq!(p["approved"], true, "{option}");
            assert_eq!(p["probability"], option["probability"]);
            options_seen += 1;
        }
    }
    assert!(options_seen >= 5, "{options_seen}");
    // Same answer as the CLI for the example denial.
    let http = post_json(&server, "/recourse", &denied).json();
    let cli = ok_in(
        fx.dir.path(),
        &[
            "recourse",
            "--model",
            fx.model(),
            "--customer",
            common::example("denied.json").to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let cli = &lines(&cli)[0];
    for key in ["approved", "probability", "threshold", "margin", "options", "closest", "text", "search"] {
        assert_eq!(http[key], cli[key], "{key}");
    }
    // Invalid customer: the same 422 as /explain; max_changes outside 1..3: a 422 naming it.
    let bad = json!({"customer": {"age": 3, "income": "x"}});
    let r = post_json(&server, "/recourse", &bad);
    let e = post_json(&server, "/explain", &bad);
    assert_eq!((r.status, r.json()), (e.status, e.json()));
    for wrong in [json!(0), json!(4), json!("2"), json!(1.5), json!(null)] {
        let mut body = denied.clone();
        body["max_changes"] = wrong.clone();
        let r = post_json(&server, "/recourse", &body);
        assert_eq!(r.status, 422, "{wrong}: {}", r.body);
        assert_eq!(r.json()["details"][0]["field"], "max_changes", "{}", r.body);
    }
    let mut three = denied.clone();
    three["max_changes"] = json!(3);
    let r = post_json(&server, "/recourse", &three);
    assert_eq!((r.status, r.json()["max_changes"].clone()), (200, json!(3)));
}

/// `serve --review FILE`: the file's denials follow the latest served ones in the page's queue;
/// a missing file is one line and exit 2.
#[test]
fn the_review_queue_lists_the_files_denials_after_the_served_ones() {
    let fx = fixture();
    let batch = common::example("batch.json");
    let server = Server::start(fx.model(), &["--review", batch.to_str().unwrap()]);
    let denied: Value =
        serde_json::from_str(&std::fs::read_to_string(common::example("denied.json")).unwrap()).unwrap();
    assert_eq!(post_json(&server, "/explain", &denied).json()["approved"], false);
    let queue = serve_support::get(&server, "/review").json();
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items[0]["source"], "served", "{queue}");
    let from_file: Vec<&Value> = items.iter().filter(|i| i["source"] == "file").collect();
    let list: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&batch).unwrap()).unwrap();
    let expected = list
        .iter()
        .filter(|c| post_json(&server, "/predict", &json!({"customer": c})).json()["approved"] == false)
        .count();
    assert!(expected >= 1);
    assert_eq!(from_file.len(), expected, "{queue}");
    for item in from_file {
        assert!(item["probability"].as_f64().unwrap() < 0.5);
    }
    let out =
        run_in(fx.dir.path(), &["serve", "--model-uri", fx.model(), "--review", "nope.json", "--port", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--review nope.json: no such file"));
}

/// With `--audit-log`, a recourse answer is recorded like a `/predict` decision: the customer,
/// the decision and, for a denial, its reasons.
#[test]
fn recourse_decisions_are_audited() {
    let fx = fixture();
    let log = fx.dir.path().join("recourse-audit.jsonl");
    let server = Server::start(fx.model(), &["--audit-log", log.to_str().unwrap()]);
    let denied: Value =
        serde_json::from_str(&std::fs::read_to_string(common::example("denied.json")).unwrap()).unwrap();
    let reply = post_json(&server, "/recourse", &denied);
    assert_eq!(reply.status, 200);
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 1, "{text}");
    assert_eq!(records[0]["endpoint"], "/recourse");
    assert_eq!(records[0]["decision"], "denied");
    assert_eq!(records[0]["probability"], reply.json()["probability"]);
    assert!(!records[0]["reasons"].as_array().unwrap().is_empty(), "{text}");
}

/// The issue's brute force, done independently (tests/oracles/recourse_brute.py: NumPy over the
/// exported forest, the schema file and the training file): for denied customers, the
/// single-field options are the cheapest approved values over every typeable value beside every
/// threshold of every actionable field. The model is trained on the whole file (`--test-data`
/// holds out another), so the oracle's percentiles of the file are the model's.
#[test]
fn single_field_options_are_the_cheapest_by_brute_force_over_every_threshold() {
    let fx = fixture();
    let dir = fx.dir.path();
    let (file, list) = customers(fx);
    ok_in(dir, &["generate", "--rows", "1000", "--seed", "778", "--prefix", "holdout", "--quiet"]);
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    ok_in(
        dir,
        &[
            "train",
            "--data",
            &p(&fx.data),
            "--test-data",
            &p(&dir.join("holdout.parquet")),
            "--outputs",
            &p(&dir.join("whole")),
            "--tracking-uri",
            &p(&dir.join("mlruns-whole")),
            "--n-estimators",
            "30",
            "--quiet",
        ],
    );
    let model = p(&dir.join("whole/model"));
    let out = ok_in(
        dir,
        &["recourse", "--model", &model, "--customer", &p(&file), "--format", "json", "--max-changes", "1"],
    );
    let plans_path = dir.join("plans-single.jsonl");
    std::fs::write(&plans_path, &out.stdout).unwrap();
    assert_eq!(lines(&out).len(), list.len());
    ok_in(dir, &["export-forest", "--model", &model, "--out", "forest-whole.json"]);
    let schema = ok_in(dir, &["schema", "show", "--model", &model]);
    std::fs::write(dir.join("schema-whole.toml"), &schema.stdout).unwrap();
    let check = std::process::Command::new(python())
        .arg(common::oracle("recourse_brute.py"))
        .args([
            p(&dir.join("forest-whole.json")),
            p(&dir.join("schema-whole.toml")),
            p(&fx.data),
            p(&file),
            p(&plans_path),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}\n{}", String::from_utf8_lossy(&check.stderr));
    let summary: Value = serde_json::from_str(text.trim()).unwrap();
    assert!(summary["denied"].as_u64().unwrap() >= 10, "{summary}");
    assert!(summary["options_compared"].as_u64().unwrap() >= 20, "{summary}");
    assert_eq!(summary["actionable"].as_array().unwrap().len(), 7, "{summary}");
}
