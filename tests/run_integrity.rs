//! Regressions of issue #11 for training runs, each reproducing a defect through the binary and
//! read back by the real MLflow client: concurrent trains that swapped models, a model payload
//! from another run, duplicate experiments, temp files and symlinks uploaded as artifacts, killed
//! trains left RUNNING forever, and an overlong registered model name that exited 3.

mod common;
mod mlflow_util;

use common::{credrisk, ok_in, run_in};
use mlflow_util::{file_uri, py_json};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `credrisk generate` of `rows` applicants into `dir/data/d.parquet`.
fn generate(dir: &Path, rows: &str) -> PathBuf {
    ok_in(dir, &["generate", "--rows", rows, "--prefix", "data/d", "-q"]);
    dir.join("data/d.parquet")
}

/// `credrisk train` in `dir` with the default `--outputs`, started but not waited for.
fn spawn_train(dir: &Path, uri: &str, extra: &[&str]) -> Child {
    credrisk()
        .current_dir(dir)
        .args(["train", "--data", "data/d.parquet", "--quiet", "--tracking-uri", uri])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("credrisk train starts")
}

fn wait_ok(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "train failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every FINISHED run of every experiment, read by the real client: its params, the run id its
/// MLmodel names, the tree count of its `forest.json`, and every artifact path.
const RUNS_AND_MODELS_PY: &str = r#"
import json, os, sys, tempfile, mlflow
uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
c = mlflow.MlflowClient(uri)
def walk(run_id, path=None):
    out = []
    for a in c.list_artifacts(run_id, path):
        out += walk(run_id, a.path) if a.is_dir else [a.path]
    return out
exps = c.search_experiments()
runs = []
for e in exps:
    for r in c.search_runs([e.experiment_id]):
        row = {"id": r.info.run_id, "experiment": e.name, "status": r.info.status,
               "n_estimators": r.data.params.get("n_estimators"), "tags": r.data.tags,
               "artifacts": sorted(walk(r.info.run_id))}
        if r.info.status == "FINISHED":
            d = mlflow.artifacts.download_artifacts(f"runs:/{r.info.run_id}/model", dst_path=tempfile.mkdtemp())
            row["mlmodel_run"] = mlflow.models.Model.load(os.path.join(d, "MLmodel")).run_id
            row["trees"] = len(json.load(open(os.path.join(d, "forest.json")))["trees"])
        runs.append(row)
print(json.dumps({"experiments": sorted(e.name for e in exps), "runs": runs}))
"#;

fn runs_and_models(uri: &str) -> Value {
    py_json(RUNS_AND_MODELS_PY, &[uri])
}

/// #11 item 1: two trains sharing `./outputs` must each publish their own model. On the old code
/// run A's artifacts held run B's `model.crm` and `MLmodel` in about half of the rounds.
#[test]
fn concurrent_trains_sharing_outputs_keep_their_own_models() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "3000");
    let uri = file_uri(&dir.join("mlruns"));
    ok_in(
        dir,
        &["train", "--data", "data/d.parquet", "--n-estimators", "3", "--quiet", "--tracking-uri", &uri],
    );
    let started = Instant::now();
    for _ in 0..6 {
        let a = spawn_train(dir, &uri, &["--n-estimators", "7", "--seed", "1"]);
        let b = spawn_train(dir, &uri, &["--n-estimators", "9", "--seed", "2"]);
        wait_ok(a);
        wait_ok(b);
    }
    assert!(started.elapsed() < Duration::from_secs(120), "bounded: {:?}", started.elapsed());
    let got = runs_and_models(&uri);
    let runs = got["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 13, "{got}");
    let wrong: Vec<String> = runs
        .iter()
        .filter(|r| {
            r["mlmodel_run"] != r["id"]
                || r["trees"].as_u64().map(|t| t.to_string()).as_deref() != r["n_estimators"].as_str()
        })
        .map(|r| {
            format!(
                "run {} (n_estimators {}) holds the MLmodel of run {} with {} trees",
                r["id"], r["n_estimators"], r["mlmodel_run"], r["trees"]
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} runs hold another run's model:\n{}",
        wrong.len(),
        runs.len(),
        wrong.join("\n")
    );
    // What ./outputs holds at the end is one whole model, never a mix of two runs.
    let mlmodel = fs::read_to_string(dir.join("outputs/model/MLmodel")).unwrap();
    let winner = runs.iter().find(|r| mlmodel.contains(r["id"].as_str().unwrap())).expect("a run's MLmodel");
    let forest: Value =
        serde_json::from_slice(&fs::read(dir.join("outputs/model/forest.json")).unwrap()).unwrap();
    assert_eq!(
        forest["trees"].as_array().unwrap().len().to_string(),
        winner["n_estimators"].as_str().unwrap()
    );
}

/// #11 item 1, at load: a run whose payload (or MLmodel) is another run's is refused with one
/// line and exit 2, by the loader, by `register`, and through the registry.
#[test]
fn a_model_from_another_run_is_refused_at_load_and_at_register() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "1500");
    let root = dir.join("mlruns");
    let uri = file_uri(&root);
    let train = |trees: &str| {
        ok_in(
            dir,
            &[
                "train",
                "--data",
                "data/d.parquet",
                "--n-estimators",
                trees,
                "--quiet",
                "--tracking-uri",
                &uri,
            ],
        );
        fs::read_to_string(dir.join("outputs/model/MLmodel"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("run_id: ").map(|v| v.trim_matches('\'').to_string()))
            .expect("MLmodel names its run")
    };
    let (a, b) = (train("4"), train("5"));
    let model_dir = |run: &str| -> PathBuf {
        let exp = fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join(run).is_dir())
            .expect("the run's experiment");
        exp.join(run).join("artifacts/model")
    };
    ok_in(
        dir,
        &["export-forest", "--model", &format!("runs:/{a}/model"), "--out", "a.json", "--tracking-uri", &uri],
    );
    ok_in(dir, &["register", "--run", &a, "--name", "m", "--tracking-uri", &uri]);

    // The payload of B copied into A's run: the loader sees the run id inside the payload.
    fs::copy(model_dir(&b).join("model.crm"), model_dir(&a).join("model.crm")).unwrap();
    for model_uri in [format!("runs:/{a}/model"), "models:/m/1".to_string()] {
        let out =
            run_in(dir, &["export-forest", "--model", &model_uri, "--out", "x.json", "--tracking-uri", &uri]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{model_uri}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&a) && stderr.contains(&b), "{model_uri}: {stderr}");
    }
    // B's MLmodel too (the whole swap the issue saw): `register --run A` refuses it.
    fs::copy(model_dir(&b).join("MLmodel"), model_dir(&a).join("MLmodel")).unwrap();
    let out = run_in(dir, &["register", "--run", &a, "--name", "m", "--tracking-uri", &uri]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&a) && stderr.contains(&b), "{stderr}");
    assert!(!root.join("models/m/version-2").exists(), "no version was registered");
}

