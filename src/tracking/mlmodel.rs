//! The `MLmodel` file of a credrisk model directory: an MLflow-2 style model with one custom
//! `credrisk` flavor naming the payload file and its format, plus the run id (spec §3.6).
//! MLflow downloads, registers and shows it; `mlflow.pyfunc` cannot load it (no python flavor).

use super::util::{new_run_id, now_ms, utc_timestamp, validate_run_id};
use super::yaml::YamlWriter;
use crate::error::{Error, Result};
use crate::fsutil;
use std::path::Path;

pub const MLMODEL_FILE: &str = "MLmodel";
pub const FLAVOR: &str = "credrisk";

/// Writes `<model_dir>/MLmodel` (atomically) for the payload `<model_dir>/<payload_file>`,
/// which must already exist. `payload_format` names its encoding (e.g. `credrisk-model/1`).
/// An empty `run_id` (training without tracking) writes `run_id: null`.
pub fn write_mlmodel(model_dir: &Path, run_id: &str, payload_file: &str, payload_format: &str) -> Result<()> {
    if !run_id.is_empty() {
        validate_run_id(run_id)?;
    }
    let plain_name = !payload_file.is_empty()
        && !payload_file.contains(['/', '\\'])
        && payload_file != "."
        && payload_file != ".."
        && payload_file != MLMODEL_FILE;
    if !plain_name {
        return Err(Error::Usage(format!(
            "model payload {payload_file:?}: expected a file name inside the model directory"
        )));
    }
    if !model_dir.join(payload_file).is_file() {
        return Err(Error::bad_file(
            model_dir.join(payload_file),
            "the model payload is missing; write it before the MLmodel file",
        ));
    }
    fsutil::write_atomic(
        model_dir.join(MLMODEL_FILE),
        mlmodel_text(run_id, payload_file, payload_format).as_bytes(),
    )
}

fn mlmodel_text(run_id: &str, payload_file: &str, payload_format: &str) -> String {
    let mut w = YamlWriter::new();
    w.str("artifact_path", super::MODEL_ARTIFACT_PATH)
        .map("flavors")
        .map(FLAVOR)
        .str("credrisk_version", env!("CARGO_PKG_VERSION"))
        .str("data", payload_file)
        .str("model_format", payload_format)
        .end()
        .end()
        .str("model_uuid", &new_run_id());
    if run_id.is_empty() {
        w.null("run_id")
    } else {
        w.str("run_id", run_id)
    };
    w.str("utc_time_created", &utc_timestamp(now_ms())).finish()
}

/// What the resolver needs from an MLmodel file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlModelInfo {
    pub run_id: Option<String>,
    /// The `credrisk` flavor's payload file, if the model has that flavor.
    pub payload: Option<String>,
}

/// Reads `<model_dir>/MLmodel`.
pub fn read_mlmodel(model_dir: &Path) -> Result<MlModelInfo> {
    let path = model_dir.join(MLMODEL_FILE);
    let doc = super::file_store::read_yaml(&path)?;
    let flavors = doc.get("flavors").filter(|f| !f.entries().is_empty());
    if flavors.is_none() {
        return Err(Error::bad_file(&path, "an MLmodel file needs a non-empty 'flavors' mapping"));
    }
    let payload = flavors.and_then(|f| f.get(FLAVOR)).and_then(|f| f.str_of("data")).map(str::to_string);
    Ok(MlModelInfo { run_id: doc.str_of("run_id").map(str::to_string), payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_the_flavor() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.crm"), b"\x00payload").unwrap();
        let run_id = "0a829a8aa21342e0897e50a07363a0b4";
        write_mlmodel(dir.path(), run_id, "model.crm", "credrisk-model/1").unwrap();
        let info = read_mlmodel(dir.path()).unwrap();
        assert_eq!(info, MlModelInfo { run_id: Some(run_id.into()), payload: Some("model.crm".into()) });
        write_mlmodel(dir.path(), "", "model.crm", "credrisk-model/1").unwrap();
        assert_eq!(read_mlmodel(dir.path()).unwrap().run_id, None);
    }

    #[test]
    fn refuses_a_missing_or_odd_payload() {
        let dir = tempfile::tempdir().unwrap();
        let run_id = "0a829a8aa21342e0897e50a07363a0b4";
        let err = write_mlmodel(dir.path(), run_id, "model.crm", "x").unwrap_err().to_string();
        assert!(err.contains("model.crm") && err.contains("missing"), "{err}");
        for bad in ["", "../x", "a/b", "MLmodel"] {
            assert!(write_mlmodel(dir.path(), run_id, bad, "x").is_err(), "{bad:?}");
        }
        assert!(!dir.path().join(MLMODEL_FILE).exists());
    }
}
