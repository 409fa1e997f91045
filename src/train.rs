//! The training pipeline behind `credrisk train`: read → split → fit the encoding → fit the forest
//! → evaluate → plots and the model directory → the MLflow run. Each step is another module's
//! job; this file only wires them and keeps the run honest: RUNNING until every artifact is in
//! place, FAILED with the error otherwise, and holding only what this training wrote (its files
//! are built in a private staging directory, logged from there, then published to `--outputs`,
//! so two trains sharing `outputs/` never swap models).

use crate::data::{self, ApplicantTable};
use crate::error::{Error, Result};
use crate::explain::{Explainer, GLOBAL_SHAP_FILE, GlobalShap, ModelRef, ReferenceSamples, global_shap};
use crate::features::Encoder;
use crate::forest::{self, ForestParams};
use crate::fsutil::{self, StagingDir, write_atomic};
use crate::metrics;
use crate::model::{Model, ModelInfo, PAYLOAD_FILE, PAYLOAD_FORMAT, SCHEMA_FILE};
use crate::plots;
use crate::schema::{Column, Group, Kind, Schema};
use crate::tracking::{
    self, ActiveRun, ColSpec, ColType, Dataset, DatasetContext, DatasetInput, Metric, MlModel, RunStatus,
    Signature, Store,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A validated `credrisk train` invocation.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// The table's schema (the built-in one unless `--schema`), with `--exclude` applied.
    pub schema: Arc<Schema>,
    pub data: PathBuf,
    pub test_data: Option<PathBuf>,
    pub forest: ForestParams,
    pub test_size: f64,
    pub threshold: f64,
    pub outputs: PathBuf,
    pub tracking: Tracking,
    pub experiment: String,
    pub run_name: String,
    pub progress: bool,
    /// Held-out rows explained for the global SHAP picture (a seeded sample; 0: none).
    pub shap_rows: usize,
    /// Write `report.html` (the model-risk report on the held-out rows) and log it with the run.
    pub report: bool,
}

/// Whether and where a training records its MLflow run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracking {
    /// No run (`--no-tracking`): outputs only.
    Off,
    /// A run in this tracking URI (None: `$MLFLOW_TRACKING_URI`, else `./mlruns`).
    To(Option<String>),
}

/// What a finished training produced.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub metrics: Value,
    pub model_dir: PathBuf,
    /// The MLflow run (None with `--no-tracking`).
    pub run: Option<RecordedRun>,
}

/// Where a training's MLflow run is.
#[derive(Debug, Clone)]
pub struct RecordedRun {
    pub run_id: String,
    pub tracking_uri: String,
    /// The run's page in the MLflow UI, in the classic "Model training" view.
    pub ui_url: String,
}

/// The held-out evaluation of a trained forest.
struct Evaluation {
    /// metrics.json: the test-set metrics plus ceiling, timing and sizes.
    metrics: Value,
    report: metrics::Metrics,
    per_tree_auc: Vec<(usize, f64)>,
    roc: metrics::RocCurve,
    /// Fairness on the test split by the schema's protected and proxy fields (MLflow metrics).
    fairness: Vec<(String, f64)>,
    /// The model's probability of each held-out row: what the monitoring reference and the
    /// explanation reference samples are built from.
    probabilities: Vec<f64>,
}

/// Runs the whole pipeline. With tracking, the MLflow run is marked FAILED (with the error as a
/// tag) if anything goes wrong after it started.
pub fn train(config: &TrainConfig) -> Result<TrainReport> {
    let (train_rows, test_rows) = load_split(config)?;
    let data_sha256 = sha256_file(&config.data)?;
    // Removes what killed trains left in outputs/ and makes this train's private directory.
    let staging = StagingDir::create(&config.outputs)?;
    let store = match &config.tracking {
        Tracking::To(uri) => Some(tracking::open(uri.as_deref())?),
        Tracking::Off => None,
    };
    let mut run = match store.as_deref() {
        Some(store) => Some(start_run(store, config, &data_sha256, &train_rows, &test_rows)?),
        None => None,
    };
    let result = fit_and_record(config, &train_rows, &test_rows, &data_sha256, staging.path(), run.as_mut())
        .and_then(|metrics| staging.publish(&config.outputs).map(|()| metrics));
    match (run.as_mut(), &result) {
        (Some(run), Ok(_)) => run.end(RunStatus::Finished)?,
        (Some(run), Err(e)) => {
            // The original error is what the user needs; a failure to record it comes second.
            let _ = run.fail(&e.to_string());
        }
        (None, _) => {}
    }
    let metrics = result?;
    Ok(TrainReport {
        metrics,
        model_dir: config.outputs.join("model"),
        run: run.as_ref().map(|r| RecordedRun {
            run_id: r.run_id().to_string(),
            tracking_uri: r.uri(),
            ui_url: tracking::ui_url(&r.uri(), &r.info().experiment_id, r.run_id()),
        }),
    })
}

