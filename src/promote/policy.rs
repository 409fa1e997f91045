//! The gate's policy: the TOML rules (`policy.toml` is the documented built-in default, printed by
//! `credrisk promote --print-policy`), read strictly (an unknown key is an error) and resolved
//! against a model's schema (every field named must exist; defaults taken from its roles).

use crate::error::{Error, Result};
use crate::schema::Schema;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The built-in policy, with a comment on every key.
pub const DEFAULT_POLICY: &str = include_str!("policy.toml");

/// A policy file larger than this is not a policy.
const MAX_POLICY_BYTES: u64 = 1 << 20;

/// The rules as written (fields not yet checked against a schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "defaults_accuracy")]
    pub accuracy: Accuracy,
    #[serde(default = "defaults_fairness")]
    pub fairness: Fairness,
    #[serde(default = "defaults_explanations")]
    pub explanations: Explanations,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accuracy {
    #[serde(default = "builtin_accuracy_min_auc")]
    pub min_auc: f64,
    #[serde(default = "builtin_accuracy_max_brier")]
    pub max_brier: f64,
    #[serde(default = "builtin_accuracy_max_ece")]
    pub max_ece: f64,
    #[serde(default = "builtin_accuracy_max_auc_drop")]
    pub max_auc_drop: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ks: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score_psi: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fairness {
    /// None: the schema's protected fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gated: Option<Vec<String>>,
    /// Reported beside the schema's proxies, never gated.
    #[serde(default = "builtin_fairness_report")]
    pub report: Vec<String>,
    /// Largest worsening of a gated disparity against the champion.
    #[serde(default = "builtin_fairness_max_worsening")]
    pub max_worsening: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_dp_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_eodds_difference: Option<f64>,
    #[serde(default = "builtin_fairness_min_group")]
    pub min_group: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explanations {
    #[serde(default = "builtin_explanations_top_k")]
    pub top_k: usize,
    #[serde(default = "builtin_explanations_must_rank")]
    pub must_rank: Vec<String>,
    /// None: the schema's protected fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub must_not_rank: Option<Vec<String>>,
    #[serde(default = "builtin_explanations_shap_rows")]
    pub shap_rows: usize,
    #[serde(default = "builtin_explanations_seed")]
    pub seed: u64,
}

fn builtin() -> Policy {
    toml::from_str(DEFAULT_POLICY).expect("the built-in policy parses (tested)")
}

/// A key left out of a table keeps the built-in policy's value (a table left out keeps the whole
/// built-in table). The built-in text names every key, so these never recurse.
macro_rules! builtin_values {
    ($($name:ident: $ty:ty = $table:ident.$key:ident,)*) => {
        $(fn $name() -> $ty { builtin().$table.$key })*
    };
}

builtin_values! {
    builtin_accuracy_min_auc: f64 = accuracy.min_auc,
    builtin_accuracy_max_brier: f64 = accuracy.max_brier,
    builtin_accuracy_max_ece: f64 = accuracy.max_ece,
    builtin_accuracy_max_auc_drop: f64 = accuracy.max_auc_drop,
    builtin_fairness_report: Vec<String> = fairness.report,
    builtin_fairness_max_worsening: f64 = fairness.max_worsening,
    builtin_fairness_min_group: u64 = fairness.min_group,
    builtin_explanations_top_k: usize = explanations.top_k,
    builtin_explanations_must_rank: Vec<String> = explanations.must_rank,
    builtin_explanations_shap_rows: usize = explanations.shap_rows,
    builtin_explanations_seed: u64 = explanations.seed,
}

fn defaults_accuracy() -> Accuracy {
    builtin().accuracy
}

fn defaults_fairness() -> Fairness {
    builtin().fairness
}

fn defaults_explanations() -> Explanations {
    builtin().explanations
}

impl Default for Policy {
    fn default() -> Policy {
        builtin()
    }
}

/// A policy with its field lists made concrete for one schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    pub accuracy: Accuracy,
    pub gated: Vec<String>,
    pub reported: Vec<String>,
    pub max_worsening: f64,
    pub min_dp_ratio: Option<f64>,
    pub max_eodds_difference: Option<f64>,
    pub min_group: u64,
    pub top_k: usize,
    pub must_rank: Vec<String>,
    pub must_not_rank: Vec<String>,
    pub shap_rows: usize,
    pub seed: u64,
}

impl Policy {
    /// Reads a policy file: one line naming the file (and the line) for a TOML error, an unknown
    /// key or a value out of range.
    pub fn read(path: &Path) -> Result<Policy> {
        let text = crate::fsutil::read_text_limited(path, MAX_POLICY_BYTES)?;
        Policy::parse(&text).map_err(|message| Error::bad_file(path, message))
    }

    /// Parses and range-checks policy text; the error is one line.
    pub fn parse(text: &str) -> std::result::Result<Policy, String> {
        let policy: Policy = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().lines().next().unwrap_or("not a policy").trim().to_string();
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        })?;
        policy.check_ranges()?;
        Ok(policy)
    }

    fn check_ranges(&self) -> std::result::Result<(), String> {
        let a = &self.accuracy;
        let unit = [
            ("accuracy.min_auc", a.min_auc),
            ("accuracy.max_brier", a.max_brier),
            ("accuracy.max_ece", a.max_ece),
            ("accuracy.max_auc_drop", a.max_auc_drop),
            ("fairness.max_worsening", self.fairness.max_worsening),
        ];
        let optional = [
            ("accuracy.min_ks", a.min_ks),
            ("fairness.min_dp_ratio", self.fairness.min_dp_ratio),
            ("fairness.max_eodds_difference", self.fairness.max_eodds_difference),
        ];
        for (key, value) in
            unit.into_iter().chain(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))))
        {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("{key} must be within [0, 1], got {value}"));
            }
        }
        if let Some(psi) = a.max_score_psi
            && !(psi.is_finite() && psi >= 0.0)
        {
            return Err(format!("accuracy.max_score_psi must be a number >= 0, got {psi}"));
        }
        let e = &self.explanations;
        if e.top_k == 0 {
            return Err("explanations.top_k must be at least 1".into());
        }
        if !(1..=100_000).contains(&e.shap_rows) {
            return Err(format!("explanations.shap_rows must be 1 to 100000, got {}", e.shap_rows));
        }
        if self.fairness.min_group == 0 {
            return Err("fairness.min_group must be at least 1".into());
        }
        Ok(())
    }

    /// The policy for a model with `schema`: defaults from its roles, and every named field
    /// checked (a field or derived feature of the schema; fairness groupings must be fields).
    pub fn resolve(&self, schema: &Schema) -> Result<Resolved> {
        let protected: Vec<String> =
            schema.fields().filter(|c| c.protected).map(|c| c.name.clone()).collect();
        let proxies = schema.fields().filter(|c| c.proxy).map(|c| c.name.clone());
        let is_field = |name: &str| schema.fields().any(|c| c.name == name);
        let is_feature = |name: &str| is_field(name) || schema.derived().iter().any(|d| d.name == name);
        let check = |key: &str, names: &[String], ok: &dyn Fn(&str) -> bool| -> Result<()> {
            match names.iter().find(|n| !ok(n)) {
                Some(bad) => Err(Error::Usage(format!(
                    "policy {key}: {bad:?} is not a field of the model's schema {:?}; its fields are {}",
                    schema.name(),
                    field_list(schema)
                ))),
                None => Ok(()),
            }
        };
        let f = &self.fairness;
        let gated = f.gated.clone().unwrap_or_else(|| protected.clone());
        check("fairness.gated", &gated, &is_field)?;
        check("fairness.report", &f.report, &is_field)?;
        let mut reported: Vec<String> = proxies.chain(f.report.iter().cloned()).collect();
        reported.retain(|r| !gated.contains(r));
        dedup(&mut reported);
        let e = &self.explanations;
        check("explanations.must_rank", &e.must_rank, &is_feature)?;
        let must_not_rank = e.must_not_rank.clone().unwrap_or(protected);
        check("explanations.must_not_rank", &must_not_rank, &is_feature)?;
        if let Some(both) = e.must_rank.iter().find(|n| must_not_rank.contains(n)) {
            return Err(Error::Usage(format!(
                "policy: {both:?} is in both explanations.must_rank and explanations.must_not_rank"
            )));
        }
        Ok(Resolved {
            accuracy: self.accuracy.clone(),
            gated,
            reported,
            max_worsening: f.max_worsening,
            min_dp_ratio: f.min_dp_ratio,
            max_eodds_difference: f.max_eodds_difference,
            min_group: f.min_group,
            top_k: e.top_k,
            must_rank: e.must_rank.clone(),
            must_not_rank,
            shap_rows: e.shap_rows,
            seed: e.seed,
        })
    }
}

