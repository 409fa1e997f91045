//! What a report is built from: the model with its explainer, the rows each section reads (the
//! data section all of them, the performance and interpretability sections the held-out ones when
//! they can be recovered), the walk-through customer and the options, validated once.

use crate::data::{self, ApplicantTable};
use crate::error::{Error, Result};
use crate::explain::{Explainer, GlobalShap, Lang, ModelRef};
use crate::model::Model;
use crate::monitor::{REFERENCE_FILE, Reference};
use crate::schema::Applicant;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which rows the model is judged on, and why: the numbers of the performance section equal
/// `metrics.json` only on the held-out rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The held-out test split of the training run (recovered from the training file, or given
    /// by `train` itself).
    HeldOut,
    /// Every row of a file the model was not trained on (or whose split could not be recovered).
    WholeFile,
}

/// The rows the model is judged on.
#[derive(Debug, Clone)]
pub struct EvalRows {
    pub table: ApplicantTable,
    pub scope: Scope,
    /// The model's P(approved) of each row (`monitor::score_table`).
    pub probabilities: Vec<f64>,
}

/// Everything a report is computed from.
pub struct Inputs {
    pub explainer: Explainer,
    /// The model directory (artifact hashes, `reference.json`); None when the model has none.
    pub model_dir: Option<PathBuf>,
    pub lang: Lang,
    /// How the data is named in the report (the file's name).
    pub data_name: String,
    /// The rows the data section describes and the stability section compares.
    pub profile: ApplicantTable,
    /// P(approved) of every `profile` row, when known (scoring is most of a report's work: each
    /// row is scored once).
    pub profile_probabilities: Option<Vec<f64>>,
    /// The rows performance, interpretability and fairness are computed on.
    pub eval: EvalRows,
    /// The walk-through customer (None: a denied applicant chosen from `eval`).
    pub customer: Option<Applicant>,
    /// Rows explained for the global SHAP picture (a seeded sample beyond this).
    pub shap_rows: usize,
    /// That picture when it is already known (`train` computed it on the same rows).
    pub shap: Option<GlobalShap>,
    pub seed: u64,
    /// The training reference for the stability section (None: no stability section).
    pub reference: Option<Reference>,
}

impl Inputs {
    pub fn model(&self) -> &Model {
        self.explainer.model()
    }

    pub fn model_ref(&self) -> &ModelRef {
        self.explainer.model_ref()
    }

    /// Reads `data` for a loaded model. When `data` is the training file (same SHA-256 as the
    /// model records), the training run's held-out split is recovered so the performance section
    /// shows the run's own test numbers; otherwise every row is judged.
    pub fn load(
        explainer: Explainer,
        model_dir: Option<&Path>,
        data_path: &Path,
        lang: Lang,
    ) -> Result<Inputs> {
        let model = Arc::clone(explainer.shared_model());
        let table = data::read_table(data_path, model.schema())?;
        if table.is_empty() {
            return Err(Error::bad_file(data_path, "has no rows: there is nothing to report on"));
        }
        if table.approved.is_none() {
            return Err(Error::bad_file(
                data_path,
                format!(
                    "has no `{}` column: the performance section needs outcomes",
                    model.schema().label().name
                ),
            ));
        }
        let p = crate::monitor::score_table(&model, &table);
        // The row count first: hashing a large file that cannot be the training file is waste.
        let same_file = !model.info.data_sha256.is_empty()
            && model
                .info
                .metrics
                .get("n_test")
                .and_then(|n| n.as_u64())
                .map(|n| n as usize + model.info.n_train)
                == Some(table.len())
            && crate::train::sha256_file(data_path).is_ok_and(|sha| sha == model.info.data_sha256);
        let eval = match same_file.then(|| held_out(&model, &table, &p)).flatten() {
            Some(idx) => EvalRows {
                table: table.subset(&idx),
                scope: Scope::HeldOut,
                probabilities: idx.iter().map(|&i| p[i]).collect(),
            },
            None => EvalRows { table: table.clone(), scope: Scope::WholeFile, probabilities: p.clone() },
        };
        let reference = match model_dir {
            Some(dir) if dir.join(REFERENCE_FILE).is_file() => Some(Reference::load(dir, model.schema())?),
            _ => None,
        };
        Ok(Inputs {
            explainer,
            model_dir: model_dir.map(Path::to_path_buf),
            lang,
            data_name: data_path
                .file_name()
                .map_or_else(|| data_path.display().to_string(), |n| n.to_string_lossy().into_owned()),
            profile: table,
            profile_probabilities: Some(p),
            eval,
            customer: None,
            shap_rows: super::DEFAULT_SHAP_ROWS,
            shap: None,
            seed: 42,
            reference,
        })
    }

    /// `train`'s report of the model it just wrote: the data section over the training rows, the
    /// rest over the held-out ones; no stability section (its reference is these held-out rows).
    pub fn for_training(
        model: Arc<Model>,
        run_id: Option<&str>,
        train_rows: &ApplicantTable,
        test_rows: &ApplicantTable,
        model_dir: &Path,
    ) -> Result<Inputs> {
        let uri = run_id.map_or_else(|| model_dir.display().to_string(), |id| format!("runs:/{id}/model"));
        let model_ref = ModelRef { run_id: run_id.map(str::to_string), uri, name: None, version: None };
        let probabilities = crate::monitor::score_table(&model, test_rows);
        Ok(Inputs {
            explainer: Explainer::new(model, model_ref, None)?,
            model_dir: Some(model_dir.to_path_buf()),
            lang: Lang::Es,
            data_name: super::text::tr(Lang::Es, "partición de entrenamiento", "training split").into(),
            profile: train_rows.clone(),
            profile_probabilities: None,
            eval: EvalRows { table: test_rows.clone(), scope: Scope::HeldOut, probabilities },
            customer: None,
            shap_rows: super::DEFAULT_SHAP_ROWS,
            shap: None,
            seed: 42,
            reference: None,
        })
    }
}

/// The training run's held-out rows of `table`, when `table` is the training file: the split is
/// redone with the run's seed at the test share that gives the recorded test size, and accepted
/// only if the model's AUC on it is the recorded one to the last bits (`p`: the table's scores).
fn held_out(model: &Model, table: &ApplicantTable, p: &[f64]) -> Option<Vec<usize>> {
    let metrics = &model.info.metrics;
    let n_test = metrics.get("n_test")?.as_u64()? as usize;
    let recorded_auc = metrics.get("roc_auc")?.as_f64()?;
    let seed = model.info.params.get("seed")?.as_u64()?;
    let labels = table.approved.as_deref()?;
    if n_test == 0 || n_test >= table.len() || model.info.n_train + n_test != table.len() {
        return None;
    }
    let share = n_test as f64 / table.len() as f64;
    // The user typed a short decimal (0.2); the exact share is tried last.
    let candidates = [2, 3, 4].map(|d| (share * 10f64.powi(d)).round() / 10f64.powi(d));
    candidates.into_iter().chain([share]).find_map(|test_size| {
        let (_, test) = crate::train::stratified_split(labels, test_size, seed);
        if test.len() != n_test {
            return None;
        }
        let y: Vec<bool> = test.iter().map(|&i| labels[i]).collect();
        let p: Vec<f64> = test.iter().map(|&i| p[i]).collect();
        (crate::metrics::roc_auc(&y, &p).to_bits() == recorded_auc.to_bits()).then_some(test)
    })
}