/// Fits, evaluates and writes every output into `out` (the staging directory), and logs the
/// run's params, metrics, note and artifacts.
fn fit_and_record(
    config: &TrainConfig,
    train_rows: &ApplicantTable,
    test_rows: &ApplicantTable,
    data_sha256: &str,
    out: &Path,
    mut run: Option<&mut ActiveRun>,
) -> Result<Value> {
    let encoder = Encoder::fit(train_rows)?;
    if let Some(run) = run.as_deref_mut() {
        run.log_params(&run_params(config, train_rows, &encoder)?)?;
    }
    let columns = encoder.encode_columns(train_rows);
    let labels = train_rows.approved.as_deref().expect("split keeps labels");
    let bar = crate::progress::bar(config.progress, config.forest.n_estimators as u64, "trees");
    let started = Instant::now();
    let fitted = forest::fit(&config.forest, &columns, labels, &|_| bar.inc(1))?;
    let fit_seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    drop(columns);

    let mut eval = evaluate(config, &encoder, &fitted.forest, test_rows, fit_seconds, train_rows.len())?;
    if let Some(oob) = &fitted.oob {
        eval.metrics["oob"] =
            json!({"accuracy": oob.accuracy, "roc_auc": oob.roc_auc, "n_scored": oob.n_scored});
    }
    let run_id = run.as_deref().map(|r| r.run_id().to_string());
    let model = Arc::new(Model {
        encoder,
        forest: fitted.forest,
        threshold: config.threshold,
        info: ModelInfo {
            credrisk_version: env!("CARGO_PKG_VERSION").to_string(),
            created_ms: tracking::now_ms(),
            params: serde_json::to_value(&config.forest).unwrap_or(Value::Null),
            metrics: eval.metrics.clone(),
            n_train: train_rows.len(),
            data_sha256: data_sha256.to_string(),
            run_id: run_id.clone(),
        },
    });
    write_outputs(out, &model, &eval, run_id.as_deref())?;
    let shap = match config.shap_rows {
        0 => None,
        rows => Some(global_picture(&model, test_rows, rows, config.forest.seed, out)?),
    };
    // What `credrisk monitor` compares later batches with: the held-out rows, scored.
    let (held_out, p) = (test_rows, &eval.probabilities);
    crate::monitor::Reference::build(&model, held_out, p, "held-out test split")?.save(&out.join("model"))?;
    // What reasons may be compared with instead of the training population (`--reference`).
    if let Some(samples) = ReferenceSamples::build(&model, held_out, p, config.forest.seed) {
        samples.save(&out.join("model"))?;
    }
    let mut metrics = run_metrics(&eval);
    metrics.extend(shap.as_ref().map(shap_metrics).unwrap_or_default());
    if config.report {
        let (train, test, seed) = (train_rows, test_rows, config.forest.seed);
        crate::report::write_for_training(model.clone(), run_id.as_deref(), train, test, shap, seed, out)?;
    }
    if let Some(run) = run {
        run.log_metrics(&metrics)?;
        run.log_params(&run_counts(&eval, &model))?;
        run.set_tags(&[("mlflow.note.content".into(), run_note(&eval.metrics, config))])?;
        run.log_artifacts(out, None)?;
    }
    Ok(eval.metrics)
}

