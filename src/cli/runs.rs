//! `credrisk runs`: the runs of an experiment as a table (id, name, status, start, AUC, Brier),
//! newest first, for users who do not want to start the MLflow UI.

use crate::error::Result;
use crate::tracking::{self, Run};

/// Metric keys tried, in order, for the AUC and Brier columns.
const AUC_KEYS: [&str; 4] = ["roc_auc", "auc", "test_roc_auc", "test/roc_auc"];
const BRIER_KEYS: [&str; 4] = ["brier", "brier_score", "test_brier", "test/brier"];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment whose runs to list.
    #[arg(long, default_value = tracking::DEFAULT_EXPERIMENT)]
    experiment: String,
    /// MLflow tracking URI: a path or file:///abs/mlruns, or http://host:port.
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URI")]
    tracking_uri: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let runs = tracking::list_runs(args.tracking_uri.as_deref(), &args.experiment)?;
    if runs.is_empty() {
        println!("experiment {:?} has no runs", args.experiment);
    } else {
        print!("{}", format_table(&runs));
    }
    Ok(())
}

fn metric(run: &Run, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| run.metrics.get(*k))
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "-".to_string())
}

/// Left-aligned columns separated by two spaces, one run per line.
fn format_table(runs: &[Run]) -> String {
    let header = ["RUN ID", "NAME", "STATUS", "START (UTC)", "ROC_AUC", "BRIER"].map(String::from);
    let rows: Vec<[String; 6]> = runs
        .iter()
        .map(|r| {
            [
                r.info.run_id.clone(),
                r.info.run_name.clone(),
                r.info.status.to_string(),
                tracking::utc_minutes(r.info.start_time_ms),
                metric(r, &AUC_KEYS),
                metric(r, &BRIER_KEYS),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::{Lifecycle, RunInfo, RunStatus};

    #[test]
    fn table_shows_metrics_or_dashes() {
        let run = |id: &str, auc: Option<f64>| Run {
            info: RunInfo {
                run_id: id.into(),
                experiment_id: "1".into(),
                run_name: "nightly".into(),
                user_id: "ana".into(),
                status: RunStatus::Finished,
                start_time_ms: 1_795_769_067_604,
                end_time_ms: None,
                artifact_uri: String::new(),
                lifecycle: Lifecycle::Active,
            },
            params: Default::default(),
            metrics: auc
                .map(|a| [("roc_auc".to_string(), a), ("brier".to_string(), 0.1234567)].into())
                .unwrap_or_default(),
            tags: Default::default(),
        };
        let table = format_table(&[run("a1", Some(0.81234)), run("b2", None)]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("RUN ID  NAME"), "{table}");
        assert_eq!(lines[1], "a1      nightly  FINISHED  2026-11-27 08:44  0.8123   0.1235");
        assert_eq!(lines[2], "b2      nightly  FINISHED  2026-11-27 08:44  -        -");
    }
}
