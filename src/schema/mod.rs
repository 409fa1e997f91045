//! The applicant schema as data: a credit table's columns (names, types, valid ranges, canonical
//! categories, units, labels in Spanish and English) and their roles (the label and its positive
//! class, protected and proxy attributes, excluded inputs, recourse directions, ids), plus derived
//! features. The built-in Chilean schema is the default; a TOML file describes any other table.
//!
//! Everything else (readers, validation of CLI and HTTP input, the OpenAPI document, the encoding,
//! reasons, warnings, the audit record) takes names, types and rules from a loaded [`Schema`].

mod applicant;
mod categories;
mod chile;
mod file;
pub mod infer;
pub mod json;
mod rules;
mod write;

pub use crate::error::FieldError;
pub use applicant::{Applicant, FieldValue, json_type, same_values};
pub use categories::{Categories, Category, fold};
pub use chile::{CHILE_TOML, builtin};
pub use file::{SchemaError, read_file};
pub use rules::{Place, Problem};

/// A column's type and the values that are possible at all (validation rejects the rest; values
/// outside the training range are valid and answered with a warning).
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A real number (Arrow float64; JSON number). Unbounded sides are infinite.
    Number { min: f64, max: f64 },
    /// A whole number (Arrow int32, or int64 when the range needs it; JSON integer).
    Integer { min: i64, max: i64 },
    /// One of a list (Arrow utf8; JSON string), one-hot encoded.
    Category(Categories),
    /// One of a list whose order means something (least to most), encoded as its rank.
    Ordered(Categories),
    /// true or false (Arrow bool; JSON boolean), encoded 0/1.
    Boolean,
    /// Free text: only for id columns, carried through and never validated.
    Text,
}

impl Kind {
    /// The categories of a categorical or ordered column.
    pub fn categories(&self) -> Option<&Categories> {
        match self {
            Kind::Category(c) | Kind::Ordered(c) => Some(c),
            _ => None,
        }
    }

    /// The name used in schema files.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Number { .. } => "number",
            Kind::Integer { .. } => "integer",
            Kind::Category(_) => "category",
            Kind::Ordered(_) => "ordered",
            Kind::Boolean => "boolean",
            Kind::Text => "text",
        }
    }
}

/// How a value reads to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// An amount in a currency (ISO code: CLP, DM, EUR).
    Money(String),
    /// A fraction shown as a percentage (0.05 → 5%).
    Percent,
    Count,
    Years,
    Months,
}

/// What a recourse suggestion may do with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recourse {
    /// Not the applicant's to change (age, region) or not ethical to suggest changing.
    Immutable,
    /// May only go up (income, employment years).
    Increase,
    /// May only go down (delinquency, inquiries).
    Decrease,
    /// May change either way.
    Any,
    /// Describes the applicant's circumstances (regional inflation), not something they can act on.
    Context,
}

impl Recourse {
    pub const ALL: [Recourse; 5] =
        [Recourse::Immutable, Recourse::Increase, Recourse::Decrease, Recourse::Any, Recourse::Context];

    pub fn name(self) -> &'static str {
        match self {
            Recourse::Immutable => "immutable",
            Recourse::Increase => "increase",
            Recourse::Decrease => "decrease",
            Recourse::Any => "any",
            Recourse::Context => "context",
        }
    }
}

/// The label's positive class (what "approved" means for this table), in the label's own type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Positive {
    Boolean(bool),
    /// The canonical spelling of one of the label's categories.
    Category(String),
    Integer(i64),
}

/// What a column is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// An applicant field: accepted as input and (unless excluded) a model input.
    Feature,
    /// The outcome the model learns; exactly one per schema.
    Label(Positive),
    /// Carried through batch outputs, never validated or learned from.
    Id,
    /// Kept for evaluation only (the generator's latent `approval_score`: the ceiling metric).
    Diagnostic,
}

/// A column's short human names, used in reasons and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub es: String,
    pub en: String,
}

impl Labels {
    pub fn get(&self, spanish: bool) -> &str {
        if spanish { &self.es } else { &self.en }
    }
}

