//! The one model resolver of `explain`, `serve` and friends: a model directory path,
//! `runs:/<run_id>/<path>`, `models:/<name>/<version>`, `models:/<name>@<alias>`,
//! `models:/<name>/latest`, or nothing (= the latest FINISHED run of experiment `credrisk` that
//! has a model) → a local model directory. Unknown runs, names, versions and aliases are
//! `Error::ModelNotFound` listing what exists.

use super::file_store::{FileStore, MODELS_DIR, read_yaml};
use super::mlmodel::{MLMODEL_FILE, read_mlmodel};
use super::registry::{read_aliases, read_versions};
use super::runs::{RunSummary, list_file_runs};
use super::uri::{Backend, backend, file_uri_to_path};
use super::util::{validate_alias, validate_run_id};
use super::{DEFAULT_EXPERIMENT, MODEL_ARTIFACT_PATH, RunStatus};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A model found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The local model directory (holds MLmodel and the payload).
    pub dir: PathBuf,
    /// What was resolved, as a URI (`runs:/…/model`, `models:/…`, or the directory).
    pub uri: String,
    /// The run that produced the model, when known (from the registry or MLmodel).
    pub run_id: Option<String>,
}

/// A parsed model URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ModelRef {
    Path(PathBuf),
    Run { run_id: String, path: String },
    Version { name: String, version: u32 },
    Alias { name: String, alias: String },
    Latest { name: String },
    LatestFinishedRun,
}

/// Resolves `model_uri` (see the module doc) against `tracking_uri`.
pub fn resolve_model(model_uri: Option<&str>, tracking_uri: Option<&str>) -> Result<ResolvedModel> {
    let reference = parse_model_uri(model_uri)?;
    if let ModelRef::Path(path) = &reference {
        return resolve_path(path);
    }
    let resolved = match backend(tracking_uri)? {
        Backend::File(root) => {
            if !root.is_dir() {
                return Err(Error::ModelNotFound(format!(
                    "no MLflow store at {} to look up {}; train a model first, or pass --tracking-uri \
                     or a model directory",
                    root.display(),
                    describe(&reference)
                )));
            }
            resolve_in_files(&FileStore { root }, &reference)?
        }
        Backend::Rest(base) => super::resolve_rest::resolve_over_rest(&base, &reference)?,
    };
    check_model_dir(&resolved.dir, &resolved.uri)?;
    Ok(resolved)
}

