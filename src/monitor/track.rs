//! The model's one monitoring run in MLflow: found by a tag naming the model, each batch a step
//! (step = batch number, timestamp = the period), each batch's JSON an artifact under
//! `batches/`, from which the next batch reads the previous one. Works with any [`Store`].

use super::report::{BatchReport, PreviousBatch, TrackingRef};
use crate::error::{Error, Result};
use crate::fairness;
use crate::fsutil::{StagingDir, write_atomic};
use crate::tracking::{self, ActiveRun, Metric, RunStatus, Store};

/// The experiment monitoring runs go to unless told otherwise (not the training experiment,
/// whose latest finished run is the default model).
pub const MONITOR_EXPERIMENT: &str = "credrisk-monitoring";
/// The tag that names the monitored model on its monitoring run.
pub const MODEL_TAG: &str = "credrisk.monitor.model";
const BATCHES_DIR: &str = "batches";

/// The monitoring run, open for one more batch.
pub struct MonitorRun<'s> {
    run: ActiveRun<'s>,
    /// The number this batch gets (1 for the first).
    pub batch: i64,
    /// The previous batch's approvals, if there was one.
    pub previous: Option<PreviousBatch>,
}

/// Finds the model's monitoring run in `experiment` (or starts it) and reads its last batch.
pub fn open_run<'s>(
    store: &'s dyn Store,
    experiment: &str,
    model_key: &str,
    model_uri: &str,
) -> Result<MonitorRun<'s>> {
    let existing = match store.experiment_by_name(experiment)? {
        Some(exp) => store
            .search_runs(&exp.id, None)?
            .into_iter()
            .find(|r| r.tags.get(MODEL_TAG).is_some_and(|v| v == model_key)),
        None => None,
    };
    let Some(found) = existing else {
        let tags = [
            (MODEL_TAG.to_string(), model_key.to_string()),
            ("mlflow.source.name".to_string(), "credrisk monitor".to_string()),
            ("credrisk.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ];
        let short: String = model_key.chars().take(8).collect();
        let mut run = ActiveRun::start(store, experiment, &format!("monitor {short}"), &tags)?;
        run.log_params(&[("model".to_string(), model_uri.to_string())])?;
        return Ok(MonitorRun { run, batch: 1, previous: None });
    };
    let run = ActiveRun::resume(store, &found.info.run_id)?;
    let last = store
        .list_artifacts(run.run_id(), BATCHES_DIR)?
        .iter()
        .filter_map(|e| batch_number(e.path.rsplit('/').next().unwrap_or(&e.path)))
        .max();
    let previous = match last {
        Some(n) => {
            let path = format!("{BATCHES_DIR}/{}", batch_file(n));
            let bytes = store.read_artifact(run.run_id(), &path)?;
            Some(serde_json::from_slice(&bytes).map_err(|e| {
                Error::Tracking(format!("run {}: {path} is not a monitoring batch: {e}", run.run_id()))
            })?)
        }
        None => None,
    };
    Ok(MonitorRun { run, batch: last.unwrap_or(0) + 1, previous })
}

fn batch_file(n: i64) -> String {
    format!("batch-{n:04}.json")
}

fn batch_number(name: &str) -> Option<i64> {
    name.strip_prefix("batch-")?.strip_suffix(".json")?.parse().ok()
}

impl MonitorRun<'_> {
    pub fn tracking_ref(&self) -> TrackingRef {
        let uri = self.run.uri();
        let experiment_id = self.run.info().experiment_id.clone();
        TrackingRef {
            ui_url: tracking::ui_url(&uri, &experiment_id, self.run.run_id()),
            tracking_uri: uri,
            experiment_id,
            run_id: self.run.run_id().to_string(),
            step: self.batch,
        }
    }

    /// Logs the batch's metrics (one step) and its JSON, then ends the run FINISHED until the
    /// next batch.
    pub fn log(mut self, report: &BatchReport) -> Result<()> {
        let result = self.log_batch(report);
        match &result {
            Ok(()) => self.run.end(RunStatus::Finished),
            Err(_) => result,
        }
    }

    fn log_batch(&mut self, report: &BatchReport) -> Result<()> {
        self.run.log_metrics(&metrics(report))?;
        let staging = StagingDir::create(&std::env::temp_dir().join("credrisk-monitor"))?;
        let json =
            serde_json::to_vec_pretty(report).map_err(|e| Error::Internal(format!("batch report: {e}")))?;
        write_atomic(staging.path().join(batch_file(report.batch)), &json)?;
        self.run.log_artifacts(staging.path(), Some(BATCHES_DIR))
    }
}

/// A metric key MLflow accepts: its parts joined by `/`, each made a key part by
/// [`fairness::metric_part`] (an apostrophe in a region's name becomes `_`).
pub fn metric_key(parts: &[&str]) -> String {
    parts.iter().map(|p| fairness::metric_part(p)).collect::<Vec<_>>().join("/")
}

/// The batch's numbers as metrics of one step, so the MLflow UI draws each over the batches:
/// `psi/<input>`, `ks/<input>/p_value`, `chi2/<input>/p_value`, `approval/overall`,
/// `approval/<field>/<group>`, `approval_gap/<field>`, `alerts`, `n_rows`, and the batch's
/// fairness under the names `credrisk train` logs (`fairness/gender/dp_ratio`, …). No key is
/// another's prefix (the file store keeps a key as a path).
pub fn metrics(report: &BatchReport) -> Vec<Metric> {
    let (step, ts) = (report.batch, report.timestamp_ms);
    let mut out = Vec::new();
    let mut push = |key: String, value: f64| out.push(Metric { key, value, step, timestamp_ms: ts });
    push("n_rows".into(), report.n_rows as f64);
    push("alerts".into(), report.alerts.len() as f64);
    for drift in report.inputs.iter().chain([&report.score]) {
        push(metric_key(&["psi", &drift.name]), drift.psi);
        if let Some(test) = &drift.test {
            let name = match test.name {
                super::report::TestName::Ks => "ks",
                super::report::TestName::ChiSquared => "chi2",
            };
            push(metric_key(&[name, &drift.name, "statistic"]), test.result.statistic);
            push(metric_key(&[name, &drift.name, "p_value"]), test.result.p_value);
        }
    }
    push("approval/overall".into(), report.approval.rate);
    for field in &report.approval.by {
        if let Some(gap) = field.gap {
            push(metric_key(&["approval_gap", &field.field]), gap);
        }
        for g in &field.groups {
            if let Some(rate) = g.rate.filter(|_| g.n > 0) {
                push(metric_key(&["approval", &field.field, &g.value]), rate);
            }
        }
    }
    for (key, value) in report.fairness.iter().flat_map(|f| f.mlflow_metrics()) {
        push(key, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_accents_and_lose_apostrophes() {
        assert_eq!(metric_key(&["approval_rate", "region", "O'Higgins"]), "approval_rate/region/O_Higgins");
        assert_eq!(metric_key(&["approval_rate", "age", "25..31"]), "approval_rate/age/25..31");
        assert_eq!(metric_key(&["psi", "Ñuble"]), "psi/Ñuble");
        assert_eq!(batch_number(&batch_file(12)), Some(12));
    }
}
