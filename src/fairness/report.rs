//! The fairness report as data: per grouping its groups' metrics and its disparities, each with
//! its interval, and the alerts; serialised as the JSON people script against (stable names, an
//! interval `NAME_ci` beside each value `NAME`) and flattened into searchable MLflow metric names.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// A value with its bootstrap interval (None: no bootstrap was asked for). NaN (undefined, or
/// skipped for want of labels) is `null` in JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub value: f64,
    pub ci: Option<[f64; 2]>,
}

/// A group's rate metrics, in the order of [`super::metrics::RATE_NAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    SelectionRate,
    MeanProbability,
    ObservedRate,
    Tpr,
    Fpr,
    Precision,
}

impl Rate {
    pub const ALL: [Rate; 6] = [
        Rate::SelectionRate,
        Rate::MeanProbability,
        Rate::ObservedRate,
        Rate::Tpr,
        Rate::Fpr,
        Rate::Precision,
    ];

    /// The JSON key and MLflow name part.
    pub fn key(self) -> &'static str {
        super::metrics::RATE_NAMES[self as usize]
    }

    /// Whether it needs the label.
    pub fn needs_label(self) -> bool {
        !matches!(self, Rate::SelectionRate | Rate::MeanProbability)
    }
}

/// A grouping's disparities, in the order of [`super::metrics::Disparities::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disparity {
    DpDifference,
    DpDifferenceToOverall,
    DpRatio,
    DpRatioToOverall,
    EoppDifference,
    EoppDifferenceToOverall,
    EoddsDifference,
    EoddsDifferenceToOverall,
}

impl Disparity {
    pub const ALL: [Disparity; 8] = [
        Disparity::DpDifference,
        Disparity::DpDifferenceToOverall,
        Disparity::DpRatio,
        Disparity::DpRatioToOverall,
        Disparity::EoppDifference,
        Disparity::EoppDifferenceToOverall,
        Disparity::EoddsDifference,
        Disparity::EoddsDifferenceToOverall,
    ];

    /// Fairlearn's name (the JSON key); `_to_overall` for `method="to_overall"`.
    pub fn key(self) -> &'static str {
        match self {
            Disparity::DpDifference => "demographic_parity_difference",
            Disparity::DpDifferenceToOverall => "demographic_parity_difference_to_overall",
            Disparity::DpRatio => "demographic_parity_ratio",
            Disparity::DpRatioToOverall => "demographic_parity_ratio_to_overall",
            Disparity::EoppDifference => "equal_opportunity_difference",
            Disparity::EoppDifferenceToOverall => "equal_opportunity_difference_to_overall",
            Disparity::EoddsDifference => "equalized_odds_difference",
            Disparity::EoddsDifferenceToOverall => "equalized_odds_difference_to_overall",
        }
    }

    /// The short MLflow name part (`fairness/gender/dp_ratio`).
    pub fn short(self) -> &'static str {
        match self {
            Disparity::DpDifference => "dp_difference",
            Disparity::DpDifferenceToOverall => "dp_difference_to_overall",
            Disparity::DpRatio => "dp_ratio",
            Disparity::DpRatioToOverall => "dp_ratio_to_overall",
            Disparity::EoppDifference => "eopp_difference",
            Disparity::EoppDifferenceToOverall => "eopp_difference_to_overall",
            Disparity::EoddsDifference => "eodds_difference",
            Disparity::EoddsDifferenceToOverall => "eodds_difference_to_overall",
        }
    }

    /// A ratio (alert below the threshold) rather than a difference (alert above).
    pub fn is_ratio(self) -> bool {
        matches!(self, Disparity::DpRatio | Disparity::DpRatioToOverall)
    }

    pub fn needs_label(self) -> bool {
        !matches!(
            self,
            Disparity::DpDifference
                | Disparity::DpDifferenceToOverall
                | Disparity::DpRatio
                | Disparity::DpRatioToOverall
        )
    }

    /// The between-groups disparities alerts are raised on.
    pub const JUDGED: [Disparity; 4] =
        [Disparity::DpDifference, Disparity::DpRatio, Disparity::EoppDifference, Disparity::EoddsDifference];
}

/// Why a group is listed but not judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Fewer rows than `--min-group`.
    TooSmall,
    /// No row with the positive label: TPR is undefined.
    NoPositives,
    /// No row with the negative label: FPR is undefined.
    NoNegatives,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupReport {
    pub label: String,
    pub n: u64,
    /// Rows with the positive label (None without labels).
    pub positives: Option<u64>,
    pub flag: Option<Flag>,
    /// Indexed by [`Rate`].
    pub rates: [Stat; 6],
    /// The group's ROC-AUC (no interval; NaN with one class or without labels).
    pub roc_auc: f64,
}

impl GroupReport {
    pub fn rate(&self, rate: Rate) -> Stat {
        self.rates[rate as usize]
    }

    pub fn judged(&self) -> bool {
        self.flag.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ByReport {
    /// `gender` or `gender*region`.
    pub name: String,
    pub fields: Vec<String>,
    pub groups: Vec<GroupReport>,
    /// Indexed by [`Disparity`].
    pub disparities: [Stat; 8],
}

impl ByReport {
    pub fn disparity(&self, d: Disparity) -> Stat {
        self.disparities[d as usize]
    }

    pub fn group(&self, label: &str) -> Option<&GroupReport> {
        self.groups.iter().find(|g| g.label == label)
    }
}

/// The thresholds alerts are raised at.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Thresholds {
    /// A difference above this alerts (0.05: the seed's ~5%).
    pub max_difference: f64,
    /// A ratio below this alerts (0.8: the four-fifths rule).
    pub min_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds { max_difference: 0.05, min_ratio: 0.8 }
    }
}

