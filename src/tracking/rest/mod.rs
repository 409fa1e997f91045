//! The REST backend: an MLflow tracking server (`http://host:port`) through its REST API and its
//! artifact proxy (spec §7). `client` holds the HTTP side; `runs`, `artifacts` and `registry`
//! implement the rest of [`Store`].

mod artifacts;
mod client;
mod registry;
mod runs;

use super::Store;
use super::entities::{
    ArtifactEntry, Batch, DatasetInput, Experiment, ModelVersion, NewRun, RegisteredModel, Run, RunInfo,
    RunStatus,
};
use crate::error::Result;
use client::RestClient;
use std::path::{Path, PathBuf};

pub struct RestStore {
    client: RestClient,
}

impl RestStore {
    /// A store on the server at `base`; nothing is sent until the first call.
    pub fn new(base: &str) -> RestStore {
        RestStore { client: RestClient::new(base) }
    }
}

impl Store for RestStore {
    fn uri(&self) -> String {
        self.client.base.clone()
    }

    fn experiments(&self) -> Result<Vec<Experiment>> {
        RestStore::experiments(self)
    }

    fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        RestStore::experiment_by_name(self, name)
    }

    fn get_or_create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<Experiment> {
        RestStore::get_or_create_experiment(self, name, tags)
    }

    fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()> {
        RestStore::set_experiment_tag(self, experiment_id, key, value)
    }

    fn create_run(&self, experiment_id: &str, run: &NewRun) -> Result<RunInfo> {
        RestStore::create_run(self, experiment_id, run)
    }

    fn get_run(&self, run_id: &str) -> Result<Option<Run>> {
        RestStore::get_run(self, run_id)
    }

    fn log_batch(&self, run_id: &str, batch: &Batch) -> Result<()> {
        RestStore::log_batch(self, run_id, batch)
    }

    fn log_inputs(&self, run_id: &str, inputs: &[DatasetInput]) -> Result<()> {
        RestStore::log_inputs(self, run_id, inputs)
    }

    fn end_run(&self, run_id: &str, status: RunStatus, end_time_ms: i64) -> Result<()> {
        RestStore::end_run(self, run_id, status, end_time_ms)
    }

    fn search_runs(&self, experiment_id: &str, status: Option<RunStatus>) -> Result<Vec<Run>> {
        RestStore::search_runs(self, experiment_id, status)
    }

    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: Option<&str>) -> Result<()> {
        RestStore::log_artifacts(self, run_id, local_dir, artifact_path)
    }

    fn list_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<ArtifactEntry>> {
        RestStore::list_artifacts(self, run_id, path)
    }

    fn download_artifacts(&self, run_id: &str, path: &str) -> Result<PathBuf> {
        RestStore::download_artifacts(self, run_id, path)
    }

    fn read_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>> {
        RestStore::read_artifact(self, run_id, path)
    }

    fn registered_models(&self) -> Result<Vec<RegisteredModel>> {
        RestStore::registered_models(self)
    }

    fn get_registered_model(&self, name: &str) -> Result<Option<RegisteredModel>> {
        RestStore::get_registered_model(self, name)
    }

    fn create_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        RestStore::create_registered_model(self, name)
    }

    fn create_model_version(&self, name: &str, source: &str, run_id: &str) -> Result<ModelVersion> {
        RestStore::create_model_version(self, name, source, run_id)
    }

    fn get_model_version(&self, name: &str, version: u32) -> Result<Option<ModelVersion>> {
        RestStore::get_model_version(self, name, version)
    }

    fn search_model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        RestStore::search_model_versions(self, name)
    }

    fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<()> {
        RestStore::set_alias(self, name, alias, version)
    }

    fn get_alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>> {
        RestStore::get_alias(self, name, alias)
    }

    fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        RestStore::delete_alias(self, name, alias)
    }

    fn set_model_version_tag(&self, name: &str, version: u32, key: &str, value: &str) -> Result<()> {
        RestStore::set_model_version_tag(self, name, version, key, value)
    }

    fn download_model_version(&self, version: &ModelVersion) -> Result<PathBuf> {
        RestStore::download_model_version(self, version)
    }
}
