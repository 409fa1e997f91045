//! End-to-end tests of `credrisk serve`: the real binary on 127.0.0.1 with a model trained on small
//! generated data. Every endpoint, every error code with its field-level details, request ids,
//! log lines, metrics, the audit log, the health checks, a model that fails to load, and shutdown;
//! `/explain` checked against `credrisk explain --format json` and against the real `shap` package.
//! Operational trouble (full disks, stalled clients, rotation) is in serve_ops.rs.

mod serve_support;

use serde_json::{Value, json};
use serve_support::common;
use serve_support::{
    Fixture, Server, get, post, post_json, raw_post, risky_customer, safe_customer, seed_customer,
};
use std::collections::BTreeMap;
use std::time::Duration;

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

/// `credrisk explain --format json` on one customer.
fn cli_explain(fx: &Fixture, customer: &Value, lang: &str) -> Value {
    let file = fx.dir.path().join(format!("customer-{lang}.json"));
    std::fs::write(&file, customer.to_string()).unwrap();
    let out = common::ok_in(
        fx.dir.path(),
        &[
            "explain",
            "--model",
            fx.model(),
            "--customer",
            file.to_str().unwrap(),
            "--format",
            "json",
            "--lang",
            lang,
        ],
    );
    serde_json::from_slice(&out.stdout).expect("explain prints JSON")
}

fn assert_additive(answer: &Value) {
    let sum: f64 =
        answer["contributions"].as_array().unwrap().iter().map(|c| c["shap"].as_f64().unwrap()).sum();
    let p = answer["probability"].as_f64().unwrap();
    let base = answer["base_value"].as_f64().unwrap();
    assert!((base + sum - p).abs() <= 1e-9, "base {base} + Σ {sum} != {p}");
}

#[test]
fn explain_equals_the_cli_and_predict_agrees_with_it() {
    let fx = Fixture::train();
    let server = Server::start(fx.model(), &[]);
    let mut outcomes = Vec::new();
    for customer in [safe_customer(), risky_customer()] {
        let es = post_json(&server, "/explain", &json!({"customer": customer}));
        assert_eq!(es.status, 200, "{}", es.body);
        let es = es.json();
        assert_eq!(es, cli_explain(&fx, &customer, "es"));
        // The seed's body, written for /predict, works unchanged on /explain (the flag is ignored).
        let seed_body = json!({"customer": customer, "include_explanation": true});
        assert_eq!(post_json(&server, "/explain", &seed_body).json(), es);
        assert_additive(&es);
        let en = cli_explain(&fx, &customer, "en");
        assert_eq!(post_json(&server, "/explain?lang=en", &json!({"customer": customer})).json(), en);
        assert_eq!(post_json(&server, "/explain", &json!({"customer": customer, "lang": "en"})).json(), en);
        let body = json!({"customer": customer}).to_string();
        let by_header = post(&server, "/explain", &body, &[("Accept-Language", "fr-FR, en;q=0.8, es;q=0.5")]);
        assert_eq!(by_header.json(), en, "Accept-Language picks the first supported language");
        let body_wins = json!({"customer": customer, "lang": "es"});
        assert_eq!(post_json(&server, "/explain?lang=en", &body_wins).json(), es, "the body's lang wins");

        let plain = post_json(&server, "/predict", &json!({"customer": customer})).json();
        assert_eq!(keys(&plain), ["approved", "model", "probability", "threshold", "warnings"]);
        assert_eq!(plain["probability"], es["probability"]);
        assert_eq!(plain["approved"], es["approved"]);
        assert_eq!(plain["model"], json!({"run_id": fx.run_id(), "uri": fx.model()}));
        let p = plain["probability"].as_f64().unwrap();
        assert_eq!(plain["approved"].as_bool().unwrap(), p >= plain["threshold"].as_f64().unwrap());

        let explained = post_json(
            &server,
            "/predict?lang=en",
            &json!({"customer": customer, "include_explanation": true}),
        );
        let explained = explained.json();
        let explanation = &explained["explanation"];
        for k in ["base_value", "contributions", "reasons", "method", "margin", "additivity_error"] {
            assert_eq!(explanation[k], en[k], "{k}");
        }
        assert_eq!(explained["warnings"], en["warnings"]);
        outcomes.push((es["approved"].as_bool().unwrap(), es["reasons"].as_array().unwrap().len()));
    }
    assert!(
        outcomes[0].0 && outcomes[0].1 == 0,
        "the safe customer is approved, without reasons: {outcomes:?}"
    );
    assert!(!outcomes[1].0 && outcomes[1].1 > 0, "the risky customer is denied with reasons: {outcomes:?}");
}

