//! schemathesis (the pinned PyPI package) against our own `/openapi.json`: on every operation,
//! generated requests (positive and negative) never get a 5xx, and every answer's status and body
//! conform to the document; on the decision endpoints, `--mode negative`'s requests that violate
//! the document are all rejected with a 4xx (`negative_data_rejection`). Bounded by
//! `--max-examples` and by a wall-clock limit.

mod serve_support;

use serve_support::{Fixture, Server, common};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXAMPLES: &str = "60";
const TIME_LIMIT: Duration = Duration::from_secs(600);

fn schemathesis() -> PathBuf {
    let python = common::python();
    let exe = python.parent().expect("venv bin").join("schemathesis");
    assert!(exe.exists(), "{} is missing: the pinned venv has schemathesis", exe.display());
    exe
}

/// Runs schemathesis with ARGS (output to a file, so a full pipe cannot stall it), killing it
/// after [`TIME_LIMIT`]; returns (success, output).
fn run_schemathesis(dir: &Path, name: &str, args: &[&str]) -> (bool, String) {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(schemathesis())
        .arg("run")
        .args(args)
        .args(["--report", "junit", "--report-junit-path"])
        .arg(dir.join(format!("{name}.xml")))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .expect("schemathesis starts");
    let deadline = Instant::now() + TIME_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    (status.is_some_and(|s| s.success()), output)
}

#[test]
fn the_service_conforms_to_its_openapi_document() {
    let fx = Fixture::train();
    conforms(fx.dir.path(), fx.model());
}

/// The same on a model of another table, the German credit data with its own schema: the
/// document lists the German fields, and the service keeps to it.
#[test]
fn the_service_on_the_german_credit_model_conforms_to_its_document() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (csv, schema) = (common::german_csv(), common::german_toml());
    common::ok_in(
        dir,
        &[
            "train",
            "--schema",
            schema.to_str().unwrap(),
            "--data",
            csv.to_str().unwrap(),
            "--n-estimators",
            "30",
            "--no-tracking",
            "--quiet",
        ],
    );
    let model = dir.join("outputs/model");
    {
        let server = Server::start(model.to_str().unwrap(), &[]);
        let doc = serve_support::get(&server, "/openapi.json").json();
        let text = doc.to_string();
        for field in ["status_of_existing_checking_account", "credit_amount", "foreign_worker"] {
            assert!(text.contains(field), "the document names {field}");
        }
        assert!(!text.contains("regional_unemployment"), "no Chilean field in the German document");
    }
    conforms(dir, model.to_str().unwrap());
}

/// schemathesis on `model` served from `dir`: every operation in positive and negative modes,
/// no 5xx, status codes and bodies as documented, every invalid request rejected.
fn conforms(dir: &Path, model: &str) {
    let server = Server::start(model, &[]);
    let schema = server.url("/openapi.json");
    // One worker: hypothesis' lambda introspection is not thread-safe on Python 3.11 ("AST
    // constructor recursion depth mismatch" with --workers 2).
    let common_args =
        ["--max-examples", EXAMPLES, "--seed", "42", "--request-timeout", "20", "--workers", "1"];

    let checks = "not_a_server_error,status_code_conformance,response_schema_conformance";
    let mut args = vec![schema.as_str(), "--checks", checks, "--mode", "all"];
    args.extend_from_slice(&common_args);
    let (ok, output) = run_schemathesis(dir, "all", &args);
    assert!(ok, "schemathesis (all operations) failed:\n{output}");
    // schemathesis never tests the document's own path (/openapi.json); every other one it must.
    let tested = tested_operations(dir, "all");
    assert_eq!(
        tested,
        [
            "GET /docs",
            "GET /health",
            "GET /health/live",
            "GET /health/ready",
            "GET /metrics",
            "GET /model",
            "POST /explain",
            "POST /predict",
            "POST /predict/batch",
            "POST /recourse"
        ],
        "{output}"
    );

    let mut args = vec![
        schema.as_str(),
        "--checks",
        "negative_data_rejection,not_a_server_error",
        "--mode",
        "negative",
        "--include-path-regex",
        "^/(predict|explain|predict/batch)$",
    ];
    args.extend_from_slice(&common_args);
    let (ok, output) = run_schemathesis(dir, "negative", &args);
    assert!(ok, "schemathesis --mode negative failed:\n{output}");
    assert_eq!(tested_operations(dir, "negative"), ["POST /explain", "POST /predict", "POST /predict/batch"]);
    assert_eq!(serve_support::get(&server, "/health").status, 200);
}

/// The operations the JUnit report of run `name` has a test case for, sorted.
fn tested_operations(dir: &Path, name: &str) -> Vec<String> {
    let xml = std::fs::read_to_string(dir.join(format!("{name}.xml"))).expect("the JUnit report");
    let mut names: Vec<String> = xml
        .split("<testcase name=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}
