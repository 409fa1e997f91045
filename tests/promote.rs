//! The promotion gate end to end on a file store: models trained by `credrisk train`, registered,
//! and put through `credrisk promote` on an out-of-time batch. A model without delinquency rate
//! and one that leans on a protected attribute are refused (the ranking rule named), a much
//! weaker one is refused for its AUC drop, a good challenger is promoted and rolled back, bad
//! input moves nothing; the gate's AUC, KS, Brier and ECE are scikit-learn's and scipy's on the
//! same predictions. The same flow against a real `mlflow server`: the real client reads the
//! alias, the tags and the gate's artifact, and `serve` serves the champion the gate let through.

mod mlflow_util;
mod serve_support;

use common::{ok_in, python_ok, run_in};
use credrisk::tracking;
use mlflow_util::{MlflowServer, py_json};
use serde_json::Value;
use serve_support::common;
use std::fs;
use std::path::{Path, PathBuf};

const NAME: &str = "credrisk-model";

/// Trains on `data/train.parquet` (40 trees of depth 12 unless `extra` says otherwise) with
/// `extra` flags and returns the run id. No report.html: the gate does not read it.
pub fn train(dir: &Path, uri: &str, extra: &[&str]) -> String {
    let mut args =
        vec!["train", "--data", "data/train.parquet", "--quiet", "--no-report", "--tracking-uri", uri];
    for (flag, value) in [("--n-estimators", "40"), ("--max-depth", "12")] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    let out = ok_in(dir, &args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = text.find("runs:/").unwrap_or_else(|| panic!("no run in:\n{text}"));
    text[at + 6..].split('/').next().unwrap().to_string()
}

/// Registers the run as the next version and returns its number.
pub fn register(dir: &Path, uri: &str, run: &str) -> u32 {
    let out = ok_in(dir, &["register", "--run", run, "--name", NAME, "--tracking-uri", uri]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let after = text.split(" version ").nth(1).unwrap_or_else(|| panic!("{text}"));
    after.split_whitespace().next().unwrap().parse().unwrap()
}

/// `credrisk promote` with English output; returns (exit code, stdout, stderr).
pub fn promote(dir: &Path, uri: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["promote", "--tracking-uri", uri, "--lang", "en"];
    all.extend_from_slice(args);
    let out = run_in(dir, &all);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn candidate(version: u32) -> String {
    format!("models:/{NAME}/{version}")
}

/// Alias → version, in alias order.
type Aliases = Vec<(String, u32)>;
/// Per version, its tags in key order.
type VersionTags = Vec<(u32, Vec<(String, String)>)>;

/// The registry as (aliases, per version its tags).
fn registry(uri: &str) -> (Aliases, VersionTags) {
    let store = tracking::open_existing(Some(uri)).unwrap();
    let model = store.get_registered_model(NAME).unwrap().unwrap();
    let versions = store.search_model_versions(NAME).unwrap();
    (
        model.aliases.into_iter().collect(),
        versions.into_iter().map(|v| (v.version, v.tags.into_iter().collect())).collect(),
    )
}

fn tag(uri: &str, version: u32, key: &str) -> Option<String> {
    let store = tracking::open_existing(Some(uri)).unwrap();
    store.get_model_version(NAME, version).unwrap().unwrap().tags.get(key).cloned()
}

/// The gate's JSON artifact named by the version's `credrisk.gate.artifact` tag.
fn gate_artifact(uri: &str, version: u32) -> Value {
    let artifact = tag(uri, version, "credrisk.gate.artifact").expect("the gate names its artifact");
    let rest = artifact.strip_prefix("runs:/").unwrap();
    let (run, path) = rest.split_once('/').unwrap();
    let store = tracking::open_existing(Some(uri)).unwrap();
    serde_json::from_slice(&store.read_artifact(run, path).unwrap()).unwrap()
}

/// The training data, an out-of-time evaluation batch, the same batch without labels.
fn data(dir: &Path) {
    ok_in(dir, &["generate", "--rows", "24000", "--seed", "1", "--prefix", "data/train", "-q"]);
    ok_in(
        dir,
        &[
            "generate",
            "--rows",
            "12000",
            "--seed",
            "2",
            "--period",
            "2027-01",
            "--prefix",
            "data/eval",
            "--csv",
            "-q",
        ],
    );
    let csv = fs::read_to_string(dir.join("data/eval.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let label = header.iter().position(|h| *h == "approved").expect("the batch has the label");
    let unlabelled: Vec<String> = csv
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "no quoted commas in the generated CSV");
            cells
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != label)
                .map(|(_, c)| *c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    fs::write(dir.join("data/unlabelled.csv"), unlabelled.join("\n") + "\n").unwrap();
}

/// A copy of the built-in schema in which `field` is protected: a model trained with it
/// "leans on a protected attribute" whenever that field ranks high.
fn schema_protecting(dir: &Path, field: &str) -> PathBuf {
    let text = String::from_utf8(ok_in(dir, &["schema", "show"]).stdout).unwrap();
    let marker = format!("name = \"{field}\"\n");
    let at = text.find(&marker).unwrap_or_else(|| panic!("{field} in:\n{text}")) + marker.len();
    let path = dir.join("protecting.toml");
    fs::write(&path, format!("{}protected = true\n{}", &text[..at], &text[at..])).unwrap();
    path
}

#[test]
fn the_gate_refuses_promotes_and_rolls_back_on_the_file_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let uri = common_uri(dir);
    data(dir);
    let eval = "data/eval.parquet";

    // The first champion: nobody holds the alias, so there is nothing to compare with.
    let v1 = register(dir, &uri, &train(dir, &uri, &[]));
    let (code, out, err) = promote(dir, &uri, &["--model", &candidate(v1), "--data", eval]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("PROMOTED: alias champion → version 1"), "{out}");
    assert!(out.contains("max_auc_drop") && out.contains("n/a"), "no champion, no drop:\n{out}");
    assert_eq!(registry(&uri).0, [("champion".to_string(), v1)]);
    assert_eq!(tag(&uri, v1, "credrisk.gate").as_deref(), Some("passed"));

    // The gate's numbers are the oracles' on the same predictions.
    let report = gate_artifact(&uri, v1);
    check_against_sklearn(dir, &candidate(v1), eval, &report["candidate"]["evaluation"]);
    assert_eq!(report["batch"]["rows"], 12000);
    assert_eq!(report["passed"], true);

    // Without delinquency rate the model loses one of the reasons it must keep.
    let v2 = register(dir, &uri, &train(dir, &uri, &["--exclude", "delinquency_rate"]));
    let before = registry(&uri).0;
    let (code, out, err) = promote(dir, &uri, &["--model", &candidate(v2), "--data", eval]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("REFUSED") && out.contains("shap.must_rank.delinquency_rate"), "{out}");
    assert_eq!(registry(&uri).0, before, "a refusal moves no alias");
    assert_eq!(tag(&uri, v2, "credrisk.gate").as_deref(), Some("refused"));
    let failed = tag(&uri, v2, "credrisk.gate.failed").unwrap();
    assert!(failed.contains("shap.must_rank.delinquency_rate"), "{failed}");
    let rule = tag(&uri, v2, "credrisk.gate.rule.shap.must_rank.delinquency_rate").unwrap();
    assert!(rule.starts_with("fail none"), "{rule}");
    assert_eq!(gate_artifact(&uri, v2)["passed"], false);

    // A model whose schema protects a field it leans on: the protected field ranks high.
    let protecting = schema_protecting(dir, "credit_inquiries");
    let v3 = register(dir, &uri, &train(dir, &uri, &["--schema", protecting.to_str().unwrap()]));
    let (code, out, err) = promote(dir, &uri, &["--model", &candidate(v3), "--data", eval]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("shap.must_not_rank.credit_inquiries"), "{out}");
    let failed = tag(&uri, v3, "credrisk.gate.failed").unwrap();
    assert!(failed.contains("shap.must_not_rank.credit_inquiries"), "{failed}");
    assert_eq!(registry(&uri).0, before);

    // Much weaker than the champion: refused for the drop.
    let v4 = register(dir, &uri, &train(dir, &uri, &["--n-estimators", "3", "--max-depth", "2"]));
    let (code, out, err) = promote(dir, &uri, &["--model", &candidate(v4), "--data", eval]);
    assert_eq!(code, 1, "{out}\n{err}");
    let failed = tag(&uri, v4, "credrisk.gate.failed").unwrap();
    assert!(failed.split(", ").any(|f| f == "max_auc_drop"), "{failed}\n{out}");
    let weak = gate_artifact(&uri, v4);
    let drop = weak["champion"]["evaluation"]["roc_auc"].as_f64().unwrap()
        - weak["candidate"]["evaluation"]["roc_auc"].as_f64().unwrap();
    assert!(drop > 0.01, "{drop}");
    assert_eq!(registry(&uri).0, before);

    // A dry run of a good challenger reports and writes nothing.
    let v5 = register(dir, &uri, &train(dir, &uri, &["--seed", "7"]));
    let tags_before = registry(&uri);
    let (code, out, err) = promote(dir, &uri, &["--model", &candidate(v5), "--data", eval, "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("PASSES (dry run)"), "{out}");
    assert_eq!(registry(&uri), tags_before, "a dry run writes nothing");

    // The good challenger is promoted; the old champion is kept as previous-champion.
    let (code, out, err) = promote(dir, &uri, &["--model", &candidate(v5), "--data", eval]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("version 1 is now previous-champion"), "{out}");
    assert_eq!(registry(&uri).0, [("champion".to_string(), v5), ("previous-champion".to_string(), v1)]);
    let good = gate_artifact(&uri, v5);
    assert_eq!(good["champion"]["version"], v1);
    check_against_sklearn(dir, &candidate(v1), eval, &good["champion"]["evaluation"]);
    let drop_rule = good["rules"].as_array().unwrap().iter().find(|r| r["rule"] == "max_auc_drop").unwrap();
    let expected = good["champion"]["evaluation"]["roc_auc"].as_f64().unwrap()
        - good["candidate"]["evaluation"]["roc_auc"].as_f64().unwrap();
    assert!((drop_rule["candidate"].as_f64().unwrap() - expected).abs() < 1e-15, "{drop_rule}");

    // Serving the alias serves what the gate let through: the loader resolves version 5.
    let resolved = tracking::resolve_model(Some(&format!("models:/{NAME}@champion")), Some(&uri)).unwrap();
    let v5_run = good["candidate"]["run_id"].as_str().unwrap();
    assert_eq!(resolved.run_id.as_deref(), Some(v5_run));

    // `credrisk models` lists versions, aliases and verdicts.
    let listed =
        String::from_utf8(ok_in(dir, &["models", NAME, "--tracking-uri", &uri, "--lang", "en"]).stdout)
            .unwrap();
    for (version, what) in [(v1, "previous-champion"), (v2, "refused"), (v5, "champion"), (v5, "passed")] {
        let line =
            listed.lines().find(|l| l.split_whitespace().next() == Some(&version.to_string())).unwrap();
        assert!(line.contains(what), "version {version} should say {what}:\n{listed}");
    }

    // Rollback: the alias goes back, previous-champion is used up.
    let (code, out, err) = promote(dir, &uri, &["--model", &format!("models:/{NAME}"), "--rollback"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(registry(&uri).0, [("champion".to_string(), v1)]);
    assert!(tag(&uri, v5, "credrisk.gate.rollback").unwrap().contains("rolled back to version 1"));
    let (code, _, err) = promote(dir, &uri, &["--model", &format!("models:/{NAME}"), "--rollback"]);
    assert_eq!(code, 2, "nothing left to roll back to: {err}");
    assert!(err.contains("no alias previous-champion"), "{err}");

    bad_input_moves_nothing(dir, &uri, v5);
}

/// Each bad input: exit 2, one line on stderr, the registry exactly as before.
fn bad_input_moves_nothing(dir: &Path, uri: &str, good: u32) {
    fs::write(dir.join("typo.toml"), "[accuracy]\nmin_acu = 0.7\n").unwrap();
    fs::write(
        dir.join("field.toml"),
        "[explanations]\ntop_k = 5\nmust_rank = [\"salary\"]\nshap_rows = 500\nseed = 1\n",
    )
    .unwrap();
    let cand = candidate(good);
    let cases: [(&[&str], &str); 7] = [
        (
            &["--model", "models:/no-such-model/1", "--data", "data/eval.parquet"],
            "no registered model named \"no-such-model\"",
        ),
        (&["--model", &format!("models:/{NAME}/99"), "--data", "data/eval.parquet"], "does not exist"),
        (
            &["--model", &cand, "--data", "data/eval.parquet", "--policy", "typo.toml"],
            "line 2: unknown field `min_acu`",
        ),
        (
            &["--model", &cand, "--data", "data/eval.parquet", "--policy", "field.toml"],
            "\"salary\" is not a field",
        ),
        (&["--model", &cand, "--data", "data/unlabelled.csv"], "has no `approved` column"),
        (&["--model", &cand, "--data", "data/missing.parquet"], "no such file"),
        (&["--model", "runs:/abc/model", "--data", "data/eval.parquet"], "expected models:/<name>/<version>"),
    ];
    let before = registry(uri);
    for (args, expected) in cases {
        let (code, out, err) = promote(dir, uri, args);
        assert_eq!(code, 2, "{args:?}: {out}\n{err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line:\n{err}");
        assert!(err.contains(expected), "{args:?}: expected {expected:?} in:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(registry(uri), before, "{args:?} changed the registry");
    }
}

fn common_uri(dir: &Path) -> String {
    tracking::path_to_file_uri(&dir.join("mlruns"))
}

/// The gate's ROC-AUC, KS, Brier and ECE of `model` on `batch` against scikit-learn's
/// `roc_auc_score` and `brier_score_loss`, scipy's `ks_2samp` and numpy's ECE, on the
/// probabilities `credrisk score` writes for the same rows.
fn check_against_sklearn(dir: &Path, model: &str, batch: &str, evaluation: &Value) {
    let out = dir.join(format!("scored-{}.parquet", model.replace(['/', ':'], "_")));
    ok_in(
        dir,
        &[
            "score",
            "--model",
            model,
            "--data",
            batch,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--tracking-uri",
            &common_uri(dir),
        ],
    );
    let got = python_ok(
        r#"
import json, sys
import numpy as np, pyarrow.parquet as pq
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, roc_auc_score
y = np.array(pq.read_table(sys.argv[1]).column("approved").to_pylist(), dtype=int)
p = np.array(pq.read_table(sys.argv[2]).column("probability").to_pylist(), dtype=float)
edges = np.linspace(0, 1, 11)
bucket = np.searchsorted(edges[1:-1], p, side="left")
ece = sum(abs(p[bucket == b].mean() - y[bucket == b].mean()) * (bucket == b).sum() / len(p)
          for b in range(10) if (bucket == b).any())
print(json.dumps({"roc_auc": roc_auc_score(y, p), "brier": brier_score_loss(y, p),
                  "ks": ks_2samp(p[y == 1], p[y == 0]).statistic, "ece": ece}))
"#,
        &[dir.join(batch).to_str().unwrap(), out.to_str().unwrap()],
    );
    let oracle: Value = serde_json::from_str(got.trim()).unwrap();
    for key in ["roc_auc", "brier", "ks", "ece"] {
        let (ours, theirs) = (evaluation[key].as_f64().unwrap(), oracle[key].as_f64().unwrap());
        assert!((ours - theirs).abs() < 1e-9, "{key}: gate {ours} vs oracle {theirs}");
    }
    assert!(evaluation["roc_auc"].as_f64().unwrap() > 0.7, "{evaluation}");
}

#[test]
fn the_gate_on_a_real_mlflow_server_reads_back_with_the_mlflow_client() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    data(dir);
    let backend = format!("sqlite:///{}", dir.join("mlflow.db").display());
    let artifacts = dir.join("mlartifacts");
    let server = MlflowServer::start(
        &["--backend-store-uri", &backend, "--artifacts-destination", artifacts.to_str().unwrap()],
        dir,
    );
    let url = server.url.clone();
    let eval = "data/eval.parquet";
    let v1 = register(dir, &url, &train(dir, &url, &[]));
    let v2 = register(dir, &url, &train(dir, &url, &["--seed", "7"]));
    let v3 = register(dir, &url, &train(dir, &url, &["--exclude", "delinquency_rate"]));
    for (version, expected) in [(v1, 0), (v2, 0), (v3, 1)] {
        let (code, out, err) = promote(dir, &url, &["--model", &candidate(version), "--data", eval]);
        assert_eq!(code, expected, "version {version}:\n{out}\n{err}\n{}", server.log_text());
    }
    let got = py_json(
        r#"
import json, os, sys, tempfile, mlflow
uri = sys.argv[1]
c = mlflow.MlflowClient(uri, uri)
champion = c.get_model_version_by_alias("credrisk-model", "champion")
refused = c.get_model_version("credrisk-model", sys.argv[2])
art = champion.tags["credrisk.gate.artifact"]
run_id, path = art[len("runs:/"):].split("/", 1)
local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=uri,
                                            dst_path=tempfile.mkdtemp())
print(json.dumps({"champion": champion.version, "run_id": champion.run_id, "tags": champion.tags,
                  "aliases": c.get_registered_model("credrisk-model").aliases,
                  "refused": refused.tags, "report": json.load(open(local))}))
"#,
        &[&url, &v3.to_string()],
    );
    assert_eq!(got["champion"], v2.to_string());
    assert_eq!(
        got["aliases"],
        serde_json::json!({"champion": v2.to_string(), "previous-champion": v1.to_string()})
    );
    assert_eq!(got["tags"]["credrisk.gate"], "passed");
    assert_eq!(got["tags"]["credrisk.gate.champion"], format!("version {v1}"));
    assert_eq!(got["refused"]["credrisk.gate"], "refused");
    assert!(
        got["refused"]["credrisk.gate.failed"].as_str().unwrap().contains("shap.must_rank.delinquency_rate")
    );
    let report = &got["report"];
    assert_eq!((report["passed"].clone(), report["candidate"]["version"].clone()), (true.into(), v2.into()));
    assert_eq!(report["candidate"]["run_id"], got["run_id"]);
    // The tag and the artifact tell the same AUC.
    let auc = report["candidate"]["evaluation"]["roc_auc"].as_f64().unwrap();
    assert_eq!(got["tags"]["credrisk.gate.rule.min_auc"], format!("pass {auc:.4} (>= 0.7)"));

    // `serve` on the alias serves the version the gate let through.
    let served = serve_support::Server::start(&format!("models:/{NAME}@champion"), &["--tracking-uri", &url]);
    let model = serve_support::get(&served, "/model").json();
    assert_eq!(model["run_id"], got["run_id"], "{model}");
    drop(served);

    let (code, out, err) = promote(dir, &url, &["--model", &candidate(v2), "--rollback"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let after = py_json(
        r#"
import json, sys, mlflow
c = mlflow.MlflowClient(sys.argv[1], sys.argv[1])
print(json.dumps(c.get_registered_model("credrisk-model").aliases))
"#,
        &[&url],
    );
    assert_eq!(after, serde_json::json!({"champion": v1.to_string()}));
}
