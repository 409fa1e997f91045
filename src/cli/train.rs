//! `credrisk train`: flags → a validated [`TrainConfig`] → the training pipeline, then a
//! one-screen summary of what was learned and where everything went.

use crate::error::{Error, Result};
use crate::forest::{ForestParams, MaxFeatures};
use crate::schema::{self, builtin};
use crate::train::{self, Tracking, TrainConfig, TrainReport};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Applicant Parquet or CSV with the label column (`approved` in the built-in table).
    #[arg(long)]
    data: PathBuf,
    /// The table's schema (TOML; see `credrisk schema show`); default: the built-in Chilean table.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Features to leave out of the model inputs (comma-separated); they stay accepted by the API
    /// and available to fairness reporting. Adds to the schema's own `exclude`.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// Train on all of --data and evaluate on this labelled file instead of a split.
    #[arg(long)]
    test_data: Option<PathBuf>,
    /// Number of trees (1 to 100,000).
    #[arg(long, default_value_t = 200)]
    n_estimators: usize,
    /// Maximum tree depth ("none" for unlimited).
    #[arg(long, default_value = "14")]
    max_depth: String,
    /// Fewest training rows a leaf may hold: larger is smoother and faster
    #[arg(long, default_value_t = 20)]
    min_samples_leaf: usize,
    /// Features tried per split: sqrt, log2, all, a count, or a fraction in (0, 1).
    #[arg(long, default_value = "sqrt")]
    max_features: String,
    /// Share of rows held out for evaluation (stratified).
    #[arg(long, default_value_t = 0.2)]
    test_size: f64,
    /// Seed of the split and the forest: same seed, same data ⇒ the same model, whatever the thread count
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also compute the out-of-bag score.
    #[arg(long)]
    oob_score: bool,
    /// Held-out rows explained (exact TreeSHAP, a seeded sample) for the global SHAP picture:
    /// global_shap.json, shap/mean_abs metrics, the bar chart and the beeswarm; 0: none.
    #[arg(long, default_value_t = train::DEFAULT_SHAP_ROWS)]
    shap_rows: usize,
    /// Do not write report.html (the model report on the held-out rows, logged with the run;
    /// it reuses the SHAP picture, or explains 500 rows itself with --shap-rows 0).
    #[arg(long)]
    no_report: bool,
    /// Approve iff P(approved) >= threshold.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Where metrics.json, the plots and model/ are written.
    #[arg(long, default_value = "outputs")]
    outputs: PathBuf,
    /// MLflow tracking URI: a path or file:// URI (file store) or http://host:port (server).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    tracking_uri: Option<String>,
    /// Do not record an MLflow run.
    #[arg(long)]
    no_tracking: bool,
    /// MLflow experiment of the run (created if missing)
    #[arg(long, default_value = "credrisk")]
    experiment: String,
    /// Run name (default: rf-<trees>x<depth>-seed<seed>).
    #[arg(long)]
    run_name: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    let config = config(args)?;
    let report = train::train(&config)?;
    print_summary(&config, &report);
    Ok(())
}

