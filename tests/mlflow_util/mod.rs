//! Helpers for the MLflow oracle tests: the real `mlflow` Python client and server from the
//! pinned venv, a server guard that always stops the whole process group, and a fake model /
//! outputs directory like the one `credrisk train` writes.

#![allow(dead_code)]

use crate::common;
use credrisk::tracking::{self, ActiveRun, Metric, MlModel, RunInfo, RunStatus, Store};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A python command in the venv with the env MLflow 3.17 needs to read a file store.
pub fn python_cmd() -> Command {
    let mut cmd = Command::new(common::python());
    cmd.env("MLFLOW_ALLOW_FILE_STORE", "true")
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("DO_NOT_TRACK", "true")
        .env("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_REGISTRY_URI");
    cmd
}

/// Runs a Python script with the real MLflow; returns stdout, panics with the output on failure.
pub fn py(script: &str, args: &[&str]) -> String {
    let out = python_cmd().arg("-c").arg(script).args(args).output().expect("python runs");
    assert!(
        out.status.success(),
        "python failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The JSON document a script printed on its last line.
pub fn py_json(script: &str, args: &[&str]) -> serde_json::Value {
    let out = py(script, args);
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("bad JSON from python ({e}):\n{out}"))
}

/// `tests/oracles/check_mlflow_store.py ROOT ARGS`: the store read back by the real client.
pub fn checker(root: &Path, args: &[&str]) -> Output {
    python_cmd()
        .arg(common::oracle("check_mlflow_store.py"))
        .arg(root)
        .args(args)
        .output()
        .expect("the checker runs")
}

/// Asserts the checker exits 0 on `root`.
pub fn assert_checker_passes(root: &Path, args: &[&str]) -> String {
    let out = checker(root, args);
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "check_mlflow_store.py {args:?} failed ({}):\n{text}", out.status);
    text
}

pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The files of a logged model directory as the real client lists them: `code/` and the
/// environment files are the python_function flavor's (#18).
pub fn model_files() -> serde_json::Value {
    serde_json::json!([
        "MLmodel",
        "code",
        "conda.yaml",
        "feature_schema.json",
        "forest.json",
        "model.crm",
        "python_env.yaml",
        "requirements.txt"
    ])
}

/// A model payload with bytes that break text handling (NUL, 0xff, CR LF).
pub fn payload_bytes() -> Vec<u8> {
    let mut bytes = b"CRM\x00\x01\xff\r\n".to_vec();
    bytes.extend((0..4096u32).map(|i| (i * 31 % 251) as u8));
    bytes
}