/// Held-out rows explained by default for the train-time global SHAP picture (a seeded sample
/// of the test split). Exact TreeSHAP of the default forest (200 trees of ~2,200 leaves) costs
/// about 10 ms of CPU a row, and the default train on 250k rows about 5 s wall on two cores:
/// 150 rows keep the picture within about a fifth of that (measured +21%; 250 rows +30%;
/// 10,000 rows would take ten times the training). `--shap-rows 2000` gives a denser beeswarm
/// and a steadier ranking below the top fields; the promotion gate explains 1,000 rows.
pub const DEFAULT_SHAP_ROWS: usize = 150;
/// Customers kept per field in `global_shap.json` and drawn in the beeswarm.
pub const BEESWARM_ROWS: usize = 2_000;

/// The model's global SHAP picture on the held-out rows: `model/global_shap.json` (per-row
/// values thinned to [`BEESWARM_ROWS`]), the mean |φ| bars and the beeswarm.
fn global_picture(
    model: &Arc<Model>,
    test_rows: &ApplicantTable,
    rows: usize,
    seed: u64,
    out: &Path,
) -> Result<GlobalShap> {
    let model_ref = ModelRef {
        run_id: model.info.run_id.clone(),
        uri: "the model being trained".into(),
        name: None,
        version: None,
    };
    let explainer = Explainer::new(Arc::clone(model), model_ref, None)?;
    let shap = global_shap(&explainer, test_rows, rows, seed)?;
    let thin = shap.thinned(BEESWARM_ROWS, seed);
    let json = serde_json::to_vec(&thin).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(out.join("model").join(GLOBAL_SHAP_FILE), &json)?;
    plots::shap_bar_png(&out.join("shap_importance.png"), &shap)?;
    plots::shap_beeswarm_png(&out.join("shap_beeswarm.png"), &thin)?;
    Ok(shap)
}

/// `shap/mean_abs/<field>` for every reported field.
fn shap_metrics(shap: &GlobalShap) -> Vec<Metric> {
    let part = crate::fairness::metric_part;
    shap.ranking
        .iter()
        .map(|f| Metric::new(format!("shap/mean_abs/{}", part(&f.field)), f.mean_abs, 0))
        .collect()
}

/// Reads the data and returns (train, test): a stratified seeded split, or all of `data` against
/// `test_data`.
fn load_split(config: &TrainConfig) -> Result<(ApplicantTable, ApplicantTable)> {
    let table = read_labelled(&config.data, &config.schema)?;
    if let Some(test_path) = &config.test_data {
        return Ok((table, read_labelled(test_path, &config.schema)?));
    }
    let labels = table.approved.as_deref().expect("read_labelled checks labels");
    let (train_idx, test_idx) = stratified_split(labels, config.test_size, config.forest.seed);
    if train_idx.is_empty() || test_idx.is_empty() {
        return Err(Error::Usage(format!(
            "{} rows are too few to hold out --test-size {} (need at least one row on each side)",
            table.len(),
            config.test_size
        )));
    }
    Ok((table.subset(&train_idx), table.subset(&test_idx)))
}

fn read_labelled(path: &Path, schema: &Arc<Schema>) -> Result<ApplicantTable> {
    let table = data::read_table(path, schema)?;
    if table.approved.is_none() {
        return Err(Error::bad_file(
            path,
            format!("has no `{}` column: training and evaluation need labels", schema.label().name),
        ));
    }
    if table.is_empty() {
        return Err(Error::bad_file(path, "has no rows"));
    }
    Ok(table)
}

/// Stratified split: per class, a seeded shuffle puts `round(test_size × n_class)` rows in the
/// test set. Both index lists come back in file order.
pub fn stratified_split(labels: &[bool], test_size: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_5B17_u64);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let n_test = (test_size * idx.len() as f64).round() as usize;
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

fn evaluate(
    config: &TrainConfig,
    encoder: &Encoder,
    forest: &forest::Forest,
    test: &ApplicantTable,
    fit_seconds: f64,
    n_train: usize,
) -> Result<Evaluation> {
    let y = test.approved.as_deref().expect("split keeps labels");
    let rows = encoder.encode_rows(test);
    let p = forest.predict_rows(&rows);
    let report = metrics::evaluate(y, &p, config.threshold)?;
    let mut m = serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))?;
    m["positive_class"] = positive_class(test.schema());
    m["ceiling"] = ceiling(test, y, report.roc_auc, report.brier);
    m["fit_seconds"] = json!(fit_seconds);
    m["n_train"] = json!(n_train);
    m["n_test"] = json!(test.len());
    m["n_trees"] = json!(forest.trees.len());
    m["mean_leaves_per_tree"] =
        json!(forest.trees.iter().map(|t| t.n_leaves()).sum::<usize>() as f64 / forest.trees.len() as f64);
    let per_tree_auc = auc_after_each_tree(forest, &rows, y);
    let fairness = crate::fairness::train_metrics(test, &p, config.threshold);
    let roc = metrics::roc_curve(y, &p);
    Ok(Evaluation { metrics: m, per_tree_auc, roc, report, fairness, probabilities: p })
}