/// The real `shap` package (TreeExplainer on the exported forest) is the oracle for /explain.
#[test]
fn explain_matches_the_shap_package() {
    let fx = Fixture::train();
    let server = Server::start(fx.model(), &[]);
    let customers = [seed_customer(), risky_customer()];
    let customers_file = fx.dir.path().join("customers.json");
    std::fs::write(&customers_file, Value::Array(customers.to_vec()).to_string()).unwrap();
    let rows = fx.dir.path().join("rows.csv");
    common::ok_in(
        fx.dir.path(),
        &[
            "encode",
            "--model",
            fx.model(),
            "--data",
            customers_file.to_str().unwrap(),
            "--out",
            rows.to_str().unwrap(),
        ],
    );
    let oracle_out = fx.dir.path().join("oracle.json");
    let script = common::oracle("shap_oracle.py");
    let forest = fx.model_dir.join("forest.json");
    let out = std::process::Command::new(common::python())
        .args([
            script.to_str().unwrap(),
            "--model",
            forest.to_str().unwrap(),
            "--rows",
            rows.to_str().unwrap(),
        ])
        .args(["--out", oracle_out.to_str().unwrap()])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "shap oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let oracle: Value = serde_json::from_str(&std::fs::read_to_string(&oracle_out).unwrap()).unwrap();

    let schema = get(&server, "/model").json()["feature_schema"].clone();
    let groups: Vec<String> = schema["feature_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_string())
        .collect();
    let names: Vec<&str> =
        oracle["feature_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(
        names,
        schema["feature_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>()
    );
    for (i, customer) in customers.iter().enumerate() {
        let answer = post_json(&server, "/explain", &json!({"customer": customer})).json();
        let expected_p = oracle["prediction"][i].as_f64().unwrap();
        assert!((answer["probability"].as_f64().unwrap() - expected_p).abs() < 1e-9);
        assert!(
            (answer["base_value"].as_f64().unwrap() - oracle["expected_value"].as_f64().unwrap()).abs()
                < 1e-9
        );
        let mut by_group: BTreeMap<&str, f64> = BTreeMap::new();
        for (g, phi) in groups.iter().zip(oracle["shap_values"][i].as_array().unwrap()) {
            *by_group.entry(g.as_str()).or_default() += phi.as_f64().unwrap();
        }
        let contributions = answer["contributions"].as_array().unwrap();
        assert_eq!(contributions.len(), by_group.len());
        for c in contributions {
            let want = by_group[c["feature"].as_str().unwrap()];
            assert!((c["shap"].as_f64().unwrap() - want).abs() < 1e-9, "{c} vs shap {want}");
        }
    }
}

#[test]
fn batch_answers_each_customer_in_order_with_item_errors() {
    let fx = Fixture::train();
    let server = Server::start(fx.model(), &[]);
    let mut invalid = seed_customer();
    invalid["age"] = json!(17);
    invalid["nickname"] = json!("x");
    let mut spelled = seed_customer();
    spelled["region"] = json!("  METROPOLITANA ");
    spelled["education_level"] = json!("Média");
    let batch = json!({"customers": [seed_customer(), risky_customer(), invalid, spelled]});
    let reply = post_json(&server, "/predict/batch", &batch);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer = reply.json();
    assert_eq!(answer["model"]["run_id"], json!(fx.run_id()));
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for (i, customer) in [seed_customer(), risky_customer()].iter().enumerate() {
        let single = post_json(&server, "/predict", &json!({"customer": customer})).json();
        assert_eq!(results[i]["index"], json!(i));
        assert_eq!(results[i]["probability"], single["probability"]);
        assert_eq!(results[i]["approved"], single["approved"]);
        assert_eq!(results[i]["warnings"], single["warnings"]);
        assert!(results[i].get("explanation").is_none());
    }
    assert_eq!(results[2]["index"], json!(2));
    assert_eq!(results[2]["error"], json!("validation"));
    let fields: Vec<&str> =
        results[2]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["customers[2].age", "customers[2].nickname"]);
    assert_eq!(
        results[3]["probability"], results[0]["probability"],
        "categories match case/accent-insensitively"
    );

    let explained = json!({"customers": [risky_customer()], "include_explanation": true, "lang": "en"});
    let item = post_json(&server, "/predict/batch", &explained).json()["results"][0].clone();
    let single = post_json(&server, "/explain?lang=en", &json!({"customer": risky_customer()})).json();
    assert_eq!(item["explanation"]["contributions"], single["contributions"]);
    assert_eq!(item["explanation"]["reasons"], single["reasons"]);

    let too_many = json!({"customers": vec![seed_customer(); 1001]});
    let reply = post_json(&server, "/predict/batch", &too_many);
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["details"][0]["field"], json!("customers"));
    let full = json!({"customers": vec![seed_customer(); 1000]});
    assert_eq!(post_json(&server, "/predict/batch", &full).json()["results"].as_array().unwrap().len(), 1000);
    for bad in [json!({"customers": []}), json!({"customers": {}}), json!({"customers": [1]}), json!({})] {
        assert_eq!(post_json(&server, "/predict/batch", &bad).status, 422, "{bad}");
    }
}

