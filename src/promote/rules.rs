//! The policy's rules applied to the candidate's (and the champion's) evaluation: one
//! [`RuleResult`] per rule with both values, the limit and the verdict, and the model-version tag
//! each result is recorded as.

use super::evaluate::Evaluation;
use super::policy::Resolved;
use crate::fairness::{Disparity, FairnessReport};
use serde::{Serialize, Serializer};

/// A rule of the gate.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    MinAuc,
    MaxBrier,
    MaxEce,
    MinKs,
    MaxAucDrop,
    ScorePsi,
    /// A fairness disparity of one grouping, judged as `check` says.
    Fairness {
        by: String,
        metric: Disparity,
        check: FairnessCheck,
    },
    /// The field must rank within the top k by mean |φ|.
    MustRank(String),
    /// The field must not rank within the top k.
    MustNotRank(String),
}

impl Rule {
    /// The rule's stable name: the tag suffix, the JSON key, the table's first column.
    pub fn key(&self) -> String {
        match self {
            Rule::MinAuc => "min_auc".into(),
            Rule::MaxBrier => "max_brier".into(),
            Rule::MaxEce => "max_ece".into(),
            Rule::MinKs => "min_ks".into(),
            Rule::MaxAucDrop => "max_auc_drop".into(),
            Rule::ScorePsi => "score_psi".into(),
            Rule::Fairness { by, metric, check: FairnessCheck::VsChampion } => {
                format!("fairness.{by}.{}.vs_champion", metric.short())
            }
            Rule::Fairness { by, metric, .. } => format!("fairness.{by}.{}", metric.short()),
            Rule::MustRank(field) => format!("shap.must_rank.{field}"),
            Rule::MustNotRank(field) => format!("shap.must_not_rank.{field}"),
        }
    }
}

/// How a fairness disparity is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FairnessCheck {
    /// Against the policy's absolute limit.
    Absolute,
    /// No worse than the champion's by more than the policy's `max_worsening`.
    VsChampion,
    /// Shown only (a proxy or a legitimate factor).
    Reported,
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

/// A rule's bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Limit {
    AtLeast(f64),
    AtMost(f64),
}

impl Limit {
    fn holds(self, value: f64) -> bool {
        match self {
            Limit::AtLeast(l) => value >= l,
            Limit::AtMost(l) => value <= l,
        }
    }

    pub fn text(self) -> String {
        match self {
            Limit::AtLeast(l) => format!(">= {}", short(l)),
            Limit::AtMost(l) => format!("<= {}", short(l)),
        }
    }
}

/// A value with at most 4 decimals, trailing zeros dropped (a limit as the user wrote it).
fn short(x: f64) -> String {
    let text = format!("{x:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Shown, not gated (score PSI, proxies, legitimate factors, a KS without a limit).
    Report,
    /// Nothing to compare with (an AUC drop without a champion, an undefined value).
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    pub rule: Rule,
    /// The candidate's value (a rank for the SHAP rules; None: not a model input or undefined).
    pub candidate: Option<f64>,
    pub champion: Option<f64>,
    pub limit: Option<Limit>,
    pub verdict: Verdict,
}

impl RuleResult {
    /// The model-version tag value: `pass 0.8123 (>= 0.7)`.
    pub fn tag_value(&self) -> String {
        let verdict = match self.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Report => "report",
            Verdict::NotApplicable => "n/a",
        };
        let value = self.candidate.map_or_else(|| "none".into(), |v| format!("{v:.4}"));
        match self.limit {
            Some(limit) => format!("{verdict} {value} ({})", limit.text()),
            None => format!("{verdict} {value}"),
        }
    }
}