/// An `outputs/` directory like train's: metrics.json, a PNG, and `model/` with its payload,
/// schema and dump (MLmodel is added by [`MlModel::write`] once the run id is known).
pub fn write_outputs(dir: &Path) -> PathBuf {
    let model = dir.join("model");
    fs::create_dir_all(&model).unwrap();
    fs::write(dir.join("metrics.json"), r#"{"roc_auc": 0.8125, "brier": 0.0625}"#).unwrap();
    fs::write(dir.join("roc_curve.png"), b"\x89PNG\r\n\x1a\nfake").unwrap();
    fs::write(model.join("model.crm"), payload_bytes()).unwrap();
    fs::write(model.join("feature_schema.json"), r#"{"features": ["age", "income"]}"#).unwrap();
    fs::write(model.join("forest.json"), r#"{"format": "credrisk-forest/1", "trees": []}"#).unwrap();
    model
}

/// What a training run logs, with values chosen to be exact in binary floating point.
pub struct Logged {
    pub params: Vec<(String, String)>,
    pub oob_auc: Vec<f64>,
    pub note: String,
}

pub fn standard_logged() -> Logged {
    Logged {
        params: [
            ("n_estimators", "50"),
            ("max_depth", "8"),
            ("seed", "42"),
            ("test_size", "0.25"),
            ("data", "/data/applicants 2024.parquet"),
            ("features", "age,income,region=Región de Ñuble"),
            ("empty", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        oob_auc: vec![0.5, 0.625, 0.6875, 0.75, 0.78125],
        note: "## credrisk run\n\n| metric | value |\n|---|---|\n| AUC | 0.8125 |\n\nit's \"quoted\": yes"
            .into(),
    }
}

/// Starts a run and logs the standard params, step metrics (with NaN, ±inf and a `/` key), tags
/// and the outputs directory with a model; ends it FINISHED. Returns the run and the model dir.
pub fn log_standard_run(store: &dyn Store, scratch: &Path, run_name: &str) -> (RunInfo, Logged) {
    let logged = standard_logged();
    let tags = vec![("team".to_string(), "risk".to_string())];
    let mut tracker = ActiveRun::start(store, "credrisk", run_name, &tags).unwrap();
    let run = tracker.info().clone();
    tracker.log_params(&logged.params).unwrap();
    tracker.log_params(&logged.params[..2]).unwrap(); // the same values again: allowed
    let ts = tracking::now_ms();
    let m = |key: &str, value: f64, step: i64| Metric { key: key.into(), value, step, timestamp_ms: ts };
    let steps: Vec<Metric> =
        logged.oob_auc.iter().enumerate().map(|(i, &v)| m("oob_auc", v, i as i64 + 1)).collect();
    tracker.log_metrics(&steps[..2]).unwrap();
    tracker.log_metrics(&steps).unwrap(); // repeats steps 1-2 identically: written once
    tracker
        .log_metrics(&[
            m("roc_auc", 0.8125, 0),
            m("brier", 0.0625, 0),
            m("eval/ks", 0.4375, 0),
            m("nan_metric", f64::NAN, 0),
            m("inf_metric", f64::INFINITY, 0),
            m("neginf_metric", f64::NEG_INFINITY, 0),
        ])
        .unwrap();
    tracker.set_tags(&[("mlflow.note.content".to_string(), logged.note.clone())]).unwrap();
    let outputs = scratch.join(format!("outputs-{}", run.run_id));
    let model_dir = write_outputs(&outputs);
    let mlmodel = MlModel {
        run_id: Some(&run.run_id),
        payload_file: "model.crm",
        payload_format: "credrisk-model/1",
        signature: None,
    };
    mlmodel.write(&model_dir).unwrap();
    tracker.log_artifacts(&outputs, None).unwrap();
    tracker.end(RunStatus::Finished).unwrap();
    (run, logged)
}

/// Reads a run back with the real client and prints JSON (NaN/inf as their Python repr).
pub const READ_RUN_PY: &str = r#"
import json, math, os, sys, hashlib, tempfile
import mlflow
from mlflow import MlflowClient
uri, run_id = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
c = MlflowClient(tracking_uri=uri, registry_uri=uri)
def f(v):
    return repr(v) if isinstance(v, float) and (math.isnan(v) or math.isinf(v)) else v
def walk(path=None):
    out = []
    for a in c.list_artifacts(run_id, path):
        out.append([a.path, a.is_dir, a.file_size])
        if a.is_dir:
            out.extend(walk(a.path))
    return out
r = c.get_run(run_id)
dst = tempfile.mkdtemp()
local = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=dst)
print(json.dumps({
    "status": r.info.status, "run_name": r.info.run_name, "user": r.info.user_id,
    "start": r.info.start_time, "end": r.info.end_time,
    "experiment": c.get_experiment(r.info.experiment_id).name,
    "params": r.data.params,
    "metrics": {k: f(v) for k, v in r.data.metrics.items()},
    "tags": r.data.tags,
    "history": {k: [[m.step, f(m.value)] for m in c.get_metric_history(run_id, k)] for k in r.data.metrics},
    "artifacts": sorted(walk()),
    "model_files": sorted(os.listdir(local)),
    "payload_sha256": hashlib.sha256(open(os.path.join(local, "model.crm"), "rb").read()).hexdigest(),
    "searched": [x.info.run_id for x in c.search_runs([r.info.experiment_id])],
}))
"#;

/// The checks on READ_RUN_PY's answer shared by the file-store and REST tests.
pub fn assert_run_reads_back(got: &serde_json::Value, run: &RunInfo, logged: &Logged, run_name: &str) {
    use serde_json::json;
    assert_eq!(got["status"], "FINISHED");
    assert_eq!(got["run_name"], run_name);
    assert_eq!(got["experiment"], "credrisk");
    let params: serde_json::Map<String, serde_json::Value> =
        logged.params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    assert_eq!(got["params"], serde_json::Value::Object(params));
    let metrics = &got["metrics"];
    assert_eq!(metrics["roc_auc"], 0.8125);
    assert_eq!(metrics["brier"], 0.0625);
    assert_eq!(metrics["eval/ks"], 0.4375);
    assert_eq!(metrics["nan_metric"], "nan");
    assert_eq!(metrics["oob_auc"], 0.78125, "latest = the largest step");
    let history: Vec<(i64, f64)> = got["history"]["oob_auc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    let expected: Vec<(i64, f64)> =
        logged.oob_auc.iter().enumerate().map(|(i, &v)| (i as i64 + 1, v)).collect();
    assert_eq!(history, expected, "each step once, in order");
    let tags = &got["tags"];
    assert_eq!(tags["team"], "risk");
    assert_eq!(tags["mlflow.note.content"], logged.note.as_str());
    assert_eq!(tags["mlflow.runName"], run_name);
    assert_eq!(tags["mlflow.source.type"], "LOCAL");
    assert!(tags["mlflow.user"].as_str().is_some_and(|u| !u.is_empty()));
    let start = got["start"].as_i64().unwrap();
    let end = got["end"].as_i64().unwrap();
    let now = tracking::now_ms();
    assert!(start > now - 600_000 && start <= end && end <= now, "start {start} end {end} now {now}");
    let files: Vec<(String, i64)> = got["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a[1] == false)
        .map(|a| (a[0].as_str().unwrap().to_string(), a[2].as_i64().unwrap()))
        .collect();
    let payload_len = payload_bytes().len() as i64;
    for (path, size) in [("metrics.json", 36), ("roc_curve.png", 12), ("model/model.crm", payload_len)] {
        assert!(files.contains(&(path.to_string(), size)), "{path} ({size} bytes) missing from {files:?}");
    }
    assert!(files.iter().any(|(p, _)| p == "model/MLmodel"), "{files:?}");
    assert_eq!(got["model_files"], model_files());
    assert_eq!(got["payload_sha256"], sha256_hex(&payload_bytes()));
    assert!(got["searched"].as_array().unwrap().contains(&json!(run.run_id)));
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real `mlflow server` in its own process group; dropping it stops the whole group (the
/// server spawns gunicorn/uvicorn workers and huey consumers, pitfall P15).
pub struct MlflowServer {
    child: Option<Child>,
    /// Kills the server group if this test process dies without running Drop (SIGKILL, timeout).
    watchdog: Option<Child>,
    pub url: String,
    log: PathBuf,
}

impl MlflowServer {
    /// Starts `mlflow server ARGS --host 127.0.0.1 --port P --workers 1` and waits (bounded) for
    /// `/health`.
    pub fn start(args: &[&str], log_dir: &Path) -> MlflowServer {
        MlflowServer::start_command("server", args, log_dir)
    }

    /// The same with another `mlflow` command that serves (`ui`).
    pub fn start_command(command: &str, args: &[&str], log_dir: &Path) -> MlflowServer {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log = log_dir.join(format!("mlflow-server-{port}.log"));
        let log_file = fs::File::create(&log).unwrap();
        let child = python_cmd()
            .args(["-m", "mlflow", command])
            .args(args)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .expect("mlflow server starts");
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg("while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; kill -TERM \"-$2\"; sleep 10; kill -KILL \"-$2\"")
            .args(["watchdog", &std::process::id().to_string(), &child.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        let url = format!("http://127.0.0.1:{port}");
        let mut server = MlflowServer { child: Some(child), watchdog, url, log };
        server.wait_healthy(Duration::from_secs(120));
        server
    }

    fn wait_healthy(&mut self, limit: Duration) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .proxy(None)
            .build()
            .into();
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("mlflow server exited ({status}) before answering:\n{}", self.log_text());
            }
            if agent.get(&format!("{}/health", self.url)).call().is_ok_and(|r| r.status() == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("mlflow server not healthy after {limit:?}:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the process group: SIGTERM, up to 20 s grace, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Whatever is left of the group (workers, consumers) goes now.
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = child.kill();
        let _ = child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// POSTs JSON to the server (the way the UI does) and returns the answer.
pub fn post_json(url: &str, body: &serde_json::Value) -> serde_json::Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .proxy(None)
        .build()
        .into();
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let text = response.body_mut().read_to_string().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {url}: not JSON ({e}): {text}"))
}

pub fn get_text(url: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .proxy(None)
        .build()
        .into();
    agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")).body_mut().read_to_string().unwrap()
}

/// What the promotion gate and the monitor need from a store, exercised through [`Store`] only
/// and read back by the real client: a registered version, the alias holder (unset, set, moved
/// away), model-version tags, and a resumed run that gets step metrics and a JSON artifact.
pub fn gate_and_monitor_calls_read_back(store: &dyn Store, scratch: &Path, uri: &str) {
    use serde_json::json;
    let (run, _) = log_standard_run(store, scratch, "gated");
    store.create_registered_model("gated").unwrap();
    assert_eq!(store.create_registered_model("gated").unwrap().name, "gated", "creating twice is fine");
    let source = format!("{}/model", run.artifact_uri);
    let v1 = store.create_model_version("gated", &source, &run.run_id).unwrap();
    let v2 = store.create_model_version("gated", &source, &run.run_id).unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(store.get_alias("gated", "champion").unwrap(), None);
    store.set_alias("gated", "champion", 1).unwrap();
    store.set_alias("gated", "challenger", 2).unwrap();
    let holder = store.get_alias("gated", "champion").unwrap().expect("champion is set");
    assert_eq!((holder.version, holder.run_id.as_deref()), (1, Some(run.run_id.as_str())));
    store.set_model_version_tag("gated", 2, "validation", "passed").unwrap();
    store.set_alias("gated", "champion", 2).unwrap();
    store.delete_alias("gated", "challenger").unwrap();
    let versions = store.search_model_versions("gated").unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(versions[1].tags.get("validation").map(String::as_str), Some("passed"));
    assert_eq!(store.get_model_version("gated", 2).unwrap().unwrap().aliases, ["champion"]);
    assert_eq!(store.get_model_version("gated", 9).unwrap(), None);
    let model = store.get_registered_model("gated").unwrap().unwrap();
    assert_eq!(model.aliases.into_iter().collect::<Vec<_>>(), [("champion".to_string(), 2)]);
    let dir = store.download_model_version(&versions[1]).unwrap();
    assert_eq!(fs::read(dir.join("model.crm")).unwrap(), payload_bytes());

    // The monitor: one run per model, resumed for each batch.
    for step in 1..=3 {
        let mut resumed = ActiveRun::resume(store, &run.run_id).unwrap();
        resumed.log_metrics(&[Metric::new("monitor/psi", f64::from(step) / 8.0, i64::from(step))]).unwrap();
        assert!(resumed.log_params(&[("seed".into(), "7".into())]).is_err(), "params stay immutable");
    }
    let mut resumed = ActiveRun::resume(store, &run.run_id).unwrap_or_else(|e| panic!("{e}"));
    let report = scratch.join(format!("gate-{}", run.run_id));
    fs::create_dir_all(&report).unwrap();
    fs::write(report.join("decision.json"), r#"{"promote": true}"#).unwrap();
    resumed.log_artifacts(&report, Some("gate")).unwrap();
    assert_eq!(store.read_artifact(&run.run_id, "gate/decision.json").unwrap(), br#"{"promote": true}"#);

    let got = py_json(
        r#"
import json, sys, mlflow
uri, run_id = sys.argv[1], sys.argv[2]
c = mlflow.MlflowClient(uri, uri)
champion = c.get_model_version_by_alias("gated", "champion")
local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="gate/decision.json", tracking_uri=uri)
print(json.dumps({"champion": str(champion.version), "tags": champion.tags,
                  "status": c.get_run(run_id).info.status,
                  "aliases": c.get_registered_model("gated").aliases,
                  "psi": sorted([m.step, m.value] for m in c.get_metric_history(run_id, "monitor/psi")),
                  "decision": json.load(open(local))}))
"#,
        &[uri, &run.run_id],
    );
    assert_eq!(
        got,
        json!({"champion": "2", "tags": {"validation": "passed"}, "aliases": {"champion": "2"}, "status": "FINISHED",
               "psi": [[1, 0.125], [2, 0.25], [3, 0.375]], "decision": {"promote": true}})
    );
}