/// What the metrics call positive: the label column and the value counted as approved.
fn positive_class(schema: &crate::schema::Schema) -> Value {
    use crate::schema::Positive;
    let value = match schema.positive() {
        Positive::Boolean(b) => json!(b),
        Positive::Category(c) => json!(c),
        Positive::Integer(i) => json!(i),
    };
    json!({"label": schema.label().name, "value": value})
}

/// The best any model can do on these rows: the label's own latent, `sigmoid(approval_score)`.
fn ceiling(test: &ApplicantTable, y: &[bool], auc: f64, brier: f64) -> Value {
    match &test.score {
        Some(scores) => {
            let p: Vec<f64> = scores.iter().map(|s| 1.0 / (1.0 + (-s).exp())).collect();
            let (c_auc, c_brier) = (metrics::roc_auc(y, &p), metrics::brier(y, &p));
            json!({"roc_auc": c_auc, "brier": c_brier, "auc_gap": c_auc - auc, "brier_gap": brier - c_brier})
        }
        None => Value::Null,
    }
}

/// Held-out AUC of the first k trees — the learning curve MLflow draws — at k = 1..=10, then every
/// 5th tree and the last: (k, AUC) pairs.
fn auc_after_each_tree(forest: &forest::Forest, rows: &[f64], y: &[bool]) -> Vec<(usize, f64)> {
    use rayon::prelude::*;
    let n = forest.n_features;
    let n_trees = forest.trees.len();
    let mut sums = vec![0.0; y.len()];
    let mut out = Vec::new();
    for (k, tree) in forest.trees.iter().enumerate().map(|(i, t)| (i + 1, t)) {
        sums.par_iter_mut().zip(rows.par_chunks(n)).for_each(|(s, x)| *s += tree.predict(x));
        if k <= 10 || k % 5 == 0 || k == n_trees {
            let p: Vec<f64> = sums.iter().map(|s| s / k as f64).collect();
            out.push((k, metrics::roc_auc(y, &p)));
        }
    }
    out
}

/// metrics.json, the plots and `model/` (payload, encoding, forest dump, MLmodel) in `out`.
fn write_outputs(out: &Path, model: &Model, eval: &Evaluation, run_id: Option<&str>) -> Result<()> {
    let model_dir = out.join("model");
    fsutil::create_dir_all(&model_dir)?;
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).expect("JSON values serialise");
    write_atomic(out.join("metrics.json"), &pretty(&eval.metrics))?;
    write_plots(out, model, eval)?;
    model.save(&model_dir)?;
    write_atomic(model_dir.join(SCHEMA_FILE), model.schema().to_toml().as_bytes())?;
    write_atomic(model_dir.join("feature_schema.json"), &pretty(&model.encoder.schema_json()))?;
    model.forest.write_dump(model.encoder.feature_names(), model_dir.join("forest.json"))?;
    let signature = model_signature(model.schema());
    MlModel {
        run_id,
        payload_file: PAYLOAD_FILE,
        payload_format: PAYLOAD_FORMAT,
        signature: Some(&signature),
    }
    .write(&model_dir)
}

/// The model's inputs (the applicant fields with their types) and output (the probability).
fn model_signature(schema: &Schema) -> Signature {
    Signature {
        inputs: schema.fields().map(colspec).collect(),
        outputs: vec![ColSpec::new("probability", ColType::Double)],
    }
}

/// A column as MLflow types it: integers long, numbers double, categories and text string;
/// nullable columns not required.
fn colspec(column: &Column) -> ColSpec {
    let kind = match column.kind {
        Kind::Integer { .. } => ColType::Long,
        Kind::Number { .. } => ColType::Double,
        Kind::Boolean => ColType::Boolean,
        Kind::Category(_) | Kind::Ordered(_) | Kind::Text => ColType::String,
    };
    ColSpec { required: !column.nullable, ..ColSpec::new(&column.name, kind) }
}

