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
    "sha": hashlib.sha256(open(os.path.join(d, "model.crm"), "rb").read()).hexdigest()}))
"#,
        &[&url],
    );
    let written: serde_json::Value =
        serde_json::from_slice(&fs::read(tmp.path().join("outputs/metrics.json")).unwrap()).unwrap();
    assert_eq!(trained["status"], "FINISHED");
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
    assert_eq!(read["champion"], json!(["MLmodel", "feature_schema.json", "forest.json", "model.crm"]));
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
