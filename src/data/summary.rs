//! The dataset summary printed by `generate` and `describe`: size, approval rate, income
//! quantiles, per-group approval and income, and the oracle AUC of sigmoid(approval_score),
//! as a terminal table or JSON. Built row by row so a 10M-row generation never holds the table.

use super::ApplicantTable;
use super::chile::{EDUCATION_LEVELS, GENDERS, REGIONS};
use super::generate::{Row, sigmoid};
use crate::error::{Error, Result};
use crate::schema::builtin;
use rayon::slice::ParallelSliceMut;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub rows: u64,
    /// Share of `approved` rows (absent without a label column).
    pub approval_rate: Option<f64>,
    /// ROC-AUC of sigmoid(approval_score) against `approved`: the best any model can reach.
    pub oracle_auc: Option<f64>,
    pub income: IncomeSummary,
    pub by_region: Vec<GroupSummary>,
    pub by_gender: Vec<GroupSummary>,
    pub by_education: Vec<GroupSummary>,
}

/// Income quantiles (numpy's default linear interpolation) and mean, CLP per month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncomeSummary {
    pub p5: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p95: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSummary {
    pub name: String,
    pub rows: u64,
    pub share: f64,
    pub approval_rate: Option<f64>,
    /// Absent for a group without rows.
    pub mean_income: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct GroupTotals {
    rows: u64,
    approved: u64,
    income: f64,
}

/// Accumulates rows; [`SummaryBuilder::finish`] computes the quantiles and the AUC.
#[derive(Debug, Clone)]
pub struct SummaryBuilder {
    labelled: bool,
    incomes: Vec<f64>,
    income_total: f64,
    approved: u64,
    /// sigmoid(score) of approved and of denied rows: the AUC needs only these two sorted lists.
    positives: Vec<f64>,
    negatives: Vec<f64>,
    region: Vec<GroupTotals>,
    gender: Vec<GroupTotals>,
    education: Vec<GroupTotals>,
}

impl SummaryBuilder {
    /// `labelled`: whether rows come with `approval_score` and `approved`.
    pub fn new(labelled: bool) -> SummaryBuilder {
        SummaryBuilder {
            labelled,
            incomes: Vec::new(),
            income_total: 0.0,
            approved: 0,
            positives: Vec::new(),
            negatives: Vec::new(),
            region: vec![GroupTotals::default(); REGIONS.len()],
            gender: vec![GroupTotals::default(); GENDERS.len()],
            education: vec![GroupTotals::default(); EDUCATION_LEVELS.len()],
        }
    }

    /// Adds one applicant: category indices, income, and the labels when the builder has them.
    pub fn add(
        &mut self,
        region: usize,
        gender: usize,
        education: usize,
        income: f64,
        label: Option<(f64, bool)>,
    ) {
        self.incomes.push(income);
        self.income_total += income;
        let approved = match label {
            Some((score, approved)) if self.labelled => {
                let list = if approved { &mut self.positives } else { &mut self.negatives };
                list.push(sigmoid(score));
                approved
            }
            _ => false,
        };
        self.approved += u64::from(approved);
        for (groups, index) in
            [(&mut self.region, region), (&mut self.gender, gender), (&mut self.education, education)]
        {
            let group = &mut groups[index];
            group.rows += 1;
            group.approved += u64::from(approved);
            group.income += income;
        }
    }

    pub fn add_row(&mut self, row: &Row) {
        let label = Some((row.approval_score, row.approved));
        self.add(row.region as usize, row.gender as usize, row.education_level as usize, row.income, label);
    }

    pub fn finish(mut self) -> Summary {
        let rows = self.incomes.len() as u64;
        let (incomes, positives, negatives) = (&mut self.incomes, &mut self.positives, &mut self.negatives);
        let (quantiles, ()) = rayon::join(
            || quantiles(incomes, &[0.05, 0.25, 0.50, 0.75, 0.95]),
            || {
                rayon::join(
                    || positives.par_sort_unstable_by(f64::total_cmp),
                    || negatives.par_sort_unstable_by(f64::total_cmp),
                );
            },
        );
        let income = IncomeSummary {
            p5: quantiles[0],
            p25: quantiles[1],
            p50: quantiles[2],
            p75: quantiles[3],
            p95: quantiles[4],
            mean: if rows == 0 { f64::NAN } else { self.income_total / rows as f64 },
        };
        let labelled = self.labelled && rows > 0;
        let groups = |totals: &[GroupTotals], names: &[&str]| -> Vec<GroupSummary> {
            totals
                .iter()
                .zip(names)
                .map(|(t, name)| GroupSummary {
                    name: name.to_string(),
                    rows: t.rows,
                    share: ratio(t.rows, rows).unwrap_or(0.0),
                    approval_rate: if labelled { ratio(t.approved, t.rows) } else { None },
                    mean_income: (t.rows > 0).then(|| t.income / t.rows as f64),
                })
                .collect()
        };
        Summary {
            rows,
            approval_rate: if labelled { ratio(self.approved, rows) } else { None },
            oracle_auc: if labelled { auc_of_lists(&mut self.positives, &mut self.negatives) } else { None },
            income,
            by_region: groups(&self.region, REGIONS),
            by_gender: groups(&self.gender, GENDERS),
            by_education: groups(&self.education, EDUCATION_LEVELS),
        }
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The summary of a table of the built-in schema (labels used when present); the summary's
/// groups (region, gender, education) and income are the Chilean table's.
pub fn summarize(table: &ApplicantTable) -> Result<Summary> {
    if **table.schema() != *builtin() {
        return Err(Error::Usage(format!(
            "the dataset summary is for the built-in Chilean table; this table has the schema {:?}",
            table.schema().name()
        )));
    }
    let labelled = table.score.is_some() && table.approved.is_some();
    let mut builder = SummaryBuilder::new(labelled);
    let field = |name: &str| table.schema().field_index(name).unwrap_or(0);
    let (region, gender, education, income) =
        (field("region"), field("gender"), field("education_level"), field("income"));
    for (i, row) in table.rows().enumerate() {
        let label = match (&table.score, &table.approved) {
            (Some(s), Some(y)) => Some((s[i], y[i])),
            _ => None,
        };
        builder.add(row[region] as usize, row[gender] as usize, row[education] as usize, row[income], label);
    }
    Ok(builder.finish())
}

/// The `p` quantile of sorted values with linear interpolation between order statistics
/// (numpy's default, "type 7"); NaN when empty.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => {
            let (lo, hi, t) = order_statistics(n, p);
            sorted[lo] + t * (sorted[hi] - sorted[lo])
        }
    }
}

