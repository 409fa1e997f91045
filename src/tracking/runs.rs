//! Runs across any [`Store`]: listing an experiment's runs for `credrisk runs`, the messages
//! that list what exists when a run or experiment is not found, and ending the runs whose
//! process died (killed, panicked, rebooted) instead of leaving them RUNNING forever.
//!
//! A run records which process logs to it (`credrisk.host`, `credrisk.pid`,
//! `credrisk.process_start` = boot id and start time). A RUNNING run of this host whose process
//! is gone, or whose pid now belongs to a process started later, is ended FAILED with
//! `credrisk.error` saying so. Runs of other hosts, and runs without these tags (logged by
//! other clients), are never touched.

use super::entities::{Batch, Lifecycle, Run, RunStatus};
use super::util::now_ms;
use super::{DEFAULT_EXPERIMENT, ERROR_TAG, Store};
use crate::error::{Error, Result};
use crate::liveness::ProcessIdentity;

pub const HOST_TAG: &str = "credrisk.host";
pub const PID_TAG: &str = "credrisk.pid";
pub const PROCESS_START_TAG: &str = "credrisk.process_start";

/// The tags that name this process (none where it cannot be named).
pub fn process_tags() -> Vec<(String, String)> {
    let Some(me) = ProcessIdentity::current() else { return Vec::new() };
    vec![
        (HOST_TAG.to_string(), me.host.clone()),
        (PID_TAG.to_string(), me.pid.to_string()),
        (PROCESS_START_TAG.to_string(), format!("{} {}", me.boot_id, me.start_ticks)),
    ]
}

/// The process a run's tags name, if they name one.
fn owner(run: &Run) -> Option<ProcessIdentity> {
    let (boot_id, start) = run.tags.get(PROCESS_START_TAG)?.split_once(' ')?;
    Some(ProcessIdentity {
        host: run.tags.get(HOST_TAG)?.clone(),
        boot_id: boot_id.to_string(),
        pid: run.tags.get(PID_TAG)?.parse().ok()?,
        start_ticks: start.parse().ok()?,
    })
}

/// Ends FAILED every RUNNING run of the experiment whose process, on this host, is gone.
/// Returns how many were ended. Called when a file store is opened (every experiment), and for
/// one experiment when a run is started in it or its runs are listed.
pub fn end_dead_runs(store: &dyn Store, experiment_id: &str) -> Result<usize> {
    if ProcessIdentity::current().is_none() {
        return Ok(0);
    }
    let mut ended = 0;
    for run in store.search_runs(experiment_id, Some(RunStatus::Running))? {
        let Some(owner) = owner(&run).filter(ProcessIdentity::is_gone) else { continue };
        let message = format!(
            "process {} on {} ended without finishing the run (killed or crashed); marked FAILED by credrisk",
            owner.pid, owner.host
        );
        let tag = [(ERROR_TAG.to_string(), message)];
        store.log_batch(&run.info.run_id, &Batch { tags: &tag, ..Batch::default() })?;
        store.end_run(&run.info.run_id, RunStatus::Failed, now_ms())?;
        ended += 1;
    }
    Ok(ended)
}

/// The active runs of `experiment`, newest first, after ending its dead runs. An unknown
/// experiment is an error that lists the experiments that exist.
pub fn list_runs(tracking_uri: Option<&str>, experiment: &str) -> Result<Vec<Run>> {
    let store = super::open_existing(tracking_uri)?;
    let Some(exp) = store.experiment_by_name(experiment)?.filter(|e| e.lifecycle == Lifecycle::Active) else {
        return Err(unknown_experiment(store.as_ref(), experiment));
    };
    let _ = end_dead_runs(store.as_ref(), &exp.id);
    store.search_runs(&exp.id, None)
}

fn unknown_experiment(store: &dyn Store, name: &str) -> Error {
    let names: Vec<String> = store
        .experiments()
        .unwrap_or_default()
        .iter()
        .filter(|e| e.lifecycle == Lifecycle::Active)
        .map(|e| format!("{:?}", e.name))
        .collect();
    let listing = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    Error::Usage(format!("no experiment named {name:?} in {} (experiments: {listing})", store.uri()))
}

/// The runs of the default experiment (none if it does not exist), for error messages.
pub fn default_experiment_runs(store: &dyn Store) -> Vec<Run> {
    match store.experiment_by_name(DEFAULT_EXPERIMENT) {
        Ok(Some(exp)) => store.search_runs(&exp.id, None).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// "runs of experiment "credrisk": <id> (<name>, <status>), …" (at most 20).
pub fn list_runs_text(runs: &[Run]) -> String {
    if runs.is_empty() {
        return format!("experiment {DEFAULT_EXPERIMENT:?} has no runs");
    }
    let shown: Vec<String> = runs
        .iter()
        .take(20)
        .map(|r| format!("{} ({}, {})", r.info.run_id, r.info.run_name, r.info.status))
        .collect();
    let more = if runs.len() > 20 { format!(" and {} more", runs.len() - 20) } else { String::new() };
    format!("runs of experiment {DEFAULT_EXPERIMENT:?}: {}{more}", shown.join(", "))
}

/// ModelNotFound for an unknown run id, listing the default experiment's runs.
pub fn unknown_run(store: &dyn Store, run_id: &str) -> Error {
    let runs = default_experiment_runs(store);
    Error::ModelNotFound(format!("no run {run_id} in {}; {}", store.uri(), list_runs_text(&runs)))
}
