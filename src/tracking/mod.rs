//! MLflow tracking: one [`Tracker`] interface over two backends chosen by the tracking URI (a
//! file store MLflow 3.17 reads as its own, or a tracking server over REST), plus the model
//! registry, the `credrisk` MLmodel file, the model URI resolver and run listings.
//!
//! A training run goes: [`open`] → [`Tracker::start_run`] → params/metrics/tags → write the
//! model directory with [`write_mlmodel`] (it needs the run id) → [`Tracker::log_artifacts`] →
//! [`Tracker::end_run`]`(Finished)`. Any logging error marks the run FAILED; a process killed
//! mid-run leaves it RUNNING, never FINISHED, and the store stays readable.

mod file_run;
mod file_store;
mod ledger;
mod mlmodel;
mod registry;
mod resolve;
mod resolve_rest;
mod rest;
mod rest_artifacts;
mod rest_run;
mod runs;
mod uri;
mod util;
pub mod yaml;

pub use mlmodel::{MLMODEL_FILE, write_mlmodel};
pub use registry::register_model;
pub use resolve::{ResolvedModel, resolve_model};
pub use runs::{RunSummary, list_runs};
pub use uri::{Backend, backend, file_uri_to_path, path_to_file_uri};
pub use util::{civil_from_days, current_user, now_ms, utc_minutes};

use crate::error::{Error, Result};
use std::path::Path;

/// The experiment `credrisk train` logs to by default.
pub const DEFAULT_EXPERIMENT: &str = "credrisk";
/// The run artifact directory that holds the model (`runs:/<id>/model`).
pub const MODEL_ARTIFACT_PATH: &str = "model";
/// The tag a failed run carries with its error message.
pub const ERROR_TAG: &str = "credrisk.error";

/// The identity of a started run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    pub experiment_id: String,
    /// `file:///…/artifacts` (file store) or `mlflow-artifacts:/…` (server).
    pub artifact_uri: String,
}

/// One metric value at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub step: i64,
    pub timestamp_ms: i64,
}

impl Metric {
    /// A value logged now.
    pub fn new(key: impl Into<String>, value: f64, step: i64) -> Metric {
        Metric { key: key.into(), value, step, timestamp_ms: now_ms() }
    }
}

