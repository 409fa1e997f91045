//! Resolving model URIs against a tracking server: find the artifact location through the REST
//! API (runs/get, model-versions, aliases, runs/search) and download the model directory into
//! a local cache (`<temp>/credrisk-models/<key>/`), which appears whole by rename.

use super::mlmodel::MLMODEL_FILE;
use super::resolve::{
    ModelRef, ResolvedModel, describe, list_runs_text, no_finished_run, unknown_name, unknown_version,
};
use super::rest::RestClient;
use super::rest_artifacts::{ArtifactLocation, download_dir};
use super::runs::{json_int, list_rest_runs};
use super::util::new_run_id;
use super::{DEFAULT_EXPERIMENT, MODEL_ARTIFACT_PATH, RunStatus};
use crate::error::{Error, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::PathBuf;

/// Finished runs checked for a model when no URI is given.
const MAX_RUNS_PROBED: usize = 50;

pub fn resolve_over_rest(base: &str, reference: &ModelRef) -> Result<ResolvedModel> {
    let client = RestClient::new(base);
    let (artifact_uri, run_id) = match reference {
        ModelRef::Path(_) => return Err(Error::Internal("a model path needs no server".into())),
        ModelRef::Run { run_id, path } => {
            (format!("{}/{path}", run_artifact_uri(&client, run_id)?), run_id.clone())
        }
        ModelRef::Version { name, .. } | ModelRef::Alias { name, .. } | ModelRef::Latest { name } => {
            registered_version(&client, name, reference)?
        }
        ModelRef::LatestFinishedRun => latest_finished_model(&client)?,
    };
    let location = ArtifactLocation::parse(&artifact_uri)?;
    let dir = download_cached(&client, &location, &artifact_uri)?;
    Ok(ResolvedModel { dir, uri: describe(reference), run_id: Some(run_id) })
}

fn run_artifact_uri(client: &RestClient, run_id: &str) -> Result<String> {
    match client.try_get("mlflow/runs/get", &[("run_id", run_id)]) {
        Ok(answer) => Ok(answer["run"]["info"]["artifact_uri"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string()),
        Err(e) if e.is("RESOURCE_DOES_NOT_EXIST") => {
            let runs = list_rest_runs(client, DEFAULT_EXPERIMENT).unwrap_or_default();
            Err(Error::ModelNotFound(format!(
                "no run {run_id} on {}; {}",
                client.base,
                list_runs_text(&runs)
            )))
        }
        Err(e) => Err(client.error("GET", "mlflow/runs/get", &e)),
    }
}

/// (download URI, run id) of a registered model version, alias or latest version.
fn registered_version(client: &RestClient, name: &str, reference: &ModelRef) -> Result<(String, String)> {
    let model = match client.try_get("mlflow/registered-models/get", &[("name", name)]) {
        Ok(answer) => answer["registered_model"].clone(),
        Err(e) if e.is("RESOURCE_DOES_NOT_EXIST") => {
            return Err(unknown_name(name, &registered_names(client)));
        }
        Err(e) => return Err(client.error("GET", "mlflow/registered-models/get", &e)),
    };
    let versions = version_numbers(client, name)?;
    let aliases: Vec<(String, u32)> = model["aliases"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| {
            Some((a["alias"].as_str()?.to_string(), u32::try_from(json_int(&a["version"])?).ok()?))
        })
        .collect();
    let version = match reference {
        ModelRef::Version { version, .. } => Some(*version).filter(|v| versions.contains(v)),
        ModelRef::Alias { alias, .. } => aliases.iter().find(|(a, _)| a == alias).map(|(_, v)| *v),
        _ => versions.last().copied(),
    };
    let version =
        version.ok_or_else(|| unknown_version(&describe(reference), &versions, &aliases))?.to_string();
    let query = [("name", name), ("version", version.as_str())];
    let mv = client.get("mlflow/model-versions/get", &query)?;
    let run_id = mv["model_version"]["run_id"].as_str().unwrap_or_default().to_string();
    let uri = client.get("mlflow/model-versions/get-download-uri", &query)?;
    let artifact_uri = uri["artifact_uri"].as_str().map(str::to_string).ok_or_else(|| {
        Error::Tracking(format!("{}: no download URI for {}", client.base, describe(reference)))
    })?;
    Ok((artifact_uri, run_id))
}

fn version_numbers(client: &RestClient, name: &str) -> Result<Vec<u32>> {
    let filter = format!("name='{}'", name.replace('\'', "\\'"));
    let answer = client
        .get("mlflow/model-versions/search", &[("filter", filter.as_str()), ("max_results", "10000")])?;
    let mut versions: Vec<u32> = answer["model_versions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| u32::try_from(json_int(&v["version"])?).ok())
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

fn registered_names(client: &RestClient) -> Vec<String> {
    let answer =
        client.get("mlflow/registered-models/search", &[("max_results", "1000")]).unwrap_or(Value::Null);
    answer["registered_models"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["name"].as_str().map(str::to_string))
        .collect()
}

/// The newest FINISHED run of the default experiment whose artifacts hold `model/MLmodel`.
fn latest_finished_model(client: &RestClient) -> Result<(String, String)> {
    let runs = list_rest_runs(client, DEFAULT_EXPERIMENT).map_err(|e| Error::ModelNotFound(e.to_string()))?;
    for run in runs.iter().filter(|r| r.status == RunStatus::Finished).take(MAX_RUNS_PROBED) {
        let query = [("run_id", run.run_id.as_str()), ("path", MODEL_ARTIFACT_PATH)];
        let listing = client.get("mlflow/artifacts/list", &query)?;
        let wanted = format!("{MODEL_ARTIFACT_PATH}/{MLMODEL_FILE}");
        let has_model = listing["files"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["path"].as_str() == Some(&wanted)));
        if has_model {
            let uri = format!("{}/{MODEL_ARTIFACT_PATH}", run.artifact_uri.trim_end_matches('/'));
            return Ok((uri, run.run_id.clone()));
        }
    }
    Err(no_finished_run(&client.base, &runs))
}

/// Downloads the directory once per (server, artifact URI); later calls reuse the copy. The
/// download goes to a staging directory renamed into place when complete, so a crash or a
/// concurrent download never leaves a half model in the cache.
fn download_cached(client: &RestClient, location: &ArtifactLocation, artifact_uri: &str) -> Result<PathBuf> {
    if let ArtifactLocation::Local(dir) = location {
        return Ok(dir.clone());
    }
    let cache_root = std::env::temp_dir().join("credrisk-models");
    let key = hex::encode(&Sha256::digest(format!("{}\n{artifact_uri}", client.base).as_bytes())[..12]);
    let target = cache_root.join(&key);
    if target.join(MLMODEL_FILE).is_file() {
        return Ok(target);
    }
    crate::fsutil::create_dir_all(&cache_root)?;
    let staging = cache_root.join(format!(".{key}-{}", new_run_id()));
    let downloaded = download_dir(client, location, &staging);
    let result = match downloaded {
        Ok(0) => Err(Error::ModelNotFound(format!("{artifact_uri} on {} holds no files", client.base))),
        Ok(_) => match fs::rename(&staging, &target) {
            Ok(()) => Ok(target.clone()),
            // Another process finished the same download first: use its copy.
            Err(_) if target.join(MLMODEL_FILE).is_file() => Ok(target.clone()),
            Err(e) => Err(Error::io(&target, e)),
        },
        Err(e) => Err(e),
    };
    let _ = fs::remove_dir_all(&staging);
    result
}
