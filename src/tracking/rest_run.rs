//! Logging one run to an MLflow tracking server: experiments/get-by-name or create, runs/create,
//! runs/log-batch within MLflow's per-request limits, artifact upload through the
//! `mlflow-artifacts` proxy, runs/update. Any failure marks the run FAILED when the server can
//! still be reached.

use super::ledger::Ledger;
use super::rest::{RestClient, key_values_json, metric_value_json};
use super::rest_artifacts::{ArtifactLocation, upload_dir};
use super::util::{current_user, now_ms};
use super::{
    ERROR_TAG, Metric, RunInfo, RunStatus, Tracker, no_active_run, run_name_or_default, standard_run_tags,
};
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::path::Path;

/// MLflow's log-batch limits (mlflow/utils/validation.py).
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;

pub struct RestTracker {
    client: RestClient,
    active: Option<ActiveRun>,
}

struct ActiveRun {
    info: RunInfo,
    artifacts: ArtifactLocation,
    ledger: Ledger,
    failed: bool,
    ended: bool,
}

impl RestTracker {
    pub fn new(base: &str) -> Result<RestTracker> {
        Ok(RestTracker { client: RestClient::new(base), active: None })
    }

    fn run_mut(&mut self, what: &str) -> Result<&mut ActiveRun> {
        let run = self.active.as_mut().ok_or_else(|| no_active_run(what))?;
        if run.ended {
            return Err(Error::Tracking(format!("{what}: run {} has already ended", run.info.run_id)));
        }
        Ok(run)
    }

    /// Runs a logging step; on error, marks the run FAILED (best effort) and returns the error.
    fn guarded<T>(
        &mut self,
        what: &str,
        step: impl FnOnce(&RestClient, &mut ActiveRun) -> Result<T>,
    ) -> Result<T> {
        let client = self.client.clone();
        let run = self.run_mut(what)?;
        let result = step(&client, run);
        if let Err(e) = &result {
            mark_failed(&client, run, &e.to_string());
        }
        result
    }

    fn create_run(&self, experiment: &str, run_name: &str) -> Result<(RunInfo, String)> {
        let experiment_id = get_or_create_experiment(&self.client, experiment)?;
        let user = current_user();
        let body = json!({
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": now_ms(),
            "user_id": user,
        });
        let answer = self.client.post("mlflow/runs/create", &body)?;
        let info = &answer["run"]["info"];
        let field = |k: &str| info[k].as_str().map(str::to_string);
        let (Some(run_id), Some(artifact_uri)) = (field("run_id"), field("artifact_uri")) else {
            return Err(Error::Tracking(format!(
                "MLflow server {}: runs/create answered without run_id/artifact_uri: {answer}",
                self.client.base
            )));
        };
        Ok((RunInfo { run_id, experiment_id, artifact_uri }, user))
    }
}

impl Tracker for RestTracker {
    fn start_run(&mut self, experiment: &str, run_name: &str, tags: &[(String, String)]) -> Result<RunInfo> {
        if let Some(run) = self.active.as_ref().filter(|r| !r.ended) {
            return Err(Error::Internal(format!("tracking: run {} is still active", run.info.run_id)));
        }
        Ledger::checked_tags(tags)?;
        let run_name = run_name_or_default(run_name);
        let (info, user) = self.create_run(experiment, &run_name)?;
        let mut run = ActiveRun {
            artifacts: ArtifactLocation::Proxy(String::new()),
            info: info.clone(),
            ledger: Ledger::default(),
            failed: false,
            ended: false,
        };
        let set_up = ArtifactLocation::parse(&info.artifact_uri).and_then(|location| {
            run.artifacts = location;
            let all_tags = Ledger::checked_tags(&standard_run_tags(&run_name, &user, tags))?;
            log_batch_chunks(&self.client, &info.run_id, "tags", &all_tags)
        });
        if let Err(e) = set_up {
            mark_failed(&self.client, &mut run, &e.to_string());
            return Err(e);
        }
        self.active = Some(run);
        Ok(info)
    }

    fn log_params(&mut self, params: &[(String, String)]) -> Result<()> {
        self.guarded("log_params", |client, run| {
            let fresh = run.ledger.new_params(params)?;
            log_batch_chunks(client, &run.info.run_id, "params", &fresh)?;
            run.ledger.record_params(&fresh);
            Ok(())
        })
    }