/// MLflow's run status (the file store keeps the integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Scheduled,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    pub fn as_int(self) -> i64 {
        match self {
            RunStatus::Running => 1,
            RunStatus::Scheduled => 2,
            RunStatus::Finished => 3,
            RunStatus::Failed => 4,
            RunStatus::Killed => 5,
        }
    }

    pub fn from_int(value: i64) -> Option<RunStatus> {
        Some(match value {
            1 => RunStatus::Running,
            2 => RunStatus::Scheduled,
            3 => RunStatus::Finished,
            4 => RunStatus::Failed,
            5 => RunStatus::Killed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// Parses `FINISHED` or `3` (MLflow writes the int; old stores may hold either).
    pub fn parse(text: &str) -> Option<RunStatus> {
        if let Ok(n) = text.trim().parse::<i64>() {
            return RunStatus::from_int(n);
        }
        [RunStatus::Running, RunStatus::Scheduled, RunStatus::Finished, RunStatus::Failed, RunStatus::Killed]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }

    fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Finished | RunStatus::Failed | RunStatus::Killed)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Records one run at a time in an MLflow backend.
///
/// Every logging call that fails marks the run FAILED (best effort) with the error as the
/// `credrisk.error` tag, and a run that failed can no longer be ended as FINISHED.
pub trait Tracker: Send {
    /// Creates the experiment if needed and starts a RUNNING run. The standard `mlflow.*` tags
    /// (runName, user, source.name, source.type) are added; `tags` may override them.
    fn start_run(&mut self, experiment: &str, run_name: &str, tags: &[(String, String)]) -> Result<RunInfo>;
    /// Logs params (values as strings; a key logged again must keep its value).
    fn log_params(&mut self, params: &[(String, String)]) -> Result<()>;
    /// Logs metric values (NaN and ±inf allowed; identical repeats are written once).
    fn log_metrics(&mut self, metrics: &[Metric]) -> Result<()>;
    /// Sets (or overwrites) tags, e.g. `mlflow.note.content`.
    fn set_tags(&mut self, tags: &[(String, String)]) -> Result<()>;
    /// Copies `local_dir` recursively into the run's artifacts (under `artifact_path`).
    fn log_artifacts(&mut self, local_dir: &Path, artifact_path: Option<&str>) -> Result<()>;
    /// Ends the run with a terminal status.
    fn end_run(&mut self, status: RunStatus) -> Result<()>;
    /// The tracking URI this tracker writes to.
    fn uri(&self) -> String;
    /// The active run, if any.
    fn run(&self) -> Option<&RunInfo>;

    /// Marks the run FAILED with `error` as the `credrisk.error` tag.
    fn fail(&mut self, error: &str) -> Result<()> {
        let tag_result = self.set_tags(&[(ERROR_TAG.to_string(), error.to_string())]);
        let end_result = self.end_run(RunStatus::Failed);
        end_result.and(tag_result)
    }
}

/// Opens the tracker for a tracking URI (`None` → `$MLFLOW_TRACKING_URI` → `./mlruns`).
/// A file store is created if missing; a server is only contacted by `start_run`.
pub fn open(tracking_uri: Option<&str>) -> Result<Box<dyn Tracker>> {
    Ok(match backend(tracking_uri)? {
        Backend::File(root) => Box::new(file_run::FileTracker::open(&root)?),
        Backend::Rest(base) => Box::new(rest_run::RestTracker::new(&base)?),
    })
}

/// The standard tags MLflow's client sets on a new run, merged with the caller's (which win).
fn standard_run_tags(run_name: &str, user: &str, tags: &[(String, String)]) -> Vec<(String, String)> {
    let source = std::env::args().next().unwrap_or_else(|| "credrisk".to_string());
    let mut all: Vec<(String, String)> = vec![
        ("mlflow.runName".into(), run_name.into()),
        ("mlflow.user".into(), user.into()),
        ("mlflow.source.name".into(), source),
        ("mlflow.source.type".into(), "LOCAL".into()),
    ];
    for (k, v) in tags {
        all.retain(|(existing, _)| existing != k);
        all.push((k.clone(), v.clone()));
    }
    all
}

/// The error for calls made without a started run.
fn no_active_run(what: &str) -> Error {
    Error::Internal(format!("tracking: {what} called without an active run (call start_run first)"))
}

/// A run name that is never empty (MLflow would invent one).
fn run_name_or_default(run_name: &str) -> String {
    let trimmed = run_name.trim();
    if trimmed.is_empty() {
        format!("credrisk-{}", util::utc_minutes(now_ms()).replace([' ', ':'], "-"))
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_mlflow_enum() {
        // mlflow.entities.RunStatus: RUNNING=1 SCHEDULED=2 FINISHED=3 FAILED=4 KILLED=5
        for (n, s) in [(1, "RUNNING"), (2, "SCHEDULED"), (3, "FINISHED"), (4, "FAILED"), (5, "KILLED")] {
            let st = RunStatus::from_int(n).unwrap();
            assert_eq!(st.as_int(), n);
            assert_eq!(st.as_str(), s);
            assert_eq!(RunStatus::parse(s), Some(st));
            assert_eq!(RunStatus::parse(&n.to_string()), Some(st));
        }
        assert_eq!(RunStatus::parse("9"), None);
    }

    #[test]
    fn caller_tags_override_standard_ones() {
        let tags = standard_run_tags("r", "ana", &[("mlflow.source.name".into(), "credrisk train".into())]);
        let get = |k: &str| tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("mlflow.runName"), Some("r"));
        assert_eq!(get("mlflow.user"), Some("ana"));
        assert_eq!(get("mlflow.source.name"), Some("credrisk train"));
        assert_eq!(tags.iter().filter(|(k, _)| k == "mlflow.source.name").count(), 1);
    }
}