/// Every rule of `policy` on the candidate, against the champion when there is one.
pub fn judge(
    policy: &Resolved,
    candidate: &Evaluation,
    champion: Option<&Evaluation>,
    psi: Option<f64>,
) -> Vec<RuleResult> {
    let a = &policy.accuracy;
    let mut out = Vec::new();
    let champ = |f: fn(&Evaluation) -> f64| champion.map(f);
    out.push(judged(
        Rule::MinAuc,
        Some(candidate.roc_auc),
        champ(|e| e.roc_auc),
        Some(Limit::AtLeast(a.min_auc)),
    ));
    out.push(judged(
        Rule::MaxBrier,
        Some(candidate.brier),
        champ(|e| e.brier),
        Some(Limit::AtMost(a.max_brier)),
    ));
    out.push(judged(Rule::MaxEce, Some(candidate.ece), champ(|e| e.ece), Some(Limit::AtMost(a.max_ece))));
    out.push(judged(Rule::MinKs, Some(candidate.ks), champ(|e| e.ks), a.min_ks.map(Limit::AtLeast)));
    // The drop is the champion's AUC minus the candidate's: positive when the candidate is worse.
    match champion {
        Some(ch) => out.push(judged(
            Rule::MaxAucDrop,
            Some(ch.roc_auc - candidate.roc_auc),
            None,
            Some(Limit::AtMost(a.max_auc_drop)),
        )),
        None => out.push(not_applicable(Rule::MaxAucDrop)),
    }
    if let Some(psi) = psi {
        out.push(judged(Rule::ScorePsi, Some(psi), None, a.max_score_psi.map(Limit::AtMost)));
    }
    for (by, metric) in policy.gated.iter().flat_map(|by| JUDGED.map(|m| (by, m))) {
        let value =
            |f: &FairnessReport| f.by(by).map(|b| b.disparity(metric).value).filter(|v| v.is_finite());
        let (c, ch) = (value(&candidate.fairness), champion.and_then(|ch| value(&ch.fairness)));
        let rule = |check| Rule::Fairness { by: by.clone(), metric, check };
        let absolute = match metric {
            Disparity::DpRatio => policy.min_dp_ratio.map(Limit::AtLeast),
            _ => policy.max_eodds_difference.map(Limit::AtMost),
        };
        if let Some(limit) = absolute {
            out.push(judged(rule(FairnessCheck::Absolute), c, ch, Some(limit)));
        }
        match (champion, ch) {
            (Some(_), Some(v)) => {
                let w = policy.max_worsening;
                let limit = if metric.is_ratio() { Limit::AtLeast(v - w) } else { Limit::AtMost(v + w) };
                out.push(judged(rule(FairnessCheck::VsChampion), c, ch, Some(limit)));
            }
            _ if absolute.is_none() => {
                out.push(RuleResult { candidate: c, ..not_applicable(rule(FairnessCheck::VsChampion)) })
            }
            _ => {}
        }
    }
    for (by, metric) in policy.reported.iter().flat_map(|by| JUDGED.map(|m| (by, m))) {
        let value = |f: &FairnessReport| f.by(by).map(|b| b.disparity(metric).value);
        out.push(judged(
            Rule::Fairness { by: by.clone(), metric, check: FairnessCheck::Reported },
            value(&candidate.fairness),
            champion.and_then(|ch| value(&ch.fairness)),
            None,
        ));
    }
    let rank = |e: &Evaluation, field: &str| e.rank_of(field).map(|r| r as f64);
    let k = policy.top_k as f64;
    for field in &policy.must_rank {
        // Not a model input at all: it cannot rank ([`ranked`] reads that as infinitely far), and that fails.
        out.push(ranked(
            Rule::MustRank(field.clone()),
            rank(candidate, field),
            champion.and_then(|ch| rank(ch, field)),
            Limit::AtMost(k),
        ));
    }
    for field in &policy.must_not_rank {
        // Not a model input: it cannot rank, and that passes.
        out.push(ranked(
            Rule::MustNotRank(field.clone()),
            rank(candidate, field),
            champion.and_then(|ch| rank(ch, field)),
            Limit::AtLeast(k + 1.0),
        ));
    }
    out
}

