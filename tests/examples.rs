//! The example files of `examples/` as a user meets them in the README and `scripts/demo.sh`:
//! `credrisk explain` on each, and the service answering the demo's `curl` bodies unchanged.

mod serve_support;

use serde_json::{Value, json};
use serve_support::{Fixture, Server, common, post};

/// `credrisk explain --format json` on an example file: one answer per customer.
fn explain(fx: &Fixture, file: &str) -> Vec<Value> {
    let path = common::example(file);
    let args = ["explain", "--model", fx.model(), "--customer", path.to_str().unwrap(), "--format", "json"];
    let out = common::ok_in(fx.dir.path(), &args);
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn example_text(file: &str) -> String {
    std::fs::read_to_string(common::example(file)).unwrap()
}

fn probability(answer: &Value) -> f64 {
    answer["probability"].as_f64().unwrap()
}

#[test]
fn the_example_customers_are_decided_as_named_and_the_batch_files_hold_them() {
    let fx = Fixture::train();
    let approved = &explain(&fx, "approved.json")[0];
    assert_eq!(approved["approved"], true, "{approved}");
    assert!(probability(approved) >= 0.75, "approved.json is not a clear approval: {approved}");
    let denied = &explain(&fx, "denied.json")[0];
    assert_eq!(denied["approved"], false, "{denied}");
    assert!(probability(denied) <= 0.25, "denied.json is not a clear denial: {denied}");
    assert!(!denied["reasons"].as_array().unwrap().is_empty(), "a denial comes with reasons: {denied}");

    // The batch is the three single-customer examples and one more, the same in JSON and CSV.
    let singles: Vec<Value> =
        ["customer.json", "approved.json", "denied.json"].iter().map(|f| explain(&fx, f).remove(0)).collect();
    let batch = explain(&fx, "batch.json");
    assert_eq!(batch.len(), 4);
    assert_eq!(batch[..3], singles[..]);
    assert_eq!(explain(&fx, "batch.csv"), batch, "batch.csv and batch.json differ");
    for answer in &batch {
        assert_eq!(answer["warnings"], json!([]), "an example outside the training range: {answer}");
    }
}

#[test]
fn the_service_answers_the_demo_bodies_unchanged() {
    let fx = Fixture::train();
    let server = Server::start(fx.model(), &[]);
    let seed = post(&server, "/predict", &example_text("customer.json"), &[]);
    assert_eq!(seed.status, 200, "{}", seed.body);
    let seed = seed.json();
    assert!(seed["explanation"]["contributions"].is_array(), "the seed asks for the explanation: {seed}");

    let denied = post(&server, "/explain?lang=en", &example_text("denied.json"), &[]);
    assert_eq!(denied.status, 200, "{}", denied.body);
    let denied = denied.json();
    assert_eq!(denied["approved"], false);
    assert!(denied["reasons"][0]["text"].as_str().unwrap().contains("approved"), "{denied}");

    let body = format!("{{\"customers\": {}}}", example_text("batch.json"));
    let batch = post(&server, "/predict/batch", &body, &[]);
    assert_eq!(batch.status, 200, "{}", batch.body);
    let results = batch.json()["results"].as_array().unwrap().clone();
    let cli = explain(&fx, "batch.json");
    assert_eq!(results.len(), cli.len());
    for (http, cli) in results.iter().zip(&cli) {
        assert_eq!(http["probability"], cli["probability"], "{http} vs {cli}");
        assert_eq!(http["approved"], cli["approved"]);
    }
}
