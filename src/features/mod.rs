//! The fitted preprocessing, built from the schema: maps an applicant to exactly the feature
//! vector the forest was trained on (numbers, integers and booleans pass through, ordered
//! categories as their rank, other categories one-hot, derived ratios; a missing value as NaN),
//! knows which encoded column belongs to which reported group, and keeps what training data
//! looked like (ranges, reference values) for warnings and reasons. Excluded fields are accepted
//! but not encoded.

mod stats;

pub use stats::{GroupStats, median};

use crate::data::ApplicantTable;
use crate::error::{Error, Result};
use crate::schema::{Group, Kind, Schema};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One encoded column of the feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// A number, integer or boolean field as it is.
    Value(usize),
    /// An ordered field as its rank (0 = the first category).
    Rank(usize),
    /// 1.0 iff the field has the category with this index (NaN when the field is missing).
    OneHot(usize, usize),
    /// A derived feature.
    Derived(usize),
}

impl Column {
    /// The column's name in the forest dump: `income`, `education_level`, `region=Maule`,
    /// `debt_to_income`.
    pub fn name(self, schema: &Schema) -> String {
        match self {
            Column::Value(i) | Column::Rank(i) => schema.field(i).name.clone(),
            Column::OneHot(i, k) => {
                let field = schema.field(i);
                let category = field.kind.categories().map_or("", |c| c.name(k));
                format!("{}={category}", field.name)
            }
            Column::Derived(d) => schema.derived()[d].name.clone(),
        }
    }

    pub fn group(self) -> Group {
        match self {
            Column::Value(i) | Column::Rank(i) | Column::OneHot(i, _) => Group::Field(i),
            Column::Derived(d) => Group::Derived(d),
        }
    }

    /// The column's value for one applicant's field values (what the forest sees).
    #[inline]
    pub fn encode(self, schema: &Schema, values: &[f64]) -> f64 {
        match self {
            Column::Value(i) | Column::Rank(i) => values[i],
            Column::OneHot(i, k) => {
                let v = values[i];
                if v.is_nan() { f64::NAN } else { f64::from(v as usize == k) }
            }
            Column::Derived(d) => schema.derived()[d].value(values),
        }
    }
}

/// The encoded columns of a schema, in feature-vector order: the input fields in table order
/// (categorical fields expanded in place), then the input derived features.
pub fn columns(schema: &Schema) -> Vec<Column> {
    let mut out = Vec::new();
    for (i, field) in schema.fields().enumerate().filter(|(_, f)| !f.exclude) {
        match &field.kind {
            Kind::Ordered(_) => out.push(Column::Rank(i)),
            Kind::Category(c) => out.extend((0..c.len()).map(|k| Column::OneHot(i, k))),
            Kind::Number { .. } | Kind::Integer { .. } | Kind::Boolean | Kind::Text => {
                out.push(Column::Value(i))
            }
        }
    }
    out.extend(
        schema.derived().iter().enumerate().filter(|(_, d)| !d.exclude).map(|(d, _)| Column::Derived(d)),
    );
    out
}

/// What is saved with the model: the encoded column names (checked against the schema on load)
/// and the training statistics per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedEncoder {
    feature_names: Vec<String>,
    stats: Vec<GroupStats>,
}

/// The fitted preprocessing of one schema.
#[derive(Debug, Clone)]
pub struct Encoder {
    schema: Arc<Schema>,
    columns: Vec<Column>,
    feature_names: Vec<String>,
    /// The reported groups (model inputs only), in report order.
    groups: Vec<Group>,
    /// One per group, in the same order.
    stats: Vec<GroupStats>,
    /// For each encoded column, the index of its group in `groups`.
    column_groups: Vec<usize>,
}

impl PartialEq for Encoder {
    fn eq(&self, other: &Encoder) -> bool {
        self.schema == other.schema && self.saved() == other.saved()
    }
}

/// A valid value that lies outside what training saw: the model extrapolates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeKind {
    OutOfTrainingRange,
    UnseenCategory,
}

/// One value outside what training saw; the explainer words it in the applicant's language.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeWarning {
    pub group: Group,
    pub kind: RangeKind,
    /// The smallest and largest value training saw (raw units; unused for a category).
    pub min: f64,
    pub max: f64,
}

