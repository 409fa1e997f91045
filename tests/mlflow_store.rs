//! The file store written by `credrisk::tracking`, read by the real MLflow 3.17 (the pinned
//! venv): the store checker (tests/oracles/check_mlflow_store.py), the Python client (params,
//! metrics, history, tags, artifacts, registry URIs), `mlflow migrate-filestore`, and a writer
//! killed mid-run.

mod common;
mod mlflow_util;

use credrisk::Error;
use credrisk::tracking::{self, ActiveRun, Metric, RunStatus};
use mlflow_util::*;
use serde_json::json;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_run_written_by_the_library_reads_back_in_mlflow() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mlruns");
    let store = tracking::open(Some(&file_uri(&root))).unwrap();
    let run_name = "it's 2024: nightly";
    let (run, logged) = log_standard_run(store.as_ref(), tmp.path(), run_name);
    assert!(run.artifact_uri.starts_with("file:///") && run.artifact_uri.ends_with("/artifacts"));

    assert_checker_passes(&root, &["--require-model"]);
    let got = py_json(READ_RUN_PY, &[&file_uri(&root), &run.run_id]);
    assert_run_reads_back(&got, &run, &logged, run_name);
    // The file store keeps real infinities (a server's SQL store would clamp them).
    assert_eq!(got["metrics"]["inf_metric"], "inf");
    assert_eq!(got["metrics"]["neginf_metric"], "-inf");

    // On disk, exactly what the spec asks: int status, no trailing newline, no duplicates.
    let run_dir = root.join(&run.experiment_id).join(&run.run_id);
    let meta = fs::read_to_string(run_dir.join("meta.yaml")).unwrap();
    assert!(meta.contains("\nstatus: 3\n"), "{meta}");
    assert_eq!(fs::read_to_string(run_dir.join("params/seed")).unwrap(), "42");
    let oob = fs::read_to_string(run_dir.join("metrics/oob_auc")).unwrap();
    assert_eq!(oob.lines().count(), 5, "{oob}");
    assert!(run.experiment_id.chars().all(|c| c.is_ascii_digit()) && run.experiment_id != "0");
    assert!(
        root.join(".trash").is_dir() && root.join("models").is_dir() && root.join("0/meta.yaml").is_file()
    );
}

/// The checker is only an oracle if it fails: a store MLflow cannot read must not pass it.
#[test]
fn the_store_checker_fails_on_a_store_mlflow_cannot_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mlruns");
    let mut tracker = tracking::open(Some(&file_uri(&root))).unwrap();
    let (run, _) = log_standard_run(tracker.as_mut(), tmp.path(), "to be broken");
    assert_checker_passes(&root, &["--require-model"]);
    let run_dir = root.join(&run.experiment_id).join(&run.run_id);

    fs::remove_file(run_dir.join("artifacts/model/MLmodel")).unwrap();
    let out = checker(&root, &["--require-model"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("without a readable model"), "{text}");
    assert!(checker(&root, &[]).status.success(), "without --require-model a missing model is fine");

    fs::write(run_dir.join("metrics/oob_auc"), "not a metric line\n").unwrap();
    let out = checker(&root, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&run.run_id), "{text}");

    let out = checker(&tmp.path().join("no-such-store"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!tmp.path().join("no-such-store").exists(), "the checker created the store it was asked to read");
}

