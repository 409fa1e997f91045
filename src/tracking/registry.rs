//! The model registry: registering a run's `model/` directory as a new version of a named model
//! and pointing an alias at it, in the file store layout MLflow's client writes (spec §3.8:
//! `models/<name>/meta.yaml`, `version-N/meta.yaml`, `aliases/<alias>`) or through the REST API.

use super::file_store::{FileStore, MODELS_DIR, RunMeta, file_name, read_yaml, store_error, subdirs};
use super::mlmodel::MLMODEL_FILE;
use super::rest::RestClient;
use super::uri::{Backend, backend, path_to_file_uri};
use super::util::{new_run_id, now_ms, validate_alias, validate_model_name, validate_run_id};
use super::yaml::YamlWriter;
use super::{DEFAULT_EXPERIMENT, MODEL_ARTIFACT_PATH, RunStatus};
use crate::error::{Error, Result};
use crate::fsutil;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};

/// Registers `runs:/<run_id>/model` as the next version of `name` (created if needed) and, if
/// given, points `alias` at it. Returns (name, version). The run must be FINISHED and have a
/// model directory with an MLmodel file.
pub fn register_model(
    tracking_uri: Option<&str>,
    run_id: &str,
    name: &str,
    alias: Option<&str>,
) -> Result<(String, u32)> {
    validate_run_id(run_id)?;
    validate_model_name(name)?;
    if let Some(alias) = alias {
        validate_alias(alias)?;
    }
    let version = match backend(tracking_uri)? {
        Backend::File(root) => register_in_files(&FileStore::existing(&root)?, run_id, name, alias)?,
        Backend::Rest(base) => register_over_rest(&RestClient::new(&base), run_id, name, alias)?,
    };
    Ok((name.to_string(), version))
}

fn register_in_files(store: &FileStore, run_id: &str, name: &str, alias: Option<&str>) -> Result<u32> {
    let run = store.find_run(run_id)?.ok_or_else(|| unknown_run_in_files(store, run_id))?;
    check_registrable(run_id, run.status)?;
    let model_dir = run.artifact_dir().join(MODEL_ARTIFACT_PATH);
    if !model_dir.join(MLMODEL_FILE).is_file() {
        return Err(no_model(run_id, &model_dir.display().to_string()));
    }
    let model_root = ensure_registered_model(store, name)?;
    let version = add_version(&model_root, name, &run, &model_dir)?;
    if let Some(alias) = alias {
        set_alias(&model_root, alias, version)?;
    }
    rewrite_model_meta(&model_root, name)?;
    Ok(version)
}

fn check_registrable(run_id: &str, status: RunStatus) -> Result<()> {
    if status == RunStatus::Finished {
        return Ok(());
    }
    Err(Error::Usage(format!("run {run_id} is {status}; only FINISHED runs can be registered")))
}

fn no_model(run_id: &str, place: &str) -> Error {
    Error::ModelNotFound(format!("run {run_id} has no model: {place}/{MLMODEL_FILE} does not exist"))
}

/// A ModelNotFound error listing the runs of the default experiment.
fn unknown_run_in_files(store: &FileStore, run_id: &str) -> Error {
    let runs = super::runs::list_file_runs(store, DEFAULT_EXPERIMENT).unwrap_or_default();
    let listing: Vec<String> =
        runs.iter().take(20).map(|r| format!("{} ({}, {})", r.run_id, r.run_name, r.status)).collect();
    let listing = if listing.is_empty() { "none".to_string() } else { listing.join(", ") };
    Error::ModelNotFound(format!(
        "no run {run_id} in {}; runs of experiment {DEFAULT_EXPERIMENT:?}: {listing}",
        store.root.display()
    ))
}

/// `models/<name>/` with its meta.yaml, created if missing.
fn ensure_registered_model(store: &FileStore, name: &str) -> Result<PathBuf> {
    let models = store.root.join(MODELS_DIR);
    fs::create_dir_all(&models).map_err(|e| store_error(&models, e))?;
    let root = models.join(name);
    match fs::create_dir(&root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && root.is_dir() => {}
        Err(e) => return Err(store_error(&root, e)),
    }
    if !root.join("meta.yaml").exists() {
        rewrite_model_meta(&root, name)?;
    }
    Ok(root)
}

