//! The `python_function` flavor of a credrisk model: the small Python loader written into the
//! model's `code/` directory (it pipes pandas batches through `credrisk score`), and what MLmodel
//! says about it, so `mlflow.pyfunc.load_model` and `spark_udf` can load the model.

use crate::error::Result;
use crate::fsutil;
use std::path::Path;

pub const FLAVOR: &str = "python_function";
/// The loader's module name (MLflow imports it from `code/`).
pub const LOADER_MODULE: &str = "credrisk_pyfunc";
/// The model-relative directory MLflow puts on `sys.path` before importing the loader.
pub const CODE_DIR: &str = "code";
/// The loader's source, shipped inside the binary so every model it trains carries it.
pub const LOADER_SOURCE: &str = include_str!("credrisk_pyfunc.py");

/// The `predict(df, params)` parameters the loader reads, as MLflow ParamSpec JSON (the
/// signature's `params`): without them MLflow refuses `params`.
pub const PARAMS_JSON: &str = concat!(
    r#"[{"name": "explain", "type": "boolean", "default": false, "shape": null}, "#,
    r#"{"name": "reasons", "type": "boolean", "default": false, "shape": null}, "#,
    r#"{"name": "lang", "type": "string", "default": "es", "shape": null}]"#
);

/// Writes `<model_dir>/code/credrisk_pyfunc.py` (atomically).
pub fn write_loader(model_dir: &Path) -> Result<()> {
    let code = model_dir.join(CODE_DIR);
    fsutil::create_dir_all(&code)?;
    fsutil::write_atomic(code.join(format!("{LOADER_MODULE}.py")), LOADER_SOURCE.as_bytes())
}
