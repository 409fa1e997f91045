//! Reasons against approved applicants (#20) end to end: the reference samples `train` keeps
//! (checked with pyarrow and `credrisk score`), and `--reference` / `"reference"` through
//! explain, score, report and serve — the same numbers everywhere, named in every answer, worded
//! in the reasons, refused clearly when the model has no such sample. The values themselves are
//! checked against the real shap in tests/shap_credrisk.rs.

mod serve_support;

use serde_json::{Value, json};
use serve_support::common::{self, ok_in, python_ok, run_in};
use serve_support::{Fixture, Server, get, post_json, risky_customer};
use std::path::Path;

/// `explain --format json` answers, one per line.
fn answers(dir: &Path, args: &[&str]) -> Vec<Value> {
    let out = String::from_utf8(ok_in(dir, args).stdout).unwrap();
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn write_customer(dir: &Path, customer: &Value) -> String {
    let path = dir.join("risky.json");
    std::fs::write(&path, json!({"customer": customer}).to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn the_samples_are_what_they_say_and_every_surface_gives_the_same_values() {
    let fx = Fixture::train();
    let dir = fx.dir.path();
    let model = fx.model();

    // The samples, read by pyarrow and scored by `credrisk score`: approved rows only; the cut-off
    // sample the lowest-scored of them; no labels or ids kept; both seeded (a retrain is equal).
    for r in ["approved", "cutoff"] {
        let sample = fx.model_dir.join(format!("reference_{r}.parquet"));
        let out = dir.join(format!("scored_{r}.parquet"));
        let (sample, out) = (sample.to_str().unwrap(), out.to_str().unwrap());
        ok_in(dir, &["score", "--model", model, "--data", sample, "--out", out, "--quiet"]);
    }
    let facts = python_ok(
        r#"
import json, sys
import pyarrow.parquet as pq
d, model = sys.argv[1], sys.argv[2]
out = {}
for r in ("approved", "cutoff"):
    sample = pq.read_table(f"{model}/reference_{r}.parquet")
    scored = pq.read_table(f"{d}/scored_{r}.parquet").to_pydict()
    out[r] = {"rows": sample.num_rows, "columns": sample.column_names,
              "approved": scored["approved"], "p": scored["probability"]}
print(json.dumps(out))
"#,
        &[dir.to_str().unwrap(), model],
    );
    let facts: Value = serde_json::from_str(&facts).unwrap();
    let p = |r: &str| -> Vec<f64> {
        facts[r]["p"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
    };
    // 5,000 rows, a fifth held out: well over 200 approved, so 200 and a tenth of them.
    assert_eq!(facts["approved"]["rows"], 200);
    let cutoff_rows = facts["cutoff"]["rows"].as_u64().unwrap();
    assert!((20..=200).contains(&cutoff_rows), "cutoff sample of {cutoff_rows} rows");
    for r in ["approved", "cutoff"] {
        assert!(facts[r]["approved"].as_array().unwrap().iter().all(|a| a == true), "{r}: {}", facts[r]);
        let columns: Vec<&str> =
            facts[r]["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert!(
            columns.contains(&"income") && !columns.contains(&"approved") && !columns.contains(&"score"),
            "{columns:?}"
        );
    }
    let (approved, cutoff) = (p("approved"), p("cutoff"));
    let mut sorted = approved.clone();
    sorted.sort_by(f64::total_cmp);
    let top_of_cutoff = cutoff.iter().copied().fold(f64::MIN, f64::max);
    assert!(
        top_of_cutoff < sorted[sorted.len() / 4],
        "cut-off sample reaches {top_of_cutoff}: not just above the cut-off"
    );

    // explain: the base value is the sample's mean prediction (as `credrisk score` gives it),
    // answers name the reference, and denial reasons say who they compare with, in es and en.
    let customer = write_customer(dir, &risky_customer());
    let explain = |reference: &str, lang: &str| {
        let a = answers(
            dir,
            &[
                "explain",
                "--model",
                model,
                "--customer",
                &customer,
                "--format",
                "json",
                "--reference",
                reference,
                "--lang",
                lang,
            ],
        );
        a.into_iter().next().unwrap()
    };
    for (r, probabilities) in [("approved", &approved), ("cutoff", &cutoff)] {
        let a = explain(r, "en");
        let mean = probabilities.iter().sum::<f64>() / probabilities.len() as f64;
        assert!(
            (a["base_value"].as_f64().unwrap() - mean).abs() < 1e-12,
            "{r}: base {} vs mean {mean}",
            a["base_value"]
        );
        assert_eq!((a["reference"].as_str(), a["method"].as_str()), (Some(r), Some("interventional")));
        assert_eq!(a["approved"], false);
        let who = if r == "approved" {
            "compared with approved applicants"
        } else {
            "compared with applicants approved just above the cut-off"
        };
        let reasons = a["reasons"].as_array().unwrap();
        assert!(
            !reasons.is_empty() && reasons.iter().all(|x| x["text"].as_str().unwrap().contains(who)),
            "{reasons:?}"
        );
        let es = explain(r, "es");
        let quien = if r == "approved" {
            "comparado con los solicitantes aprobados"
        } else {
            "comparado con los aprobados justo sobre el umbral"
        };
        assert!(
            es["reasons"].as_array().unwrap().iter().all(|x| x["text"].as_str().unwrap().contains(quien)),
            "{}",
            es["reasons"]
        );
        // The values are the sample's: other than the path-dependent ones.
        assert_ne!(a["contributions"], explain("path", "en")["contributions"]);
    }
    let path = explain("path", "en");
    assert_eq!(
        (path["reference"].as_str(), path["method"].as_str()),
        (Some("path"), Some("tree_path_dependent"))
    );

    // score --explain --reference approved: the same per-field values, bit for bit, and the file
    // says which reference in its schema metadata.
    let rows = dir.join("rows.parquet");
    common::ok_in(
        dir,
        &[
            "generate",
            "--rows",
            "300",
            "--seed",
            "77",
            "--prefix",
            dir.join("rows").to_str().unwrap(),
            "--quiet",
        ],
    );
    let scored = dir.join("rows_scored.parquet");
    ok_in(
        dir,
        &[
            "score",
            "--model",
            model,
            "--data",
            rows.to_str().unwrap(),
            "--out",
            scored.to_str().unwrap(),
            "--explain",
            "--reference",
            "approved",
            "--quiet",
        ],
    );
    let explained = answers(
        dir,
        &[
            "explain",
            "--model",
            model,
            "--customer",
            rows.to_str().unwrap(),
            "--format",
            "json",
            "--reference",
            "approved",
            "-q",
        ],
    );
    let from_file = python_ok(
        r#"
import json, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
meta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items() if not k.startswith(b"ARROW")}
print(json.dumps({"meta": meta, "columns": t.to_pydict()}))
"#,
        &[scored.to_str().unwrap()],
    );
    let from_file: Value = serde_json::from_str(&from_file).unwrap();
    assert_eq!(from_file["meta"]["credrisk.reference"], "approved", "{}", from_file["meta"]);
    let columns = &from_file["columns"];
    for (i, a) in explained.iter().enumerate() {
        assert_eq!(columns["base_value"][i], a["base_value"]);
        for c in a["contributions"].as_array().unwrap() {
            let name = format!("shap_{}", c["feature"].as_str().unwrap());
            assert_eq!(columns[&name][i].as_f64(), c["shap"].as_f64(), "row {i} {name}");
        }
    }

    // report --reference cutoff: its JSON twin names the reference, and the base value is the
    // sample's mean prediction.
    let report = dir.join("report.md");
    ok_in(
        dir,
        &[
            "report",
            "--model",
            model,
            "--data",
            fx.data.to_str().unwrap(),
            "--out",
            report.to_str().unwrap(),
            "--format",
            "md",
            "--reference",
            "cutoff",
            "--shap-rows",
            "100",
        ],
    );
    let twin: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let interpretability = &twin["interpretability"];
    assert_eq!(interpretability["reference"], "cutoff", "{interpretability}");
    let mean = cutoff.iter().sum::<f64>() / cutoff.len() as f64;
    assert!(
        (interpretability["base_value"].as_f64().unwrap() - mean).abs() < 1e-12,
        "{}",
        interpretability["base_value"]
    );

    // serve: /explain with "reference" equals the CLI's answer; an unknown one is a 422 naming
    // the field; /model lists what requests may name; the audit record says which one.
    let audit = dir.join("audit.jsonl");
    let server = Server::start(model, &["--audit-log", audit.to_str().unwrap()]);
    let body = json!({"customer": risky_customer(), "lang": "en", "reference": "approved"});
    let served = post_json(&server, "/explain", &body).json();
    let cli = explain("approved", "en");
    for key in ["base_value", "probability", "contributions", "reasons", "reference", "method"] {
        assert_eq!(served[key], cli[key], "{key}");
    }
    let predicted = post_json(
        &server,
        "/predict",
        &json!({"customer": risky_customer(), "include_explanation": true, "reference": "cutoff"}),
    )
    .json();
    assert_eq!(predicted["explanation"]["reference"], "cutoff");
    let bad = post_json(&server, "/explain", &json!({"customer": risky_customer(), "reference": "median"}));
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.json()["details"][0]["field"], "reference", "{}", bad.body);
    let meta = get(&server, "/model").json();
    assert_eq!(
        (meta["reference"].clone(), meta["references"].clone()),
        (json!("path"), json!(["path", "approved", "cutoff"]))
    );
    drop(server);
    let records: Vec<Value> =
        std::fs::read_to_string(&audit).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let named: Vec<&str> = records.iter().map(|r| r["reference"].as_str().unwrap()).collect();
    assert_eq!(named, ["approved", "cutoff"], "{records:?}");
}

#[test]
fn a_model_without_samples_refuses_the_reference_in_one_line_and_still_serves_path() {
    let fx = Fixture::train();
    let dir = fx.dir.path();
    for r in ["approved", "cutoff"] {
        std::fs::remove_file(fx.model_dir.join(format!("reference_{r}.parquet"))).unwrap();
    }
    let customer = write_customer(dir, &risky_customer());
    let out =
        run_in(dir, &["explain", "--model", fx.model(), "--customer", &customer, "--reference", "approved"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("reference_approved.parquet") && stderr.contains("retrain"), "{stderr}");
    // A reference and a background file at once is a usage error.
    let out = run_in(
        dir,
        &[
            "explain",
            "--model",
            fx.model(),
            "--customer",
            &customer,
            "--reference",
            "cutoff",
            "--background",
            fx.data.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));

    let server = Server::start(fx.model(), &[]);
    let refused =
        post_json(&server, "/explain", &json!({"customer": risky_customer(), "reference": "approved"}));
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("available: path"), "{}", refused.body);
    let path = post_json(&server, "/explain", &json!({"customer": risky_customer(), "reference": "path"}));
    assert_eq!((path.status, path.json()["reference"].clone()), (200, json!("path")));
    // A server asked to compare with a sample the model lacks does not start.
    let mut refusing = Server::launch(&["--model-uri", fx.model(), "--reference", "approved"], |_| {});
    assert_eq!(refusing.wait_exit(std::time::Duration::from_secs(60)), Some(2));
}
