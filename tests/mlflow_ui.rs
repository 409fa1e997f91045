//! Issue #12, checked in the real MLflow 3.17 UI (`mlflow ui` from the pinned venv, driven by
//! Playwright in /usr/bin/chromium, 127.0.0.1 only): the link `credrisk train` prints opens the
//! classic "Model training" view with the run table and its Datasets column, the run says who
//! created it even when `$USER` is unset, and the registered version shows its signature.

mod common;
mod mlflow_util;

use common::{credrisk, ok_in};
use mlflow_util::{MlflowServer, file_uri, py_json, python_cmd};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Opens the experiment, run and version pages; prints what they show and the account name
/// Python's own `pwd` gives for this user id.
const BROWSE_PY: &str = r#"
import json, os, pwd, re, sys
from playwright.sync_api import sync_playwright
experiment_url, run_url, version_url, run_name, shots = sys.argv[1:6]
args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]
out = {"account": pwd.getpwuid(os.getuid()).pw_name}
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(20000)
    page.goto(experiment_url)
    page.get_by_text(run_name).first.wait_for()
    page.get_by_text(re.compile(r"\.parquet \([0-9a-f]{8}\)")).first.wait_for()
    page.screenshot(path=os.path.join(shots, "experiment.png"))
    out["experiment_url"] = page.url
    out["experiment"] = page.inner_text("body")
    page.goto(run_url)
    page.get_by_text("Created by").first.wait_for()
    page.get_by_text(re.compile(r"\.parquet \([0-9a-f]{8}\)")).first.wait_for()
    page.screenshot(path=os.path.join(shots, "run.png"))
    out["run"] = page.inner_text("body")
    page.goto(version_url)
    page.get_by_text(re.compile(r"Inputs \(\d+\)")).first.wait_for()
    page.screenshot(path=os.path.join(shots, "version.png"))
    out["version"] = page.inner_text("body")
    browser.close()
print(json.dumps(out))
"#;

#[test]
fn the_mlflow_ui_shows_the_classic_view_the_creator_the_dataset_and_the_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok_in(dir, &["generate", "--rows", "2000", "--prefix", "data/d", "-q"]);
    let uri = file_uri(&dir.join("mlruns"));
    // No $USER (a service or a container): the run still names its creator.
    let out = credrisk()
        .current_dir(dir)
        .args([
            "train",
            "--data",
            "data/d.parquet",
            "--n-estimators",
            "5",
            "--quiet",
            "--run-name",
            "ui-check",
        ])
        .args(["--tracking-uri", &uri])
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("LNAME")
        .env_remove("USERNAME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let printed =
        stdout.lines().find_map(|l| l.trim().strip_prefix("UI: ")).expect("train prints the UI link");
    let run_id = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("model URI: runs:/")?.strip_suffix("/model"))
        .expect("train prints the model URI")
        .to_string();
    ok_in(dir, &["register", "--run", &run_id, "--name", "credrisk-model", "--tracking-uri", &uri]);

    let server = MlflowServer::start_command("ui", &["--backend-store-uri", &uri], dir);
    let started = Instant::now();
    let run_url = printed.replace("http://127.0.0.1:5000", &server.url);
    assert!(run_url.ends_with(&format!("/runs/{run_id}?workflowType=machine_learning")), "{run_url}");
    let experiment_url = run_url.replace(&format!("/runs/{run_id}"), "");
    let version_url = format!("{}/#/models/credrisk-model/versions/1", server.url);
    let shots = dir.join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut child = python_cmd()
        .arg("-c")
        .arg(BROWSE_PY)
        .args([experiment_url.as_str(), &run_url, &version_url, "ui-check", shots.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the browser took more than 60 s:\n{}", server.log_text());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let browsed = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&browsed.stdout);
    assert!(browsed.status.success(), "{text}\n{}", String::from_utf8_lossy(&browsed.stderr));
    let got: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap();

    // The classic view: the experiment's run table (not the GenAI Traces page), its Dataset
    // column filled with the data file, its digest and its context.
    let experiment = got["experiment"].as_str().unwrap();
    assert!(got["experiment_url"].as_str().unwrap().contains("/runs"), "{}", got["experiment_url"]);
    for expected in ["Run Name", "Dataset", "ui-check", "d.parquet (", "Training"] {
        assert!(experiment.contains(expected), "{expected:?} not on the experiment page:\n{experiment}");
    }
    assert!(!experiment.contains("Start tracing your LLM application"), "{experiment}");
    // Created by: the OS account (what Python's pwd says), not "unknown".
    let account = got["account"].as_str().unwrap();
    let run = got["run"].as_str().unwrap();
    let created_by = run.lines().skip_while(|l| l.trim() != "Created by").nth(1).unwrap_or_default().trim();
    assert_eq!(created_by, account, "{run}");
    // The registered version's schema: the 16 applicant fields in, the probability out.
    let version = got["version"].as_str().unwrap();
    assert!(version.contains("Inputs (16)") && version.contains("Outputs (1)"), "{version}");

    // The same facts through MLflow's client.
    let client = py_json(
        r#"
import json, sys, mlflow
uri, run_id = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
c = mlflow.MlflowClient(uri, uri)
r = c.get_run(run_id)
sig = mlflow.models.get_model_info("models:/credrisk-model/1").signature
print(json.dumps({"kind": c.get_experiment(r.info.experiment_id).tags.get("mlflow.experimentKind"),
                  "user": r.info.user_id, "inputs": sig.inputs.input_names(),
                  "outputs": sig.outputs.input_names()}))
"#,
        &[&uri, &run_id],
    );
    assert_eq!(client["kind"], "custom_model_development");
    assert_eq!(client["user"], account);
    assert_eq!(client["inputs"].as_array().unwrap().len(), 16, "{client}");
    assert_eq!(client["outputs"], serde_json::json!(["probability"]));
}