#[test]
fn yaml_sensitive_names_and_a_second_run_share_the_experiment() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mlruns");
    let uri = file_uri(&root);
    let store = tracking::open(Some(&uri)).unwrap();
    let mut tracker = ActiveRun::start(store.as_ref(), "2024", "2024", &[]).unwrap();
    let first = tracker.info().clone();
    tracker.log_metrics(&[Metric::new("loss", 0.5, 0)]).unwrap();
    tracker.end(RunStatus::Finished).unwrap();
    let store = tracking::open(Some(&uri)).unwrap();
    let mut again =
        ActiveRun::start(store.as_ref(), "2024", "null", &[("k: v".into(), "#no comment".into())]).unwrap();
    let second = again.info().clone();
    again.log_metrics(&[Metric::new("loss", 0.25, 0)]).unwrap();
    again.end(RunStatus::Killed).unwrap();
    assert_eq!(first.experiment_id, second.experiment_id);

    assert_checker_passes(&root, &[]);
    let got = py_json(
        r#"
import json, sys, mlflow
c = mlflow.MlflowClient(sys.argv[1])
e = c.get_experiment_by_name("2024")
runs = {r.info.run_id: [r.info.run_name, r.info.status, r.data.tags] for r in c.search_runs([e.experiment_id])}
print(json.dumps({"name": e.name, "runs": runs}))
"#,
        &[&uri],
    );
    assert_eq!(got["name"], "2024", "the experiment name must stay a string (P5)");
    assert_eq!(got["runs"][&first.run_id][0], "2024");
    assert_eq!(got["runs"][&first.run_id][1], "FINISHED");
    assert_eq!(got["runs"][&second.run_id][0], "null");
    assert_eq!(got["runs"][&second.run_id][1], "KILLED");
    assert_eq!(got["runs"][&second.run_id][2]["k: v"], "#no comment");
}

#[test]
fn registered_versions_and_aliases_resolve_in_mlflow_and_in_our_resolver() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mlruns");
    let uri = file_uri(&root);
    let store = tracking::open(Some(&uri)).unwrap();
    let (first, _) = log_standard_run(store.as_ref(), tmp.path(), "first");
    let (second, _) = log_standard_run(store.as_ref(), tmp.path(), "second");

    let v1 = tracking::register_model(Some(&uri), &first.run_id, "credrisk-model", Some("champion")).unwrap();
    let v2 = tracking::register_model(Some(&uri), &second.run_id, "credrisk-model", None).unwrap();
    assert_eq!(v1, ("credrisk-model".to_string(), 1));
    assert_eq!(v2, ("credrisk-model".to_string(), 2));

    assert_checker_passes(&root, &["--require-model"]);
    let got = py_json(
        r#"
import json, os, sys, tempfile, mlflow
uri = sys.argv[1]
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
c = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
def files(u):
    d = mlflow.artifacts.download_artifacts(u, dst_path=tempfile.mkdtemp())
    return sorted(f for f in os.listdir(d) if f != "registered_model_meta")
mv = c.get_model_version_by_alias("credrisk-model", "champion")
print(json.dumps({
    "v1": files("models:/credrisk-model/1"), "champion": files("models:/credrisk-model@champion"),
    "alias_version": str(mv.version), "alias_run": mv.run_id,
    "versions": sorted((str(v.version), v.run_id, v.status) for v in c.search_model_versions("name='credrisk-model'")),
    "aliases": c.get_registered_model("credrisk-model").aliases,
}))
"#,
        &[&uri],
    );
    let model_files = model_files();
    assert_eq!(got["v1"], model_files);
    assert_eq!(got["champion"], model_files);
    // str(): MLflow's client itself returns the version as int or str depending on the call.
    assert_eq!(got["alias_version"], "1");
    assert_eq!(got["alias_run"], first.run_id.as_str());
    assert_eq!(got["versions"], json!([["1", first.run_id, "READY"], ["2", second.run_id, "READY"]]));
    assert_eq!(got["aliases"], json!({"champion": "1"}));

    // Our resolver lands on the same run directories MLflow resolved.
    let model_dir =
        |run: &tracking::RunInfo| root.join(&run.experiment_id).join(&run.run_id).join("artifacts/model");
    let cases = [
        (Some("models:/credrisk-model@champion"), &first),
        (Some("models:/credrisk-model/1"), &first),
        (Some("models:/credrisk-model/2"), &second),
        (Some("models:/credrisk-model/latest"), &second),
        (None, &second),
    ];
    for (model_uri, run) in cases {
        let resolved = tracking::resolve_model(model_uri, Some(&uri)).unwrap();
        assert_eq!(resolved.dir, model_dir(run), "{model_uri:?}");
        assert_eq!(resolved.run_id.as_deref(), Some(run.run_id.as_str()), "{model_uri:?}");
    }
    let by_run = format!("runs:/{}/model", first.run_id);
    assert_eq!(tracking::resolve_model(Some(&by_run), Some(&uri)).unwrap().dir, model_dir(&first));
    let direct = tracking::resolve_model(Some(model_dir(&first).to_str().unwrap()), None).unwrap();
    assert_eq!(direct.run_id.as_deref(), Some(first.run_id.as_str()), "run id read from MLmodel");

    // Unknown names, versions, aliases and runs list what exists.
    let not_found = |model_uri: &str| match tracking::resolve_model(Some(model_uri), Some(&uri)) {
        Err(Error::ModelNotFound(message)) => message,
        other => panic!("{model_uri}: expected ModelNotFound, got {other:?}"),
    };
    assert!(not_found("models:/nope/1").contains("credrisk-model"));
    let message = not_found("models:/credrisk-model@challenger");
    assert!(message.contains("1, 2") && message.contains("champion → 1"), "{message}");
    assert!(not_found("models:/credrisk-model/3").contains("1, 2"));
    let message = not_found("runs:/0123456789abcdef0123456789abcdef/model");
    assert!(message.contains(&first.run_id) && message.contains(&second.run_id), "{message}");
    let err =
        tracking::register_model(Some(&uri), "0123456789abcdef0123456789abcdef", "m", None).unwrap_err();
    assert!(matches!(err, Error::ModelNotFound(_)), "{err}");
}

