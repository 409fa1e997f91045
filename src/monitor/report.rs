//! One batch against the reference and the previous batch: drift per input and of the score,
//! approvals overall and per group, and the alerts. Alerts are on movement (a PSI past its
//! band, a rate that moved, a gap that grew), never on a standing difference between groups.

use super::reference::{self, Distribution, GroupCount, GroupedApprovals, Reference, ratio};
use super::stats::{self, TestResult};
use crate::fairness::FairnessReport;
use serde::{Deserialize, Serialize};

/// /2: `fairness` is the batch's fairness report.
pub const BATCH_FORMAT: &str = "credrisk-monitor-batch/2";

/// When a change is worth a human.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// PSI from which an input is reported as moving (a warning).
    pub psi_warn: f64,
    /// PSI from which an input has shifted (an alert).
    pub psi_alert: f64,
    /// An approval rate (overall or a group's) that moves more than this (a fraction) alerts.
    pub approval_move: f64,
    /// A gap between a field's groups that grows more than this alerts.
    pub gap_growth: f64,
    /// Groups with fewer rows (in the batch or what it is compared with) are reported, not judged.
    pub min_group: u64,
    /// A rate's move must also be significant at this level (two-proportion z-test), so a small
    /// group's sampling noise does not page anyone.
    pub alpha: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            psi_warn: 0.10,
            psi_alert: 0.25,
            approval_move: 0.05,
            gap_growth: 0.05,
            min_group: 200,
            alpha: 0.01,
        }
    }
}

/// Everything `monitor` found for one batch (the JSON people script against).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchReport {
    pub format: String,
    /// 1 for the model's first monitored batch; the MLflow step.
    pub batch: i64,
    pub period: Option<String>,
    /// The MLflow timestamp of the batch's metrics: the period's first day, or when it ran.
    pub timestamp_ms: i64,
    pub model: String,
    pub model_run_id: Option<String>,
    pub data: String,
    pub n_rows: u64,
    pub inputs: Vec<InputDrift>,
    pub score: InputDrift,
    pub approval: ApprovalDrift,
    pub thresholds: Thresholds,
    pub alerts: Vec<Alert>,
    /// PSI between the warning and alert bands: worth a look, not a page.
    pub warnings: Vec<Alert>,
    /// The batch's fairness, as `credrisk fairness --json` reports it (the same names), by the
    /// same groups as `approval`. Its alerts are on standing gaps and do not make the batch's
    /// alerts (absolute thresholds are `credrisk fairness`'s job). None when the schema marks no
    /// field protected, proxy or reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fairness: Option<FairnessReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<TrackingRef>,
}

/// What the next batch reads back of a logged batch (its JSON artifact, any format version):
/// the approvals it is compared with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PreviousBatch {
    pub approval: ApprovalDrift,
}

