//! MLflow's column specs (`mlflow/types/schema.py`, `ColSpec.to_dict`): the typed, named columns
//! of a model signature (the `signature:` of `MLmodel`) and of a dataset's schema, as the JSON
//! text MLflow stores them in.

use serde::Serialize;

/// The MLflow data types credrisk's columns use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Boolean,
    /// 64-bit integers (what pandas reads integer columns as).
    Long,
    Double,
    String,
}

impl ColType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColType::Boolean => "boolean",
            ColType::Long => "long",
            ColType::Double => "double",
            ColType::String => "string",
        }
    }
}

/// One named column; not `required` when it may be missing (null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColSpec {
    pub name: String,
    pub kind: ColType,
    pub required: bool,
}

impl ColSpec {
    /// A required column.
    pub fn new(name: impl Into<String>, kind: ColType) -> ColSpec {
        ColSpec { name: name.into(), kind, required: true }
    }
}

/// A model's inputs and outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub inputs: Vec<ColSpec>,
    pub outputs: Vec<ColSpec>,
}

/// The key order MLflow writes: type, name, required.
#[derive(Serialize)]
struct ColSpecJson<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    name: &'a str,
    required: bool,
}

/// `[{"type": "long", "name": "age", "required": true}, …]` as compact JSON text.
pub fn colspecs_json(columns: &[ColSpec]) -> String {
    let specs: Vec<ColSpecJson> = columns
        .iter()
        .map(|c| ColSpecJson { kind: c.kind.as_str(), name: &c.name, required: c.required })
        .collect();
    serde_json::to_string(&specs).expect("column specs serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colspecs_are_mlflow_json() {
        let cols = [ColSpec::new("age", ColType::Long), ColSpec::new("región", ColType::String)];
        assert_eq!(
            colspecs_json(&cols),
            r#"[{"type":"long","name":"age","required":true},{"type":"string","name":"región","required":true}]"#
        );
        assert_eq!(colspecs_json(&[]), "[]");
        let optional = ColSpec { required: false, ..ColSpec::new("income", ColType::Double) };
        assert_eq!(colspecs_json(&[optional]), r#"[{"type":"double","name":"income","required":false}]"#);
    }
}