fn config(args: Args) -> Result<TrainConfig> {
    let max_depth = match args.max_depth.to_ascii_lowercase().as_str() {
        "none" | "unlimited" => None,
        d => Some(d.parse::<usize>().ok().filter(|&d| d > 0).ok_or_else(|| {
            Error::Usage(format!("--max-depth must be a positive integer or none, got {d:?}"))
        })?),
    };
    let max_features: MaxFeatures = args.max_features.parse()?;
    if !(args.test_size > 0.0 && args.test_size < 1.0) {
        return Err(Error::Usage(format!("--test-size must be in (0, 1), got {}", args.test_size)));
    }
    if !(0.0..=1.0).contains(&args.threshold) {
        return Err(Error::Usage(format!("--threshold must be in [0, 1], got {}", args.threshold)));
    }
    let forest = ForestParams {
        n_estimators: args.n_estimators,
        max_depth,
        min_samples_leaf: args.min_samples_leaf,
        max_features,
        seed: args.seed,
        oob_score: args.oob_score,
        ..ForestParams::default()
    };
    forest.validate()?;
    if args.shap_rows > 1_000_000 {
        return Err(Error::Usage(format!("--shap-rows must be at most 1,000,000, got {}", args.shap_rows)));
    }
    let schema = match &args.schema {
        Some(path) => Arc::new(schema::read_file(path)?),
        None => builtin(),
    };
    let exclude: Vec<&str> = args.exclude.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    let schema = if exclude.is_empty() {
        schema
    } else {
        Arc::new(schema.with_excluded(&exclude).map_err(Error::Usage)?)
    };
    let run_name = args.run_name.unwrap_or_else(|| {
        format!(
            "rf-{}x{}-seed{}",
            args.n_estimators,
            max_depth.map_or("none".into(), |d| d.to_string()),
            args.seed
        )
    });
    Ok(TrainConfig {
        schema,
        data: args.data,
        test_data: args.test_data,
        forest,
        test_size: args.test_size,
        threshold: args.threshold,
        outputs: args.outputs,
        tracking: if args.no_tracking { Tracking::Off } else { Tracking::To(args.tracking_uri) },
        experiment: args.experiment,
        run_name,
        progress: !args.quiet,
        shap_rows: args.shap_rows,
        report: !args.no_report,
    })
}

fn print_summary(config: &TrainConfig, report: &TrainReport) {
    let m = &report.metrics;
    let f = |key: &str| m[key].as_f64().unwrap_or(f64::NAN);
    let c = |key: &str| m["ceiling"][key].as_f64().unwrap_or(f64::NAN);
    println!(
        "credrisk train — {} trees on {} rows, evaluated on {} rows",
        config.forest.n_estimators, m["n_train"], m["n_test"]
    );
    if m["ceiling"].is_null() {
        println!("  ROC-AUC   {:.4}", f("roc_auc"));
        println!("  Brier     {:.4}", f("brier"));
    } else {
        println!("  ROC-AUC   {:.4}   (ceiling {:.4}, gap {:.4})", f("roc_auc"), c("roc_auc"), c("auc_gap"));
        println!("  Brier     {:.4}   (ceiling {:.4})", f("brier"), c("brier"));
    }
    println!("  PR-AUC    {:.4}   KS {:.4}   Gini {:.4}", f("pr_auc"), f("ks"), f("gini"));
    println!(
        "  accuracy  {:.4}   precision {:.4}   recall {:.4}   F1 {:.4}   (threshold {})",
        f("accuracy"),
        f("precision"),
        f("recall"),
        f("f1"),
        config.threshold
    );
    if !m["oob"].is_null() {
        let o = |key: &str| m["oob"][key].as_f64().unwrap_or(f64::NAN);
        println!(
            "  OOB       ROC-AUC {:.4}   accuracy {:.4}   ({} training rows scored by the trees that did not see them)",
            o("roc_auc"),
            o("accuracy"),
            m["oob"]["n_scored"]
        );
    }
    println!("  fit       {:.2} s ({:.0} leaves per tree)", f("fit_seconds"), f("mean_leaves_per_tree"));
    let plots = if config.shap_rows == 0 { 4 } else { 6 };
    let html = if config.report { ", report.html" } else { "" };
    println!("  outputs   {}/ (metrics.json, {plots} plots{html}, model/)", config.outputs.display());
    match &report.run {
        Some(run) => {
            println!("  MLflow    run {} in {}", run.run_id, run.tracking_uri);
            println!("            model URI: runs:/{}/model", run.run_id);
            println!("            UI: {}", run.ui_url);
            if run.tracking_uri.starts_with("file:") {
                println!(
                    "            (after: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {})",
                    run.tracking_uri
                );
            }
        }
        None => println!("  MLflow    not recorded (--no-tracking)"),
    }
}