/// Where the batch was logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingRef {
    pub tracking_uri: String,
    pub experiment_id: String,
    pub run_id: String,
    pub step: i64,
    pub ui_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PsiBand {
    /// Below the warning band.
    Stable,
    Moderate,
    Shifted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestName {
    /// Two-sample Kolmogorov–Smirnov against the reference sample.
    Ks,
    /// Chi-squared of the 2×k table of reference and batch counts.
    ChiSquared,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Test {
    pub name: TestName,
    #[serde(flatten)]
    pub result: TestResult,
}

/// One input's (or the score's) drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputDrift {
    pub name: String,
    pub psi: f64,
    pub band: PsiBand,
    pub test: Option<Test>,
    /// Bin labels, then the reference's and the batch's share per bin (the missing bin last).
    pub bins: Vec<String>,
    pub reference_shares: Vec<f64>,
    pub batch_shares: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDrift {
    pub n: u64,
    pub approved: u64,
    pub rate: f64,
    pub reference_n: u64,
    pub reference_rate: f64,
    pub previous_n: Option<u64>,
    pub previous_rate: Option<f64>,
    pub by: Vec<FieldApprovals>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldApprovals {
    pub field: String,
    /// Highest minus lowest rate among the groups judged, in this batch.
    pub gap: Option<f64>,
    /// The same groups' gap in the reference and in the previous batch.
    pub reference_gap: Option<f64>,
    pub previous_gap: Option<f64>,
    pub groups: Vec<GroupApproval>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupApproval {
    pub value: String,
    pub n: u64,
    pub approved: u64,
    pub rate: Option<f64>,
    pub reference_n: u64,
    pub reference_rate: Option<f64>,
    pub previous_n: Option<u64>,
    pub previous_rate: Option<f64>,
    /// Enough rows here and in the reference to be judged (see [`Thresholds::min_group`]).
    pub judged: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An input's or the score's PSI against the reference.
    Psi,
    /// The overall approval rate, or one group's, moved.
    ApprovalRate,
    /// The gap between a field's groups grew.
    ApprovalGap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Against {
    Reference,
    PreviousBatch,
}

/// Something that moved: what, how much, against what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// The input, `approval_rate`, `field=value`, or the field whose gap grew.
    pub subject: String,
    pub against: Against,
    /// The batch's value (PSI, rate, gap) and the value it is compared with.
    pub value: f64,
    pub compared_with: f64,
    pub threshold: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// The alert as one line, in the language asked for.
    pub message: String,
}

/// A batch's raw counts, before the comparison.
pub struct BatchCounts {
    /// Per watched input, bins (numbers) or categories, then the missing count.
    pub inputs: Vec<InputCounts>,
    pub score: InputCounts,
    pub n: u64,
    pub approved: u64,
    pub by: Vec<Vec<GroupCount>>,
}

pub struct InputCounts {
    pub counts: Vec<u64>,
    pub missing: u64,
    /// Sorted non-missing values (numbers only), for the KS test.
    pub sorted: Option<Vec<f64>>,
}

/// The drift of one input against its reference.
pub fn input_drift(name: &str, reference: &Distribution, batch: &InputCounts, t: &Thresholds) -> InputDrift {
    let (bins, ref_counts, ref_missing, test) = match reference {
        Distribution::Numeric(r) => {
            let bins = (0..=r.edges.len()).map(|i| reference::band_label(&r.edges, i)).collect();
            let ks = batch.sorted.as_deref().and_then(|b| stats::ks_2samp(&r.sample, b));
            (bins, &r.counts, r.missing, ks.map(|result| Test { name: TestName::Ks, result }))
        }
        Distribution::Categorical(r) => (r.categories.clone(), &r.counts, r.missing, None),
    };
    let mut reference_counts = ref_counts.clone();
    reference_counts.push(ref_missing);
    let mut batch_counts = batch.counts.clone();
    batch_counts.push(batch.missing);
    let test = test.or_else(|| match reference {
        Distribution::Categorical(_) => stats::chi2_two_samples(&reference_counts, &batch_counts)
            .map(|result| Test { name: TestName::ChiSquared, result }),
        Distribution::Numeric(_) => None,
    });
    let psi = stats::psi(&reference_counts, &batch_counts);
    let band = if psi >= t.psi_alert {
        PsiBand::Shifted
    } else if psi >= t.psi_warn {
        PsiBand::Moderate
    } else {
        PsiBand::Stable
    };
    let mut bins: Vec<String> = bins;
    bins.push(reference::MISSING.into());
    InputDrift {
        name: name.to_string(),
        psi,
        band,
        test,
        bins,
        reference_shares: shares(&reference_counts),
        batch_shares: shares(&batch_counts),
    }
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts.iter().map(|&c| ratio(c, total)).collect()
}

/// Approvals per group against the reference and the previous batch (if any).
pub fn approvals(
    reference: &Reference,
    batch: &BatchCounts,
    previous: Option<&ApprovalDrift>,
    t: &Thresholds,
) -> ApprovalDrift {
    let by = reference
        .approval
        .by
        .iter()
        .zip(&batch.by)
        .map(|(r, b)| {
            field_approvals(r, b, previous.and_then(|p| p.by.iter().find(|f| f.field == r.field)), t)
        })
        .collect();
    ApprovalDrift {
        n: batch.n,
        approved: batch.approved,
        rate: ratio(batch.approved, batch.n),
        reference_n: reference.approval.n,
        reference_rate: reference.approval.rate,
        previous_n: previous.map(|p| p.n),
        previous_rate: previous.map(|p| p.rate),
        by,
    }
}

fn field_approvals(
    reference: &GroupedApprovals,
    batch: &[GroupCount],
    previous: Option<&FieldApprovals>,
    t: &Thresholds,
) -> FieldApprovals {
    let groups: Vec<GroupApproval> = reference
        .groups
        .iter()
        .zip(batch)
        .map(|(r, b)| {
            let prev = previous.and_then(|p| p.groups.iter().find(|g| g.value == b.value));
            GroupApproval {
                value: b.value.clone(),
                n: b.n,
                approved: b.approved,
                rate: b.rate(),
                reference_n: r.n,
                reference_rate: r.rate(),
                previous_n: prev.map(|p| p.n),
                previous_rate: prev.and_then(|p| p.rate),
                judged: b.n >= t.min_group && r.n >= t.min_group,
            }
        })
        .collect();
    let judged: Vec<&GroupApproval> = groups.iter().filter(|g| g.judged).collect();
    let gap = |rate: &dyn Fn(&GroupApproval) -> Option<f64>| spread(judged.iter().map(|g| rate(g)));
    let with_previous = |g: &GroupApproval| g.previous_n.is_some_and(|n| n >= t.min_group);
    FieldApprovals {
        field: reference.field.clone(),
        gap: gap(&|g| g.rate),
        reference_gap: gap(&|g| g.reference_rate),
        previous_gap: if judged.iter().all(|g| with_previous(g)) { gap(&|g| g.previous_rate) } else { None },
        groups,
    }
}

/// Highest minus lowest of at least two rates (None when fewer, or one is unknown).
fn spread(rates: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let rates: Option<Vec<f64>> = rates.collect();
    let rates = rates.filter(|r| r.len() >= 2)?;
    let max = rates.iter().copied().fold(f64::MIN, f64::max);
    let min = rates.iter().copied().fold(f64::MAX, f64::min);
    Some(max - min)
}

/// What moved, unworded: the kind, subject, comparison, values, threshold and p-value.
pub struct Finding {
    pub kind: AlertKind,
    pub subject: String,
    pub against: Against,
    pub value: f64,
    pub compared_with: f64,
    pub threshold: f64,
    pub p_value: Option<f64>,
}

/// The alerts and the warnings of a batch, unworded.
pub fn findings(
    inputs: &[InputDrift],
    score: &InputDrift,
    approval: &ApprovalDrift,
    t: &Thresholds,
) -> (Vec<Finding>, Vec<Finding>) {
    let (mut alerts, mut warnings) = (Vec::new(), Vec::new());
    for drift in inputs.iter().chain([score]) {
        let finding = |threshold| Finding {
            kind: AlertKind::Psi,
            subject: drift.name.clone(),
            against: Against::Reference,
            value: drift.psi,
            compared_with: 0.0,
            threshold,
            p_value: drift.test.as_ref().map(|t| t.result.p_value),
        };
        match drift.band {
            PsiBand::Shifted => alerts.push(finding(t.psi_alert)),
            PsiBand::Moderate => warnings.push(finding(t.psi_warn)),
            PsiBand::Stable => {}
        }
    }
    let overall = (approval.approved, approval.n);
    let (reference, previous) = (
        (approval.reference_rate, approval.reference_n),
        approval.previous_n.zip(approval.previous_rate).map(|(n, r)| (r, n)),
    );
    rate_moves(&mut alerts, "approval_rate", overall, Some(reference), previous, t);
    for field in &approval.by {
        for g in field.groups.iter().filter(|g| g.judged) {
            let subject = format!("{}={}", field.field, g.value);
            let previous = g.previous_rate.zip(g.previous_n).filter(|&(_, n)| n >= t.min_group);
            let reference = g.reference_rate.map(|r| (r, g.reference_n));
            rate_moves(&mut alerts, &subject, (g.approved, g.n), reference, previous, t);
        }
        if let Some(gap) = field.gap {
            for (against, before) in
                [(Against::Reference, field.reference_gap), (Against::PreviousBatch, field.previous_gap)]
            {
                if let Some(before) = before.filter(|b| gap - b > t.gap_growth) {
                    alerts.push(Finding {
                        kind: AlertKind::ApprovalGap,
                        subject: field.field.clone(),
                        against,
                        value: gap,
                        compared_with: before,
                        threshold: t.gap_growth,
                        p_value: None,
                    });
                }
            }
        }
    }
    (alerts, warnings)
}

/// A rate's moves against the reference and the previous batch (each a rate and its row
/// count): more than the threshold and significant.
fn rate_moves(
    out: &mut Vec<Finding>,
    subject: &str,
    (approved, n): (u64, u64),
    reference: Option<(f64, u64)>,
    previous: Option<(f64, u64)>,
    t: &Thresholds,
) {
    let rate = ratio(approved, n);
    for (against, before) in [(Against::Reference, reference), (Against::PreviousBatch, previous)] {
        let Some((before, before_n)) = before else { continue };
        if before.is_nan() || (rate - before).abs() <= t.approval_move {
            continue;
        }
        let before_k = (before * before_n as f64).round() as u64;
        let p = stats::two_proportion_p(approved, n, before_k, before_n);
        if p < t.alpha {
            out.push(Finding {
                kind: AlertKind::ApprovalRate,
                subject: subject.to_string(),
                against,
                value: rate,
                compared_with: before,
                threshold: t.approval_move,
                p_value: Some(p),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(value: &str, n: u64, approved: u64) -> GroupCount {
        GroupCount { value: value.into(), n, approved }
    }

    fn field(batch: &[GroupCount], previous: Option<&FieldApprovals>) -> FieldApprovals {
        let reference = GroupedApprovals {
            field: "region".into(),
            grouping: reference::Grouping::Categories(vec!["a".into(), "b".into()]),
            groups: vec![group("a", 1000, 700), group("b", 1000, 500), group("missing", 0, 0)],
        };
        field_approvals(&reference, batch, previous, &Thresholds::default())
    }

    #[test]
    fn a_standing_gap_raises_nothing_and_a_growing_one_does() {
        let same = field(&[group("a", 1000, 702), group("b", 1000, 498), group("missing", 0, 0)], None);
        assert!((same.gap.unwrap() - 0.204).abs() < 1e-12);
        assert!((same.reference_gap.unwrap() - 0.2).abs() < 1e-12);
        let approval = |f: FieldApprovals| ApprovalDrift {
            n: 2000,
            approved: 1200,
            rate: 0.6,
            reference_n: 2000,
            reference_rate: 0.6,
            previous_n: None,
            previous_rate: None,
            by: vec![f],
        };
        let no_inputs = InputDrift {
            name: "score".into(),
            psi: 0.0,
            band: PsiBand::Stable,
            test: None,
            bins: vec![],
            reference_shares: vec![],
            batch_shares: vec![],
        };
        let (alerts, _) = findings(&[], &no_inputs, &approval(same), &Thresholds::default());
        assert!(alerts.is_empty());
        let wider = field(&[group("a", 1000, 700), group("b", 1000, 400), group("missing", 0, 0)], None);
        let (alerts, _) = findings(&[], &no_inputs, &approval(wider), &Thresholds::default());
        let kinds: Vec<(AlertKind, &str)> = alerts.iter().map(|a| (a.kind, a.subject.as_str())).collect();
        assert_eq!(kinds, [(AlertKind::ApprovalRate, "region=b"), (AlertKind::ApprovalGap, "region")]);
        // A small group is reported, not judged: its move raises nothing.
        let small = field(&[group("a", 1000, 700), group("b", 100, 20), group("missing", 0, 0)], None);
        assert!(!small.groups[1].judged);
        assert_eq!(small.gap, None);
    }
}