impl Encoder {
    /// Fits the encoding to a labelled training table.
    pub fn fit(table: &ApplicantTable) -> Result<Encoder> {
        let schema = table.schema();
        let approved = table.approved.as_deref().ok_or_else(|| {
            Error::Usage(format!("training data needs the `{}` label column", schema.label().name))
        })?;
        if table.is_empty() {
            return Err(Error::Usage("training data has no rows".into()));
        }
        let groups: Vec<Group> = schema.groups().filter(|&g| schema.is_input(g)).collect();
        let stats = groups
            .iter()
            .map(|&g| {
                let values: Vec<f64> = table.rows().map(|r| schema.group_raw(g, r)).collect();
                GroupStats::of(schema.group_name(g), &values, approved, n_categories(schema, g))
            })
            .collect();
        Ok(Encoder::assemble(Arc::clone(schema), stats))
    }

    /// The statistics of a sample of applicants (every row counted as approved), per reported
    /// group in [`Encoder::groups`] order: what a reference sample's medians and category shares
    /// are read from.
    pub fn sample_stats(&self, table: &ApplicantTable) -> Vec<GroupStats> {
        let schema = &self.schema;
        let all = vec![true; table.len()];
        self.groups
            .iter()
            .map(|&g| {
                let values: Vec<f64> = table.rows().map(|r| schema.group_raw(g, r)).collect();
                GroupStats::of(schema.group_name(g), &values, &all, n_categories(schema, g))
            })
            .collect()
    }

    fn assemble(schema: Arc<Schema>, stats: Vec<GroupStats>) -> Encoder {
        let columns = columns(&schema);
        let groups: Vec<Group> = schema.groups().filter(|&g| schema.is_input(g)).collect();
        let column_groups = columns
            .iter()
            .map(|c| groups.iter().position(|&g| g == c.group()).unwrap_or(usize::MAX))
            .collect();
        let feature_names = columns.iter().map(|c| c.name(&schema)).collect();
        Encoder { schema, columns, feature_names, groups, stats, column_groups }
    }

    /// Rebuilds a saved encoding for `schema`, checking that its columns and groups are the ones
    /// the schema encodes to (a model whose parts disagree is corrupt).
    pub fn from_saved(schema: Arc<Schema>, saved: SavedEncoder) -> std::result::Result<Encoder, String> {
        let encoder = Encoder::assemble(schema, saved.stats);
        if encoder.feature_names != saved.feature_names {
            return Err(format!(
                "the model's features {:?} do not match its schema's encoding {:?}",
                saved.feature_names, encoder.feature_names
            ));
        }
        let names: Vec<&str> = encoder.groups.iter().map(|&g| encoder.schema.group_name(g)).collect();
        if encoder.stats.len() != names.len() || encoder.stats.iter().zip(&names).any(|(s, n)| s.name != *n) {
            return Err("the model's training statistics do not match its schema's fields".into());
        }
        Ok(encoder)
    }

    /// What is saved with the model.
    pub fn saved(&self) -> SavedEncoder {
        SavedEncoder { feature_names: self.feature_names.clone(), stats: self.stats.clone() }
    }

    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    pub fn n_features(&self) -> usize {
        self.columns.len()
    }

    /// The encoded columns, in feature-vector order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The reported groups (the model's inputs), in report order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The training statistics of group `i` of [`Encoder::groups`].
    pub fn stats(&self, i: usize) -> &GroupStats {
        &self.stats[i]
    }

    /// For each encoded column, the index of its group in [`Encoder::groups`].
    pub fn column_groups(&self) -> &[usize] {
        &self.column_groups
    }

    /// Encodes one applicant's field values into `out` (one slot per encoded column).
    #[inline]
    pub fn encode_into(&self, values: &[f64], out: &mut [f64]) {
        for (slot, column) in out.iter_mut().zip(&self.columns) {
            *slot = column.encode(&self.schema, values);
        }
    }

