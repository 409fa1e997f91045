//! A real `mlflow server` (pinned venv, 127.0.0.1, free port, always stopped): it serves our file
//! store to the UI's API, and a run logged through our REST backend reads back with the Python
//! client, including `runs:/…/model` and registry aliases.

mod common;
mod mlflow_util;

use credrisk::tracking::{self, ActiveRun, Metric, RunStatus};
use mlflow_util::*;
use serde_json::json;
use std::fs;

#[test]
fn mlflow_server_serves_our_file_store_to_the_ui() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mlruns");
    let uri = file_uri(&root);
    let store = tracking::open(Some(&uri)).unwrap();
    let (run, _) = log_standard_run(store.as_ref(), tmp.path(), "served");
    tracking::register_model(Some(&uri), &run.run_id, "credrisk-model", Some("champion")).unwrap();

    let server = MlflowServer::start(&["--backend-store-uri", &uri], tmp.path());
    let body = json!({"experiment_ids": [run.experiment_id], "max_results": 10});
    let searched = post_json(&format!("{}/ajax-api/2.0/mlflow/runs/search", server.url), &body);
    let runs = searched["runs"].as_array().unwrap_or_else(|| panic!("{searched}\n{}", server.log_text()));
    assert_eq!(runs.len(), 1, "{searched}");
    assert_eq!(runs[0]["info"]["run_id"], run.run_id.as_str());
    assert_eq!(runs[0]["info"]["status"], "FINISHED");
    assert_eq!(runs[0]["info"]["run_name"], "served");

    let history = get_text(&format!(
        "{}/ajax-api/2.0/mlflow/metrics/get-history?run_id={}&metric_key=nan_metric",
        server.url, run.run_id
    ));
    assert!(history.contains(r#""value": "NaN""#) || history.contains(r#""value":"NaN""#), "{history}");
    let mlmodel =
        get_text(&format!("{}/get-artifact?path=model/MLmodel&run_uuid={}", server.url, run.run_id));
    assert!(mlmodel.contains("credrisk:") && mlmodel.contains(&run.run_id), "{mlmodel}");
    let models = get_text(&format!("{}/ajax-api/2.0/mlflow/registered-models/search", server.url));
    let models: serde_json::Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["registered_models"][0]["name"], "credrisk-model", "{models}");

    // Our REST reader agrees with the server about the run and its latest metrics.
    let listed = tracking::list_runs(Some(&server.url), "credrisk").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].info.run_id, run.run_id);
    assert_eq!(listed[0].metrics["roc_auc"], 0.8125);
    assert_eq!(listed[0].metrics["eval/ks"], 0.4375);
}