fn write_plots(out: &Path, model: &Model, eval: &Evaluation) -> Result<()> {
    let r = &eval.report;
    plots::confusion_matrix_png(&out.join("confusion_matrix.png"), &r.confusion_matrix, model.threshold)?;
    plots::roc_curve_png(&out.join("roc_curve.png"), &eval.roc.fpr, &eval.roc.tpr, r.roc_auc)?;
    plots::calibration_png(&out.join("calibration.png"), &r.calibration)?;
    plots::feature_importance_png(&out.join("feature_importance.png"), &importance_per_field(model))
}

/// Gini importance summed per reported field (one-hot columns added up).
pub fn importance_per_field(model: &Model) -> Vec<(String, f64)> {
    let encoder = &model.encoder;
    let mut sums = vec![0.0; encoder.groups().len()];
    for (imp, &g) in model.forest.feature_importances().iter().zip(encoder.column_groups()) {
        sums[g] += imp;
    }
    let names = encoder.groups().iter().map(|&g: &Group| encoder.schema().group_name(g).to_string());
    let mut out: Vec<(String, f64)> = names.zip(sums).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// Starts the run with its tags and records the data files it reads as dataset inputs.
fn start_run<'s>(
    store: &'s dyn Store,
    config: &TrainConfig,
    data_sha256: &str,
    train_rows: &ApplicantTable,
    test_rows: &ApplicantTable,
) -> Result<ActiveRun<'s>> {
    let mut tags = vec![
        ("mlflow.source.name".to_string(), "credrisk train".to_string()),
        ("credrisk.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("credrisk.data_sha256".to_string(), data_sha256.to_string()),
    ];
    if let Some(commit) = git_commit() {
        tags.push(("mlflow.source.git.commit".to_string(), commit));
    }
    let mut run = ActiveRun::start(store, &config.experiment, &config.run_name, &tags)?;
    let mut inputs = Vec::new();
    match &config.test_data {
        Some(test) => {
            inputs.push(dataset_input(
                &config.schema,
                &config.data,
                data_sha256,
                train_rows.len(),
                DatasetContext::Training,
            )?);
            let test_sha256 = sha256_file(test)?;
            inputs.push(dataset_input(
                &config.schema,
                test,
                &test_sha256,
                test_rows.len(),
                DatasetContext::Evaluation,
            )?);
        }
        None => {
            let rows = train_rows.len() + test_rows.len();
            inputs.push(dataset_input(
                &config.schema,
                &config.data,
                data_sha256,
                rows,
                DatasetContext::Training,
            )?);
        }
    }
    run.log_inputs(&inputs)?;
    Ok(run)
}

/// A labelled applicant file as an MLflow dataset: its absolute path, the first 8 hex digits of
/// its SHA-256 as the digest (MLflow's own digests are 8 characters), its columns.
fn dataset_input(
    schema: &Schema,
    path: &Path,
    sha256: &str,
    rows: usize,
    context: DatasetContext,
) -> Result<DatasetInput> {
    let source = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let name =
        source.file_name().map_or_else(|| source.display().to_string(), |n| n.to_string_lossy().into_owned());
    let columns = schema.columns().iter().map(colspec).collect();
    let dataset = Dataset { name, digest: sha256[..8].to_string(), source, columns, num_rows: rows };
    Ok(DatasetInput { dataset, context })
}

