//! MLflow tracking behind one [`Store`] interface with two backends chosen by the tracking URI: a
//! file store MLflow 3.17 reads as its own (`file/`) and a tracking server over REST (`rest/`).
//! Everything above them uses only [`Store`]: an [`ActiveRun`] that applies MLflow's logging
//! rules, run listings, registration, and the model URI resolver.
//!
//! A training run goes: [`open`] → [`ActiveRun::start`] → params/metrics/tags/inputs → write the
//! model directory with [`MlModel::write`] (it names the run) → [`ActiveRun::log_artifacts`] →
//! [`ActiveRun::end`]`(Finished)`. A logging error marks the run FAILED; a process that dies
//! mid-run leaves it RUNNING, and credrisk ends it FAILED when it next finds it (see
//! [`end_dead_runs`]).

mod active_run;
mod colspec;
mod dataset;
mod entities;
mod file;
mod ledger;
mod local_files;
mod mlmodel;
pub mod pyfunc;
mod register;
mod resolve;
mod rest;
mod runs;
mod uri;
mod util;
pub mod yaml;

pub use active_run::ActiveRun;
pub use colspec::{ColSpec, ColType, Signature};
pub use entities::{
    ArtifactEntry, Batch, Dataset, DatasetContext, DatasetInput, Experiment, Lifecycle, Metric, ModelVersion,
    NewRun, RegisteredModel, Run, RunInfo, RunStatus,
};
pub use mlmodel::{MLMODEL_FILE, MlModel, MlModelInfo, read_mlmodel};
pub use register::register_model;
pub(crate) use resolve::unknown_name;
pub use resolve::{ResolvedModel, resolve_model};
pub use runs::{end_dead_runs, list_runs};
pub use uri::{Backend, backend, file_uri_to_path, path_to_file_uri};
pub use util::{
    civil_from_days, current_user, now_ms, utc_minutes, utc_timestamp, validate_alias, validate_model_name,
};

use crate::error::Result;
use std::path::{Path, PathBuf};

/// The experiment `credrisk train` logs to by default.
pub const DEFAULT_EXPERIMENT: &str = "credrisk";
/// The run artifact directory that holds the model (`runs:/<id>/model`).
pub const MODEL_ARTIFACT_PATH: &str = "model";
/// The tag a failed run carries with its error message.
pub const ERROR_TAG: &str = "credrisk.error";
/// The experiment tag MLflow's UI reads to pick its view, and the value of the classic
/// "Machine learning" view with the runs table (without it, an experiment opens in the GenAI
/// Traces view).
pub const EXPERIMENT_KIND_TAG: &str = "mlflow.experimentKind";
pub const EXPERIMENT_KIND_ML: &str = "custom_model_development";

/// An MLflow tracking backend: experiments, runs (create, resume, log, end, search), artifacts
/// and the model registry. Object-safe; [`open`] picks the implementation from the URI.
///
/// Calls take validated values: [`ActiveRun`] checks keys, truncates values and refuses a param
/// that changes before anything reaches a backend.
pub trait Store: Send + Sync {
    /// The tracking URI (`file:///abs/mlruns` or `http://host:port`).
    fn uri(&self) -> String;

    /// Every experiment, active and deleted.
    fn experiments(&self) -> Result<Vec<Experiment>>;
    /// The experiment `name` (active or deleted), if it exists.
    fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>>;
    /// The active experiment `name`, created (with `tags`) if missing. Two processes creating
    /// it at once get the same experiment. A deleted one is an error.
    fn get_or_create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<Experiment>;
    fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()>;

    /// Creates a RUNNING run; it appears with its tags already set.
    fn create_run(&self, experiment_id: &str, run: &NewRun) -> Result<RunInfo>;
    /// The run `run_id` with its data, if it exists (in any experiment).
    fn get_run(&self, run_id: &str) -> Result<Option<Run>>;
    /// Writes params (a key already logged must keep its value), metric values and tags.
    fn log_batch(&self, run_id: &str, batch: &Batch) -> Result<()>;
    /// Records the datasets a run read (MLflow's run inputs).
    fn log_inputs(&self, run_id: &str, inputs: &[DatasetInput]) -> Result<()>;
    /// Sets the run's status and end time.
    fn end_run(&self, run_id: &str, status: RunStatus, end_time_ms: i64) -> Result<()>;
    /// The active runs of an experiment, newest first, optionally only those with `status`.
    fn search_runs(&self, experiment_id: &str, status: Option<RunStatus>) -> Result<Vec<Run>>;