/// A value against its limit (no limit: reported; no value: not applicable).
fn judged(rule: Rule, c: Option<f64>, ch: Option<f64>, limit: Option<Limit>) -> RuleResult {
    let c = c.filter(|v| v.is_finite());
    let verdict = match (limit, c) {
        (None, _) => Verdict::Report,
        (Some(_), None) => Verdict::NotApplicable,
        (Some(l), Some(v)) if l.holds(v) => Verdict::Pass,
        (Some(_), Some(_)) => Verdict::Fail,
    };
    RuleResult { rule, candidate: c, champion: ch.filter(|v| v.is_finite()), limit, verdict }
}

/// The disparities the gate judges: demographic parity ratio, equalized odds difference.
const JUDGED: [Disparity; 2] = [Disparity::DpRatio, Disparity::EoddsDifference];

/// A rule with nothing to judge against (no champion, no absolute limit).
fn not_applicable(rule: Rule) -> RuleResult {
    RuleResult { rule, candidate: None, champion: None, limit: None, verdict: Verdict::NotApplicable }
}

/// A ranking rule: an infinite rank (not an input) is shown as no value but still judged.
fn ranked(rule: Rule, rank: Option<f64>, champion: Option<f64>, limit: Limit) -> RuleResult {
    let r = rank.unwrap_or(f64::INFINITY);
    let verdict = if limit.holds(r) { Verdict::Pass } else { Verdict::Fail };
    RuleResult { rule, candidate: rank.filter(|v| v.is_finite()), champion, limit: Some(limit), verdict }
}

/// Whether every gated rule passed.
pub fn passed(results: &[RuleResult]) -> bool {
    results.iter().all(|r| r.verdict != Verdict::Fail)
}

/// The keys of the rules that failed.
pub fn failures(results: &[RuleResult]) -> Vec<String> {
    results.iter().filter(|r| r.verdict == Verdict::Fail).map(|r| r.rule.key()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_limits_and_tag_values() {
        let pass = judged(Rule::MinAuc, Some(0.81234), Some(0.8), Some(Limit::AtLeast(0.7)));
        assert_eq!((pass.verdict, pass.tag_value()), (Verdict::Pass, "pass 0.8123 (>= 0.7)".to_string()));
        let fail = judged(Rule::MaxEce, Some(0.053), None, Some(Limit::AtMost(0.05)));
        assert_eq!((fail.verdict, fail.tag_value()), (Verdict::Fail, "fail 0.0530 (<= 0.05)".to_string()));
        // On the limit passes; an undefined value is not applicable; no limit is a report.
        assert_eq!(judged(Rule::MaxEce, Some(0.05), None, Some(Limit::AtMost(0.05))).verdict, Verdict::Pass);
        assert_eq!(
            judged(Rule::MinKs, Some(f64::NAN), None, Some(Limit::AtLeast(0.3))).verdict,
            Verdict::NotApplicable
        );
        assert_eq!(judged(Rule::ScorePsi, Some(0.3), None, None).verdict, Verdict::Report);
        assert!(!passed(&[pass.clone(), fail.clone()]));
        assert_eq!(failures(&[pass, fail]), ["max_ece"]);
        // A field that is not a model input cannot rank: it fails must-rank, passes must-not-rank.
        let unused = ranked(Rule::MustRank("delinquency_rate".into()), None, Some(2.0), Limit::AtMost(5.0));
        assert_eq!((unused.verdict, unused.candidate), (Verdict::Fail, None));
        assert_eq!(unused.tag_value(), "fail none (<= 5)");
        let absent = ranked(Rule::MustNotRank("gender".into()), None, None, Limit::AtLeast(6.0));
        assert_eq!(absent.verdict, Verdict::Pass);
        let key =
            Rule::Fairness { by: "age".into(), metric: Disparity::DpRatio, check: FairnessCheck::VsChampion };
        assert_eq!(key.key(), "fairness.age.dp_ratio.vs_champion");
    }
}
