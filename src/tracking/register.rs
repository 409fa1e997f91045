//! Registering a run's model over any [`Store`]: a FINISHED run whose `model/MLmodel` names that
//! same run becomes the next version of a registered model (created if needed), optionally with
//! an alias pointing at it.

use super::mlmodel::{MLMODEL_FILE, parse_mlmodel};
use super::runs::unknown_run;
use super::util::{validate_alias, validate_model_name, validate_run_id};
use super::{MODEL_ARTIFACT_PATH, RunStatus, Store, open_existing};
use crate::error::{Error, Result};

/// Registers `runs:/<run_id>/model` as the next version of `name` and, if given, points `alias`
/// at it. Returns (name, version). Every check happens before anything is written.
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
    let store = open_existing(tracking_uri)?;
    let store = store.as_ref();
    let run = store.get_run(run_id)?.ok_or_else(|| unknown_run(store, run_id))?;
    if run.info.status != RunStatus::Finished {
        return Err(Error::Usage(format!(
            "run {run_id} is {}; only FINISHED runs can be registered",
            run.info.status
        )));
    }
    check_model_is_the_runs(store, run_id, &run.info.artifact_uri)?;
    store.create_registered_model(name)?;
    let source = format!("{}/{MODEL_ARTIFACT_PATH}", run.info.artifact_uri.trim_end_matches('/'));
    let version = store.create_model_version(name, &source, run_id)?;
    if let Some(alias) = alias {
        store.set_alias(name, alias, version.version)?;
    }
    Ok((name.to_string(), version.version))
}

/// The run has `model/MLmodel`, and that MLmodel was written for this run (a model directory
/// copied from another run would deploy the wrong model under this run's name).
fn check_model_is_the_runs(store: &dyn Store, run_id: &str, artifact_uri: &str) -> Result<()> {
    let wanted = format!("{MODEL_ARTIFACT_PATH}/{MLMODEL_FILE}");
    let listed = store.list_artifacts(run_id, MODEL_ARTIFACT_PATH)?;
    if !listed.iter().any(|e| e.path == wanted && !e.is_dir) {
        return Err(Error::ModelNotFound(format!(
            "run {run_id} has no model: {}/{wanted} does not exist",
            artifact_uri.trim_end_matches('/')
        )));
    }
    let place = format!("runs:/{run_id}/{wanted}");
    let text = String::from_utf8(store.read_artifact(run_id, &wanted)?)
        .map_err(|_| Error::bad_file(&place, "is not UTF-8 text"))?;
    match parse_mlmodel(&text, &place)?.run_id {
        Some(other) if other != run_id => Err(Error::bad_file(
            &place,
            format!(
                "this model was written by run {other}, not run {run_id}: the run holds another run's \
                 model; register run {other} instead, or retrain"
            ),
        )),
        _ => Ok(()),
    }
}