/// Sends `body` to `path` and returns the 422's detail fields.
fn invalid_fields(server: &Server, path: &str, body: &Value) -> Vec<String> {
    let reply = post_json(server, path, body);
    assert_eq!(reply.status, 422, "{body} → {}", reply.body);
    let e = reply.json();
    assert_eq!(e["error"], json!("validation"));
    assert!(!e["message"].as_str().unwrap().is_empty());
    e["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap().to_string()).collect()
}

#[test]
fn every_client_mistake_is_a_json_4xx_naming_the_field() {
    let fx = Fixture::train();
    let server = Server::start(fx.model(), &["--body-limit", "4096"]);
    let with = |field: &str, value: Value| {
        let mut c = seed_customer();
        c[field] = value;
        json!({"customer": c})
    };
    // 422: wrong types, impossible values, unknown categories, missing and unknown fields.
    assert_eq!(invalid_fields(&server, "/predict", &with("income", json!(false))), ["customer.income"]);
    assert_eq!(invalid_fields(&server, "/predict", &with("gender", json!(0))), ["customer.gender"]);
    assert_eq!(invalid_fields(&server, "/predict", &with("age", json!(17))), ["customer.age"]);
    assert_eq!(invalid_fields(&server, "/predict", &with("age", json!("45"))), ["customer.age"]);
    assert_eq!(invalid_fields(&server, "/predict", &with("dependents", json!(1.5))), ["customer.dependents"]);
    assert_eq!(invalid_fields(&server, "/explain", &with("income", json!(-1))), ["customer.income"]);
    assert_eq!(
        invalid_fields(&server, "/explain", &with("delinquency_rate", json!(1.5))),
        ["customer.delinquency_rate"]
    );
    let reply = post_json(&server, "/predict", &with("region", json!("Lima")));
    let detail = &reply.json()["details"][0];
    assert_eq!(detail["field"], json!("customer.region"));
    assert!(detail["message"].as_str().unwrap().contains("Valparaíso"), "lists valid categories: {detail}");
    let mut missing = seed_customer();
    missing.as_object_mut().unwrap().remove("income");
    missing["nickname"] = json!("x");
    assert_eq!(
        invalid_fields(&server, "/predict", &json!({"customer": missing})),
        ["customer.income", "customer.nickname"]
    );
    let mut top = with("age", json!(45));
    top["extra"] = json!(1);
    top["include_explanation"] = json!("yes");
    assert_eq!(invalid_fields(&server, "/predict", &top), ["extra", "include_explanation"]);
    assert_eq!(
        invalid_fields(&server, "/predict", &{
            let mut b = with("age", json!(45));
            b["include_explanation"] = json!(0);
            b
        }),
        ["include_explanation"]
    );
    let mut explain_flag = with("age", json!(45));
    explain_flag["include_explanation"] = json!("yes");
    assert_eq!(invalid_fields(&server, "/explain", &explain_flag), ["include_explanation"]);
    assert_eq!(invalid_fields(&server, "/explain", &json!({})), ["customer"]);
    assert_eq!(invalid_fields(&server, "/explain", &json!([])), ["body"]);
    assert_eq!(invalid_fields(&server, "/explain", &json!({"customer": "x"})), ["customer"]);
    let mut lang = with("age", json!(45));
    lang["lang"] = json!("fr");
    assert_eq!(invalid_fields(&server, "/explain", &lang), ["lang"]);
    assert_eq!(invalid_fields(&server, "/explain?lang=pt", &with("age", json!(45))), ["query.lang"]);
    // Accepted: integral floats, accents and case in categories, values outside training (warned).
    let mut lenient = seed_customer();
    lenient["age"] = json!(45.0);
    lenient["region"] = json!("valparaiso");
    lenient["income"] = json!(900_000_000_000.0);
    let ok = post_json(&server, "/predict", &json!({"customer": lenient}));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let warnings = ok.json()["warnings"].clone();
    assert!(warnings.as_array().unwrap().iter().any(|w| w["field"] == "income"), "{warnings}");

    // Issue #11: a repeated key is ambiguous (serde_json would keep the last): 422 naming it.
    let repeated = valid_text_with_repeated_age();
    let (status, body) = raw_post(server.addr, "/predict", Some("application/json"), repeated.as_bytes());
    assert_eq!(status, 422, "{body}");
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["details"][0]["field"], json!("customer.age"), "{body}");
    // A category in decomposed Unicode (NFD) is its composed spelling.
    let mut decomposed = seed_customer();
    decomposed["region"] = json!("Valparai\u{301}so");
    let nfd = post_json(&server, "/explain", &json!({"customer": decomposed}));
    assert_eq!(nfd.status, 200, "{}", nfd.body);
    let region =
        nfd.json()["contributions"].as_array().unwrap().iter().find(|c| c["feature"] == "region").cloned();
    assert_eq!(region.unwrap()["value"], json!("Valparaíso"));

    // 400, 413, 415, 404, 405: JSON errors too.
    let (status, body) = raw_post(server.addr, "/predict", Some("application/json"), b"{\"customer\": ");
    assert_eq!((status, error_code(&body)), (400, "malformed_json".into()));
    let (status, body) =
        raw_post(server.addr, "/predict", Some("application/json"), b"{\"customer\": \"\xff\xfe\"}");
    assert_eq!((status, error_code(&body)), (400, "malformed_json".into()));
    let big = format!("{{\"customer\": {}, \"pad\": \"{}\"}}", seed_customer(), "x".repeat(5000));
    let (status, body) = raw_post(server.addr, "/predict", Some("application/json"), big.as_bytes());
    assert_eq!((status, error_code(&body)), (413, "payload_too_large".into()));
    let valid = json!({"customer": seed_customer()}).to_string();
    let (status, body) = raw_post(server.addr, "/predict", Some("text/plain"), valid.as_bytes());
    assert_eq!((status, error_code(&body)), (415, "unsupported_media_type".into()));
    let (status, _) = raw_post(server.addr, "/predict", None, valid.as_bytes());
    assert_eq!(status, 200, "a body without Content-Type is read as JSON");
    let (status, _) =
        raw_post(server.addr, "/predict", Some("application/json; charset=utf-8"), valid.as_bytes());
    assert_eq!(status, 200);
    let missing = get(&server, "/nope");
    assert_eq!((missing.status, missing.json()["error"].clone()), (404, json!("not_found")));
    let wrong = get(&server, "/predict");
    assert_eq!((wrong.status, wrong.json()["error"].clone()), (405, json!("method_not_allowed")));
    assert_eq!(wrong.header("allow"), Some("POST"));
    let (status, body) = raw_post(server.addr, "/health", Some("application/json"), b"{}");
    assert_eq!((status, error_code(&body)), (405, "method_not_allowed".into()));
    for e in [missing.json(), wrong.json()] {
        assert_eq!(keys(&e), ["details", "error", "message"]);
    }
}