    /// Copies the regular files below `local_dir` into the run's artifacts under
    /// `artifact_path`. Temp files of unfinished writes are skipped; a symbolic link or any
    /// other non-regular file is refused before anything is copied.
    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: Option<&str>) -> Result<()>;
    /// The files and directories directly in `path` of the run's artifacts ("" = the root).
    fn list_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<ArtifactEntry>>;
    /// A local directory holding the artifact directory `path` of the run: the store's own
    /// directory for a file store, a cached download for a server.
    fn download_artifacts(&self, run_id: &str, path: &str) -> Result<PathBuf>;
    /// The bytes of one (small) artifact file.
    fn read_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>>;

    /// Every registered model.
    fn registered_models(&self) -> Result<Vec<RegisteredModel>>;
    fn get_registered_model(&self, name: &str) -> Result<Option<RegisteredModel>>;
    /// Creates the registered model `name`, or returns it if it exists.
    fn create_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    /// Adds the next version of `name` (which must exist) for the model files at `source`.
    fn create_model_version(&self, name: &str, source: &str, run_id: &str) -> Result<ModelVersion>;
    fn get_model_version(&self, name: &str, version: u32) -> Result<Option<ModelVersion>>;
    /// The versions of `name`, oldest first.
    fn search_model_versions(&self, name: &str) -> Result<Vec<ModelVersion>>;
    /// Points `alias` at `version` (moving it if it pointed elsewhere).
    fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<()>;
    /// The version `alias` points at, if it is set.
    fn get_alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>>;
    fn delete_alias(&self, name: &str, alias: &str) -> Result<()>;
    fn set_model_version_tag(&self, name: &str, version: u32, key: &str, value: &str) -> Result<()>;
    /// A local directory holding the version's model files.
    fn download_model_version(&self, version: &ModelVersion) -> Result<PathBuf>;
}

/// The run's page in the MLflow UI: on the tracking server itself, or on `mlflow ui`'s default
/// address for a file store. The link asks for the classic "Model training" view: MLflow
/// 3.17's UI picks its view from the browser's GenAI / Model training switch (GenAI unless the
/// user changed it) or this query parameter, not from the experiment's kind tag.
pub fn ui_url(tracking_uri: &str, experiment_id: &str, run_id: &str) -> String {
    let base =
        if tracking_uri.starts_with("http") { tracking_uri.trim_end_matches('/') } else { MLFLOW_UI_DEFAULT };
    format!("{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning")
}

/// Where `mlflow ui` listens unless told otherwise.
const MLFLOW_UI_DEFAULT: &str = "http://127.0.0.1:5000";

/// Opens the store for writing (`None` → `$MLFLOW_TRACKING_URI` → `./mlruns`). A file store is
/// created if missing and swept of dead runs (see [`end_dead_runs`]); a server is contacted
/// only by the first call.
pub fn open(tracking_uri: Option<&str>) -> Result<Box<dyn Store>> {
    Ok(match backend(tracking_uri)? {
        Backend::File(root) => swept(file::FileStore::create(&root)?),
        Backend::Rest(base) => Box::new(rest::RestStore::new(&base)),
    })
}

/// Opens a store to read (and register into) without creating one: a file store's root must
/// exist. A file store is swept of dead runs as by [`open`].
pub fn open_existing(tracking_uri: Option<&str>) -> Result<Box<dyn Store>> {
    Ok(match backend(tracking_uri)? {
        Backend::File(root) => swept(file::FileStore::existing(&root)?),
        Backend::Rest(base) => Box::new(rest::RestStore::new(&base)),
    })
}

/// A file store after ending the dead runs of every experiment: reading local directories is
/// cheap, and a store that cannot be written (a read-only mount) is still opened.
fn swept(store: file::FileStore) -> Box<dyn Store> {
    for experiment in store.experiments().unwrap_or_default() {
        let _ = end_dead_runs(&store, &experiment.id);
    }
    Box::new(store)
}
