//! The one model resolver of `explain`, `serve` and friends: a model directory path,
//! `runs:/<run_id>/<path>`, `models:/<name>/<version>`, `models:/<name>@<alias>`,
//! `models:/<name>/latest`, or nothing (= the latest FINISHED run of experiment `credrisk` that
//! has a model) → a local model directory. Unknown runs, names, versions and aliases are
//! `Error::ModelNotFound` listing what exists.

use super::mlmodel::{MLMODEL_FILE, read_mlmodel};
use super::runs::{end_dead_runs, list_runs_text, unknown_run};
use super::uri::file_uri_to_path;
use super::util::{validate_alias, validate_run_id};
use super::{
    DEFAULT_EXPERIMENT, Lifecycle, MODEL_ARTIFACT_PATH, ModelVersion, RunStatus, Store, open_existing,
};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// FINISHED runs checked for a model when no URI is given (newest first).
const MAX_RUNS_PROBED: usize = 50;

/// A model found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The local model directory (holds MLmodel and the payload).
    pub dir: PathBuf,
    /// What was resolved, as a URI (`runs:/…/model`, `models:/…`, or the directory).
    pub uri: String,
    /// The run that produced the model, when known (from the registry or MLmodel).
    pub run_id: Option<String>,
    /// The registered model's name and version, when resolved through the registry.
    pub registered: Option<(String, u32)>,
}

/// A parsed model URI.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModelRef {
    Path(PathBuf),
    Run { run_id: String, path: String },
    Version { name: String, version: u32 },
    Alias { name: String, alias: String },
    Latest { name: String },
    LatestFinishedRun,
}

/// Resolves `model_uri` (see the module doc) against `tracking_uri`. The model directory must
/// hold an MLmodel file, and one written for the run the URI names.
pub fn resolve_model(model_uri: Option<&str>, tracking_uri: Option<&str>) -> Result<ResolvedModel> {
    let reference = parse_model_uri(model_uri)?;
    if let ModelRef::Path(path) = &reference {
        return resolve_path(path);
    }
    resolve_in_store(&reference, tracking_uri)
}

fn resolve_in_store(reference: &ModelRef, tracking_uri: Option<&str>) -> Result<ResolvedModel> {
    let store = open_existing(tracking_uri).map_err(|e| match e {
        Error::Usage(message) => {
            Error::ModelNotFound(format!("{message}; cannot look up {} there", describe(reference)))
        }
        other => other,
    })?;
    let store = store.as_ref();
    let mut registered = None;
    let (dir, run_id) = match reference {
        ModelRef::Path(path) => return resolve_path(path),
        ModelRef::Run { run_id, path } => {
            store.get_run(run_id)?.ok_or_else(|| unknown_run(store, run_id))?;
            (store.download_artifacts(run_id, path)?, Some(run_id.clone()))
        }
        ModelRef::Version { name, .. } | ModelRef::Alias { name, .. } | ModelRef::Latest { name } => {
            let version = registered_version(store, name, reference)?;
            registered = Some((version.name.clone(), version.version));
            (store.download_model_version(&version)?, version.run_id)
        }
        ModelRef::LatestFinishedRun => latest_finished_model(store)?,
    };
    // The default names what it resolved to, so an answer says which run it came from.
    let uri = match (reference, &run_id) {
        (ModelRef::LatestFinishedRun, Some(id)) => format!("runs:/{id}/model"),
        _ => describe(reference),
    };
    let written_by = check_model_dir(&dir, &uri, run_id.as_deref())?;
    Ok(ResolvedModel { dir, uri, run_id: run_id.or(written_by), registered })
}

fn parse_model_uri(model_uri: Option<&str>) -> Result<ModelRef> {
    let Some(uri) = model_uri.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(ModelRef::LatestFinishedRun);
    };
    if let Some(rest) = uri.strip_prefix("runs:/") {
        let (run_id, path) = rest.trim_start_matches('/').split_once('/').unwrap_or((rest, ""));
        validate_run_id(run_id)?;
        let path = path.trim_matches('/');
        if path.split('/').any(|p| p == "." || p == "..") {
            return Err(Error::Usage(format!(
                "model URI {uri}: the artifact path must not contain '.' or '..'"
            )));
        }
        let path = if path.is_empty() { MODEL_ARTIFACT_PATH } else { path };
        return Ok(ModelRef::Run { run_id: run_id.to_string(), path: path.to_string() });
    }
    if let Some(rest) = uri.strip_prefix("models:/") {
        return parse_registry_uri(uri, rest.trim_matches('/'));
    }
    if uri.starts_with("file:") {
        return Ok(ModelRef::Path(file_uri_to_path(uri)?));
    }
    if let Some((scheme, _)) = uri.split_once(":/")
        && scheme.len() > 1
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err(Error::Usage(format!(
            "model URI {uri}: expected a model directory, runs:/<run_id>/model, models:/<name>/<version> \
             or models:/<name>@<alias>"
        )));
    }
    Ok(ModelRef::Path(PathBuf::from(uri)))
}