/// The seed customer's request with `age` written twice (17, then the real 45 that serde_json keeps).
fn valid_text_with_repeated_age() -> String {
    let text = json!({"customer": seed_customer()}).to_string();
    text.replacen("\"age\":", "\"age\":17,\"age\":", 1)
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error"].as_str().unwrap_or("").to_string()
}

#[test]
fn health_model_openapi_and_metrics() {
    let fx = Fixture::train();
    let server = Server::start(fx.model(), &[]);
    let health = get(&server, "/health");
    assert_eq!(health.status, 200);
    assert_eq!(
        health.json(),
        json!({"status": "ok", "model": {"run_id": fx.run_id(), "uri": fx.model(), "method": "tree_path_dependent"}})
    );
    assert_eq!(get(&server, "/health/ready").json(), health.json(), "/health is readiness");
    let live = get(&server, "/health/live");
    assert_eq!((live.status, live.json()), (200, json!({"status": "ok"})));
    let model = get(&server, "/model").json();
    assert_eq!(model["run_id"], json!(fx.run_id()));
    assert_eq!(model["n_trees"], json!(20));
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(fx.dir.path().join("out/metrics.json")).unwrap())
            .unwrap();
    assert!(on_disk["roc_auc"].is_f64());
    assert_eq!(model["metrics"]["roc_auc"], on_disk["roc_auc"], "the training run's metrics");
    assert_eq!(model["params"]["n_estimators"], json!(20));
    let fields = model["feature_schema"]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 16);
    assert!(fields.iter().any(|f| f["name"] == "income" && f["training_range"].is_array()));
    assert_eq!(model["schema"]["name"], json!("chilean-applicants"), "/model shows the model's schema");
    assert_eq!(model["schema"]["column"].as_array().unwrap().len(), 18);

    let doc = get(&server, "/openapi.json");
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/predict",
        "/explain",
        "/predict/batch",
        "/health",
        "/health/live",
        "/health/ready",
        "/model",
        "/openapi.json",
        "/docs",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let customer = &doc["components"]["schemas"]["Customer"];
    assert_eq!(customer["properties"]["age"]["minimum"], json!(18));
    assert_eq!(customer["properties"]["gender"]["enum"], json!(["f", "m"]));
    assert_eq!(doc["components"]["schemas"]["Lang"]["enum"], json!(["es", "en"]));

    // Every series names the model that answered (served from a directory: no registry name).
    let m = format!("model_name=\"\",model_version=\"\",model_run_id=\"{}\"", fx.run_id());
    let denied = format!("credrisk_decisions_total{{endpoint=\"/predict\",outcome=\"denied\",{m}}}");
    let before = metric_value(&get(&server, "/metrics").body, &denied);
    post_json(&server, "/predict", &json!({"customer": risky_customer()}));
    post_json(&server, "/predict", &json!({"customer": {}}));
    let text = get(&server, "/metrics").body;
    let after = metric_value(&text, &denied);
    assert_eq!(after, before + 1.0);
    let requests = |endpoint: &str, status: u16| {
        metric_value(
            &text,
            &format!("credrisk_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\",{m}}}"),
        )
    };
    assert!(requests("/predict", 422) >= 1.0);
    assert!(requests("/health", 200) >= 1.0);
    let count = metric_value(
        &text,
        &format!("credrisk_http_request_duration_seconds_count{{endpoint=\"/predict\",{m}}}"),
    );
    let inf = metric_value(
        &text,
        &format!("credrisk_http_request_duration_seconds_bucket{{endpoint=\"/predict\",{m},le=\"+Inf\"}}"),
    );
    assert_eq!(count, inf);
    assert!(count >= 2.0);
    assert_eq!(metric_value(&text, "credrisk_model_loaded"), 1.0);
    assert!(text.contains(&format!("credrisk_model_info{{{m},uri=")), "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').expect("name value");
        assert!(value.parse::<f64>().is_ok(), "bad sample {line}");
        assert!(name.starts_with("credrisk_"), "{line}");
    }
}

fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[test]
fn request_ids_and_one_structured_log_line_per_request() {
    let fx = Fixture::train();
    let mut server = Server::start(fx.model(), &[]);
    let body = json!({"customer": risky_customer(), "include_explanation": true}).to_string();
    let reply = post(&server, "/predict", &body, &[("X-Request-Id", "loan-2024.0001:a_b")]);
    assert_eq!(reply.header("x-request-id"), Some("loan-2024.0001:a_b"), "a sane client id is kept");
    let line = server.request_log("loan-2024.0001:a_b");
    assert_eq!(line["endpoint"], json!("/predict"));
    assert_eq!(line["status"], json!(200));
    assert_eq!(line["decision"], json!("denied"));
    assert_eq!(line["probability"], reply.json()["probability"]);
    assert_eq!(line["explanation"], json!(true));
    assert_eq!(line["model_run_id"], json!(fx.run_id()));
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));

    let insane = post(&server, "/predict", &body, &[("X-Request-Id", "has spaces and \"quotes\"")]);
    let id = insane.header("x-request-id").unwrap().to_string();
    assert_ne!(id, "has spaces and \"quotes\"");
    assert_eq!(id.len(), 36, "replaced by a UUID: {id}");
    let generated = get(&server, "/nope");
    let id = generated.header("x-request-id").expect("every answer has an id").to_string();
    let line = server.request_log(&id);
    assert_eq!((line["status"].clone(), line["endpoint"].clone()), (json!(404), json!("other")));
    assert!(line.get("decision").is_none());
}

