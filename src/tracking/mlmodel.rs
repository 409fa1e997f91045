//! The `MLmodel` file of a credrisk model directory: an MLflow-2 style model with one custom
//! `credrisk` flavor naming the payload file and its format, the run it was trained in, and the
//! signature (typed input columns and outputs) the registry page shows (spec §3.6), plus the
//! `python_function` flavor whose loader (written beside it, see `pyfunc`) lets `mlflow.pyfunc`
//! load it.

use super::colspec::{Signature, colspecs_json};
use super::util::{new_run_id, now_ms, utc_timestamp, validate_run_id};
use super::yaml::{self, YamlWriter};
use crate::error::{Error, Result};
use crate::fsutil;
use std::path::Path;

pub const MLMODEL_FILE: &str = "MLmodel";
pub const FLAVOR: &str = "credrisk";

/// What an MLmodel file says.
#[derive(Debug, Clone, Copy)]
pub struct MlModel<'a> {
    /// The run the model was trained in (None: trained without tracking → `run_id: null`).
    pub run_id: Option<&'a str>,
    /// The payload's file name inside the model directory.
    pub payload_file: &'a str,
    /// The payload's encoding (e.g. `credrisk-model/1`).
    pub payload_format: &'a str,
    pub signature: Option<&'a Signature>,
}

impl MlModel<'_> {
    /// Writes `<model_dir>/MLmodel` atomically. The payload must already be in the directory.
    pub fn write(&self, model_dir: &Path) -> Result<()> {
        if let Some(run_id) = self.run_id {
            validate_run_id(run_id)?;
        }
        let payload = self.payload_file;
        let plain_name = !payload.is_empty()
            && !payload.contains(['/', '\\'])
            && payload != "."
            && payload != ".."
            && payload != MLMODEL_FILE;
        if !plain_name {
            return Err(Error::Usage(format!(
                "model payload {payload:?}: expected a file name inside the model directory"
            )));
        }
        if !model_dir.join(payload).is_file() {
            return Err(Error::bad_file(
                model_dir.join(payload),
                "the model payload is missing; write it before the MLmodel file",
            ));
        }
        // The loader and its environment first: an MLmodel naming them is never there without them.
        super::pyfunc::write_flavor_files(model_dir)?;
        fsutil::write_atomic(model_dir.join(MLMODEL_FILE), self.text().as_bytes())
    }

    fn text(&self) -> String {
        let mut w = YamlWriter::new();
        w.str("artifact_path", super::MODEL_ARTIFACT_PATH)
            .map("flavors")
            .map(FLAVOR)
            .str("credrisk_version", env!("CARGO_PKG_VERSION"))
            .str("data", self.payload_file)
            .str("model_format", self.payload_format)
            .end()
            .map(super::pyfunc::FLAVOR)
            .str("loader_module", super::pyfunc::LOADER_MODULE)
            .str("code", super::pyfunc::CODE_DIR)
            .str("python_version", super::pyfunc::PYTHON_VERSION)
            .map("env")
            .str("conda", super::pyfunc::CONDA_ENV_FILE)
            .str("virtualenv", super::pyfunc::PYTHON_ENV_FILE)
            .end()
            .end()
            .end()
            .str("model_uuid", &new_run_id());
        match self.run_id {
            Some(run_id) => w.str("run_id", run_id),
            None => w.null("run_id"),
        };
        if let Some(signature) = self.signature {
            // MLflow keeps each side as ColSpec JSON text (mlflow/models/signature.py to_dict).
            w.map("signature")
                .str("inputs", &colspecs_json(&signature.inputs))
                .str("outputs", &colspecs_json(&signature.outputs))
                .str("params", super::pyfunc::PARAMS_JSON)
                .end();
        }
        w.str("utc_time_created", &utc_timestamp(now_ms())).finish()
    }
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
    let text = crate::fsutil::read_text_limited(&path, yaml::MAX_YAML_BYTES)?;
    parse_mlmodel(&text, &path)
}

/// Parses MLmodel text; `place` names it in errors.
pub fn parse_mlmodel(text: &str, place: impl AsRef<Path>) -> Result<MlModelInfo> {
    let doc = yaml::parse(text).map_err(|e| Error::bad_file(&place, format!("not MLflow YAML: {e}")))?;
    let flavors = doc.get("flavors").filter(|f| !f.entries().is_empty());
    if flavors.is_none() {
        return Err(Error::bad_file(&place, "an MLmodel file needs a non-empty 'flavors' mapping"));
    }
    let payload = flavors.and_then(|f| f.get(FLAVOR)).and_then(|f| f.str_of("data")).map(str::to_string);
    Ok(MlModelInfo { run_id: doc.str_of("run_id").map(str::to_string), payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::colspec::{ColSpec, ColType};

    const RUN: &str = "0a829a8aa21342e0897e50a07363a0b4";

    fn model<'a>(run_id: Option<&'a str>, payload: &'a str, signature: Option<&'a Signature>) -> MlModel<'a> {
        MlModel { run_id, payload_file: payload, payload_format: "credrisk-model/1", signature }
    }

    #[test]
    fn writes_and_reads_back_the_flavor_and_signature() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.crm"), b"\x00payload").unwrap();
        let signature = Signature {
            inputs: vec![ColSpec::new("age", ColType::Long), ColSpec::new("region", ColType::String)],
            outputs: vec![ColSpec::new("probability", ColType::Double)],
        };
        model(Some(RUN), "model.crm", Some(&signature)).write(dir.path()).unwrap();
        let info = read_mlmodel(dir.path()).unwrap();
        assert_eq!(info, MlModelInfo { run_id: Some(RUN.into()), payload: Some("model.crm".into()) });
        let text = std::fs::read_to_string(dir.path().join(MLMODEL_FILE)).unwrap();
        let doc = yaml::parse(&text).unwrap();
        let sig = doc.get("signature").unwrap();
        assert_eq!(sig.str_of("inputs"), Some(colspecs_json(&signature.inputs).as_str()));
        assert_eq!(
            sig.str_of("outputs"),
            Some(r#"[{"type":"double","name":"probability","required":true}]"#)
        );
        model(None, "model.crm", None).write(dir.path()).unwrap();
        assert_eq!(read_mlmodel(dir.path()).unwrap().run_id, None);
    }

    #[test]
    fn refuses_a_missing_or_odd_payload() {
        let dir = tempfile::tempdir().unwrap();
        let err = model(Some(RUN), "model.crm", None).write(dir.path()).unwrap_err().to_string();
        assert!(err.contains("model.crm") && err.contains("missing"), "{err}");
        for bad in ["", "../x", "a/b", "MLmodel"] {
            assert!(model(Some(RUN), bad, None).write(dir.path()).is_err(), "{bad:?}");
        }
        assert!(!dir.path().join(MLMODEL_FILE).exists());
    }
}