#[test]
fn the_calls_of_the_gate_and_the_monitor_read_back_in_mlflow() {
    let tmp = tempfile::tempdir().unwrap();
    let uri = file_uri(&tmp.path().join("mlruns"));
    let store = tracking::open(Some(&uri)).unwrap();
    gate_and_monitor_calls_read_back(store.as_ref(), tmp.path(), &uri);
}

#[test]
fn migrate_filestore_accepts_our_store() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mlruns");
    let uri = file_uri(&root);
    let store = tracking::open(Some(&uri)).unwrap();
    let (run, logged) = log_standard_run(store.as_ref(), tmp.path(), "to-migrate");
    tracking::register_model(Some(&uri), &run.run_id, "credrisk-model", Some("champion")).unwrap();

    let db = tmp.path().join("migrated.db");
    let target = format!("sqlite:///{}", db.display());
    let out = python_cmd()
        .args(["-m", "mlflow", "migrate-filestore", "--source"])
        .arg(&root)
        .args(["--target", &target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "migrate-filestore failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got = py_json(
        r#"
import json, math, sys, mlflow
c = mlflow.MlflowClient(tracking_uri=sys.argv[1], registry_uri=sys.argv[1])
r = c.get_run(sys.argv[2])
mv = c.get_model_version_by_alias("credrisk-model", "champion")
print(json.dumps({"status": r.info.status, "params": len(r.data.params), "roc_auc": r.data.metrics["roc_auc"],
                  "nan": math.isnan(r.data.metrics["nan_metric"]),
                  "history": len(c.get_metric_history(sys.argv[2], "oob_auc")), "alias": str(mv.version)}))
"#,
        &[&target, &run.run_id],
    );
    assert_eq!(
        got,
        json!({"status": "FINISHED", "params": logged.params.len(), "roc_auc": 0.8125, "nan": true,
               "history": logged.oob_auc.len(), "alias": "1"})
    );
}