/// Writes the registered model's meta.yaml, keeping its creation time and description and
/// listing the aliases of `aliases/` (which is what MLflow reads them from).
fn rewrite_model_meta(root: &Path, name: &str) -> Result<()> {
    let old = read_yaml(&root.join("meta.yaml")).ok();
    let now = now_ms();
    let created = old.as_ref().and_then(|m| m.int_of("creation_timestamp")).unwrap_or(now);
    let description = old.as_ref().and_then(|m| m.str_of("description")).map(str::to_string);
    let mut w = YamlWriter::new();
    let aliases = read_aliases(root);
    if aliases.is_empty() {
        w.raw("aliases", "{}");
    } else {
        w.map("aliases");
        for (alias, version) in &aliases {
            w.str(alias, &version.to_string());
        }
        w.end();
    }
    w.int("creation_timestamp", created).null("deployment_job_id").null("deployment_job_state");
    match &description {
        Some(d) => w.str("description", d),
        None => w.null("description"),
    };
    w.int("last_updated_timestamp", now).str("name", name).str("workspace", "default");
    fsutil::write_atomic(root.join("meta.yaml"), w.finish().as_bytes())
        .map_err(super::file_store::with_store_hint)
}

/// (alias, version) pairs of a registered model, sorted.
pub fn read_aliases(model_root: &Path) -> Vec<(String, u32)> {
    let mut out: Vec<(String, u32)> = fs::read_dir(model_root.join("aliases"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = fs::read_to_string(e.path()).ok()?.trim().parse().ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), version))
        })
        .collect();
    out.sort();
    out
}

