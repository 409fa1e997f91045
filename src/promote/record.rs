//! What the gate writes to the registry: the JSON report as an artifact of the candidate's run,
//! the verdict and one tag per rule on the candidate's version, and, when it passed, the alias
//! moves (the old holder first gets `previous-<alias>`, so the alias is never unset). Also the
//! rollback, which moves the alias back.

use super::GateReport;
use crate::error::{Error, Result};
use crate::fairness::metric_part;
use crate::fsutil::{self, StagingDir};
use crate::tracking::{self, Store};
use serde::Serialize;

/// The verdict tag on a model version: `passed` or `refused`.
pub const GATE_TAG: &str = "credrisk.gate";
/// The alias the previous holder gets: `previous-champion` for `champion`.
pub const PREVIOUS_PREFIX: &str = "previous-";
/// The artifact directory of the gate's reports in the candidate's run.
const ARTIFACT_DIR: &str = "gate";

pub fn previous_alias(alias: &str) -> String {
    format!("{PREVIOUS_PREFIX}{alias}")
}

/// Records the report (artifact, tags) and, if it passed, moves the alias. Fills in
/// `report.artifact` and `report.promoted`.
pub fn record(store: &dyn Store, report: &mut GateReport) -> Result<()> {
    let (name, version) = (report.model.clone(), report.candidate.version);
    // The artifact says what is about to happen: the alias moves right after, or the error says so.
    report.promoted = report.passed;
    if let Some(run_id) = report.candidate.run_id.clone() {
        let stamp: String = report.evaluated_at.chars().filter(char::is_ascii_digit).take(14).collect();
        let file = format!("{}-v{version}-{stamp}.json", metric_part(&report.alias));
        report.artifact = Some(format!("runs:/{run_id}/{ARTIFACT_DIR}/{file}"));
        log_report(store, &run_id, &file, report)?;
    }
    let mut tags = vec![
        (GATE_TAG.to_string(), if report.passed { "passed" } else { "refused" }.to_string()),
        (format!("{GATE_TAG}.alias"), report.alias.clone()),
        (format!("{GATE_TAG}.time"), report.evaluated_at.clone()),
        (
            format!("{GATE_TAG}.champion"),
            report.champion.as_ref().map_or_else(|| "none".into(), |c| format!("version {}", c.version)),
        ),
        (
            format!("{GATE_TAG}.data"),
            format!(
                "{} ({} rows, sha256 {})",
                report.batch.path,
                report.batch.rows,
                &report.batch.sha256[..12]
            ),
        ),
    ];
    if let Some(artifact) = &report.artifact {
        tags.push((format!("{GATE_TAG}.artifact"), artifact.clone()));
    }
    let failed = report.failures();
    tags.push((
        format!("{GATE_TAG}.failed"),
        if failed.is_empty() { "none".into() } else { failed.join(", ") },
    ));
    for rule in &report.rules {
        tags.push((format!("{GATE_TAG}.rule.{}", metric_part(&rule.rule.key())), rule.tag_value()));
    }
    for (key, value) in &tags {
        store.set_model_version_tag(&name, version, key, value)?;
    }
    if report.passed {
        if let Some(champion) = &report.champion {
            store.set_alias(&name, &previous_alias(&report.alias), champion.version)?;
        }
        store.set_alias(&name, &report.alias, version)?;
    }
    Ok(())
}

/// Writes the report into a private directory and logs it to the run's `gate/`.
fn log_report(store: &dyn Store, run_id: &str, file: &str, report: &GateReport) -> Result<()> {
    let staging = StagingDir::create(&std::env::temp_dir().join("credrisk-gate"))?;
    let json = serde_json::to_vec_pretty(report).map_err(|e| Error::Internal(e.to_string()))?;
    fsutil::write_atomic(staging.path().join(file), &json)?;
    store.log_artifacts(run_id, staging.path(), Some(ARTIFACT_DIR))
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    pub model: String,
    pub alias: String,
    /// The version that held the alias and lost it.
    pub demoted: u32,
    /// The version that holds it again.
    pub restored: u32,
}

/// Moves `alias` of `name` back to the version `previous-<alias>` points at and removes
/// `previous-<alias>` (a second rollback has nothing to return to until the next promotion).
/// With `expected`, the alias must still be on that version (so a stale command does nothing).
pub fn rollback(store: &dyn Store, name: &str, alias: &str, expected: Option<u32>) -> Result<Rollback> {
    tracking::validate_alias(alias)?;
    let model = store.get_registered_model(name)?.ok_or_else(|| {
        let names: Vec<String> =
            store.registered_models().unwrap_or_default().into_iter().map(|m| m.name).collect();
        tracking::unknown_name(name, &names)
    })?;
    let previous = previous_alias(alias);
    let Some(&demoted) = model.aliases.get(alias) else {
        return Err(Error::Usage(format!("{name} has no alias {alias}: nothing to roll back")));
    };
    let Some(&restored) = model.aliases.get(&previous) else {
        return Err(Error::Usage(format!(
            "{name} has no alias {previous}: nothing to roll back to ({alias} is version {demoted})"
        )));
    };
    if let Some(v) = expected
        && v != demoted
    {
        return Err(Error::Usage(format!(
            "models:/{name}/{v} does not hold alias {alias} (version {demoted} does): nothing rolled back"
        )));
    }
    store.set_alias(name, alias, restored)?;
    store.delete_alias(name, &previous)?;
    let when = tracking::utc_timestamp(tracking::now_ms());
    store.set_model_version_tag(
        name,
        demoted,
        &format!("{GATE_TAG}.rollback"),
        &format!("{alias} rolled back to version {restored} at {when}"),
    )?;
    Ok(Rollback { model: name.to_string(), alias: alias.to_string(), demoted, restored })
}
