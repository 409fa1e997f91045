//! One run being logged through any [`Store`]: started (with MLflow's standard tags and the
//! tags that name this process) or resumed by id, then params, metrics, tags, inputs and
//! artifacts under MLflow's rules (checked by the [`Ledger`] before anything is written), and
//! ended. A logging call that fails marks a RUNNING run FAILED, and a failed run cannot be
//! FINISHED; a finished run that is resumed (a monitor adding a batch) keeps its status.

use super::entities::{Batch, DatasetInput, Lifecycle, Metric, NewRun, RunInfo, RunStatus};
use super::ledger::Ledger;
use super::runs::{end_dead_runs, process_tags};
use super::util::{current_user, now_ms, utc_minutes, validate_experiment_name, validate_run_id};
use super::{ERROR_TAG, EXPERIMENT_KIND_ML, EXPERIMENT_KIND_TAG, Store};
use crate::error::{Error, Result};
use std::path::Path;

pub struct ActiveRun<'s> {
    store: &'s dyn Store,
    info: RunInfo,
    ledger: Ledger,
    /// Whether a logging error ends the run FAILED: a run this process started or took over
    /// RUNNING, not a finished run it only adds to.
    fails_on_error: bool,
    failed: bool,
    ended: Option<RunStatus>,
}

impl<'s> ActiveRun<'s> {
    /// Starts a RUNNING run in `experiment` (created if needed, in MLflow's classic "Machine
    /// learning" view). The standard `mlflow.*` tags (runName, user, source.name, source.type)
    /// and this process's identity are added; `tags` may override the standard ones. Dead runs
    /// of the experiment are ended first (see [`end_dead_runs`]).
    pub fn start(
        store: &'s dyn Store,
        experiment: &str,
        run_name: &str,
        tags: &[(String, String)],
    ) -> Result<ActiveRun<'s>> {
        validate_experiment_name(experiment)?;
        let run_name = run_name_or_default(run_name);
        let user = current_user();
        // Validated before anything exists, so a bad tag never leaves a half-made run.
        let tags = Ledger::checked_tags(&standard_run_tags(&run_name, &user, tags))?;
        let kind = [(EXPERIMENT_KIND_TAG.to_string(), EXPERIMENT_KIND_ML.to_string())];
        let exp = store.get_or_create_experiment(experiment, &kind)?;
        if !exp.tags.contains_key(EXPERIMENT_KIND_TAG) {
            // An experiment made before credrisk set the kind (a user's own choice is kept).
            store.set_experiment_tag(&exp.id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND_ML)?;
        }
        let _ = end_dead_runs(store, &exp.id);
        let new = NewRun { run_name, user, start_time_ms: now_ms(), tags };
        let info = store.create_run(&exp.id, &new)?;
        Ok(ActiveRun {
            store,
            info,
            ledger: Ledger::default(),
            fails_on_error: true,
            failed: false,
            ended: None,
        })
    }

    /// Continues logging to an existing run (e.g. one step per monitored batch). Its params stay
    /// immutable. A RUNNING run is taken over by this process (its identity tags are updated so
    /// it is not ended as dead while this process logs to it); a finished run keeps its status,
    /// even when a logging call fails.
    pub fn resume(store: &'s dyn Store, run_id: &str) -> Result<ActiveRun<'s>> {
        validate_run_id(run_id)?;
        let run = store
            .get_run(run_id)?
            .ok_or_else(|| Error::Usage(format!("no run {run_id} in {}", store.uri())))?;
        if run.info.lifecycle == Lifecycle::Deleted {
            return Err(Error::Usage(format!("run {run_id} is deleted; restore it before logging to it")));
        }
        let mut ledger = Ledger::default();
        let params: Vec<(String, String)> = run.params.into_iter().collect();
        ledger.record_params(&params);
        let running = run.info.status == RunStatus::Running;
        let mut active =
            ActiveRun { store, info: run.info, ledger, fails_on_error: running, failed: false, ended: None };
        if running {
            active.set_tags(&process_tags())?;
        }
        Ok(active)
    }

    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    pub fn run_id(&self) -> &str {
        &self.info.run_id
    }

    /// The tracking URI of the run's store.
    pub fn uri(&self) -> String {
        self.store.uri()
    }

    /// Logs params (values as strings; a key logged again must keep its value).
    pub fn log_params(&mut self, params: &[(String, String)]) -> Result<()> {
        self.guarded("log_params", |run| {
            let fresh = run.ledger.new_params(params)?;
            run.store.log_batch(&run.info.run_id, &Batch { params: &fresh, ..Batch::default() })?;
            run.ledger.record_params(&fresh);
            Ok(())
        })
    }

    /// Logs metric values (NaN and ±inf allowed; identical repeats are written once).
    pub fn log_metrics(&mut self, metrics: &[Metric]) -> Result<()> {
        self.guarded("log_metrics", |run| {
            let fresh = run.ledger.new_metrics(metrics)?;
            run.store.log_batch(&run.info.run_id, &Batch { metrics: &fresh, ..Batch::default() })?;
            run.ledger.record_metrics(&fresh);
            Ok(())
        })
    }

    /// Sets (or overwrites) tags, e.g. `mlflow.note.content`.
    pub fn set_tags(&mut self, tags: &[(String, String)]) -> Result<()> {
        self.guarded("set_tags", |run| {
            let tags = Ledger::checked_tags(tags)?;
            run.store.log_batch(&run.info.run_id, &Batch { tags: &tags, ..Batch::default() })
        })
    }

    /// Records the datasets the run read.
    pub fn log_inputs(&mut self, inputs: &[DatasetInput]) -> Result<()> {
        self.guarded("log_inputs", |run| run.store.log_inputs(&run.info.run_id, inputs))
    }

    /// Copies `local_dir`'s regular files into the run's artifacts (see [`Store::log_artifacts`]).
    pub fn log_artifacts(&mut self, local_dir: &Path, artifact_path: Option<&str>) -> Result<()> {
        self.guarded("log_artifacts", |run| {
            run.store.log_artifacts(&run.info.run_id, local_dir, artifact_path)
        })
    }

    /// Ends the run with a terminal status.
    pub fn end(&mut self, status: RunStatus) -> Result<()> {
        if !status.is_terminal() {
            return Err(Error::Internal(format!("tracking: a run ends with a final status, not {status}")));
        }
        self.check_open("end")?;
        if self.failed && status == RunStatus::Finished {
            return Err(Error::Tracking(format!(
                "run {} was marked FAILED after an earlier error; it cannot be FINISHED",
                self.info.run_id
            )));
        }
        self.store.end_run(&self.info.run_id, status, now_ms())?;
        self.ended = Some(status);
        Ok(())
    }

    /// Marks the run FAILED with `error` as the `credrisk.error` tag.
    pub fn fail(&mut self, error: &str) -> Result<()> {
        self.check_open("fail")?;
        self.failed = true;
        let tag_result = self.set_tags(&[(ERROR_TAG.to_string(), error.to_string())]);
        if self.ended.is_some() {
            return tag_result; // set_tags failed and marked the run FAILED already
        }
        self.end(RunStatus::Failed).and(tag_result)
    }

    fn check_open(&self, what: &str) -> Result<()> {
        match self.ended {
            Some(status) => {
                Err(Error::Tracking(format!("{what}: run {} has already ended ({status})", self.info.run_id)))
            }
            None => Ok(()),
        }
    }

    /// Runs a logging step; on error, marks the run FAILED (best effort) and returns the error.
    fn guarded<T>(&mut self, what: &str, step: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.check_open(what)?;
        let result = step(self);
        if let Err(e) = &result
            && self.fails_on_error
        {
            self.failed = true;
            let tag = Ledger::checked_tags(&[(ERROR_TAG.to_string(), e.to_string())]).unwrap_or_default();
            let _ = self.store.log_batch(&self.info.run_id, &Batch { tags: &tag, ..Batch::default() });
            if self.store.end_run(&self.info.run_id, RunStatus::Failed, now_ms()).is_ok() {
                self.ended = Some(RunStatus::Failed);
            }
        }
        result
    }
}