/// #11 item 3: first-ever trains racing into a fresh store create one experiment `credrisk`,
/// and every run is listed by `credrisk runs`.
#[test]
fn first_trains_racing_into_a_fresh_store_share_one_experiment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "600");
    let started = Instant::now();
    for round in 0..4 {
        let uri = file_uri(&dir.join(format!("mlruns-{round}")));
        let trains: Vec<Child> = (0..4)
            .map(|i| {
                let outputs = format!("out-{round}-{i}");
                spawn_train(dir, &uri, &["--n-estimators", "2", "--outputs", &outputs])
            })
            .collect();
        trains.into_iter().for_each(wait_ok);
        let got = runs_and_models(&uri);
        assert_eq!(got["experiments"], json!(["Default", "credrisk"]), "round {round}: {got}");
        let table = ok_in(dir, &["runs", "--tracking-uri", &uri]).stdout;
        let listed = String::from_utf8_lossy(&table).lines().filter(|l| l.contains("FINISHED")).count();
        assert_eq!(listed, 4, "round {round}:\n{}", String::from_utf8_lossy(&table));
    }
    assert!(started.elapsed() < Duration::from_secs(120), "bounded: {:?}", started.elapsed());
}

/// #11 items 7 and 8: a temp file left by a killed train and a symlink out of `outputs/` never
/// become run artifacts; the run holds exactly the files this train wrote.
#[test]
fn stale_temp_files_and_symlinks_in_outputs_never_reach_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "1500");
    let uri = file_uri(&dir.join("mlruns"));
    fs::create_dir_all(dir.join("outputs/model")).unwrap();
    fs::write(dir.join("outputs/model/.model.crm.999999.tmp"), b"half a model from a killed train").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.join("outputs/leak.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", dir.join("outputs/etc")).unwrap();
    ok_in(
        dir,
        &["train", "--data", "data/d.parquet", "--n-estimators", "4", "--quiet", "--tracking-uri", &uri],
    );
    let got = runs_and_models(&uri);
    let run = &got["runs"][0];
    assert_eq!(run["status"], "FINISHED", "{got}");
    let expected = [
        "calibration.png",
        "confusion_matrix.png",
        "feature_importance.png",
        "metrics.json",
        "model/MLmodel",
        // The python_function flavor's loader and environment (#18).
        "model/code/credrisk_pyfunc.py",
        "model/conda.yaml",
        "model/feature_schema.json",
        "model/forest.json",
        "model/global_shap.json",
        "model/model.crm",
        "model/python_env.yaml",
        "model/reference.json",
        // What reasons may be compared with (#20).
        "model/reference_approved.parquet",
        "model/reference_cutoff.parquet",
        "model/requirements.txt",
        "model/schema.toml",
        // The model-risk report of the run (#16).
        "report.html",
        "roc_curve.png",
        "shap_beeswarm.png",
        "shap_importance.png",
    ];
    assert_eq!(run["artifacts"], json!(expected), "the run holds exactly what train wrote");
    // The user's own files in outputs/ are left alone.
    assert!(fs::symlink_metadata(dir.join("outputs/leak.txt")).unwrap().file_type().is_symlink());
}