/// One column of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    /// Missing values (Parquet null, empty CSV cell, JSON null) are accepted, as NaN.
    pub nullable: bool,
    pub unit: Option<Unit>,
    pub labels: Labels,
    pub role: Role,
    /// Never cited as a reason, a fairness group, a warning when it carries a decision.
    pub protected: bool,
    /// May stand in for a protected attribute (region): treated like one in reasons.
    pub proxy: bool,
    /// A legitimate factor whose group gaps are reported beside the protected attributes
    /// (education level): a fairness and monitoring group, yet cited in reasons like any input.
    pub reported: bool,
    /// Accepted and carried, but not a model input.
    pub exclude: bool,
    pub recourse: Recourse,
    /// Where fairness and monitoring cut this numeric field into groups (age: 18, 26, 36, …):
    /// ascending edges, `< e0`, `[e0, e1)`, …, `>= e_last`. None: quintiles of the data.
    pub bands: Option<Vec<f64>>,
}

impl Column {
    /// A feature column with default roles, labelled by its name.
    pub fn feature(name: impl Into<String>, kind: Kind) -> Column {
        let name = name.into();
        Column {
            labels: Labels { es: name.clone(), en: name.clone() },
            name,
            kind,
            nullable: false,
            unit: None,
            role: Role::Feature,
            protected: false,
            proxy: false,
            reported: false,
            exclude: false,
            recourse: Recourse::Any,
            bands: None,
        }
    }

    /// Never cited in reasons: protected attributes and their proxies.
    pub fn never_cited(&self) -> bool {
        self.protected || self.proxy
    }

    /// Split into groups by fairness and monitoring: protected, proxy and reported fields.
    pub fn is_fairness_group(&self) -> bool {
        (self.protected || self.proxy || self.reported) && !matches!(self.kind, Kind::Text)
    }
}

/// An engineered feature computed from two fields: `numerator / max(denominator, floor)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub name: String,
    pub numerator: String,
    pub denominator: String,
    /// The smallest denominator used: keeps the ratio finite when the denominator is 0.
    pub floor: f64,
    pub labels: Labels,
    pub unit: Option<Unit>,
    pub exclude: bool,
    /// Field indices of numerator and denominator (set by [`Schema::new`]).
    fields: (usize, usize),
}

impl Derived {
    pub fn ratio(name: &str, numerator: &str, denominator: &str, floor: f64, labels: Labels) -> Derived {
        Derived {
            name: name.into(),
            numerator: numerator.into(),
            denominator: denominator.into(),
            floor,
            labels,
            unit: None,
            exclude: false,
            fields: (0, 0),
        }
    }

    /// The value for an applicant's field values (NaN when an input is missing: `f64::max`
    /// would otherwise replace a missing denominator by the floor).
    #[inline]
    pub fn value(&self, values: &[f64]) -> f64 {
        let denominator = values[self.fields.1];
        if denominator.is_nan() { f64::NAN } else { values[self.fields.0] / denominator.max(self.floor) }
    }

    /// How it is computed, for documents: `avg_monthly_payment / max(income, 1)`.
    pub fn definition(&self) -> String {
        format!("{} / max({}, {})", self.numerator, self.denominator, self.floor)
    }
}

/// What an explanation is reported per: one applicant field, or one derived feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Index among the schema's fields.
    Field(usize),
    /// Index among the schema's derived features.
    Derived(usize),
}

/// A credit table: its columns in table order and its derived features, with the roles
/// resolved once (which columns are fields, which is the label).
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    name: String,
    columns: Vec<Column>,
    derived: Vec<Derived>,
    /// Column index of each applicant field (role feature), in table order.
    fields: Vec<usize>,
    label: usize,
    score: Option<usize>,
    ids: Vec<usize>,
}

impl Schema {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every column, in table order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn derived(&self) -> &[Derived] {
        &self.derived
    }

    /// The number of applicant fields (the length of an [`Applicant`]'s values).
    pub fn n_fields(&self) -> usize {
        self.fields.len()
    }

    /// Applicant field `i` (in table order among the feature columns).
    #[inline]
    pub fn field(&self, i: usize) -> &Column {
        &self.columns[self.fields[i]]
    }

    pub fn fields(&self) -> impl ExactSizeIterator<Item = &Column> + Clone {
        self.fields.iter().map(|&i| &self.columns[i])
    }