    fn log_metrics(&mut self, metrics: &[Metric]) -> Result<()> {
        self.guarded("log_metrics", |client, run| {
            let fresh = run.ledger.new_metrics(metrics)?;
            for chunk in fresh.chunks(MAX_METRICS_PER_BATCH) {
                let metrics: Vec<Value> = chunk
                    .iter()
                    .map(|m| {
                        json!({"key": m.key, "value": metric_value_json(m.value),
                               "timestamp": m.timestamp_ms, "step": m.step})
                    })
                    .collect();
                client
                    .post("mlflow/runs/log-batch", &json!({"run_id": run.info.run_id, "metrics": metrics}))?;
                run.ledger.record_metrics(chunk);
            }
            Ok(())
        })
    }

    fn set_tags(&mut self, tags: &[(String, String)]) -> Result<()> {
        self.guarded("set_tags", |client, run| {
            log_batch_chunks(client, &run.info.run_id, "tags", &Ledger::checked_tags(tags)?)
        })
    }

    fn log_artifacts(&mut self, local_dir: &Path, artifact_path: Option<&str>) -> Result<()> {
        self.guarded("log_artifacts", |client, run| {
            upload_dir(client, &run.artifacts, local_dir, artifact_path)
        })
    }

    fn end_run(&mut self, status: RunStatus) -> Result<()> {
        if !status.is_terminal() {
            return Err(Error::Internal(format!("tracking: end_run needs a final status, not {status}")));
        }
        let client = self.client.clone();
        let run = self.run_mut("end_run")?;
        if run.failed && status == RunStatus::Finished {
            return Err(Error::Tracking(format!(
                "run {} was marked FAILED after an earlier error; it cannot be FINISHED",
                run.info.run_id
            )));
        }
        update_status(&client, &run.info.run_id, status)?;
        run.ended = true;
        Ok(())
    }

    fn uri(&self) -> String {
        self.client.base.clone()
    }

    fn run(&self) -> Option<&RunInfo> {
        self.active.as_ref().map(|r| &r.info)
    }
}

/// The id of the active experiment `name`, created if missing (tolerating a concurrent create).
pub fn get_or_create_experiment(client: &RestClient, name: &str) -> Result<String> {
    if let Some(id) = find_experiment(client, name)? {
        return Ok(id);
    }
    match client.try_post("mlflow/experiments/create", &json!({"name": name})) {
        Ok(answer) => answer["experiment_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Tracking(format!("experiments/create answered without an id: {answer}"))),
        Err(e) if e.is("RESOURCE_ALREADY_EXISTS") => find_experiment(client, name)?
            .ok_or_else(|| client.error("POST", "mlflow/experiments/create", &e)),
        Err(e) => Err(client.error("POST", "mlflow/experiments/create", &e)),
    }
}

/// The id of the experiment `name` if it exists (an error if it is deleted).
pub fn find_experiment(client: &RestClient, name: &str) -> Result<Option<String>> {
    let endpoint = "mlflow/experiments/get-by-name";
    let experiment = match client.try_get(endpoint, &[("experiment_name", name)]) {
        Ok(answer) => answer["experiment"].clone(),
        Err(e) if e.is("RESOURCE_DOES_NOT_EXIST") => return Ok(None),
        Err(e) => return Err(client.error("GET", endpoint, &e)),
    };
    let id = experiment["experiment_id"].as_str().unwrap_or_default().to_string();
    if experiment["lifecycle_stage"].as_str() == Some("deleted") {
        return Err(Error::Tracking(format!(
            "experiment {name:?} (id {id}) is deleted on {}; restore it or log to another experiment",
            client.base
        )));
    }
    Ok(Some(id))
}

/// log-batch calls of at most 100 params or tags each.
fn log_batch_chunks(client: &RestClient, run_id: &str, kind: &str, pairs: &[(String, String)]) -> Result<()> {
    for chunk in pairs.chunks(MAX_PARAMS_TAGS_PER_BATCH) {
        client.post("mlflow/runs/log-batch", &json!({"run_id": run_id, kind: key_values_json(chunk)}))?;
    }
    Ok(())
}

fn update_status(client: &RestClient, run_id: &str, status: RunStatus) -> Result<()> {
    let body = json!({"run_id": run_id, "status": status.as_str(), "end_time": now_ms()});
    client.post("mlflow/runs/update", &body).map(|_| ())
}

/// Best effort: the error as a tag, then status FAILED (the server may be gone: ignore errors).
fn mark_failed(client: &RestClient, run: &mut ActiveRun, message: &str) {
    run.failed = true;
    if let Ok(tag) = Ledger::checked_tags(&[(ERROR_TAG.to_string(), message.to_string())]) {
        let _ = log_batch_chunks(client, &run.info.run_id, "tags", &tag);
    }
    if update_status(client, &run.info.run_id, RunStatus::Failed).is_ok() {
        run.ended = true;
    }
}
