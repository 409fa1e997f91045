//! Experiments and runs on an MLflow tracking server: experiments/get-by-name or create (a
//! concurrent create answers RESOURCE_ALREADY_EXISTS, which means "use theirs"), runs/create
//! with its tags, runs/log-batch within MLflow's per-request limits, runs/log-inputs,
//! runs/update, runs/get and paged runs/search; and MLflow's JSON read back into typed values.

use super::super::dataset::CONTEXT_TAG;
use super::super::entities::{
    Batch, DatasetInput, Experiment, Lifecycle, Metric, NewRun, Run, RunInfo, RunStatus,
};
use super::RestStore;
use super::client::{key_values_json, metric_value_from_json, metric_value_json};
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// MLflow's log-batch limits (mlflow/utils/validation.py).
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
/// Pages of runs/search fetched at most (1000 runs each).
const MAX_SEARCH_PAGES: usize = 100;

impl RestStore {
    pub fn experiments(&self) -> Result<Vec<Experiment>> {
        let body = json!({"max_results": 1000, "view_type": "ALL"});
        let answer = self.client.post("mlflow/experiments/search", &body)?;
        Ok(array(&answer["experiments"]).iter().filter_map(experiment_from_json).collect())
    }

    pub fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        let endpoint = "mlflow/experiments/get-by-name";
        match self.client.try_get(endpoint, &[("experiment_name", name)]) {
            Ok(answer) => Ok(experiment_from_json(&answer["experiment"])),
            Err(e) if e.is("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(self.client.error("GET", endpoint, &e)),
        }
    }

    pub fn get_or_create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<Experiment> {
        let found = match self.experiment_by_name(name)? {
            Some(exp) => exp,
            None => {
                let body = json!({"name": name, "tags": key_values_json(tags)});
                match self.client.try_post("mlflow/experiments/create", &body) {
                    Ok(_) => {}
                    // Another client created it between our lookup and our create: use theirs.
                    Err(e) if e.is("RESOURCE_ALREADY_EXISTS") => {}
                    Err(e) => return Err(self.client.error("POST", "mlflow/experiments/create", &e)),
                }
                self.experiment_by_name(name)?.ok_or_else(|| {
                    Error::Tracking(format!(
                        "{}: experiment {name:?} was created but cannot be found",
                        self.client.base
                    ))
                })?
            }
        };
        if found.lifecycle == Lifecycle::Deleted {
            return Err(Error::Tracking(format!(
                "experiment {name:?} (id {}) is deleted on {}; restore it or log to another experiment",
                found.id, self.client.base
            )));
        }
        Ok(found)
    }

    pub fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()> {
        let body = json!({"experiment_id": experiment_id, "key": key, "value": value});
        self.client.post("mlflow/experiments/set-experiment-tag", &body).map(|_| ())
    }

    pub fn create_run(&self, experiment_id: &str, new: &NewRun) -> Result<RunInfo> {
        let body = json!({
            "experiment_id": experiment_id,
            "run_name": new.run_name,
            "start_time": new.start_time_ms,
            "user_id": new.user,
            "tags": key_values_json(&new.tags),
        });
        let answer = self.client.post("mlflow/runs/create", &body)?;
        run_from_json(&answer["run"]).map(|r| r.info).ok_or_else(|| {
            Error::Tracking(format!(
                "MLflow server {}: runs/create answered without a run: {answer}",
                self.client.base
            ))
        })
    }

