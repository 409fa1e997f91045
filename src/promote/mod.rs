//! The promotion gate behind `credrisk promote`: a registered version (the candidate) and the
//! current holder of an alias (the champion) are measured on the same labelled batch, the
//! policy's rules judge the candidate, and only if every gated rule passes does the alias move
//! (the old holder keeps `previous-<alias>`). Either way the verdict is recorded on the
//! candidate: model-version tags and a JSON artifact in its run. `--rollback` moves the alias
//! back. Works the same on a file store and a tracking server (only [`Store`] calls).

mod evaluate;
mod listing;
mod policy;
mod record;
mod rules;
mod text;

pub use evaluate::{Evaluation, score_psi};
pub use listing::{ModelListing, VersionListing, list_models, render_models};
pub use policy::{DEFAULT_POLICY, Policy, Resolved};
pub use record::{GATE_TAG, Rollback, previous_alias, rollback};
pub use rules::{FairnessCheck, Limit, Rule, RuleResult, Verdict};
pub use text::{render, render_rollback};

use crate::error::{Error, Result};
use crate::explain::ModelRef;
use crate::loader;
use crate::model::Model;
use crate::tracking::{self, ModelVersion, Store};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// A validated `credrisk promote` invocation.
#[derive(Debug, Clone)]
pub struct PromoteConfig {
    pub name: String,
    pub version: u32,
    pub alias: String,
    pub data: PathBuf,
    pub policy: Policy,
    /// Evaluate and report only: no tag, no artifact, no alias moves.
    pub dry_run: bool,
    pub tracking_uri: Option<String>,
}

/// One side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub version: u32,
    pub run_id: Option<String>,
    pub evaluation: Evaluation,
}

/// The batch both models were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub path: String,
    pub sha256: String,
    pub rows: usize,
}

/// What the gate decided, and what it changed: also the JSON artifact.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub format: &'static str,
    pub model: String,
    pub alias: String,
    pub evaluated_at: String,
    pub batch: Batch,
    pub policy: Resolved,
    pub candidate: Side,
    pub champion: Option<Side>,
    pub rules: Vec<RuleResult>,
    pub passed: bool,
    pub dry_run: bool,
    /// Where the report was logged (`runs:/<id>/gate/<file>.json`), unless a dry run or the
    /// version has no run.
    pub artifact: Option<String>,
    /// Whether the alias moved to the candidate.
    pub promoted: bool,
}

/// The artifact's format name.
pub const GATE_FORMAT: &str = "credrisk-gate/1";

impl GateReport {
    /// The keys of the failed rules (empty when it passed).
    pub fn failures(&self) -> Vec<String> {
        rules::failures(&self.rules)
    }
}