fn parse_registry_uri(uri: &str, rest: &str) -> Result<ModelRef> {
    let bad = || {
        Error::Usage(format!(
            "model URI {uri}: expected models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/latest"
        ))
    };
    if let Some((name, alias)) = rest.split_once('@') {
        if name.is_empty() || name.contains('/') {
            return Err(bad());
        }
        validate_alias(alias).map_err(|e| Error::Usage(format!("model URI {uri}: {e}")))?;
        return Ok(ModelRef::Alias { name: name.to_string(), alias: alias.to_string() });
    }
    let (name, version) = rest.split_once('/').ok_or_else(bad)?;
    if name.is_empty() || version.contains('/') {
        return Err(bad());
    }
    if version.eq_ignore_ascii_case("latest") {
        return Ok(ModelRef::Latest { name: name.to_string() });
    }
    let version = version.parse::<u32>().ok().filter(|v| *v > 0).ok_or_else(bad)?;
    Ok(ModelRef::Version { name: name.to_string(), version })
}

fn describe(reference: &ModelRef) -> String {
    match reference {
        ModelRef::Path(p) => p.display().to_string(),
        ModelRef::Run { run_id, path } => format!("runs:/{run_id}/{path}"),
        ModelRef::Version { name, version } => format!("models:/{name}/{version}"),
        ModelRef::Alias { name, alias } => format!("models:/{name}@{alias}"),
        ModelRef::Latest { name } => format!("models:/{name}/latest"),
        ModelRef::LatestFinishedRun => {
            format!("the latest FINISHED run of experiment {DEFAULT_EXPERIMENT:?}")
        }
    }
}

/// A directory given directly (or a file inside it, e.g. the payload).
fn resolve_path(path: &Path) -> Result<ResolvedModel> {
    let dir = if path.is_file() {
        path.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        path.to_path_buf()
    };
    if !dir.is_dir() {
        return Err(Error::ModelNotFound(format!("model directory {} does not exist", path.display())));
    }
    let run_id = if dir.join(MLMODEL_FILE).is_file() { read_mlmodel(&dir)?.run_id } else { None };
    Ok(ResolvedModel { uri: dir.display().to_string(), dir, run_id, registered: None })
}

/// A resolved directory must hold a model (a readable MLmodel with flavors) written for the run
/// the URI leads to. Returns the run the MLmodel names.
fn check_model_dir(dir: &Path, uri: &str, run_id: Option<&str>) -> Result<Option<String>> {
    if !dir.join(MLMODEL_FILE).is_file() {
        return Err(Error::ModelNotFound(format!("{uri} ({}) holds no {MLMODEL_FILE} file", dir.display())));
    }
    let written_by = read_mlmodel(dir)?.run_id;
    if let (Some(expected), Some(actual)) = (run_id, written_by.as_deref())
        && expected != actual
    {
        return Err(Error::bad_file(
            dir.join(MLMODEL_FILE),
            format!(
                "{uri} belongs to run {expected}, but its model was written by run {actual}: the run \
                 holds another run's model; use runs:/{actual}/model or retrain"
            ),
        ));
    }
    Ok(written_by)
}

/// The registered version a `models:/` reference names.
fn registered_version(store: &dyn Store, name: &str, reference: &ModelRef) -> Result<ModelVersion> {
    let Some(model) = store.get_registered_model(name)? else {
        let names: Vec<String> =
            store.registered_models().unwrap_or_default().into_iter().map(|m| m.name).collect();
        return Err(unknown_name(name, &names));
    };
    let versions = store.search_model_versions(name)?;
    let wanted = match reference {
        ModelRef::Version { version, .. } => Some(*version),
        ModelRef::Alias { alias, .. } => model.aliases.get(alias).copied(),
        _ => versions.last().map(|v| v.version),
    };
    let numbers: Vec<u32> = versions.iter().map(|v| v.version).collect();
    versions.into_iter().find(|v| Some(v.version) == wanted).ok_or_else(|| {
        let aliases: Vec<(String, u32)> = model.aliases.into_iter().collect();
        unknown_version(&describe(reference), &numbers, &aliases)
    })
}