fn dedup(names: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
}

fn field_list(schema: &Schema) -> String {
    let fields = schema.fields().map(|c| c.name.as_str());
    fields.chain(schema.derived().iter().map(|d| d.name.as_str())).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin as builtin_schema;

    #[test]
    fn the_printed_default_is_the_default_and_resolves_on_the_builtin_schema() {
        let policy = Policy::parse(DEFAULT_POLICY).unwrap();
        assert_eq!(policy, Policy::default());
        let r = policy.resolve(&builtin_schema()).unwrap();
        assert_eq!(r.gated, ["age", "gender", "marital_status"]);
        assert_eq!(r.reported, ["region", "education_level"]);
        assert_eq!(r.must_rank, ["income", "debt_to_income", "delinquency_rate"]);
        assert_eq!(r.must_not_rank, ["age", "gender", "marital_status"]);
        assert_eq!(r.top_k, 5);
        // A partial policy keeps the defaults of what it leaves out.
        let partial =
            Policy::parse("[accuracy]\nmin_auc = 0.9\nmax_brier = 0.1\nmax_ece = 0.02\nmax_auc_drop = 0\n")
                .unwrap();
        assert_eq!(partial.accuracy.min_auc, 0.9);
        assert_eq!(partial.explanations, policy.explanations);
        // A key left out of a table keeps its built-in value too.
        let partial = Policy::parse("[accuracy]\nmin_auc = 0.9\n[explanations]\ntop_k = 3\n").unwrap();
        assert_eq!((partial.accuracy.min_auc, partial.accuracy.max_ece), (0.9, policy.accuracy.max_ece));
        assert_eq!(partial.explanations.top_k, 3);
        assert_eq!(partial.explanations.must_rank, policy.explanations.must_rank);
        assert_eq!(partial.fairness, policy.fairness);
    }

    #[test]
    fn unknown_keys_bad_ranges_and_unknown_fields_are_one_line_errors() {
        let err = Policy::parse("[accuracy]\nmin_acu = 0.7\n").unwrap_err();
        assert!(err.starts_with("line 2: unknown field `min_acu`"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let err = Policy::parse("[explain]\ntop_k = 3\n").unwrap_err();
        assert!(err.contains("unknown field `explain`"), "{err}");
        let err = Policy::parse("[fairness]\nmin_dp_ratio = 1.5\nmax_worsening = 0.1\nmin_group = 5\n")
            .unwrap_err();
        assert!(err.contains("fairness.min_dp_ratio must be within [0, 1]"), "{err}");
        let mut policy = Policy::default();
        policy.explanations.must_rank.push("salary".into());
        let err = policy.resolve(&builtin_schema()).unwrap_err();
        assert!(err.to_string().contains("explanations.must_rank: \"salary\" is not a field"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let mut policy = Policy::default();
        policy.fairness.gated = Some(vec!["debt_to_income".into()]);
        assert!(policy.resolve(&builtin_schema()).is_err(), "a derived feature is no grouping");
    }
}
