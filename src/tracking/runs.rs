//! Listing the runs of an experiment (newest first) with their latest metrics, from a file store
//! or a tracking server, for `credrisk runs` and for the resolver's "latest finished run".

use super::RunStatus;
use super::file_store::{FileStore, latest_metrics};
use super::rest::{RestClient, metric_value_from_json};
use super::rest_run::find_experiment;
use super::uri::{Backend, backend};
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Pages of runs/search fetched at most (1000 runs each).
const MAX_SEARCH_PAGES: usize = 100;

/// One run as `credrisk runs` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub run_id: String,
    pub run_name: String,
    pub status: RunStatus,
    pub start_time_ms: i64,
    pub end_time_ms: Option<i64>,
    /// Latest value of every metric (MLflow's definition of latest).
    pub metrics: BTreeMap<String, f64>,
    /// The run's artifact URI (`file:///…` or `mlflow-artifacts:/…`).
    pub artifact_uri: String,
}

/// The active runs of `experiment`, newest first. An unknown experiment is an error that lists
/// the experiments that exist.
pub fn list_runs(tracking_uri: Option<&str>, experiment: &str) -> Result<Vec<RunSummary>> {
    match backend(tracking_uri)? {
        Backend::File(root) => list_file_runs(&FileStore::existing(&root)?, experiment),
        Backend::Rest(base) => list_rest_runs(&RestClient::new(&base), experiment),
    }
}

pub fn list_file_runs(store: &FileStore, experiment: &str) -> Result<Vec<RunSummary>> {
    let experiments = store.experiments()?;
    let Some(exp) = experiments.iter().find(|e| e.name == experiment && e.lifecycle_stage == "active") else {
        let names: Vec<String> = experiments.iter().map(|e| format!("{:?}", e.name)).collect();
        return Err(unknown_experiment(experiment, &store.root.display().to_string(), &names));
    };
    let runs = store.runs(exp)?;
    Ok(runs
        .into_iter()
        .filter(|r| r.lifecycle_stage == "active")
        .map(|r| RunSummary {
            metrics: latest_metrics(&r.dir),
            run_name: if r.run_name.is_empty() {
                super::file_store::read_tag(&r.dir, "mlflow.runName").unwrap_or_default()
            } else {
                r.run_name
            },
            run_id: r.run_id,
            status: r.status,
            start_time_ms: r.start_time,
            end_time_ms: r.end_time,
            artifact_uri: r.artifact_uri,
        })
        .collect())
}

pub fn list_rest_runs(client: &RestClient, experiment: &str) -> Result<Vec<RunSummary>> {
    let Some(experiment_id) = find_experiment(client, experiment)? else {
        let names = rest_experiment_names(client).unwrap_or_default();
        return Err(unknown_experiment(experiment, &client.base, &names));
    };
    let mut runs = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_SEARCH_PAGES {
        let mut body = json!({
            "experiment_ids": [experiment_id],
            "max_results": 1000,
            "order_by": ["attributes.start_time DESC"],
        });
        if let Some(token) = &page_token {
            body["page_token"] = Value::from(token.clone());
        }
        let answer = client.post("mlflow/runs/search", &body)?;
        runs.extend(
            answer["runs"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(summary_from_json),
        );
        page_token = answer["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
        if page_token.is_none() {
            break;
        }
    }
    Ok(runs)
}

/// A run of a REST answer (`{"info":…, "data":{"metrics":[…]}}`).
pub fn summary_from_json(run: &Value) -> Option<RunSummary> {
    let info = &run["info"];
    let metrics = run["data"]["metrics"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| Some((m["key"].as_str()?.to_string(), metric_value_from_json(&m["value"])?)))
        .collect();
    Some(RunSummary {
        run_id: info["run_id"].as_str()?.to_string(),
        run_name: info["run_name"].as_str().unwrap_or_default().to_string(),
        status: RunStatus::parse(info["status"].as_str().unwrap_or("RUNNING")).unwrap_or(RunStatus::Running),
        start_time_ms: json_int(&info["start_time"]).unwrap_or(0),
        end_time_ms: json_int(&info["end_time"]),
        metrics,
        artifact_uri: info["artifact_uri"].as_str().unwrap_or_default().to_string(),
    })
}

/// MLflow's JSON int64s come as numbers or strings.
pub fn json_int(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

fn rest_experiment_names(client: &RestClient) -> Result<Vec<String>> {
    let answer = client.post("mlflow/experiments/search", &json!({"max_results": 1000}))?;
    Ok(answer["experiments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["name"].as_str().map(|n| format!("{n:?}")))
        .collect())
}

fn unknown_experiment(name: &str, store: &str, existing: &[String]) -> Error {
    let listing = if existing.is_empty() { "none".to_string() } else { existing.join(", ") };
    Error::Usage(format!("no experiment named {name:?} in {store} (experiments: {listing})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_runs_parse_with_special_values() {
        let run = json!({
            "info": {"run_id": "abc", "run_name": "r", "status": "FINISHED", "start_time": "1795518451719",
                     "end_time": 1_795_518_452_326_i64, "artifact_uri": "mlflow-artifacts:/1/abc/artifacts"},
            "data": {"metrics": [{"key": "roc_auc", "value": 0.8}, {"key": "n", "value": "NaN"}]}
        });
        let s = summary_from_json(&run).unwrap();
        assert_eq!(s.status, RunStatus::Finished);
        assert_eq!(s.start_time_ms, 1_795_518_451_719);
        assert_eq!(s.end_time_ms, Some(1_795_518_452_326));
        assert_eq!(s.metrics["roc_auc"], 0.8);
        assert!(s.metrics["n"].is_nan());
    }
}