/// The newest FINISHED run of the default experiment whose artifacts hold `model/MLmodel`.
fn latest_finished_model(store: &dyn Store) -> Result<(PathBuf, Option<String>)> {
    let experiment =
        store.experiment_by_name(DEFAULT_EXPERIMENT)?.filter(|e| e.lifecycle == Lifecycle::Active);
    let runs = match &experiment {
        Some(exp) => {
            let _ = end_dead_runs(store, &exp.id);
            store.search_runs(&exp.id, None)?
        }
        None => Vec::new(),
    };
    let wanted = format!("{MODEL_ARTIFACT_PATH}/{MLMODEL_FILE}");
    for run in runs.iter().filter(|r| r.info.status == RunStatus::Finished).take(MAX_RUNS_PROBED) {
        let listed = store.list_artifacts(&run.info.run_id, MODEL_ARTIFACT_PATH)?;
        if listed.iter().any(|e| e.path == wanted && !e.is_dir) {
            let dir = store.download_artifacts(&run.info.run_id, MODEL_ARTIFACT_PATH)?;
            return Ok((dir, Some(run.info.run_id.clone())));
        }
    }
    Err(Error::ModelNotFound(format!(
        "no FINISHED run with a model in experiment {DEFAULT_EXPERIMENT:?} at {}; {}",
        store.uri(),
        list_runs_text(&runs)
    )))
}

/// "no registered model named …" with the names there are.
pub(crate) fn unknown_name(name: &str, names: &[String]) -> Error {
    let listing = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    Error::ModelNotFound(format!("no registered model named {name:?} (registered models: {listing})"))
}

fn unknown_version(what: &str, versions: &[u32], aliases: &[(String, u32)]) -> Error {
    let versions: Vec<String> = versions.iter().map(u32::to_string).collect();
    let aliases: Vec<String> = aliases.iter().map(|(a, v)| format!("{a} → {v}")).collect();
    let or_none = |v: Vec<String>| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    Error::ModelNotFound(format!(
        "{what} does not exist (versions: {}; aliases: {})",
        or_none(versions),
        or_none(aliases)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_uris_parse() {
        let run = "0a829a8aa21342e0897e50a07363a0b4";
        assert_eq!(parse_model_uri(None).unwrap(), ModelRef::LatestFinishedRun);
        assert_eq!(
            parse_model_uri(Some(&format!("runs:/{run}/model"))).unwrap(),
            ModelRef::Run { run_id: run.into(), path: "model".into() }
        );
        assert_eq!(
            parse_model_uri(Some(&format!("runs:/{run}"))).unwrap(),
            ModelRef::Run { run_id: run.into(), path: "model".into() }
        );
        assert_eq!(
            parse_model_uri(Some("models:/credrisk-model/3")).unwrap(),
            ModelRef::Version { name: "credrisk-model".into(), version: 3 }
        );
        assert_eq!(
            parse_model_uri(Some("models:/credrisk-model@champion")).unwrap(),
            ModelRef::Alias { name: "credrisk-model".into(), alias: "champion".into() }
        );
        assert_eq!(parse_model_uri(Some("models:/m/latest")).unwrap(), ModelRef::Latest { name: "m".into() });
        assert_eq!(parse_model_uri(Some("outputs/model")).unwrap(), ModelRef::Path("outputs/model".into()));
        assert_eq!(parse_model_uri(Some("file:///a/b")).unwrap(), ModelRef::Path("/a/b".into()));
        for bad in [
            "models:/x",
            "models:/x/0",
            "models:/x/one",
            "models:/x@",
            "models:/x@latest",
            "runs:/../x",
            "s3://bucket/model",
            &format!("runs:/{run}/../etc"),
        ] {
            assert!(parse_model_uri(Some(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_missing_directory_is_model_not_found() {
        let err = resolve_model(Some("/nonexistent/credrisk/model"), None).unwrap_err();
        assert!(matches!(err, Error::ModelNotFound(_)), "{err}");
    }
}