/// Child side of the SIGKILL test: logs metrics into the store named by the environment until
/// it is killed (bounded to 60 s). Does nothing when run on its own.
#[test]
#[ignore = "helper process for store_survives_a_writer_killed_mid_run"]
fn child_writer_for_kill_test() {
    let Ok(uri) = std::env::var("CREDRISK_KILL_TEST_STORE") else { return };
    let store = tracking::open(Some(&uri)).unwrap();
    let mut tracker = ActiveRun::start(store.as_ref(), "credrisk", "killed", &[]).unwrap();
    let run = tracker.info().clone();
    tracker.log_params(&[("n_estimators".into(), "500".into())]).unwrap();
    println!("RUN {}", run.run_id);
    let started = Instant::now();
    let mut step = 0;
    while started.elapsed() < Duration::from_secs(60) {
        let value = 1.0 / (step as f64 + 1.0);
        tracker
            .log_metrics(&[Metric::new("loss", value, step), Metric::new("eval/auc", 1.0 - value, step)])
            .unwrap();
        step += 1;
    }
}

#[test]
fn store_survives_a_writer_killed_mid_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mlruns");
    let uri = file_uri(&root);

    // Simulated crash in-process: the tracker is dropped without end_run.
    let store = tracking::open(Some(&uri)).unwrap();
    let mut dropped = ActiveRun::start(store.as_ref(), "credrisk", "dropped", &[]).unwrap();
    let abandoned = dropped.info().clone();
    dropped.log_metrics(&[Metric::new("loss", 0.5, 0)]).unwrap();
    drop(dropped);
    drop(store);

    // A real SIGKILL while another process appends metric lines as fast as it can.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_writer_for_kill_test", "--nocapture", "--test-threads=1"])
        .env("CREDRISK_KILL_TEST_STORE", &uri)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let loss_file = loop {
        let found = fs::read_dir(root.join(&abandoned.experiment_id))
            .unwrap()
            .flatten()
            .map(|e| e.path().join("metrics/loss"))
            .find(|p| {
                !p.starts_with(root.join(&abandoned.experiment_id).join(&abandoned.run_id)) && p.is_file()
            });
        if let Some(p) = found.filter(|p| fs::read_to_string(p).unwrap_or_default().lines().count() > 300) {
            break p;
        }
        assert!(Instant::now() < deadline, "the child never logged 300 lines");
        assert!(child.try_wait().unwrap().is_none(), "the child writer exited early");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let text = fs::read_to_string(&loss_file).unwrap();
    assert!(text.ends_with('\n'), "a partial metric line was left behind");
    let killed_id =
        loss_file.parent().unwrap().parent().unwrap().file_name().unwrap().to_str().unwrap().to_string();

    assert_checker_passes(&root, &["--require-model"]);
    let got = py_json(
        r#"
import json, sys, mlflow
c = mlflow.MlflowClient(sys.argv[1])
print(json.dumps({r: [c.get_run(r).info.status, len(c.get_metric_history(r, "loss"))] for r in sys.argv[2:]}))
"#,
        &[&uri, &abandoned.run_id, &killed_id],
    );
    assert_eq!(got[&abandoned.run_id], json!(["RUNNING", 1]));
    assert_eq!(got[&killed_id][0], "RUNNING");
    assert_eq!(got[&killed_id][1].as_u64().unwrap() as usize, text.lines().count());
}