/// The two order statistics (0-based) a type-7 quantile interpolates between, and the weight.
fn order_statistics(n: usize, p: f64) -> (usize, usize, f64) {
    let h = p * (n - 1) as f64;
    (h.floor() as usize, h.ceil() as usize, h - h.floor())
}

/// Several quantiles of unsorted values (reordered in place) without a full sort: each order
/// statistic is selected from the part above the previous one.
pub fn quantiles(values: &mut [f64], ps: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return vec![f64::NAN; ps.len()];
    }
    let mut needed: Vec<usize> = ps
        .iter()
        .flat_map(|&p| {
            let (lo, hi, _) = order_statistics(n, p);
            [lo, hi]
        })
        .collect();
    needed.sort_unstable();
    needed.dedup();
    let mut start = 0;
    for &k in &needed {
        values[start..].select_nth_unstable_by(k - start, f64::total_cmp);
        start = k + 1; // everything up to k is now in its sorted place
    }
    ps.iter()
        .map(|&p| {
            let (lo, hi, t) = order_statistics(n, p);
            values[lo] + t * (values[hi] - values[lo])
        })
        .collect()
}

/// Exact ROC-AUC (ties count one half): the probability that a random positive scores above a
/// random negative. `None` unless both classes occur.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Option<f64> {
    let mut positives: Vec<f64> = labels.iter().zip(scores).filter(|(y, _)| **y).map(|(_, s)| *s).collect();
    let mut negatives: Vec<f64> = labels.iter().zip(scores).filter(|(y, _)| !**y).map(|(_, s)| *s).collect();
    auc_of_lists(&mut positives, &mut negatives)
}

/// Mann–Whitney U over the two score lists: sorted, then one merge pass.
fn auc_of_lists(positives: &mut [f64], negatives: &mut [f64]) -> Option<f64> {
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    // Already sorted when called from `finish`; sorting again is then a linear pass.
    positives.par_sort_unstable_by(f64::total_cmp);
    negatives.par_sort_unstable_by(f64::total_cmp);
    let (mut below, mut equal_end) = (0usize, 0usize);
    let mut wins = 0.0f64;
    for &p in positives.iter() {
        while below < negatives.len() && negatives[below] < p {
            below += 1;
        }
        equal_end = equal_end.max(below);
        while equal_end < negatives.len() && negatives[equal_end] == p {
            equal_end += 1;
        }
        wins += below as f64 + 0.5 * (equal_end - below) as f64;
    }
    Some(wins / (positives.len() as f64 * negatives.len() as f64))
}

impl Summary {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// A readable terminal table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "applicants      {}", thousands(self.rows as f64));
        if let Some(rate) = self.approval_rate {
            let _ = writeln!(out, "approval rate   {}", percent(Some(rate)));
        }
        if let Some(auc) = self.oracle_auc {
            let _ = writeln!(
                out,
                "oracle AUC      {auc:.4}  (sigmoid(approval_score) vs approved: the best any model can reach)"
            );
        }
        let i = &self.income;
        let _ = writeln!(
            out,
            "income (CLP)    p5 {}  p25 {}  p50 {}  p75 {}  p95 {}  mean {}",
            thousands(i.p5),
            thousands(i.p25),
            thousands(i.p50),
            thousands(i.p75),
            thousands(i.p95),
            thousands(i.mean)
        );
        for (title, groups) in [
            ("region", &self.by_region),
            ("gender", &self.by_gender),
            ("education_level", &self.by_education),
        ] {
            out.push('\n');
            render_groups(&mut out, title, groups);
        }
        out
    }
}