#[test]
fn the_audit_log_holds_each_decision_before_the_answer_arrives() {
    let fx = Fixture::train();
    let audit = fx.dir.path().join("audit.jsonl");
    let server = Server::start(fx.model(), &["--audit-log", audit.to_str().unwrap()]);
    let read = || -> Vec<Value> {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut spelled = risky_customer();
    spelled["region"] = json!("metropolitana");
    let body = json!({"customer": spelled}).to_string();
    let reply = post(&server, "/predict", &body, &[("X-Request-Id", "audit-1")]);
    // Read right after the answer: the record must already be there.
    let records = read();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    let explained = post_json(&server, "/explain", &json!({"customer": risky_customer()})).json();
    assert_eq!(r["request_id"], json!("audit-1"));
    assert_eq!(r["endpoint"], json!("/predict"));
    assert_eq!(r["model"]["run_id"], json!(fx.run_id()));
    assert_eq!(r["customer"]["region"], json!("Metropolitana"), "the customer as scored");
    assert_eq!(r["customer"]["income"], json!(90000.0));
    assert_eq!(r["decision"], json!("denied"));
    assert_eq!(r["probability"], reply.json()["probability"]);
    assert_eq!(r["reasons"], explained["reasons"], "a denial is recorded with its reasons");
    assert!(r["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(read().len(), 2, "the /explain answer was recorded too");

    post_json(&server, "/predict", &json!({"customer": {}}));
    assert_eq!(read().len(), 2, "a rejected request decides nothing");
    post_json(&server, "/predict/batch", &json!({"customers": [safe_customer(), {}, seed_customer()]}));
    let records = read();
    assert_eq!(records.len(), 4);
    assert_eq!((records[2]["index"].clone(), records[3]["index"].clone()), (json!(0), json!(2)));
    assert_eq!(records[2]["decision"], json!("approved"));
    assert_eq!(records[2]["reasons"], json!([]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&audit).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the audit log holds personal data: owner only");
    }
}

/// A model whose header is sound but whose body is corrupt passes the check before binding; the
/// background load then fails and stops the server: one `credrisk: error:` line, exit 2. (The
/// wrong URIs, truncated payloads and FIFOs refused before binding are in tests/serve_ops.rs; the
/// 503 answers while the model loads are an in-process test in src/serve/mod.rs.)
#[test]
fn a_model_that_cannot_be_loaded_stops_the_server_with_exit_code_2() {
    let fx = Fixture::train();
    let corrupt = fx.dir.path().join("corrupt-model");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::copy(fx.model_dir.join("MLmodel"), corrupt.join("MLmodel")).unwrap();
    let mut bytes = std::fs::read(fx.model_dir.join("model.crm")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(corrupt.join("model.crm"), bytes).unwrap();
    let mut server = Server::spawn(&["--model-uri", corrupt.to_str().unwrap()]);
    assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(2), "{}", server.log_text());
    std::thread::sleep(Duration::from_millis(100));
    let stderr = server.stderr_lines();
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(stderr[0].starts_with("credrisk: error: ") && stderr[0].contains("checksum"), "{stderr:?}");

    let dir = fx.dir.path();
    for bad in [&["--workers", "0"][..], &["--body-limit", "10"], &["--background", "/no/such.parquet"]] {
        let out = common::run_in(dir, &[&["serve", "--port", "0"][..], bad].concat());
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("credrisk: error: "), "{bad:?}");
    }
    for bad in
        [&["--body-timeout", "0"][..], &["--max-connections", "0"], &["--max-connections", "100000000"]]
    {
        let out =
            common::run_in(dir, &[&["serve", "--port", "0", "--model-uri", fx.model()][..], bad].concat());
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("credrisk: error: "), "{bad:?}");
    }
}

/// SIGTERM with a request in flight: the request is answered, then the server exits 0.
#[cfg(unix)]
#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_cleanly() {
    use std::io::{Read, Write};
    let fx = Fixture::train();
    let mut server = Server::start(fx.model(), &[]);
    let body = json!({"customer": seed_customer()}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let killed =
        std::process::Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(tail.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "in-flight request answered: {answer}");
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0), "{}", server.log_text());
    std::thread::sleep(Duration::from_millis(100));
    assert!(server.log_json().iter().any(|v| v["message"] == "stopped"), "{}", server.log_text());
}