/// The run directories of a file store (any experiment) that hold `params/n_estimators`.
fn runs_with_params(root: &Path) -> Vec<PathBuf> {
    fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| fs::read_dir(e.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.join("params/n_estimators").is_file())
        .collect()
}

/// #11 item 7: a killed train stays RUNNING while its process lives, and is ended FAILED (with
/// `credrisk.error` saying why) the next time credrisk opens the store.
#[test]
fn a_killed_train_is_marked_failed_when_the_store_is_next_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "40000");
    let root = dir.join("mlruns");
    let uri = file_uri(&root);
    let mut child = spawn_train(dir, &uri, &["--n-estimators", "400"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs_with_params(&root).is_empty() {
        assert!(Instant::now() < deadline, "train never logged its params");
        assert!(child.try_wait().unwrap().is_none(), "train ended before it could be killed");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Alive: opening the store leaves it RUNNING.
    let table = String::from_utf8_lossy(&ok_in(dir, &["runs", "--tracking-uri", &uri]).stdout).into_owned();
    let still_training = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    if still_training {
        assert!(table.contains("RUNNING"), "a live train's run was ended:\n{table}");
    }

    let table = String::from_utf8_lossy(&ok_in(dir, &["runs", "--tracking-uri", &uri]).stdout).into_owned();
    assert!(table.contains("FAILED") && !table.contains("RUNNING"), "{table}");
    let got = runs_and_models(&uri);
    let run = &got["runs"][0];
    assert_eq!(run["status"], "FAILED", "{got}");
    let error = run["tags"]["credrisk.error"].as_str().unwrap_or_default();
    assert!(error.contains("ended without finishing the run"), "{got}");
}

/// #11 item 11: a registered model name longer than MLflow allows is one line and exit 2, and
/// leaves nothing in the registry.
#[test]
fn an_overlong_registered_model_name_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "800");
    let root = dir.join("mlruns");
    let uri = file_uri(&root);
    ok_in(
        dir,
        &["train", "--data", "data/d.parquet", "--n-estimators", "2", "--quiet", "--tracking-uri", &uri],
    );
    let run = runs_with_params(&root).pop().unwrap();
    let run_id = run.file_name().unwrap().to_str().unwrap().to_string();
    for name in ["n".repeat(300), "ñ".repeat(200)] {
        let out = run_in(dir, &["register", "--run", &run_id, "--name", &name, "--tracking-uri", &uri]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("registered model name"), "{stderr}");
    }
    assert_eq!(fs::read_dir(root.join("models")).unwrap().count(), 0, "nothing registered");
    // 256 characters is MLflow's limit (its registry column is String(256)), and still fine here.
    let longest = "n".repeat(250);
    ok_in(dir, &["register", "--run", &run_id, "--name", &longest, "--tracking-uri", &uri]);
}