fn render_groups(out: &mut String, title: &str, groups: &[GroupSummary]) {
    let _ =
        writeln!(out, "{title:<20} {:>10} {:>7} {:>9} {:>12}", "rows", "share", "approved", "mean income");
    for g in groups {
        let income = g.mean_income.map_or("-".to_string(), thousands);
        let _ = writeln!(
            out,
            "  {:<18} {:>10} {:>7} {:>9} {:>12}",
            g.name,
            thousands(g.rows as f64),
            percent(Some(g.share)),
            percent(g.approval_rate),
            income
        );
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("-".to_string(), |r| format!("{:.1}%", 100.0 * r))
}

/// A whole number with thousands separators (1,234,567).
fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_string();
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if value < -0.5 { format!("-{grouped}") } else { grouped }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition itself: every (positive, negative) pair, ties one half.
    fn brute_force_auc(labels: &[bool], scores: &[f64]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (yi, si) in labels.iter().zip(scores) {
            for (yj, sj) in labels.iter().zip(scores) {
                if *yi && !*yj {
                    pairs += 1.0;
                    wins += if si > sj {
                        1.0
                    } else if si == sj {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn auc_matches_the_pairwise_definition_with_ties() {
        let mut state = 12345u64;
        for n in [2, 3, 10, 57, 200] {
            let mut labels = Vec::new();
            let mut scores = Vec::new();
            for _ in 0..n {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                labels.push(state >> 63 == 1);
                scores.push(((state >> 20) % 7) as f64 / 7.0); // few distinct values: many ties
            }
            labels[0] = true;
            labels[1] = false;
            let fast = roc_auc(&labels, &scores).unwrap();
            assert!((fast - brute_force_auc(&labels, &scores)).abs() < 1e-12, "n={n}");
        }
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
        assert_eq!(roc_auc(&[true, false, true, false], &[0.9, 0.1, 0.8, 0.2]), Some(1.0));
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        // numpy.percentile([1, 2, 3, 4, 10], [5, 25, 50, 95]) = [1.2, 2.0, 3.0, 8.8]
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        let got: Vec<f64> = [0.05, 0.25, 0.5, 0.95].iter().map(|&p| quantile(&v, p)).collect();
        for (g, want) in got.iter().zip([1.2, 2.0, 3.0, 8.8]) {
            assert!((g - want).abs() < 1e-12, "{got:?}");
        }
        assert!(quantile(&[], 0.5).is_nan());
        let mut shuffled = [10.0, 3.0, 1.0, 4.0, 2.0];
        assert_eq!(quantiles(&mut shuffled, &[0.05, 0.25, 0.5, 0.95]), got);
        // Against a full sort on larger data with ties.
        let mut state = 7u64;
        let mut data: Vec<f64> = (0..1001)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((state >> 33) % 300) as f64
            })
            .collect();
        let mut sorted = data.clone();
        sorted.sort_by(f64::total_cmp);
        let ps = [0.0, 0.05, 0.333, 0.5, 0.95, 1.0];
        let want: Vec<f64> = ps.iter().map(|&p| quantile(&sorted, p)).collect();
        assert_eq!(quantiles(&mut data, &ps), want);
    }

    #[test]
    fn groups_count_rows_approvals_and_income() {
        let mut b = SummaryBuilder::new(true);
        b.add(6, 0, 1, 500_000.0, Some((2.0, true)));
        b.add(6, 1, 1, 700_000.0, Some((-1.0, false)));
        b.add(0, 0, 3, 900_000.0, Some((0.5, true)));
        let s = b.finish();
        assert_eq!(s.rows, 3);
        assert_eq!(s.approval_rate, Some(2.0 / 3.0));
        assert_eq!(s.oracle_auc, Some(1.0));
        let metro = &s.by_region[6];
        assert_eq!((metro.rows, metro.approval_rate, metro.mean_income), (2, Some(0.5), Some(600_000.0)));
        assert_eq!(s.by_region[1].mean_income, None);
        assert_eq!(s.by_gender[0].rows, 2);
        assert_eq!(s.income.p50, 700_000.0);
        assert_eq!(s.income.mean, 700_000.0);
    }

    #[test]
    fn an_unlabelled_table_has_no_rates() {
        let mut b = SummaryBuilder::new(false);
        b.add(2, 1, 0, 300_000.0, None);
        let s = b.finish();
        assert_eq!((s.approval_rate, s.oracle_auc, s.by_region[2].approval_rate), (None, None, None));
        assert!(!s.render().contains("approval rate"));
    }

    #[test]
    fn the_table_is_readable() {
        let table = super::super::generate::generate_table(2_000, 1).unwrap();
        let text = summarize(&table).unwrap().render();
        assert!(text.contains("applicants      2,000"), "{text}");
        assert!(text.contains("  Metropolitana"), "{text}");
        assert!(text.contains("  postgrado"), "{text}");
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