/// Runs the gate. Everything is read and checked before anything is written; a refusal writes
/// only the tags and the artifact that record it.
pub fn promote(config: &PromoteConfig) -> Result<GateReport> {
    tracking::validate_alias(&config.alias)?;
    if config.alias.starts_with(record::PREVIOUS_PREFIX) {
        return Err(Error::Usage(format!(
            "alias {:?} is the gate's own record of the last holder; promote to the alias itself",
            config.alias
        )));
    }
    if !config.data.is_file() {
        return Err(Error::Usage(format!("--data {}: no such file", config.data.display())));
    }
    let store = tracking::open_existing(config.tracking_uri.as_deref())?;
    let store = store.as_ref();
    let (candidate_model, candidate_version) = load_version(store, config, config.version)?;
    let holder = store.get_alias(&config.name, &config.alias)?;
    if let Some(h) = &holder
        && h.version == config.version
    {
        return Err(Error::Usage(format!(
            "models:/{}/{} already holds alias {}: nothing to promote",
            config.name, config.version, config.alias
        )));
    }
    let policy = config.policy.resolve(candidate_model.schema())?;
    let table = evaluate::read_batch(&config.data, &candidate_model)?;
    let candidate = evaluate::evaluate(&candidate_model, model_ref(config, config.version), &table, &policy)?;
    let champion = match &holder {
        Some(h) => {
            let (model, _) = load_version(store, config, h.version)?;
            let own_table;
            let batch = if model.schema() == candidate_model.schema() {
                &table
            } else {
                own_table = evaluate::read_batch(&config.data, &model)?;
                &own_table
            };
            let evaluation = evaluate::evaluate(&model, model_ref(config, h.version), batch, &policy)?;
            Some(Side { version: h.version, run_id: h.run_id.clone(), evaluation })
        }
        None => None,
    };
    let psi = champion.as_ref().map(|ch| score_psi(&ch.evaluation.probabilities, &candidate.probabilities));
    let results = rules::judge(&policy, &candidate, champion.as_ref().map(|c| &c.evaluation), psi);
    let mut report = GateReport {
        format: GATE_FORMAT,
        model: config.name.clone(),
        alias: config.alias.clone(),
        evaluated_at: tracking::utc_timestamp(tracking::now_ms()),
        batch: Batch {
            path: std::path::absolute(&config.data)
                .unwrap_or_else(|_| config.data.clone())
                .display()
                .to_string(),
            sha256: crate::train::sha256_file(&config.data)?,
            rows: table.len(),
        },
        policy,
        candidate: Side {
            version: config.version,
            run_id: candidate_version.run_id.clone(),
            evaluation: candidate,
        },
        champion,
        passed: rules::passed(&results),
        rules: results,
        dry_run: config.dry_run,
        artifact: None,
        promoted: false,
    };
    if !config.dry_run {
        record::record(store, &mut report)?;
    }
    Ok(report)
}

/// `models:/NAME/VERSION` for the explainer's answers.
fn model_ref(config: &PromoteConfig, version: u32) -> ModelRef {
    ModelRef {
        run_id: None,
        uri: format!("models:/{}/{version}", config.name),
        name: Some(config.name.clone()),
        version: Some(version),
    }
}

/// Loads a registered version (checked like every other model load) and its registry entry.
fn load_version(
    store: &dyn Store,
    config: &PromoteConfig,
    version: u32,
) -> Result<(Arc<Model>, ModelVersion)> {
    let uri = format!("models:/{}/{version}", config.name);
    let (model, _) = loader::load_model(Some(&uri), config.tracking_uri.as_deref())?;
    let entry = store
        .get_model_version(&config.name, version)?
        .ok_or_else(|| Error::ModelNotFound(format!("{uri} does not exist")))?;
    Ok((model, entry))
}

/// Parses `models:/NAME/VERSION` (the candidate) or, for a rollback, `models:/NAME` too.
pub fn parse_model_uri(uri: &str) -> Result<(String, Option<u32>)> {
    let bad = || {
        Error::Usage(format!(
            "--model {uri}: expected models:/<name>/<version> (a registered version; see `credrisk models`)"
        ))
    };
    let rest = uri.trim().strip_prefix("models:/").ok_or_else(bad)?.trim_matches('/');
    let (name, version) = match rest.split_once('/') {
        Some((name, v)) => (name, Some(v.parse::<u32>().ok().filter(|v| *v > 0).ok_or_else(bad)?)),
        None => (rest, None),
    };
    if name.is_empty() || name.contains('@') {
        return Err(bad());
    }
    tracking::validate_model_name(name)?;
    Ok((name.to_string(), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_uris_parse() {
        assert_eq!(parse_model_uri("models:/credrisk-model/4").unwrap(), ("credrisk-model".into(), Some(4)));
        assert_eq!(parse_model_uri("models:/credrisk-model").unwrap(), ("credrisk-model".into(), None));
        for bad in
            ["runs:/abc/model", "models:/m@champion", "models:/m/0", "models:/m/latest", "models:/", "m/3"]
        {
            let err = parse_model_uri(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}: {err}");
        }
    }
}
