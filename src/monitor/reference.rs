//! The train-time reference a batch is compared with, kept in the model directory as
//! `reference.json`: per model input (and the score) its bins and counts (deciles for numbers,
//! categories for categories, plus a missing bin), a seeded sample of numbers for the KS test,
//! and the approval rate overall and per group of the schema's protected and proxy fields.
//!
//! It is built from the held-out test split: rows the forest never saw, so their scores are the
//! same kind of out-of-sample scores a new batch gets.

use super::stats::bin_of;
use crate::data::ApplicantTable;
use crate::data::summary::quantile;
use crate::error::{Error, Result};
use crate::fairness;
use crate::fsutil::write_atomic;
use crate::model::Model;
use crate::schema::{Group, Kind, Schema};
use rand::SeedableRng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The reference's file name inside a model directory.
pub const REFERENCE_FILE: &str = "reference.json";
/// /2: numeric groups are cut at the fairness bands (age 18-25, …), not the reference deciles.
pub const REFERENCE_FORMAT: &str = "credrisk-reference/2";
/// Reference values kept per number for the KS test (all of them when there are fewer).
pub const KS_SAMPLE: usize = 2000;
const SAMPLE_SEED: u64 = 0x004D_4F4E_4954_4F52; // "MONITOR"
/// The name the score goes by in reports and metric keys.
pub const SCORE_NAME: &str = "score";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub format: String,
    /// What the reference was computed on (e.g. "held-out test split").
    pub source: String,
    pub n_rows: u64,
    /// The model's decision threshold: approved iff score ≥ threshold.
    pub threshold: f64,
    /// One entry per model input (fields, then derived features), in schema order.
    pub inputs: Vec<Feature>,
    /// The model's P(approved).
    pub score: Numeric,
    pub approval: Approval,
}

/// One input's reference distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    pub distribution: Distribution,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Distribution {
    Numeric(Numeric),
    Categorical(Categorical),
}

/// A number's reference: the bins are the deciles (ties merged), open-ended at both ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Numeric {
    /// The 10th … 90th percentiles (NumPy's linear method) of the non-missing values.
    pub deciles: Vec<f64>,
    /// The distinct deciles: the bin edges.
    pub edges: Vec<f64>,
    /// Rows per bin (`edges.len() + 1` bins; see [`bin_of`]).
    pub counts: Vec<u64>,
    pub missing: u64,
    /// A seeded sample of the non-missing values, sorted, for the KS test.
    pub sample: Vec<f64>,
}

/// A category's reference: rows per category (in the schema's order) and missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Categorical {
    pub categories: Vec<String>,
    pub counts: Vec<u64>,
    pub missing: u64,
}

/// Approvals overall and per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub n: u64,
    pub approved: u64,
    pub rate: f64,
    /// One entry per protected, proxy or reported field of the schema.
    pub by: Vec<GroupedApprovals>,
}

/// How rows are put in groups for one field, and the reference approvals per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupedApprovals {
    pub field: String,
    pub grouping: Grouping,
    pub groups: Vec<GroupCount>,
}

/// Categories by name; numbers in the bands `credrisk fairness` uses ([`fairness::banding`]:
/// age 18-25, 26-35, …; other numbers at the reference's quintiles), so that the monitor's
/// groups and the batch's fairness report are the same groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "values", rename_all = "snake_case")]
pub enum Grouping {
    Categories(Vec<String>),
    Bands { edges: Vec<f64>, integer: bool },
}

impl Grouping {
    /// How `field` of `schema` is grouped on `table` (the reference rows): fairness's rule.
    pub fn of_field(schema: &Schema, field: usize, table: &ApplicantTable) -> Result<Grouping> {
        Ok(match fairness::banding(schema.field(field), None, table, field)? {
            fairness::Banding::Bands { edges, integer } => Grouping::Bands { edges, integer },
            _ => Grouping::Categories(category_names(schema, Group::Field(field))),
        })
    }

    /// The group labels, in order, the missing group last.
    pub fn labels(&self) -> Vec<String> {
        let mut out: Vec<String> = match self {
            Grouping::Categories(names) => names.clone(),
            Grouping::Bands { edges, integer } => {
                (0..=edges.len()).map(|i| fairness::band_label(edges, i, *integer)).collect()
            }
        };
        out.push(MISSING.to_string());
        out
    }

    /// The group index of a raw value (category index or number; NaN = missing group).
    #[inline]
    pub fn index(&self, raw: f64) -> usize {
        match self {
            _ if raw.is_nan() => self.len() - 1,
            Grouping::Categories(_) => raw as usize,
            Grouping::Bands { edges, .. } => fairness::band_of(edges, raw),
        }
    }