/// The version numbers of a registered model (from its `version-N` directories), ascending.
pub fn read_versions(model_root: &Path) -> Vec<u32> {
    let mut out: Vec<u32> = subdirs(model_root)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| file_name(d).strip_prefix("version-")?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// Creates `version-N` whole: its meta.yaml is written in a staging directory that MLflow
/// ignores (it only reads `version-*`), then renamed into place; a concurrent registration
/// that took N first makes us try N+1.
fn add_version(model_root: &Path, name: &str, run: &RunMeta, model_dir: &Path) -> Result<u32> {
    let staging = model_root.join(format!(".staging-{}", new_run_id()));
    fs::create_dir(&staging).map_err(|e| store_error(&staging, e))?;
    let mut version = read_versions(model_root).last().copied().unwrap_or(0) + 1;
    let result = (|| {
        for _ in 0..1000 {
            let meta = version_meta(name, version, &run.run_id, &path_to_file_uri(model_dir));
            fsutil::write_atomic(staging.join("meta.yaml"), meta.as_bytes())?;
            let target = model_root.join(format!("version-{version}"));
            if !target.exists() && fs::rename(&staging, &target).is_ok() {
                return Ok(version);
            }
            version += 1;
        }
        Err(Error::Tracking(format!("{}: could not find a free version number", model_root.display())))
    })();
    let _ = fs::remove_dir_all(&staging);
    result
}

fn version_meta(name: &str, version: u32, run_id: &str, source: &str) -> String {
    let now = now_ms();
    YamlWriter::new()
        .int("creation_timestamp", now)
        .str("current_stage", "None")
        .null("deployment_job_state")
        .null("description")
        .int("last_updated_timestamp", now)
        .null("model_id")
        .str("name", name)
        .str("run_id", run_id)
        .null("run_link")
        .str("source", source)
        .str("status", "READY")
        .null("status_message")
        .str("storage_location", source)
        .null("user_id")
        .int("version", i64::from(version))
        .str("workspace", "default")
        .finish()
}

/// `aliases/<alias>` holds the version number (written via a temp file outside `aliases/`, so a
/// crash never leaves a stray alias behind).
fn set_alias(model_root: &Path, alias: &str, version: u32) -> Result<()> {
    let dir = model_root.join("aliases");
    fs::create_dir_all(&dir).map_err(|e| store_error(&dir, e))?;
    let temp = model_root.join(format!(".alias-{}.tmp", new_run_id()));
    fs::write(&temp, version.to_string()).map_err(|e| store_error(&temp, e))?;
    fs::rename(&temp, dir.join(alias)).map_err(|e| {
        let _ = fs::remove_file(&temp);
        store_error(&dir.join(alias), e)
    })
}

fn register_over_rest(client: &RestClient, run_id: &str, name: &str, alias: Option<&str>) -> Result<u32> {
    let run = match client.try_get("mlflow/runs/get", &[("run_id", run_id)]) {
        Ok(answer) => answer["run"].clone(),
        Err(e) if e.is("RESOURCE_DOES_NOT_EXIST") => return Err(unknown_run_over_rest(client, run_id)),
        Err(e) => return Err(client.error("GET", "mlflow/runs/get", &e)),
    };
    let status = RunStatus::parse(run["info"]["status"].as_str().unwrap_or("")).unwrap_or(RunStatus::Running);
    check_registrable(run_id, status)?;
    let artifact_uri =
        run["info"]["artifact_uri"].as_str().unwrap_or_default().trim_end_matches('/').to_string();
    let listing =
        client.get("mlflow/artifacts/list", &[("run_id", run_id), ("path", MODEL_ARTIFACT_PATH)])?;
    let has_mlmodel = listing["files"].as_array().is_some_and(|files| {
        files.iter().any(|f| f["path"].as_str() == Some(&format!("{MODEL_ARTIFACT_PATH}/{MLMODEL_FILE}")))
    });
    if !has_mlmodel {
        return Err(no_model(run_id, &format!("{artifact_uri}/{MODEL_ARTIFACT_PATH}")));
    }
    match client.try_post("mlflow/registered-models/create", &json!({"name": name})) {
        Ok(_) => {}
        Err(e) if e.is("RESOURCE_ALREADY_EXISTS") => {}
        Err(e) => return Err(client.error("POST", "mlflow/registered-models/create", &e)),
    }
    let body =
        json!({"name": name, "source": format!("{artifact_uri}/{MODEL_ARTIFACT_PATH}"), "run_id": run_id});
    let answer = client.post("mlflow/model-versions/create", &body)?;
    let version_json = &answer["model_version"]["version"];
    let version =
        super::runs::json_int(version_json).and_then(|v| u32::try_from(v).ok()).ok_or_else(|| {
            Error::Tracking(format!("model-versions/create answered without a version: {answer}"))
        })?;
    if let Some(alias) = alias {
        let body = json!({"name": name, "alias": alias, "version": version.to_string()});
        client.post("mlflow/registered-models/alias", &body)?;
    }
    Ok(version)
}

fn unknown_run_over_rest(client: &RestClient, run_id: &str) -> Error {
    let runs = super::runs::list_rest_runs(client, DEFAULT_EXPERIMENT).unwrap_or_default();
    let listing: Vec<String> =
        runs.iter().take(20).map(|r| format!("{} ({}, {})", r.run_id, r.run_name, r.status)).collect();
    let listing = if listing.is_empty() { "none".to_string() } else { listing.join(", ") };
    Error::ModelNotFound(format!(
        "no run {run_id} on {}; runs of experiment {DEFAULT_EXPERIMENT:?}: {listing}",
        client.base
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_aliases_are_read_from_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        for v in [1, 2, 10] {
            fs::create_dir_all(dir.path().join(format!("version-{v}"))).unwrap();
        }
        fs::create_dir_all(dir.path().join(".staging-x")).unwrap();
        assert_eq!(read_versions(dir.path()), [1, 2, 10]);
        set_alias(dir.path(), "champion", 2).unwrap();
        set_alias(dir.path(), "champion", 10).unwrap();
        assert_eq!(read_aliases(dir.path()), [("champion".to_string(), 10)]);
        assert_eq!(fs::read_to_string(dir.path().join("aliases/champion")).unwrap(), "10");
    }
}