#[test]
fn a_failed_logging_call_marks_the_run_failed_and_it_cannot_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mlruns");
    let uri = file_uri(&root);
    let store = tracking::open(Some(&uri)).unwrap();
    let mut tracker = ActiveRun::start(store.as_ref(), "credrisk", "conflict", &[]).unwrap();
    let run = tracker.info().clone();
    tracker.log_metrics(&[Metric::new("loss", 0.5, 0)]).unwrap();
    tracker.log_params(&[("seed".into(), "1".into())]).unwrap();
    let err = tracker.log_params(&[("seed".into(), "2".into())]).unwrap_err().to_string();
    assert!(err.contains("seed") && err.contains("\"1\"") && err.contains("\"2\""), "{err}");
    let err = tracker.end(RunStatus::Finished).unwrap_err().to_string();
    assert!(err.contains("already ended") || err.contains("FAILED"), "{err}");
    assert!(tracker.log_metrics(&[Metric::new("bad\tkey", 1.0, 0)]).is_err());

    assert_checker_passes(&root, &[]);
    let got = py_json(
        r#"
import json, sys, mlflow
r = mlflow.MlflowClient(sys.argv[1]).get_run(sys.argv[2])
print(json.dumps([r.info.status, r.data.params, r.data.tags.get("credrisk.error", ""), r.info.end_time is not None]))
"#,
        &[&uri, &run.run_id],
    );
    assert_eq!(got[0], "FAILED");
    assert_eq!(got[1], json!({"seed": "1"}));
    assert!(got[2].as_str().unwrap().contains("params cannot change"), "{got}");
    assert_eq!(got[3], true);
}

/// Makes `dir` unwritable for this process: permissions for a normal user, the immutable
/// attribute for root (who ignores permissions). Undone on drop so the temp dir can be removed.
struct ReadOnly(Vec<std::path::PathBuf>, bool);

impl ReadOnly {
    fn new(dirs: &[&Path]) -> ReadOnly {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        for dir in dirs {
            let ok = if root {
                Command::new("chattr").arg("+i").arg(dir).status().is_ok_and(|s| s.success())
            } else {
                Command::new("chmod").arg("a-w").arg(dir).status().is_ok_and(|s| s.success())
            };
            assert!(ok, "cannot make {} read-only (chattr/chmod failed)", dir.display());
        }
        ReadOnly(dirs.iter().map(|d| d.to_path_buf()).collect(), root)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        for dir in &self.0 {
            let (cmd, arg) = if self.1 { ("chattr", "-i") } else { ("chmod", "u+w") };
            let _ = Command::new(cmd).arg(arg).arg(dir).status();
        }
    }
}

#[test]
fn a_read_only_store_is_a_clear_error_and_is_left_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mlruns");
    let uri = file_uri(&root);
    let store = tracking::open(Some(&uri)).unwrap();
    let mut tracker = ActiveRun::start(store.as_ref(), "credrisk", "before", &[]).unwrap();
    let first = tracker.info().clone();
    tracker.log_metrics(&[Metric::new("loss", 0.5, 0)]).unwrap();
    tracker.end(RunStatus::Finished).unwrap();
    let exp_dir = root.join(&first.experiment_id);
    {
        let _guard = ReadOnly::new(&[&root, &exp_dir]);
        let store = tracking::open(Some(&uri)).unwrap();
        let err =
            ActiveRun::start(store.as_ref(), "credrisk", "after", &[]).err().expect("a read-only store");
        let text = err.to_string();
        assert!(matches!(err, Error::Io { .. }), "{text}");
        assert!(text.contains(exp_dir.to_str().unwrap()) && text.contains("not writable"), "{text}");
        assert_eq!(err.exit_code(), 2);
        let err = ActiveRun::start(store.as_ref(), "another-experiment", "after", &[])
            .err()
            .expect("a read-only store")
            .to_string();
        assert!(err.contains(root.to_str().unwrap()) && err.contains("not writable"), "{err}");
    }
    assert_eq!(
        fs::read_dir(&exp_dir).unwrap().count(),
        3,
        "meta.yaml, tags/ and the one run, nothing half-made"
    );
    // A path that is a file, not a directory.
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, "x").unwrap();
    let err = tracking::open(Some(&file_uri(&file))).err().expect("a file is no store").to_string();
    assert!(err.contains("not-a-dir") && err.contains("not a directory"), "{err}");
}

/// `credrisk generate` into `dir/data/d.parquet`.
fn generate(dir: &Path, rows: &str) -> std::path::PathBuf {
    common::ok_in(dir, &["generate", "--rows", rows, "--prefix", "data/d", "-q"]);
    dir.join("data/d.parquet")
}

