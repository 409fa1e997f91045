//! A dataset input as MLflow records it (`mlflow.entities.Dataset.to_dictionary`): source type
//! `local`, the source as `{"uri": …}`, the schema as `{"mlflow_colspec": […]}`, the profile as
//! `{"num_rows": …}`; and the md5 ids the file store names its `datasets/` and `inputs/`
//! directories by, so a dataset logged by credrisk and by MLflow's client is one entry.

use super::colspec::colspecs_json;
use super::entities::Dataset;
use crate::error::{Error, Result};
use md5::{Digest, Md5};

/// The input tag that says what a run used the dataset for.
pub const CONTEXT_TAG: &str = "mlflow.data.context";

/// MLflow's limits (mlflow/utils/validation.py `_validate_dataset`).
const MAX_NAME: usize = 500;
const MAX_DIGEST: usize = 36;
const MAX_SOURCE: usize = 65_535;

/// The string fields of MLflow's dataset entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetFields {
    pub name: String,
    pub digest: String,
    pub source_type: &'static str,
    pub source: String,
    pub schema: String,
    pub profile: String,
}

impl Dataset {
    /// The fields MLflow stores, checked against its limits.
    pub fn mlflow_fields(&self) -> Result<DatasetFields> {
        let source = serde_json::json!({ "uri": self.source.to_string_lossy() }).to_string();
        let too_long = |what: &str, max: usize| {
            Err(Error::Usage(format!(
                "dataset {:?}: the {what} is longer than MLflow's {max} characters",
                self.name
            )))
        };
        if self.name.is_empty() || self.name.chars().count() > MAX_NAME {
            return too_long("name", MAX_NAME);
        }
        if self.digest.chars().count() > MAX_DIGEST {
            return too_long("digest", MAX_DIGEST);
        }
        if source.chars().count() > MAX_SOURCE {
            return too_long("source", MAX_SOURCE);
        }
        Ok(DatasetFields {
            name: self.name.clone(),
            digest: self.digest.clone(),
            source_type: "local",
            source,
            schema: format!(r#"{{"mlflow_colspec": {}}}"#, colspecs_json(&self.columns)),
            profile: format!(r#"{{"num_rows": {}}}"#, self.num_rows),
        })
    }
}

/// `md5(name + digest)`: the dataset's directory under the experiment's `datasets/`.
pub fn dataset_id(name: &str, digest: &str) -> String {
    md5_hex(&[name, digest])
}

/// `md5(dataset_id + run_id)`: the input's directory under the run's `inputs/`.
pub fn input_id(dataset_id: &str, run_id: &str) -> String {
    md5_hex(&[dataset_id, run_id])
}

fn md5_hex(parts: &[&str]) -> String {
    let mut md5 = Md5::new();
    for part in parts {
        md5.update(part.as_bytes());
    }
    hex::encode(md5.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::colspec::{ColSpec, ColType};

    #[test]
    fn ids_are_the_ones_mlflow_derives() {
        // Written by MLflow 3.17.2's own `mlflow.log_input` (file store): dataset "x.parquet" with
        // digest "ae351d10" in run 425f123c365c46f2b14e720566cbfff0.
        let dataset = dataset_id("x.parquet", "ae351d10");
        assert_eq!(dataset, "ee7111527af0f0864841e805f6b011ce");
        assert_eq!(
            input_id(&dataset, "425f123c365c46f2b14e720566cbfff0"),
            "000efa6fc76f78fb9e4364e04193c515"
        );
    }

    #[test]
    fn fields_follow_mlflow_and_its_limits() {
        let mut d = Dataset {
            name: "d.parquet".into(),
            digest: "0123abcd".into(),
            source: "/data/a \"b\".parquet".into(),
            columns: vec![ColSpec::new("age", ColType::Long), ColSpec::new("approved", ColType::Boolean)],
            num_rows: 3000,
        };
        let f = d.mlflow_fields().unwrap();
        assert_eq!(f.source, r#"{"uri":"/data/a \"b\".parquet"}"#);
        assert_eq!(
            f.schema,
            r#"{"mlflow_colspec": [{"type":"long","name":"age","required":true},{"type":"boolean","name":"approved","required":true}]}"#
        );
        assert_eq!(f.profile, r#"{"num_rows": 3000}"#);
        d.digest = "x".repeat(37);
        assert!(d.mlflow_fields().unwrap_err().to_string().contains("digest"));
    }
}