/// The standard tags MLflow's client sets on a new run and the tags naming this process,
/// merged with the caller's (which win).
fn standard_run_tags(run_name: &str, user: &str, tags: &[(String, String)]) -> Vec<(String, String)> {
    let source = std::env::args().next().unwrap_or_else(|| "credrisk".to_string());
    let mut all: Vec<(String, String)> = vec![
        ("mlflow.runName".into(), run_name.into()),
        ("mlflow.user".into(), user.into()),
        ("mlflow.source.name".into(), source),
        ("mlflow.source.type".into(), "LOCAL".into()),
    ];
    all.extend(process_tags());
    for (k, v) in tags {
        all.retain(|(existing, _)| existing != k);
        all.push((k.clone(), v.clone()));
    }
    all
}

/// A run name that is never empty (MLflow would invent one).
fn run_name_or_default(run_name: &str) -> String {
    let trimmed = run_name.trim();
    if trimmed.is_empty() {
        format!("credrisk-{}", utc_minutes(now_ms()).replace([' ', ':'], "-"))
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_tags_override_standard_ones() {
        let tags = standard_run_tags("r", "ana", &[("mlflow.source.name".into(), "credrisk train".into())]);
        let get = |k: &str| tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("mlflow.runName"), Some("r"));
        assert_eq!(get("mlflow.user"), Some("ana"));
        assert_eq!(get("mlflow.source.name"), Some("credrisk train"));
        assert_eq!(tags.iter().filter(|(k, _)| k == "mlflow.source.name").count(), 1);
        #[cfg(target_os = "linux")]
        assert_eq!(get("credrisk.pid"), Some(std::process::id().to_string().as_str()));
    }

    #[test]
    fn an_empty_run_name_gets_one() {
        assert!(run_name_or_default("  ").starts_with("credrisk-"));
        assert_eq!(run_name_or_default(" nightly "), "nightly");
    }
}