pub(super) fn parse_model_uri(model_uri: Option<&str>) -> Result<ModelRef> {
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

pub(super) fn describe(reference: &ModelRef) -> String {
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
    Ok(ResolvedModel { uri: dir.display().to_string(), dir, run_id })
}

/// A resolved directory must hold a model: a readable MLmodel with flavors.
fn check_model_dir(dir: &Path, uri: &str) -> Result<()> {
    if !dir.join(MLMODEL_FILE).is_file() {
        return Err(Error::ModelNotFound(format!("{uri} ({}) holds no {MLMODEL_FILE} file", dir.display())));
    }
    read_mlmodel(dir).map(|_| ())
}

fn resolve_in_files(store: &FileStore, reference: &ModelRef) -> Result<ResolvedModel> {
    match reference {
        ModelRef::Path(path) => resolve_path(path),
        ModelRef::Run { run_id, path } => {
            let run = store.find_run(run_id)?.ok_or_else(|| unknown_run(run_id, &store.root, store))?;
            Ok(ResolvedModel {
                dir: run.artifact_dir().join(path),
                uri: describe(reference),
                run_id: Some(run_id.clone()),
            })
        }
        ModelRef::Version { name, .. } | ModelRef::Alias { name, .. } | ModelRef::Latest { name } => {
            resolve_registered(store, name, reference)
        }
        ModelRef::LatestFinishedRun => {
            let runs =
                list_file_runs(store, DEFAULT_EXPERIMENT).map_err(|e| Error::ModelNotFound(e.to_string()))?;
            let found = runs.iter().find(|r| {
                r.status == RunStatus::Finished
                    && file_uri_to_path(&r.artifact_uri)
                        .is_ok_and(|d| d.join(MODEL_ARTIFACT_PATH).join(MLMODEL_FILE).is_file())
            });
            let run = found.ok_or_else(|| no_finished_run(&store.root.display().to_string(), &runs))?;
            let artifacts = file_uri_to_path(&run.artifact_uri)?;
            Ok(ResolvedModel {
                dir: artifacts.join(MODEL_ARTIFACT_PATH),
                uri: format!("runs:/{}/{MODEL_ARTIFACT_PATH}", run.run_id),
                run_id: Some(run.run_id.clone()),
            })
        }
    }
}

fn resolve_registered(store: &FileStore, name: &str, reference: &ModelRef) -> Result<ResolvedModel> {
    let model_root = store.root.join(MODELS_DIR).join(name);
    if name.contains(['/', '\\']) || name.starts_with('.') || !model_root.join("meta.yaml").is_file() {
        return Err(unknown_name(name, &registered_names(store)));
    }
    let versions = read_versions(&model_root);
    let aliases = read_aliases(&model_root);
    let version = match reference {
        ModelRef::Version { version, .. } => Some(*version).filter(|v| versions.contains(v)),
        ModelRef::Alias { alias, .. } => aliases.iter().find(|(a, _)| a == alias).map(|(_, v)| *v),
        _ => versions.last().copied(),
    };
    let version = version.ok_or_else(|| unknown_version(&describe(reference), &versions, &aliases))?;
    let meta_path = model_root.join(format!("version-{version}")).join("meta.yaml");
    let meta = read_yaml(&meta_path)?;
    let source = meta
        .str_of("storage_location")
        .filter(|s| s.starts_with("file:") || s.starts_with('/'))
        .or_else(|| meta.str_of("source"))
        .ok_or_else(|| Error::bad_file(&meta_path, "the model version has no source"))?;
    let run_id = meta.str_of("run_id").map(str::to_string);
    let dir = if let Some(run_ref) = source.strip_prefix("runs:/") {
        let inner = parse_model_uri(Some(&format!("runs:/{run_ref}")))?;
        resolve_in_files(store, &inner)?.dir
    } else if source.starts_with("file:") {
        file_uri_to_path(source)?
    } else if source.starts_with('/') {
        PathBuf::from(source)
    } else {
        return Err(Error::Tracking(format!(
            "{}: version {version} of {name:?} points at {source}, which credrisk cannot read \
             (MLflow-3 logged models and remote stores are not supported)",
            meta_path.display()
        )));
    };
    Ok(ResolvedModel { dir, uri: describe(reference), run_id })
}

fn registered_names(store: &FileStore) -> Vec<String> {
    super::file_store::subdirs(&store.root.join(MODELS_DIR))
        .unwrap_or_default()
        .iter()
        .filter(|d| d.join("meta.yaml").is_file())
        .map(|d| super::file_store::file_name(d))
        .collect()
}

fn unknown_run(run_id: &str, root: &Path, store: &FileStore) -> Error {
    let runs = list_file_runs(store, DEFAULT_EXPERIMENT).unwrap_or_default();
    Error::ModelNotFound(format!("no run {run_id} in {}; {}", root.display(), list_runs_text(&runs)))
}

pub(super) fn list_runs_text(runs: &[RunSummary]) -> String {
    if runs.is_empty() {
        return format!("experiment {DEFAULT_EXPERIMENT:?} has no runs");
    }
    let shown: Vec<String> =
        runs.iter().take(20).map(|r| format!("{} ({}, {})", r.run_id, r.run_name, r.status)).collect();
    let more = if runs.len() > 20 { format!(" and {} more", runs.len() - 20) } else { String::new() };
    format!("runs of experiment {DEFAULT_EXPERIMENT:?}: {}{more}", shown.join(", "))
}

pub(super) fn no_finished_run(store: &str, runs: &[RunSummary]) -> Error {
    Error::ModelNotFound(format!(
        "no FINISHED run with a model in experiment {DEFAULT_EXPERIMENT:?} at {store}; {}",
        list_runs_text(runs)
    ))
}

pub(super) fn unknown_name(name: &str, names: &[String]) -> Error {
    let listing = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    Error::ModelNotFound(format!("no registered model named {name:?} (registered models: {listing})"))
}

pub(super) fn unknown_version(what: &str, versions: &[u32], aliases: &[(String, u32)]) -> Error {
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