/// A disparity past its threshold, with the groups at either end of the gap.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    pub by: String,
    #[serde(serialize_with = "disparity_key")]
    pub metric: Disparity,
    pub value: f64,
    pub ci: Option<[f64; 2]>,
    pub threshold: f64,
    /// The rate whose gap it is (`selection_rate`, `tpr` or `fpr`).
    #[serde(serialize_with = "rate_key")]
    pub rate: Rate,
    pub highest: (String, f64),
    pub lowest: (String, f64),
}

fn disparity_key<S: Serializer>(d: &Disparity, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.key())
}

fn rate_key<S: Serializer>(r: &Rate, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.key())
}

/// Everything `credrisk fairness` found in one batch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FairnessReport {
    pub n: u64,
    /// Whether the batch had labels; without, only selection rates and mean probabilities.
    pub labelled: bool,
    /// The label column (its positive class is "approved").
    pub label: String,
    /// The model's decision threshold: approved iff P(approved) >= threshold.
    pub threshold: f64,
    pub n_boot: usize,
    pub seed: u64,
    pub confidence: f64,
    pub min_group: u64,
    pub thresholds: Thresholds,
    #[serde(serialize_with = "overall")]
    pub overall: GroupReport,
    #[serde(serialize_with = "by_map")]
    pub by: Vec<ByReport>,
    pub alerts: Vec<Alert>,
    /// What was left out and why (e.g. label metrics without a label column).
    pub notes: Vec<String>,
}

impl FairnessReport {
    pub fn by(&self, name: &str) -> Option<&ByReport> {
        self.by.iter().find(|b| b.name == name)
    }

    /// The report as MLflow metrics with names a person can search: per single-field grouping
    /// `fairness/FIELD/selection_rate/GROUP` and `fairness/FIELD/{dp_difference, dp_ratio,
    /// eopp_difference, eodds_difference}`, plus `fairness/alerts`. Undefined values are left out.
    pub fn mlflow_metrics(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for by in self.by.iter().filter(|b| b.fields.len() == 1) {
            let field = metric_part(&by.name);
            for g in &by.groups {
                out.push((
                    format!("fairness/{field}/selection_rate/{}", metric_part(&g.label)),
                    g.rate(Rate::SelectionRate).value,
                ));
            }
            for d in Disparity::JUDGED {
                out.push((format!("fairness/{field}/{}", d.short()), by.disparity(d).value));
            }
        }
        out.push(("fairness/alerts".to_string(), self.alerts.len() as f64));
        out.retain(|(_, v)| v.is_finite());
        out
    }
}

/// A group label or field name as an MLflow key part: characters MLflow refuses in a key
/// (anything but letters, digits, `_ . - :` and space; `/` would nest) become `_`.
pub fn metric_part(text: &str) -> String {
    text.chars().map(|c| if c.is_alphanumeric() || "_.- :".contains(c) { c } else { '_' }).collect()
}

fn stat_entries<M: SerializeMap>(map: &mut M, key: &str, stat: &Stat) -> Result<(), M::Error> {
    map.serialize_entry(key, &stat.value)?;
    map.serialize_entry(&format!("{key}_ci"), &stat.ci)
}

impl Serialize for GroupReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("n", &self.n)?;
        map.serialize_entry("positives", &self.positives)?;
        map.serialize_entry("judged", &self.judged())?;
        map.serialize_entry("flag", &self.flag)?;
        for rate in Rate::ALL {
            stat_entries(&mut map, rate.key(), &self.rate(rate))?;
        }
        map.serialize_entry("roc_auc", &self.roc_auc)?;
        map.end()
    }
}

impl Serialize for ByReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("fields", &self.fields)?;
        map.serialize_entry("judged_groups", &self.groups.iter().filter(|g| g.judged()).count())?;
        map.serialize_entry("groups", &Ordered(&self.groups))?;
        for d in Disparity::ALL {
            stat_entries(&mut map, d.key(), &self.disparity(d))?;
        }
        map.end()
    }
}

/// What a list item is keyed by when the list is written as a JSON object.
trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for GroupReport {
    fn key(&self) -> &str {
        &self.label
    }
}

impl Keyed for ByReport {
    fn key(&self) -> &str {
        &self.name
    }
}

/// A list serialised as a JSON object keyed by [`Keyed::key`], in list order.
struct Ordered<'a, T>(&'a [T]);

impl<T: Serialize + Keyed> Serialize for Ordered<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|item| (item.key(), item)))
    }
}

fn by_map<S: Serializer>(by: &[ByReport], s: S) -> Result<S::Ok, S::Error> {
    Ordered(by).serialize(s)
}

/// The overall row without the group-only keys.
fn overall<S: Serializer>(g: &GroupReport, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    map.serialize_entry("n", &g.n)?;
    map.serialize_entry("positives", &g.positives)?;
    for rate in Rate::ALL {
        stat_entries(&mut map, rate.key(), &g.rate(rate))?;
    }
    map.serialize_entry("roc_auc", &g.roc_auc)?;
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_parts_are_keys_mlflow_accepts() {
        assert_eq!(metric_part("O'Higgins"), "O_Higgins");
        assert_eq!(metric_part("Tarapacá"), "Tarapacá");
        assert_eq!(metric_part("gender*region"), "gender_region");
        assert_eq!(metric_part("[0.5, 1.5)"), "_0.5_ 1.5_");
        // MLflow's key rule `[/\w.\- :]`: `/` separates the parts, so a part holds none.
        let allowed = |c: char| c.is_alphanumeric() || "_.- :".contains(c);
        assert!(metric_part("a/b*c'd+e").chars().all(allowed));
    }
}
