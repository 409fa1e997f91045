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
    r#"{"name": "lang", "type": "string", "default": "es", "shape": null}, "#,
    r#"{"name": "reference", "type": "string", "default": "path", "shape": null}]"#
);

/// The Python the environment files declare: the one the loader is tested with (the venv of
/// tests/requirements.txt). MLflow warns when it loads a model under another major.minor.
pub const PYTHON_VERSION: &str = "3.11";
/// The environment files, by name, as MLflow names them (`mlflow/utils/environment.py`).
pub const PYTHON_ENV_FILE: &str = "python_env.yaml";
pub const CONDA_ENV_FILE: &str = "conda.yaml";
pub const REQUIREMENTS_FILE: &str = "requirements.txt";
/// What the loader imports: MLflow (2.6 added `params` to signatures), pandas and pyarrow (any
/// version MLflow itself accepts). The `credrisk` binary is found through CREDRISK_BIN or PATH.
const REQUIREMENTS: [&str; 3] = ["mlflow>=2.6", "pandas", "pyarrow"];

/// `python_env.yaml`: what `env_manager="virtualenv"` (or uv) builds. `python` is quoted: a bare
/// 3.11 would be a YAML float, and MLflow's `_PythonEnv` refuses a non-string version.
fn python_env_yaml() -> String {
    format!(
        "python: '{PYTHON_VERSION}'\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\ndependencies:\n- -r {REQUIREMENTS_FILE}\n"
    )
}

fn conda_yaml() -> String {
    let pip: String = REQUIREMENTS.iter().map(|r| format!("  - {r}\n")).collect();
    format!(
        "channels:\n- conda-forge\ndependencies:\n- python={PYTHON_VERSION}\n- pip\n- pip:\n{pip}name: mlflow-env\n"
    )
}

/// Writes `<model_dir>/code/credrisk_pyfunc.py` and the environment files (each atomically).
pub fn write_flavor_files(model_dir: &Path) -> Result<()> {
    let code = model_dir.join(CODE_DIR);
    fsutil::create_dir_all(&code)?;
    fsutil::write_atomic(code.join(format!("{LOADER_MODULE}.py")), LOADER_SOURCE.as_bytes())?;
    let requirements: String = REQUIREMENTS.iter().map(|r| format!("{r}\n")).collect();
    fsutil::write_atomic(model_dir.join(REQUIREMENTS_FILE), requirements.as_bytes())?;
    fsutil::write_atomic(model_dir.join(PYTHON_ENV_FILE), python_env_yaml().as_bytes())?;
    fsutil::write_atomic(model_dir.join(CONDA_ENV_FILE), conda_yaml().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::yaml;

    #[test]
    fn the_environment_files_say_the_version_as_text_and_name_the_requirements() {
        let env = yaml::parse(&python_env_yaml()).unwrap();
        assert_eq!(env.str_of("python"), Some(PYTHON_VERSION));
        assert!(python_env_yaml().contains("python: '3.11'\n"), "quoted: {}", python_env_yaml());
        assert!(python_env_yaml().ends_with("dependencies:\n- -r requirements.txt\n"));
        let conda = conda_yaml();
        assert!(
            conda.contains("- python=3.11\n- pip\n- pip:\n  - mlflow>=2.6\n  - pandas\n  - pyarrow\n"),
            "{conda}"
        );
        let dir = tempfile::tempdir().unwrap();
        write_flavor_files(dir.path()).unwrap();
        let req = std::fs::read_to_string(dir.path().join(REQUIREMENTS_FILE)).unwrap();
        assert_eq!(req, "mlflow>=2.6\npandas\npyarrow\n");
        assert!(dir.path().join(CODE_DIR).join("credrisk_pyfunc.py").is_file());
    }
}