    /// The index of the applicant field called `name`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields().position(|c| c.name == name)
    }

    pub fn label(&self) -> &Column {
        &self.columns[self.label]
    }

    pub fn positive(&self) -> &Positive {
        match &self.label().role {
            Role::Label(p) => p,
            _ => unreachable!("Schema::new keeps the label's column index"),
        }
    }

    /// The diagnostic column (the label's latent score), when the table has one.
    pub fn score(&self) -> Option<&Column> {
        self.score.map(|i| &self.columns[i])
    }

    pub fn ids(&self) -> impl ExactSizeIterator<Item = &Column> + Clone {
        self.ids.iter().map(|&i| &self.columns[i])
    }

    /// Every group, in report order: the fields, then the derived features.
    pub fn groups(&self) -> impl Iterator<Item = Group> + '_ {
        (0..self.n_fields()).map(Group::Field).chain((0..self.derived.len()).map(Group::Derived))
    }

    /// The group (field or derived feature) named `name`.
    pub fn group_named(&self, name: &str) -> Option<Group> {
        self.groups().find(|&g| self.group_name(g) == name)
    }

    pub fn group_name(&self, g: Group) -> &str {
        match g {
            Group::Field(i) => &self.field(i).name,
            Group::Derived(d) => &self.derived[d].name,
        }
    }

    pub fn group_labels(&self, g: Group) -> &Labels {
        match g {
            Group::Field(i) => &self.field(i).labels,
            Group::Derived(d) => &self.derived[d].labels,
        }
    }

    pub fn group_unit(&self, g: Group) -> Option<&Unit> {
        match g {
            Group::Field(i) => self.field(i).unit.as_ref(),
            Group::Derived(d) => self.derived[d].unit.as_ref(),
        }
    }

    /// Whether the group is a model input.
    pub fn is_input(&self, g: Group) -> bool {
        match g {
            Group::Field(i) => !self.field(i).exclude,
            Group::Derived(d) => !self.derived[d].exclude,
        }
    }

    pub fn is_protected(&self, g: Group) -> bool {
        matches!(g, Group::Field(i) if self.field(i).protected)
    }

    pub fn is_proxy(&self, g: Group) -> bool {
        matches!(g, Group::Field(i) if self.field(i).proxy)
    }

    /// The group's value for one applicant's field values, as a number (category index for
    /// categories, NaN when missing).
    #[inline]
    pub fn group_raw(&self, g: Group, values: &[f64]) -> f64 {
        match g {
            Group::Field(i) => values[i],
            Group::Derived(d) => self.derived[d].value(values),
        }
    }

    /// This schema with the named features (fields or derived) excluded from the model inputs.
    pub fn with_excluded<S: AsRef<str>>(&self, names: &[S]) -> Result<Schema, String> {
        let mut columns = self.columns.clone();
        let mut derived = self.derived.clone();
        for name in names {
            let name = name.as_ref().trim();
            if let Some(c) = columns.iter_mut().find(|c| c.name == name) {
                if c.role != Role::Feature {
                    return Err(format!("--exclude {name}: only feature columns can be excluded"));
                }
                c.exclude = true;
            } else if let Some(d) = derived.iter_mut().find(|d| d.name == name) {
                d.exclude = true;
            } else {
                let known: Vec<&str> = self.fields().map(|c| c.name.as_str()).collect();
                return Err(format!(
                    "--exclude {name}: no such feature; the features are {}",
                    known.join(", ")
                ));
            }
        }
        Schema::new(self.name.clone(), columns, derived).map_err(|p| format!("--exclude: {}", p.message))
    }

    /// The schema as a TOML file a user can read, edit and load again.
    pub fn to_toml(&self) -> String {
        write::write(self)
    }

    /// Parses and checks a TOML schema; errors name the key and its line.
    pub fn from_toml(text: &str) -> Result<Schema, SchemaError> {
        file::parse(text)
    }

    /// The schema as JSON (the TOML file's structure), for `/model`.
    pub fn to_json(&self) -> serde_json::Value {
        let table: toml::Table = self.to_toml().parse().unwrap_or_default();
        serde_json::to_value(table).unwrap_or_default()
    }
}

/// The largest integer every f64 holds exactly (2^53); integers are stored as f64.
pub const MAX_EXACT: u64 = 1 << 53;

#[cfg(test)]
mod tests;
