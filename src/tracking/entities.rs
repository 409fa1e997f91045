//! The typed values that cross the [`Store`](super::Store) interface, named after MLflow's
//! entities: experiments, runs with their params, latest metrics and tags, metric values, run
//! statuses, dataset inputs, registered models and their versions.

use super::colspec::ColSpec;
use super::util::now_ms;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Whether an experiment or run is in use or in the trash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Active,
    Deleted,
}

impl Lifecycle {
    pub fn parse(text: &str) -> Lifecycle {
        if text == "deleted" { Lifecycle::Deleted } else { Lifecycle::Active }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "active",
            Lifecycle::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Experiment {
    pub id: String,
    pub name: String,
    pub lifecycle: Lifecycle,
    pub tags: BTreeMap<String, String>,
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

const ALL_STATUSES: [RunStatus; 5] =
    [RunStatus::Running, RunStatus::Scheduled, RunStatus::Finished, RunStatus::Failed, RunStatus::Killed];

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
        ALL_STATUSES.into_iter().find(|s| s.as_int() == value)
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
        ALL_STATUSES.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Finished | RunStatus::Failed | RunStatus::Killed)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    pub experiment_id: String,
    pub run_name: String,
    pub user_id: String,
    pub status: RunStatus,
    pub start_time_ms: i64,
    pub end_time_ms: Option<i64>,
    /// `file:///…/artifacts` (file store) or `mlflow-artifacts:/…` (server).
    pub artifact_uri: String,
    pub lifecycle: Lifecycle,
}

/// A run with its data: params, the latest value of each metric (MLflow's "latest": the
/// largest (step, timestamp, value)), and tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub info: RunInfo,
    pub params: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
    pub tags: BTreeMap<String, String>,
}

/// What a new run starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub run_name: String,
    pub user: String,
    pub start_time_ms: i64,
    pub tags: Vec<(String, String)>,
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

/// Params, metrics and tags written in one call (already validated by the caller).
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch<'a> {
    pub params: &'a [(String, String)],
    pub metrics: &'a [Metric],
    pub tags: &'a [(String, String)],
}

/// A data file a run read, as MLflow records a dataset: a local source, a digest, its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Shown in the UI's Datasets column (the file name).
    pub name: String,
    /// A short content hash (MLflow's own digests are 8 hex digits; at most 36 characters).
    pub digest: String,
    /// The absolute path of the file.
    pub source: PathBuf,
    pub columns: Vec<ColSpec>,
    pub num_rows: usize,
}

/// What a run used a dataset for (MLflow's `mlflow.data.context` input tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetContext {
    Training,
    Evaluation,
}

impl DatasetContext {
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetContext::Training => "training",
            DatasetContext::Evaluation => "evaluation",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInput {
    pub dataset: Dataset,
    pub context: DatasetContext,
}

/// A file or directory among a run's artifacts (path relative to the artifact root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactEntry {
    pub path: String,
    pub is_dir: bool,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredModel {
    pub name: String,
    /// alias → version.
    pub aliases: BTreeMap<String, u32>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    pub name: String,
    pub version: u32,
    /// The run the version was registered from, if any.
    pub run_id: Option<String>,
    /// Where the model files are (`file:///…/artifacts/model`, `mlflow-artifacts:/…`, `runs:/…`).
    pub source: String,
    pub tags: BTreeMap<String, String>,
    pub aliases: Vec<String>,
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
}