#[test]
fn concurrent_explanations_are_computed_together_with_the_values_each_gets_alone() {
    // 500 trees: an explanation takes ~5 ms, long enough that requests arriving together
    // overlap even on one core (with 20 trees, ~0.3 ms, a one-core machine's scheduler
    // usually ran each to the end before the next arrived: no batch in 20 rounds).
    let fx = Fixture::train_trees(500);
    let server = Server::start(fx.model(), &[]);
    // 24 different customers, half of them denied (reasons), es and en, a third compared with
    // approved applicants (interventional: slower, so concurrent requests overlap; and a batch
    // holds one reference).
    let customers: Vec<Value> = (0..24)
        .map(|i| {
            let mut c = if i % 2 == 0 { risky_customer() } else { safe_customer() };
            c["income"] = (150_000 + 37_000 * i).into();
            c["age"] = (22 + i).into();
            let lang = if i % 4 == 0 { "en" } else { "es" };
            let reference = if i % 3 == 0 { "approved" } else { "path" };
            json!({"customer": c, "lang": lang, "reference": reference})
        })
        .collect();
    let ask = |body: &Value| {
        let reply = post_json(&server, "/explain", body);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    };
    let alone: Vec<Value> = customers.iter().map(ask).collect();
    let metric = |name: &str| {
        let text = get(&server, "/metrics").body;
        text.lines()
            .filter(|l| l.starts_with(name))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum::<f64>()
    };
    let (batches, requests) = ("credrisk_explain_batches_total{", "credrisk_explain_batched_requests_total{");
    assert_eq!((metric(batches), metric(requests)), (24.0, 24.0), "one at a time: batches of one");
    // Rounds of all 24 at once (until some were computed together, at most 20 rounds): the
    // answers are the same JSON, bit for bit, as each alone.
    let mut rounds = 0;
    while rounds < 20 && metric(batches) - 24.0 == 24.0 * rounds as f64 {
        let together: Vec<Value> = std::thread::scope(|s| {
            let handles: Vec<_> = customers.iter().map(|c| s.spawn(move || ask(c))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
            assert_eq!(a, b, "customer {i}: concurrent answer differs from its answer alone");
            assert_additive(b);
        }
        rounds += 1;
    }
    let asked = 24.0 * rounds as f64;
    assert_eq!(metric(requests) - 24.0, asked, "every concurrent request went through a batch");
    let formed = metric(batches) - 24.0;
    assert!(formed < asked, "{asked} concurrent requests in {formed} batches: none were computed together");
    // /predict's explanations, asked for or an audited denial's reasons, go the same way.
    let before = metric(requests);
    let reply =
        post_json(&server, "/predict", &json!({"customer": risky_customer(), "include_explanation": true}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(metric(requests), before + 1.0, "/predict's explanation was not computed by the combiner");
}
