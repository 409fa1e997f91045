//! The file store backend: an MLflow 3.17 file store (`./mlruns`) written so that MLflow's own
//! client, server and `migrate-filestore` read it as theirs, at every instant, even while a
//! writer is killed. `store` holds the layout, experiments and the lock; `runs`, `artifacts`
//! and `registry` the rest of [`Store`].

mod artifacts;
mod registry;
mod runs;
mod store;

pub use store::FileStore;

use super::Store;
use super::entities::{
    ArtifactEntry, Batch, DatasetInput, Experiment, ModelVersion, NewRun, RegisteredModel, Run, RunInfo,
    RunStatus,
};
use super::uri::path_to_file_uri;
use crate::error::Result;
use std::path::{Path, PathBuf};

impl Store for FileStore {
    fn uri(&self) -> String {
        path_to_file_uri(&self.root)
    }

    fn experiments(&self) -> Result<Vec<Experiment>> {
        Ok(FileStore::experiments(self)?.iter().map(|e| e.to_entity()).collect())
    }

    fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        Ok(FileStore::experiment_by_name(self, name)?.map(|e| e.to_entity()))
    }

    fn get_or_create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<Experiment> {
        Ok(FileStore::get_or_create_experiment(self, name, tags)?.to_entity())
    }

    fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()> {
        FileStore::set_experiment_tag(self, experiment_id, key, value)
    }

    fn create_run(&self, experiment_id: &str, run: &NewRun) -> Result<RunInfo> {
        FileStore::create_run(self, experiment_id, run)
    }

    fn get_run(&self, run_id: &str) -> Result<Option<Run>> {
        FileStore::get_run(self, run_id)
    }

    fn log_batch(&self, run_id: &str, batch: &Batch) -> Result<()> {
        FileStore::log_batch(self, run_id, batch)
    }

    fn log_inputs(&self, run_id: &str, inputs: &[DatasetInput]) -> Result<()> {
        FileStore::log_inputs(self, run_id, inputs)
    }

    fn end_run(&self, run_id: &str, status: RunStatus, end_time_ms: i64) -> Result<()> {
        FileStore::end_run(self, run_id, status, end_time_ms)
    }

    fn search_runs(&self, experiment_id: &str, status: Option<RunStatus>) -> Result<Vec<Run>> {
        FileStore::search_runs(self, experiment_id, status)
    }

    fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: Option<&str>) -> Result<()> {
        FileStore::log_artifacts(self, run_id, local_dir, artifact_path)
    }

    fn list_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<ArtifactEntry>> {
        FileStore::list_artifacts(self, run_id, path)
    }

    fn download_artifacts(&self, run_id: &str, path: &str) -> Result<PathBuf> {
        FileStore::download_artifacts(self, run_id, path)
    }

    fn read_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>> {
        FileStore::read_artifact(self, run_id, path)
    }

    fn registered_models(&self) -> Result<Vec<RegisteredModel>> {
        FileStore::registered_models(self)
    }

    fn get_registered_model(&self, name: &str) -> Result<Option<RegisteredModel>> {
        FileStore::get_registered_model(self, name)
    }

    fn create_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        FileStore::create_registered_model(self, name)
    }

    fn create_model_version(&self, name: &str, source: &str, run_id: &str) -> Result<ModelVersion> {
        FileStore::create_model_version(self, name, source, run_id)
    }

    fn get_model_version(&self, name: &str, version: u32) -> Result<Option<ModelVersion>> {
        FileStore::get_model_version(self, name, version)
    }

    fn search_model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        FileStore::search_model_versions(self, name)
    }

    fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<()> {
        FileStore::set_alias(self, name, alias, version)
    }

    fn get_alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>> {
        FileStore::get_alias(self, name, alias)
    }

    fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        FileStore::delete_alias(self, name, alias)
    }

    fn set_model_version_tag(&self, name: &str, version: u32, key: &str, value: &str) -> Result<()> {
        FileStore::set_model_version_tag(self, name, version, key, value)
    }

    fn download_model_version(&self, version: &ModelVersion) -> Result<PathBuf> {
        FileStore::download_model_version(self, version)
    }
}