    pub fn encode(&self, values: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.n_features()];
        self.encode_into(values, &mut out);
        out
    }

    /// Row-major feature vectors of a table's rows.
    pub fn encode_rows(&self, table: &ApplicantTable) -> Vec<f64> {
        let n = self.n_features();
        let mut out = vec![0.0; table.len() * n];
        for (slot, row) in out.chunks_mut(n.max(1)).zip(table.rows()) {
            self.encode_into(row, slot);
        }
        out
    }

    /// Column-major feature vectors (one Vec per column), as the forest trains on them.
    pub fn encode_columns(&self, table: &ApplicantTable) -> Vec<Vec<f64>> {
        self.columns.iter().map(|c| table.rows().map(|r| c.encode(&self.schema, r)).collect()).collect()
    }

    /// Values outside the training range and categories training never saw (missing values
    /// are not warned about: they are declared as missing).
    pub fn warnings(&self, values: &[f64]) -> Vec<RangeWarning> {
        let mut out = Vec::new();
        for (&group, s) in self.groups.iter().zip(&self.stats) {
            let v = self.schema.group_raw(group, values);
            if v.is_nan() {
                continue;
            }
            let kind = if n_categories(&self.schema, group) > 0 {
                (s.category_counts.get(v as usize).copied().unwrap_or(0) == 0)
                    .then_some(RangeKind::UnseenCategory)
            } else {
                (v < s.min || v > s.max).then_some(RangeKind::OutOfTrainingRange)
            };
            if let Some(kind) = kind {
                out.push(RangeWarning { group, kind, min: s.min, max: s.max });
            }
        }
        out
    }

    /// The feature schema saved beside the model and served by `GET /model`: each field's type,
    /// valid values, the range or categories seen in training, and the encoded columns.
    pub fn schema_json(&self) -> serde_json::Value {
        use serde_json::json;
        let schema = &self.schema;
        let fields: Vec<serde_json::Value> = schema
            .fields()
            .enumerate()
            .map(|(i, field)| {
                let trained = self.groups.iter().position(|&g| g == Group::Field(i)).map(|p| &self.stats[p]);
                let mut f = json!({"name": field.name, "protected": field.protected});
                for (key, set) in [
                    ("proxy", field.proxy),
                    ("reported", field.reported),
                    ("nullable", field.nullable),
                    ("excluded", field.exclude),
                ] {
                    if set {
                        f[key] = json!(true);
                    }
                }
                f["type"] = json!(field.kind.type_name());
                match &field.kind {
                    Kind::Integer { min, max } => f["valid"] = json!({"minimum": min, "maximum": max}),
                    Kind::Number { min, max } => {
                        f["valid"] = json!({"minimum": finite(*min), "maximum": finite(*max)})
                    }
                    _ => {}
                }
                match (&field.kind, trained) {
                    (Kind::Category(c) | Kind::Ordered(c), Some(s)) => {
                        f["categories"] = json!(c.names().collect::<Vec<_>>());
                        let seen: Vec<&str> = c
                            .names()
                            .zip(&s.category_counts)
                            .filter(|(_, n)| **n > 0)
                            .map(|(v, _)| v)
                            .collect();
                        f["training_categories"] = json!(seen);
                    }
                    (Kind::Category(c) | Kind::Ordered(c), None) => {
                        f["categories"] = json!(c.names().collect::<Vec<_>>())
                    }
                    (_, Some(s)) => f["training_range"] = json!([finite(s.min), finite(s.max)]),
                    (_, None) => {}
                }
                f
            })
            .collect();
        let engineered: Vec<serde_json::Value> = schema
            .derived()
            .iter()
            .enumerate()
            .map(|(d, spec)| {
                let mut e = json!({"name": spec.name, "definition": spec.definition()});
                match self.groups.iter().position(|&g| g == Group::Derived(d)) {
                    Some(p) => {
                        e["training_range"] = json!([finite(self.stats[p].min), finite(self.stats[p].max)])
                    }
                    None => e["excluded"] = json!(true),
                }
                e
            })
            .collect();
        json!({
            "schema": schema.name(),
            "fields": fields,
            "engineered": engineered,
            "feature_names": self.feature_names,
            "feature_groups": self.columns.iter().map(|c| schema.group_name(c.group())).collect::<Vec<_>>(),
        })
    }
}

/// JSON has no infinity: an unbounded side is `null`.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The number of categories of a group's values (2 for a boolean), 0 for a numeric group.
fn n_categories(schema: &Schema, group: Group) -> usize {
    match group {
        Group::Field(i) => match &schema.field(i).kind {
            Kind::Category(c) | Kind::Ordered(c) => c.len(),
            Kind::Boolean => 2,
            _ => 0,
        },
        Group::Derived(_) => 0,
    }
}

#[cfg(test)]
mod tests;