#[test]
fn a_run_logged_over_rest_reads_back_with_the_python_client() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("mlflow.db");
    let artifacts = tmp.path().join("mlartifacts");
    let backend = format!("sqlite:///{}", db.display());
    let mut server = MlflowServer::start(
        &["--backend-store-uri", &backend, "--artifacts-destination", artifacts.to_str().unwrap()],
        tmp.path(),
    );
    let url = server.url.clone();

    // End to end: `credrisk train` logs through REST; the client downloads runs:/…/model.
    common::ok_in(tmp.path(), &["generate", "--rows", "2000", "--prefix", "data/d", "-q"]);
    common::ok_in(
        tmp.path(),
        &["train", "--data", "data/d.parquet", "--n-estimators", "10", "--quiet", "--tracking-uri", &url],
    );
    let trained = py_json(
        r#"
import json, os, sys, tempfile, hashlib, mlflow
mlflow.set_tracking_uri(sys.argv[1])
c = mlflow.MlflowClient(sys.argv[1])
r = c.search_runs([c.get_experiment_by_name("credrisk").experiment_id])[0]
d = mlflow.artifacts.download_artifacts(f"runs:/{r.info.run_id}/model", dst_path=tempfile.mkdtemp())
print(json.dumps({"id": r.info.run_id, "status": r.info.status, "roc_auc": r.data.metrics["roc_auc"],
    "sha": hashlib.sha256(open(os.path.join(d, "model.crm"), "rb").read()).hexdigest(),
    "kind": c.get_experiment(r.info.experiment_id).tags.get("mlflow.experimentKind"),
    "inputs": [[i.dataset.name, i.dataset.digest, [t.value for t in i.tags]] for i in r.inputs.dataset_inputs],
    "n_test": [r.data.params.get("n_test"), "n_test" in r.data.metrics],
    "signature": len(mlflow.models.get_model_info(f"runs:/{r.info.run_id}/model").signature.inputs.inputs)}))
"#,
        &[&url],
    );
    let written: serde_json::Value =
        serde_json::from_slice(&fs::read(tmp.path().join("outputs/metrics.json")).unwrap()).unwrap();
    assert_eq!(trained["status"], "FINISHED");
    // Issue #12 over REST: experiment kind, runs/log-inputs, counts as params, the signature.
    let data_sha = sha256_hex(&fs::read(tmp.path().join("data/d.parquet")).unwrap());
    assert_eq!(trained["kind"], "custom_model_development");
    assert_eq!(trained["inputs"], json!([["d.parquet", &data_sha[..8], ["training"]]]));
    assert_eq!(trained["n_test"], json!([written["n_test"].to_string(), false]));
    assert_eq!(trained["signature"], 16);
    assert_eq!(trained["roc_auc"], written["roc_auc"]);
    assert_eq!(trained["sha"], sha256_hex(&fs::read(tmp.path().join("outputs/model/model.crm")).unwrap()));
    let table = common::ok_in(tmp.path(), &["runs", "--tracking-uri", &url]).stdout;
    assert!(String::from_utf8_lossy(&table).contains(trained["id"].as_str().unwrap()));

    let store = tracking::open(Some(&url)).unwrap();
    assert_eq!(store.uri(), url);
    let (run, logged) = log_standard_run(store.as_ref(), tmp.path(), "rest-train");
    assert!(run.artifact_uri.starts_with("mlflow-artifacts:/"), "{}", run.artifact_uri);
    let got = py_json(READ_RUN_PY, &[&url, &run.run_id]);
    assert_run_reads_back(&got, &run, &logged, "rest-train");
    // The SQL store clamps infinities to ±f64::MAX (pitfall P11); they must not be 0.0 or NaN.
    assert_eq!(got["metrics"]["inf_metric"], f64::MAX);
    assert_eq!(got["metrics"]["neginf_metric"], -f64::MAX);
    assert!(artifacts.join(&run.experiment_id).join(&run.run_id).join("artifacts/model/model.crm").is_file());

    // More than one log-batch worth of params (100) and metrics (1000).
    let mut big = ActiveRun::start(store.as_ref(), "credrisk", "bulk", &[]).unwrap();
    let bulk = big.info().clone();
    let params: Vec<(String, String)> =
        (0..250).map(|i| (format!("p{i:03}"), format!("{}", i * 7))).collect();
    big.log_params(&params).unwrap();
    let steps: Vec<Metric> =
        (0..2500).map(|i| Metric::new("curve", f64::from(i) / 4.0, i64::from(i))).collect();
    big.log_metrics(&steps).unwrap();
    big.end(RunStatus::Finished).unwrap();

    // Registry over REST, then everything read back by the client.
    let version =
        tracking::register_model(Some(&url), &run.run_id, "credrisk-model", Some("champion")).unwrap();
    assert_eq!(version, ("credrisk-model".to_string(), 1));
    let read = py_json(
        r#"
import json, os, sys, tempfile, hashlib, mlflow
url, bulk = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(url); mlflow.set_registry_uri(url)
c = mlflow.MlflowClient(url, url)
d = mlflow.artifacts.download_artifacts("models:/credrisk-model@champion", dst_path=tempfile.mkdtemp())
r = c.get_run(bulk)
h = c.get_metric_history(bulk, "curve")
print(json.dumps({"params": r.data.params, "history": sorted([m.step, m.value] for m in h),
                  "champion": sorted(f for f in os.listdir(d) if f != "registered_model_meta"),
                  "sha": hashlib.sha256(open(os.path.join(d, "model.crm"), "rb").read()).hexdigest()}))
"#,
        &[&url, &bulk.run_id],
    );
    let expected_params: serde_json::Map<String, serde_json::Value> =
        params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    assert_eq!(read["params"], serde_json::Value::Object(expected_params));
    let history: Vec<serde_json::Value> = (0..2500).map(|i| json!([i, f64::from(i) / 4.0])).collect();
    assert_eq!(read["history"], json!(history));
    assert_eq!(read["champion"], model_files());
    assert_eq!(read["sha"], sha256_hex(&payload_bytes()));

    // Our resolver downloads the same model from the server.
    for model_uri in [
        Some("models:/credrisk-model@champion".to_string()),
        Some(format!("runs:/{}/model", run.run_id)),
        None,
    ] {
        let resolved = tracking::resolve_model(model_uri.as_deref(), Some(&url)).unwrap();
        assert_eq!(fs::read(resolved.dir.join("model.crm")).unwrap(), payload_bytes(), "{model_uri:?}");
        assert_eq!(resolved.run_id.as_deref(), Some(run.run_id.as_str()), "{model_uri:?}");
    }
    let err =
        tracking::resolve_model(Some("models:/credrisk-model@nope"), Some(&url)).unwrap_err().to_string();
    assert!(err.contains("champion → 1"), "{err}");

    // What the promotion gate and the monitor will call, over REST.
    gate_and_monitor_calls_read_back(store.as_ref(), tmp.path(), &url);

    // A server-side rejection: another client changed a param behind our back.
    let mut clash = ActiveRun::start(store.as_ref(), "credrisk", "clash", &[]).unwrap();
    let clash_run = clash.info().clone();
    py(
        "import sys, mlflow; mlflow.MlflowClient(sys.argv[1]).log_param(sys.argv[2], 'seed', '1')",
        &[&url, &clash_run.run_id],
    );
    let err = clash.log_params(&[("seed".into(), "2".into())]).unwrap_err().to_string();
    assert!(
        err.contains(&url) && err.contains("runs/log-batch") && err.contains("INVALID_PARAMETER_VALUE"),
        "{err}"
    );
    let status = py_json(
        "import json, sys, mlflow; r = mlflow.MlflowClient(sys.argv[1]).get_run(sys.argv[2]); \
         print(json.dumps([r.info.status, r.data.tags.get('credrisk.error', '')]))",
        &[&url, &clash_run.run_id],
    );
    assert_eq!(status[0], "FAILED", "{status}");
    assert!(status[1].as_str().unwrap().contains("INVALID_PARAMETER_VALUE"), "{status}");

    // The server goes away mid-run: a clear error naming it.
    let mut orphan = ActiveRun::start(store.as_ref(), "credrisk", "orphan", &[]).unwrap();
    server.stop();
    let err = orphan.log_metrics(&[Metric::new("loss", 0.5, 0)]).unwrap_err().to_string();
    assert!(err.contains(&url) && err.contains("unreachable"), "{err}");
}

