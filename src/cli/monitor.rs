//! `credrisk monitor`: flags → a validated [`MonitorConfig`] → one batch compared and logged →
//! the report (terminal table or JSON) and the exit code: 1 when something moved, 0 otherwise.

use super::model_args::ModelArgs;
use crate::error::{Error, Result};
use crate::explain::Lang;
use crate::fairness::FairnessConfig;
use crate::monitor::{self, MonitorConfig, Period, Thresholds, track};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The batch: applicant Parquet or CSV in the model's schema (labels not needed).
    #[arg(long)]
    data: PathBuf,
    /// The batch's period, YYYY-MM or YYYY-MM-DD: the MLflow timestamp of its step.
    #[arg(long)]
    period: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Language of the report: es or en.
    #[arg(long, default_value = "es")]
    lang: String,
    /// MLflow experiment of the monitoring runs.
    #[arg(long, default_value = track::MONITOR_EXPERIMENT)]
    experiment: String,
    /// Do not log to MLflow (nor compare with the previous batch).
    #[arg(long)]
    no_tracking: bool,
    /// PSI from which an input is reported as moving.
    #[arg(long, default_value_t = Thresholds::default().psi_warn)]
    psi_warn: f64,
    /// PSI from which an input has shifted (an alert).
    #[arg(long, default_value_t = Thresholds::default().psi_alert)]
    psi_alert: f64,
    /// Alert when an approval rate moves more than this many points (0.05 = 5 points).
    #[arg(long, default_value_t = Thresholds::default().approval_move)]
    approval_move: f64,
    /// Alert when the gap between a field's groups grows more than this.
    #[arg(long, default_value_t = Thresholds::default().gap_growth)]
    gap_growth: f64,
    /// Groups with fewer rows are reported, not judged.
    #[arg(long, default_value_t = Thresholds::default().min_group)]
    min_group: u64,
    /// A rate's move must be significant at this level (two-proportion z-test).
    #[arg(long, default_value_t = Thresholds::default().alpha)]
    alpha: f64,
    /// Bootstrap replicates for the 95% intervals of the batch's fairness (0: none).
    #[arg(long, default_value_t = FairnessConfig::default().n_boot)]
    n_boot: usize,
    /// Seed of the fairness bootstrap.
    #[arg(long, default_value_t = FairnessConfig::default().seed)]
    seed: u64,
}

fn config(args: Args) -> Result<MonitorConfig> {
    let lang: Lang = args.lang.parse().map_err(Error::Usage)?;
    let period = args.period.as_deref().map(str::parse::<Period>).transpose().map_err(Error::Usage)?;
    let fraction = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 && v < 1.0 {
            Ok(v)
        } else {
            Err(Error::Usage(format!("--{name} must be between 0 and 1 (exclusive), got {v}")))
        }
    };
    let thresholds = Thresholds {
        psi_warn: args.psi_warn,
        psi_alert: args.psi_alert,
        approval_move: fraction("approval-move", args.approval_move)?,
        gap_growth: fraction("gap-growth", args.gap_growth)?,
        min_group: args.min_group,
        alpha: fraction("alpha", args.alpha)?,
    };
    if !(thresholds.psi_warn.is_finite()
        && thresholds.psi_warn > 0.0
        && thresholds.psi_warn <= thresholds.psi_alert)
    {
        return Err(Error::Usage(format!(
            "--psi-warn must be positive and at most --psi-alert, got {} and {}",
            args.psi_warn, args.psi_alert
        )));
    }
    if !args.data.is_file() {
        return Err(Error::Usage(format!("--data {}: no such file", args.data.display())));
    }
    if args.n_boot > super::fairness::MAX_BOOT {
        return Err(Error::Usage(format!(
            "--n-boot must be at most {}, got {}",
            super::fairness::MAX_BOOT,
            args.n_boot
        )));
    }
    if args.min_group == 0 {
        return Err(Error::Usage("--min-group must be at least 1".into()));
    }
    // The batch's fairness judges the same groups `--min-group` judges for approval moves.
    let fairness = FairnessConfig {
        n_boot: args.n_boot,
        seed: args.seed,
        min_group: args.min_group,
        ..Default::default()
    };
    Ok(MonitorConfig {
        model: args.model.model,
        tracking_uri: args.model.tracking_uri,
        data: args.data,
        period,
        track: !args.no_tracking,
        experiment: args.experiment,
        thresholds,
        fairness,
        lang,
    })
}

/// Runs `monitor`; the exit code is 1 when the batch raised an alert.
pub fn run(args: Args) -> Result<i32> {
    let json = args.json;
    let config = config(args)?;
    let report = monitor::monitor(&config)?;
    let text = if json {
        serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))? + "\n"
    } else {
        monitor::render(&report, config.lang)
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(Error::io("<stdout>", e)),
        _ => {}
    }
    if !report.alerts.is_empty() {
        // One line per alert on stderr too, for a cron job's mail whatever the format.
        for alert in &report.alerts {
            eprintln!("credrisk: alert: {}", alert.message);
        }
        return Ok(1);
    }
    Ok(0)
}