#[test]
fn credrisk_train_register_and_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = generate(dir, "3000");
    let root = dir.join("mlruns");
    let uri = file_uri(&root);
    let data_arg = data.to_str().unwrap();
    common::ok_in(
        dir,
        &["train", "--data", data_arg, "--n-estimators", "15", "--quiet", "--tracking-uri", &uri],
    );
    assert_checker_passes(&root, &["--require-model"]);

    let got = py_json(
        r#"
import json, os, sys, tempfile, hashlib, mlflow
uri = sys.argv[1]
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
c = mlflow.MlflowClient(uri, uri)
runs = c.search_runs([c.get_experiment_by_name("credrisk").experiment_id])
def walk(run_id, path=None):
    out = []
    for a in c.list_artifacts(run_id, path):
        out += walk(run_id, a.path) if a.is_dir else [a.path]
    return out
r = runs[0]
d = mlflow.artifacts.download_artifacts(f"runs:/{r.info.run_id}/model", dst_path=tempfile.mkdtemp())
print(json.dumps({"n": len(runs), "id": r.info.run_id, "status": r.info.status, "params": r.data.params,
    "metrics": r.data.metrics, "tags": r.data.tags, "artifacts": sorted(walk(r.info.run_id)),
    "payload": hashlib.sha256(open(os.path.join(d, "model.crm"), "rb").read()).hexdigest(),
    "trees": sorted(m.step for m in c.get_metric_history(r.info.run_id, "roc_auc_by_trees")),
    "kind": c.get_experiment(r.info.experiment_id).tags.get("mlflow.experimentKind"),
    "inputs": [[i.dataset.name, i.dataset.digest, json.loads(i.dataset.source)["uri"],
                json.loads(i.dataset.profile)["num_rows"], [t.value for t in i.tags]]
               for i in r.inputs.dataset_inputs],
    "signature": mlflow.models.get_model_info(f"runs:/{r.info.run_id}/model").signature.to_dict()}))
"#,
        &[&uri],
    );
    let written: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("outputs/metrics.json")).unwrap()).unwrap();
    let run_id = got["id"].as_str().unwrap().to_string();
    assert_eq!(got["n"], 1);
    assert_eq!(got["status"], "FINISHED");
    assert_eq!(got["params"]["n_estimators"], "15");
    assert_eq!(got["metrics"]["roc_auc"], written["roc_auc"]);
    assert_eq!(got["metrics"]["brier"], written["brier"]);
    let steps: Vec<u64> = got["trees"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    assert!(steps.len() >= 2 && steps.windows(2).all(|w| w[0] < w[1]), "a per-tree curve: {steps:?}");
    assert_eq!(steps.last(), Some(&15), "the curve ends at the full forest");
    assert!(got["tags"]["mlflow.note.content"].as_str().is_some_and(|n| n.contains("ROC-AUC")), "{got}");
    assert_eq!(got["tags"]["credrisk.data_sha256"], sha256_hex(&fs::read(&data).unwrap()));
    for file in
        ["metrics.json", "roc_curve.png", "model/MLmodel", "model/model.crm", "model/feature_schema.json"]
    {
        assert!(
            got["artifacts"].as_array().unwrap().contains(&json!(file)),
            "{file} not in {}",
            got["artifacts"]
        );
    }
    // Issue #12: the classic UI view's kind, the data file as a dataset input (absolute source,
    // digest = the start of its SHA-256), counts as params and not as one-bar metric charts, and
    // a signature: the 16 applicant fields in, the probability out.
    let data_sha = sha256_hex(&fs::read(&data).unwrap());
    assert_eq!(got["kind"], "custom_model_development");
    assert_eq!(got["inputs"], json!([["d.parquet", &data_sha[..8], data_arg, 3000, ["training"]]]));
    assert_eq!(got["params"]["data"], data_arg);
    for count in ["n_train", "n_test", "n_trees", "threshold", "confusion_matrix/tp"] {
        assert!(got["metrics"].get(count).is_none(), "{count} is logged as a metric: {}", got["metrics"]);
    }
    assert_eq!(got["params"]["n_test"], written["n_test"].to_string());
    assert_eq!(got["params"]["n_trees"], "15");
    for cell in ["tn", "fp", "fn", "tp"] {
        assert_eq!(
            got["params"][format!("confusion_matrix/{cell}")],
            written["confusion_matrix"][cell].to_string()
        );
    }
    let inputs: serde_json::Value =
        serde_json::from_str(got["signature"]["inputs"].as_str().unwrap()).unwrap();
    let names: Vec<&str> = inputs.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 16);
    assert_eq!((names[0], inputs[0]["type"].as_str()), ("age", Some("long")));
    assert_eq!((names[1], inputs[1]["type"].as_str()), ("gender", Some("string")));
    assert_eq!((names[7], inputs[7]["type"].as_str()), ("income", Some("double")));
    let outputs: serde_json::Value =
        serde_json::from_str(got["signature"]["outputs"].as_str().unwrap()).unwrap();
    assert_eq!(outputs, json!([{"type": "double", "name": "probability", "required": true}]));
    let payload = fs::read(dir.join("outputs/model/model.crm")).unwrap();
    assert_eq!(got["payload"], sha256_hex(&payload));

    let out = common::ok_in(
        dir,
        &["register", "--run", &run_id, "--name", "credrisk-model", "--alias", "champion"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("version 1"), "{stdout}");
    // (--tracking-uri omitted: ./mlruns is the default.)
    let champion = py(
        r#"
import os, sys, tempfile, hashlib, mlflow
mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_registry_uri(sys.argv[1])
d = mlflow.artifacts.download_artifacts("models:/credrisk-model@champion", dst_path=tempfile.mkdtemp())
print(hashlib.sha256(open(os.path.join(d, "model.crm"), "rb").read()).hexdigest())
"#,
        &[&uri],
    );
    assert_eq!(champion.trim(), sha256_hex(&payload));

    let out = common::ok_in(dir, &["runs", "--tracking-uri", &uri]);
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table.lines().find(|l| l.starts_with(&run_id)).unwrap_or_else(|| panic!("{table}"));
    let auc = format!("{:.4}", written["roc_auc"].as_f64().unwrap());
    assert!(row.contains("FINISHED") && row.contains(&auc), "{table}");

    let out = common::run_in(dir, &["register", "--run", "0123456789abcdef0123456789abcdef", "--name", "m"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&run_id));
    let out = common::run_in(dir, &["runs", "--experiment", "nope", "--tracking-uri", &uri]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"credrisk\""));
}

#[test]
fn credrisk_train_killed_mid_run_leaves_a_readable_unfinished_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = generate(dir, "40000");
    let root = dir.join("mlruns");
    let mut child = common::credrisk()
        .current_dir(dir)
        .args(["train", "--data", data.to_str().unwrap(), "--n-estimators", "300", "--quiet"])
        .env("MLFLOW_TRACKING_URI", file_uri(&root))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill as soon as the run has its params, i.e. while the forest is being fitted.
    let deadline = Instant::now() + Duration::from_secs(60);
    let params_logged = || {
        fs::read_dir(root.join("1"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("params/n_estimators").is_file())
    };
    while !params_logged() {
        assert!(Instant::now() < deadline, "train never logged its params");
        assert!(child.try_wait().unwrap().is_none(), "train ended before it could be killed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    assert_checker_passes(&root, &["--require-model", "--allow-empty"]);
    let got = py_json(
        "import json, sys, mlflow; c = mlflow.MlflowClient(sys.argv[1]); \
         print(json.dumps([r.info.status for r in c.search_runs(['1'])]))",
        &[&file_uri(&root)],
    );
    assert_eq!(got, json!(["RUNNING"]));
}