    pub fn get_run(&self, run_id: &str) -> Result<Option<Run>> {
        match self.client.try_get("mlflow/runs/get", &[("run_id", run_id)]) {
            Ok(answer) => Ok(run_from_json(&answer["run"])),
            Err(e) if e.is("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(self.client.error("GET", "mlflow/runs/get", &e)),
        }
    }

    /// log-batch calls of at most 100 params, 100 tags or 1000 metrics each.
    pub fn log_batch(&self, run_id: &str, batch: &Batch) -> Result<()> {
        for chunk in batch.params.chunks(MAX_PARAMS_TAGS_PER_BATCH) {
            self.client.post(
                "mlflow/runs/log-batch",
                &json!({"run_id": run_id, "params": key_values_json(chunk)}),
            )?;
        }
        for chunk in batch.metrics.chunks(MAX_METRICS_PER_BATCH) {
            let metrics: Vec<Value> = chunk.iter().map(metric_json).collect();
            self.client.post("mlflow/runs/log-batch", &json!({"run_id": run_id, "metrics": metrics}))?;
        }
        for chunk in batch.tags.chunks(MAX_PARAMS_TAGS_PER_BATCH) {
            self.client
                .post("mlflow/runs/log-batch", &json!({"run_id": run_id, "tags": key_values_json(chunk)}))?;
        }
        Ok(())
    }

    pub fn log_inputs(&self, run_id: &str, inputs: &[DatasetInput]) -> Result<()> {
        let mut datasets = Vec::new();
        for input in inputs {
            let f = input.dataset.mlflow_fields()?;
            datasets.push(json!({
                "tags": [{"key": CONTEXT_TAG, "value": input.context.as_str()}],
                "dataset": {"name": f.name, "digest": f.digest, "source_type": f.source_type,
                            "source": f.source, "schema": f.schema, "profile": f.profile},
            }));
        }
        self.client
            .post("mlflow/runs/log-inputs", &json!({"run_id": run_id, "datasets": datasets}))
            .map(|_| ())
    }

    pub fn end_run(&self, run_id: &str, status: RunStatus, end_time_ms: i64) -> Result<()> {
        let body = json!({"run_id": run_id, "status": status.as_str(), "end_time": end_time_ms});
        self.client.post("mlflow/runs/update", &body).map(|_| ())
    }

    pub fn search_runs(&self, experiment_id: &str, status: Option<RunStatus>) -> Result<Vec<Run>> {
        let mut runs = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_SEARCH_PAGES {
            let mut body = json!({
                "experiment_ids": [experiment_id],
                "max_results": 1000,
                "order_by": ["attributes.start_time DESC"],
            });
            if let Some(status) = status {
                body["filter"] = Value::from(format!("attributes.status = '{status}'"));
            }
            if let Some(token) = &page_token {
                body["page_token"] = Value::from(token.clone());
            }
            let answer = self.client.post("mlflow/runs/search", &body)?;
            runs.extend(array(&answer["runs"]).iter().filter_map(run_from_json));
            page_token = answer["next_page_token"].as_str().filter(|t| !t.is_empty()).map(str::to_string);
            if page_token.is_none() {
                break;
            }
        }
        Ok(runs)
    }
}

fn metric_json(m: &Metric) -> Value {
    json!({"key": m.key, "value": metric_value_json(m.value), "timestamp": m.timestamp_ms, "step": m.step})
}

/// The items of a JSON array (none for anything else).
pub fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// MLflow's JSON int64s come as numbers or strings.
pub fn json_int(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// `[{"key": …, "value": …}]` → key → value.
pub fn key_values(value: &Value) -> BTreeMap<String, String> {
    array(value)
        .iter()
        .filter_map(|kv| {
            Some((kv["key"].as_str()?.to_string(), kv["value"].as_str().unwrap_or("").to_string()))
        })
        .collect()
}

fn experiment_from_json(e: &Value) -> Option<Experiment> {
    Some(Experiment {
        id: e["experiment_id"].as_str()?.to_string(),
        name: e["name"].as_str()?.to_string(),
        lifecycle: Lifecycle::parse(e["lifecycle_stage"].as_str().unwrap_or("active")),
        tags: key_values(&e["tags"]),
    })
}

/// A run of a REST answer (`{"info": …, "data": {"params", "metrics", "tags"}}`).
pub fn run_from_json(run: &Value) -> Option<Run> {
    let info = &run["info"];
    let data = &run["data"];
    let metrics = array(&data["metrics"])
        .iter()
        .filter_map(|m| Some((m["key"].as_str()?.to_string(), metric_value_from_json(&m["value"])?)))
        .collect();
    Some(Run {
        info: RunInfo {
            run_id: info["run_id"].as_str()?.to_string(),
            experiment_id: info["experiment_id"].as_str().unwrap_or_default().to_string(),
            run_name: info["run_name"].as_str().unwrap_or_default().to_string(),
            user_id: info["user_id"].as_str().unwrap_or_default().to_string(),
            status: RunStatus::parse(info["status"].as_str().unwrap_or("RUNNING"))
                .unwrap_or(RunStatus::Running),
            start_time_ms: json_int(&info["start_time"]).unwrap_or(0),
            end_time_ms: json_int(&info["end_time"]),
            artifact_uri: info["artifact_uri"].as_str().unwrap_or_default().to_string(),
            lifecycle: Lifecycle::parse(info["lifecycle_stage"].as_str().unwrap_or("active")),
        },
        params: key_values(&data["params"]),
        metrics,
        tags: key_values(&data["tags"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_runs_parse_with_special_values() {
        let run = json!({
            "info": {"run_id": "abc", "run_name": "r", "status": "FINISHED", "start_time": "1795518451719",
                     "end_time": 1_795_518_452_326_i64, "artifact_uri": "mlflow-artifacts:/1/abc/artifacts"},
            "data": {"metrics": [{"key": "roc_auc", "value": 0.8}, {"key": "n", "value": "NaN"}],
                     "params": [{"key": "seed", "value": "42"}], "tags": [{"key": "t", "value": ""}]}
        });
        let r = run_from_json(&run).unwrap();
        assert_eq!(r.info.status, RunStatus::Finished);
        assert_eq!(r.info.start_time_ms, 1_795_518_451_719);
        assert_eq!(r.info.end_time_ms, Some(1_795_518_452_326));
        assert_eq!(r.metrics["roc_auc"], 0.8);
        assert!(r.metrics["n"].is_nan());
        assert_eq!(r.params["seed"], "42");
        assert_eq!(r.tags["t"], "");
    }
}