/// Issue #11 over REST: clients racing to create an experiment share the one the server made
/// (RESOURCE_ALREADY_EXISTS means "use theirs"), and a killed `credrisk train` is ended FAILED
/// through the API when credrisk next lists the experiment; RUNNING runs of another host or of
/// another client are left alone.
#[test]
fn over_rest_racing_creators_share_an_experiment_and_a_killed_train_ends_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let backend = format!("sqlite:///{}", tmp.path().join("mlflow.db").display());
    let artifacts = tmp.path().join("mlartifacts");
    let server = MlflowServer::start(
        &["--backend-store-uri", &backend, "--artifacts-destination", artifacts.to_str().unwrap()],
        tmp.path(),
    );
    let url = server.url.clone();

    let store = tracking::open(Some(&url)).unwrap();
    let barrier = std::sync::Barrier::new(6);
    let experiments: Vec<String> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..6)
            .map(|i| {
                let (store, barrier) = (store.as_ref(), &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut run = ActiveRun::start(store, "raced", &format!("racer-{i}"), &[]).unwrap();
                    run.end(RunStatus::Finished).unwrap();
                    run.info().experiment_id.clone()
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(experiments.iter().all(|e| *e == experiments[0]), "{experiments:?}");
    assert_eq!(tracking::list_runs(Some(&url), "raced").unwrap().len(), 6);

    // Two RUNNING runs credrisk must not touch: one of another host, one of another client.
    let others = py_json(
        r#"
import json, sys, mlflow
c = mlflow.MlflowClient(sys.argv[1])
e = c.get_experiment_by_name("credrisk") or c.get_experiment(c.create_experiment("credrisk"))
elsewhere = c.create_run(e.experiment_id, tags={"credrisk.host": "another-host", "credrisk.pid": "1",
                                                 "credrisk.process_start": "boot 1"}).info.run_id
plain = c.create_run(e.experiment_id).info.run_id
print(json.dumps([elsewhere, plain]))
"#,
        &[&url],
    );
    common::ok_in(tmp.path(), &["generate", "--rows", "40000", "--prefix", "data/d", "-q"]);
    let mut train = common::credrisk()
        .current_dir(tmp.path())
        .args([
            "train",
            "--data",
            "data/d.parquet",
            "--n-estimators",
            "400",
            "--quiet",
            "--tracking-uri",
            &url,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let running = |table: &str| {
        table.lines().filter(|l| l.contains("rf-400x14-seed42") && l.contains("RUNNING")).count()
    };
    loop {
        let out = common::ok_in(tmp.path(), &["runs", "--tracking-uri", &url]);
        if running(&String::from_utf8_lossy(&out.stdout)) == 1 {
            break; // alive, and listing it left it RUNNING
        }
        assert!(std::time::Instant::now() < deadline, "train never started its run");
        assert!(train.try_wait().unwrap().is_none(), "train ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    train.kill().unwrap();
    train.wait().unwrap();
    let table = common::ok_in(tmp.path(), &["runs", "--tracking-uri", &url]).stdout;
    assert_eq!(running(&String::from_utf8_lossy(&table)), 0, "{}", String::from_utf8_lossy(&table));
    let got = py_json(
        r#"
import json, sys, mlflow
c = mlflow.MlflowClient(sys.argv[1])
e = c.get_experiment_by_name("credrisk")
print(json.dumps({r.info.run_name or r.info.run_id: [r.info.status, r.data.tags.get("credrisk.error", "")]
                  for r in c.search_runs([e.experiment_id])} | {"ids": {r.info.run_id: r.info.status for r in c.search_runs([e.experiment_id])}}))
"#,
        &[&url],
    );
    assert_eq!(got["rf-400x14-seed42"][0], "FAILED", "{got}");
    assert!(
        got["rf-400x14-seed42"][1].as_str().unwrap().contains("ended without finishing the run"),
        "{got}"
    );
    for id in others.as_array().unwrap() {
        assert_eq!(
            got["ids"][id.as_str().unwrap()],
            "RUNNING",
            "another host's or client's run was ended: {got}"
        );
    }
}