    /// Number of groups, the missing group included.
    pub fn len(&self) -> usize {
        match self {
            Grouping::Categories(names) => names.len() + 1,
            Grouping::Bands { edges, .. } => edges.len() + 2,
        }
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The missing group's and bin's name.
pub const MISSING: &str = "missing";

/// Bin `i` of `edges` as a range a person and an MLflow key can both read: `..25` (up to 25),
/// `25..31` (above 25, up to 31), `64..` (above 64); `all` when there are no edges.
pub fn band_label(edges: &[f64], i: usize) -> String {
    match (i, edges.len()) {
        (_, 0) => "all".into(),
        (0, _) => format!("..{}", edges[0]),
        (i, n) if i == n => format!("{}..", edges[n - 1]),
        (i, _) => format!("{}..{}", edges[i - 1], edges[i]),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupCount {
    pub value: String,
    pub n: u64,
    pub approved: u64,
}

impl GroupCount {
    pub fn rate(&self) -> Option<f64> {
        (self.n > 0).then(|| self.approved as f64 / self.n as f64)
    }
}

/// Whether a group is a model input that the monitor watches, and how it is binned.
pub fn is_numeric(schema: &Schema, g: Group) -> Option<bool> {
    match g {
        Group::Derived(_) => Some(true),
        Group::Field(i) => match &schema.field(i).kind {
            Kind::Number { .. } | Kind::Integer { .. } => Some(true),
            Kind::Category(_) | Kind::Ordered(_) | Kind::Boolean => Some(false),
            Kind::Text => None,
        },
    }
}

/// A categorical group's category names (booleans are `false`/`true`).
pub fn category_names(schema: &Schema, g: Group) -> Vec<String> {
    match g {
        Group::Field(i) => match &schema.field(i).kind {
            Kind::Category(c) | Kind::Ordered(c) => c.names().map(str::to_string).collect(),
            _ => vec!["false".into(), "true".into()],
        },
        Group::Derived(_) => Vec::new(),
    }
}

/// The watched inputs: every model input that is not free text.
pub fn watched_inputs(schema: &Schema) -> Vec<(Group, bool)> {
    schema
        .groups()
        .filter(|&g| schema.is_input(g))
        .filter_map(|g| is_numeric(schema, g).map(|n| (g, n)))
        .collect()
}

/// The fields approval rates are reported by: the schema's protected, proxy and reported fields
/// (those `credrisk fairness` groups by default).
pub fn group_fields(schema: &Schema) -> Vec<usize> {
    (0..schema.n_fields()).filter(|&i| schema.field(i).is_fairness_group()).collect()
}

impl Reference {
    /// The reference of `table` (the held-out rows), whose `scores` are `model`'s probabilities.
    pub fn build(model: &Model, table: &ApplicantTable, scores: &[f64], source: &str) -> Result<Reference> {
        let schema = model.schema();
        let sample_idx = sample_indices(table.len());
        let inputs = watched_inputs(schema)
            .into_par_iter()
            .map(|(g, numeric)| {
                let values: Vec<f64> = table.rows().map(|r| schema.group_raw(g, r)).collect();
                let distribution = if numeric {
                    Distribution::Numeric(Numeric::build(&values, &sample_idx))
                } else {
                    Distribution::Categorical(Categorical::build(category_names(schema, g), &values))
                };
                Feature { name: schema.group_name(g).to_string(), distribution }
            })
            .collect();
        let approved: Vec<bool> = scores.iter().map(|&p| p >= model.threshold).collect();
        let by = group_fields(schema)
            .into_iter()
            .map(|i| {
                let values: Vec<f64> = table.column(i).collect();
                let grouping = Grouping::of_field(schema, i, table)?;
                let groups = count_groups(&grouping, &values, &approved);
                Ok(GroupedApprovals { field: schema.field(i).name.clone(), grouping, groups })
            })
            .collect::<Result<_>>()?;
        let n = table.len() as u64;
        let n_approved = approved.iter().filter(|&&a| a).count() as u64;
        Ok(Reference {
            format: REFERENCE_FORMAT.into(),
            source: source.into(),
            n_rows: n,
            threshold: model.threshold,
            inputs,
            score: Numeric::build(scores, &sample_idx),
            approval: Approval { n, approved: n_approved, rate: ratio(n_approved, n), by },
        })
    }

    /// Writes `dir/reference.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Internal(format!("reference: {e}")))?;
        write_atomic(dir.join(REFERENCE_FILE), &bytes)
    }

    /// Reads `dir/reference.json` and checks it describes `schema`'s inputs.
    pub fn load(dir: &Path, schema: &Schema) -> Result<Reference> {
        let path = dir.join(REFERENCE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::bad_file(
                    dir,
                    format!(
                        "the model has no {REFERENCE_FILE} (trained before credrisk kept a monitoring \
                         reference): retrain it to monitor its batches"
                    ),
                ));
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        // The format first: an older reference is told to retrain, not shown a parse error.
        #[derive(Deserialize)]
        struct Head {
            format: String,
        }
        let head: Head = serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_file(&path, format!("is not a credrisk reference: {e}")))?;
        if head.format != REFERENCE_FORMAT {
            return Err(Error::bad_file(
                &path,
                format!(
                    "format {:?} is not {REFERENCE_FORMAT} (an older credrisk wrote it): retrain the model \
                     to monitor its batches",
                    head.format
                ),
            ));
        }
        let reference: Reference = serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_file(&path, format!("is not a credrisk reference: {e}")))?;
        let expected: Vec<&str> = watched_inputs(schema).iter().map(|&(g, _)| schema.group_name(g)).collect();
        let found: Vec<&str> = reference.inputs.iter().map(|f| f.name.as_str()).collect();
        if expected != found {
            return Err(Error::bad_file(&path, "describes other inputs than the model's schema"));
        }
        Ok(reference)
    }
}

/// Which rows form the KS sample: all when there are few, else a seeded sample.
fn sample_indices(n: usize) -> Vec<usize> {
    if n <= KS_SAMPLE {
        return (0..n).collect();
    }
    let mut idx = index::sample(&mut ChaCha8Rng::seed_from_u64(SAMPLE_SEED), n, KS_SAMPLE).into_vec();
    idx.sort_unstable();
    idx
}

impl Numeric {
    /// Deciles, bins and counts of `values` (NaN = missing), and the KS sample at `sample_idx`.
    pub fn build(values: &[f64], sample_idx: &[usize]) -> Numeric {
        let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        present.par_sort_unstable_by(f64::total_cmp);
        let deciles: Vec<f64> = (1..10).map(|k| quantile(&present, k as f64 / 10.0)).collect();
        let mut edges: Vec<f64> = deciles.iter().copied().filter(|v| !v.is_nan()).collect();
        edges.dedup();
        let (counts, missing) = bin_counts(&edges, values);
        let mut sample: Vec<f64> = sample_idx.iter().map(|&i| values[i]).filter(|v| !v.is_nan()).collect();
        sample.sort_unstable_by(f64::total_cmp);
        Numeric { deciles, edges, counts, missing, sample }
    }
}

/// Rows per bin of `edges` and rows missing.
pub fn bin_counts(edges: &[f64], values: &[f64]) -> (Vec<u64>, u64) {
    let mut counts = vec![0u64; edges.len() + 1];
    let mut missing = 0;
    for &v in values {
        if v.is_nan() {
            missing += 1;
        } else {
            counts[bin_of(edges, v)] += 1;
        }
    }
    (counts, missing)
}

impl Categorical {
    pub fn build(categories: Vec<String>, values: &[f64]) -> Categorical {
        let (counts, missing) = category_counts(categories.len(), values);
        Categorical { categories, counts, missing }
    }
}

/// Rows per category index and rows missing.
pub fn category_counts(n_categories: usize, values: &[f64]) -> (Vec<u64>, u64) {
    let mut counts = vec![0u64; n_categories];
    let mut missing = 0;
    for &v in values {
        match counts.get_mut(v as usize) {
            Some(c) if !v.is_nan() => *c += 1,
            _ => missing += 1,
        }
    }
    (counts, missing)
}

/// Rows and approvals per group.
pub fn count_groups(grouping: &Grouping, values: &[f64], approved: &[bool]) -> Vec<GroupCount> {
    let mut groups: Vec<GroupCount> =
        grouping.labels().into_iter().map(|value| GroupCount { value, n: 0, approved: 0 }).collect();
    for (&v, &a) in values.iter().zip(approved) {
        let g = &mut groups[grouping.index(v).min(grouping.len() - 1)];
        g.n += 1;
        g.approved += u64::from(a);
    }
    groups
}

pub fn ratio(k: u64, n: u64) -> f64 {
    if n == 0 { f64::NAN } else { k as f64 / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_with_ties_merge_into_fewer_bins() {
        let values: Vec<f64> = (0..100).map(|i| f64::from(i % 3)).chain([f64::NAN]).collect();
        let numeric = Numeric::build(&values, &[0, 1, 2, 100]);
        assert_eq!(numeric.edges, vec![0.0, 1.0, 2.0]);
        assert_eq!(numeric.counts, vec![34, 33, 33, 0]);
        assert_eq!(numeric.missing, 1);
        assert_eq!(numeric.sample, vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn bands_name_their_bounds_and_missing_goes_last() {
        let grouping = Grouping::Bands { edges: vec![25.0, 40.0], integer: true };
        assert_eq!(grouping.labels(), ["<25", "25-39", "40+", "missing"]);
        assert_eq!([20.0, 25.0, 30.0, 99.0, f64::NAN].map(|x| grouping.index(x)), [0, 1, 1, 2, 3]);
    }

    #[test]
    fn the_age_groups_are_the_fairness_age_bands() {
        let schema = crate::schema::builtin();
        let table = crate::data::generate_table(400, 7).unwrap();
        let age = schema.field_index("age").unwrap();
        let grouping = Grouping::of_field(&schema, age, &table).unwrap();
        assert_eq!(
            grouping,
            Grouping::Bands { edges: schema.field(age).bands.clone().unwrap(), integer: true }
        );
        assert_eq!(grouping.labels()[1..7], ["18-25", "26-35", "36-45", "46-55", "56-65", "66+"]);
    }
}