fn run_params(
    config: &TrainConfig,
    train: &ApplicantTable,
    encoder: &Encoder,
) -> Result<Vec<(String, String)>> {
    let f = &config.forest;
    let mut params = vec![
        ("n_estimators", f.n_estimators.to_string()),
        ("max_depth", f.max_depth.map_or("None".into(), |d| d.to_string())),
        ("min_samples_leaf", f.min_samples_leaf.to_string()),
        ("max_features", f.max_features.to_string()),
        ("seed", f.seed.to_string()),
        ("oob_score", f.oob_score.to_string()),
        ("threshold", config.threshold.to_string()),
        ("test_size", config.test_size.to_string()),
        ("data", absolute(&config.data)?),
        ("n_train_rows", train.len().to_string()),
        ("n_features", encoder.n_features().to_string()),
        ("features", encoder.feature_names().join(",")),
        ("schema", config.schema.name().to_string()),
    ];
    let excluded: Vec<&str> = config.schema.fields().filter(|f| f.exclude).map(|f| f.name.as_str()).collect();
    if !excluded.is_empty() {
        params.push(("excluded", excluded.join(",")));
    }
    if let Some(t) = &config.test_data {
        params.push(("test_data", absolute(t)?));
    }
    Ok(params.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn absolute(path: &Path) -> Result<String> {
    Ok(std::path::absolute(path).map_err(|e| Error::io(path, e))?.display().to_string())
}

/// metrics.json keys that are counts or settings, not measurements: logged as params, since the
/// MLflow UI draws every metric as a chart (a one-bar chart of a count says nothing).
const NOT_METRICS: [&str; 6] =
    ["n_train", "n_test", "n_trees", "threshold", "confusion_matrix", "positive_class"];

/// The counts of the evaluation as params (`n_train_rows` and `threshold` are params already).
fn run_counts(eval: &Evaluation, model: &Model) -> Vec<(String, String)> {
    let cm = &eval.report.confusion_matrix;
    [
        ("n_test", (cm.tn + cm.fp + cm.fn_ + cm.tp).to_string()),
        ("n_trees", model.forest.trees.len().to_string()),
        ("confusion_matrix/tn", cm.tn.to_string()),
        ("confusion_matrix/fp", cm.fp.to_string()),
        ("confusion_matrix/fn", cm.fn_.to_string()),
        ("confusion_matrix/tp", cm.tp.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn run_metrics(eval: &Evaluation) -> Vec<Metric> {
    let now = tracking::now_ms();
    let mut out = Vec::new();
    let scalar = |key: &str, v: &Value| {
        v.as_f64().map(|value| Metric { key: key.into(), value, step: 0, timestamp_ms: now })
    };
    for (key, v) in eval.metrics.as_object().into_iter().flatten() {
        if NOT_METRICS.contains(&key.as_str()) {
            continue;
        }
        match v {
            Value::Object(inner) => {
                out.extend(inner.iter().filter_map(|(k, v)| scalar(&format!("{key}/{k}"), v)));
            }
            _ => out.extend(scalar(key, v)),
        }
    }
    out.extend(eval.fairness.iter().map(|(key, value)| Metric {
        key: key.clone(),
        value: *value,
        step: 0,
        timestamp_ms: now,
    }));
    out.extend(eval.per_tree_auc.iter().map(|&(k, auc)| Metric {
        key: "roc_auc_by_trees".into(),
        value: auc,
        step: k as i64,
        timestamp_ms: now,
    }));
    out
}

fn run_note(m: &Value, config: &TrainConfig) -> String {
    format!(
        "## credrisk random forest\n\n| metric | value |\n|---|---|\n| ROC-AUC | {:.4} |\n| Brier | {:.4} |\n\
         | ceiling AUC | {:.4} |\n| fit seconds | {:.2} |\n\nTrained on `{}` ({} rows), {} trees.",
        m["roc_auc"].as_f64().unwrap_or(f64::NAN),
        m["brier"].as_f64().unwrap_or(f64::NAN),
        m["ceiling"]["roc_auc"].as_f64().unwrap_or(f64::NAN),
        m["fit_seconds"].as_f64().unwrap_or(f64::NAN),
        absolute(&config.data).unwrap_or_else(|_| config.data.display().to_string()),
        m["n_train"],
        config.forest.n_estimators,
    )
}

/// SHA-256 of a file's bytes, hex: which data a model was trained on.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_stratified_disjoint_and_seeded() {
        let labels: Vec<bool> = (0..1000).map(|i| i % 4 == 0).collect();
        let (train, test) = stratified_split(&labels, 0.2, 7);
        assert_eq!(test.len(), 200);
        assert_eq!(test.iter().filter(|&&i| labels[i]).count(), 50);
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(stratified_split(&labels, 0.2, 7), (train, test.clone()));
        assert_ne!(stratified_split(&labels, 0.2, 8).1, test);
    }
}
