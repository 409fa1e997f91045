//! The fitted preprocessing: maps an applicant to exactly the feature vector the forest was trained
//! on (numeric fields pass through, education is ordinal, other categories one-hot, plus the
//! engineered `debt_to_income`), knows which encoded column belongs to which reported field, and
//! keeps what training data looked like (ranges, reference values) for warnings and reasons.

use crate::data::ApplicantTable;
use crate::error::{Error, Result};
use crate::schema::{Applicant, FieldId, FieldValue, Kind};
use serde::{Deserialize, Serialize};

/// Name of the engineered debt-burden feature: `avg_monthly_payment / income`.
pub const DEBT_TO_INCOME: &str = "debt_to_income";

/// What an explanation is reported per: one of the 16 customer fields, or the engineered
/// debt-to-income ratio (a named model feature of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Field(FieldId),
    DebtToIncome,
}

impl Group {
    /// The 17 groups, in report order: the 16 fields, then debt_to_income.
    pub fn all() -> Vec<Group> {
        FieldId::ALL.iter().map(|&id| Group::Field(id)).chain([Group::DebtToIncome]).collect()
    }

    pub fn index(self) -> usize {
        match self {
            Group::Field(id) => id.index(),
            Group::DebtToIncome => FieldId::ALL.len(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Group::Field(id) => id.name(),
            Group::DebtToIncome => DEBT_TO_INCOME,
        }
    }

    /// Gender, marital status and age: never a reason for a decision.
    pub fn is_protected(self) -> bool {
        matches!(self, Group::Field(id) if id.spec().protected)
    }

    pub fn label(self, spanish: bool) -> &'static str {
        match (self, spanish) {
            (Group::Field(id), true) => id.spec().label_es,
            (Group::Field(id), false) => id.spec().label_en,
            (Group::DebtToIncome, true) => "Carga financiera (pago / ingreso)",
            (Group::DebtToIncome, false) => "Debt burden (payment / income)",
        }
    }

    /// The applicant's value for this group, as a number (category index for categories).
    pub fn raw(self, a: &Applicant) -> f64 {
        match self {
            Group::Field(id) => a.get(id),
            Group::DebtToIncome => debt_to_income(a),
        }
    }

    /// The applicant's value for this group, typed (canonical category spelling).
    pub fn value(self, a: &Applicant) -> FieldValue {
        match self {
            Group::Field(id) => a.value(id),
            Group::DebtToIncome => FieldValue::Float(debt_to_income(a)),
        }
    }
}

/// Monthly debt payments over monthly income. An income of 0 is valid input; the ratio then uses
/// 1 CLP so that it stays finite (and enormous, as the burden is).
pub fn debt_to_income(a: &Applicant) -> f64 {
    a.get(FieldId::AvgMonthlyPayment) / a.get(FieldId::Income).max(1.0)
}

/// One encoded column of the feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Numeric(FieldId),
    /// Education level as its rank (0 = basica … 4 = postgrado).
    Ordinal(FieldId),
    /// 1.0 iff the field has the category with this index.
    OneHot(FieldId, usize),
    DebtToIncome,
}

impl Column {
    /// The column's name in the forest dump: `income`, `education_level`, `region=Maule`, `debt_to_income`.
    pub fn name(self) -> String {
        match self {
            Column::Numeric(id) | Column::Ordinal(id) => id.name().to_string(),
            Column::OneHot(id, k) => match id.spec().kind {
                Kind::Category(values) => format!("{}={}", id.name(), values[k]),
                _ => unreachable!("one-hot columns are built only for categorical fields"),
            },
            Column::DebtToIncome => DEBT_TO_INCOME.to_string(),
        }
    }

    pub fn group(self) -> Group {
        match self {
            Column::Numeric(id) | Column::Ordinal(id) | Column::OneHot(id, _) => Group::Field(id),
            Column::DebtToIncome => Group::DebtToIncome,
        }
    }

    fn encode(self, a: &Applicant) -> f64 {
        match self {
            Column::Numeric(id) | Column::Ordinal(id) => a.get(id),
            Column::OneHot(id, k) => f64::from(a.get(id) as usize == k),
            Column::DebtToIncome => debt_to_income(a),
        }
    }

    fn parse(name: &str) -> Option<Column> {
        columns().into_iter().find(|c| c.name() == name)
    }
}

/// The encoded columns, in feature-vector order: fields in table order (categorical fields
/// expanded in place), then debt_to_income.
pub fn columns() -> Vec<Column> {
    let mut out = Vec::new();
    for id in FieldId::ALL {
        match id.spec().kind {
            Kind::Category(_) if id == FieldId::EducationLevel => out.push(Column::Ordinal(id)),
            Kind::Category(values) => out.extend((0..values.len()).map(|k| Column::OneHot(id, k))),
            Kind::Int { .. } | Kind::Float { .. } => out.push(Column::Numeric(id)),
        }
    }
    out.push(Column::DebtToIncome);
    out
}

/// What training data looked like for one group: the range seen, and reference values that make
/// reasons concrete ("approved applicants' median is 2%").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    pub name: String,
    /// Smallest and largest value seen (category index for categories).
    pub min: f64,
    pub max: f64,
    /// Median over all training rows and over approved ones (numeric groups).
    #[serde(with = "nan_as_null")]
    pub median: f64,
    #[serde(with = "nan_as_null")]
    pub median_approved: f64,
    /// Per category (categorical groups): rows seen and approval rate among them.
    pub category_counts: Vec<u64>,
    #[serde(with = "nan_as_null::vec")]
    pub category_approval: Vec<f64>,
}

/// JSON has no NaN: "no value" (a median of no rows, the rate of an unseen category) is `null`.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() { s.serialize_f64(*v) } else { s.serialize_none() }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    pub mod vec {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|x| x.is_finite().then_some(*x)))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            let v = Vec::<Option<f64>>::deserialize(d)?;
            Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        }
    }
}

/// The fitted preprocessing, saved with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    /// Column names in feature-vector order (the dump's `feature_names`).
    feature_names: Vec<String>,
    /// One per group, in [`Group::all`] order.
    pub stats: Vec<GroupStats>,
    #[serde(skip)]
    columns: Vec<Column>,
}

/// A valid value that lies outside what training saw: the model extrapolates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeWarning {
    pub field: String,
    pub message: String,
}

impl Encoder {
    /// Fits the encoding to a labelled training table.
    pub fn fit(table: &ApplicantTable) -> Result<Encoder> {
        let approved = table
            .approved
            .as_deref()
            .ok_or_else(|| Error::Usage("training data needs the `approved` label column".into()))?;
        if table.is_empty() {
            return Err(Error::Usage("training data has no rows".into()));
        }
        let stats = Group::all().into_iter().map(|g| group_stats(g, &table.applicants, approved)).collect();
        let columns = columns();
        Ok(Encoder { feature_names: columns.iter().map(|c| c.name()).collect(), stats, columns })
    }

    /// Rebuilds the column list after deserialisation and checks it matches this build's encoding.
    pub fn validated(mut self) -> std::result::Result<Encoder, String> {
        let parsed: Option<Vec<Column>> = self.feature_names.iter().map(|n| Column::parse(n)).collect();
        match parsed {
            Some(cols) if cols == columns() && self.stats.len() == Group::all().len() => {
                self.columns = cols;
                Ok(self)
            }
            _ => Err(format!(
                "the model's features {:?} do not match this credrisk's encoding",
                self.feature_names
            )),
        }
    }

    pub fn n_features(&self) -> usize {
        self.columns.len()
    }

    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// For each encoded column, the index of its group in [`Group::all`].
    pub fn column_groups(&self) -> Vec<usize> {
        self.columns.iter().map(|c| c.group().index()).collect()
    }

    pub fn encode_into(&self, a: &Applicant, out: &mut [f64]) {
        for (slot, column) in out.iter_mut().zip(&self.columns) {
            *slot = column.encode(a);
        }
    }

    pub fn encode(&self, a: &Applicant) -> Vec<f64> {
        let mut out = vec![0.0; self.n_features()];
        self.encode_into(a, &mut out);
        out
    }

    /// Row-major feature vectors of many applicants.
    pub fn encode_rows(&self, applicants: &[Applicant]) -> Vec<f64> {
        let mut out = vec![0.0; applicants.len() * self.n_features()];
        for (row, a) in out.chunks_mut(self.n_features().max(1)).zip(applicants) {
            self.encode_into(a, row);
        }
        out
    }

    /// Column-major feature vectors (one Vec per column), as the forest trains on them.
    pub fn encode_columns(&self, applicants: &[Applicant]) -> Vec<Vec<f64>> {
        self.columns.iter().map(|c| applicants.iter().map(|a| c.encode(a)).collect()).collect()
    }

    /// The feature schema saved beside the model and served by `GET /model`: each input field's
    /// type, valid values, the range or categories seen in training, and the encoded columns.
    pub fn schema_json(&self) -> serde_json::Value {
        use serde_json::json;
        let fields: Vec<serde_json::Value> = FieldId::ALL
            .iter()
            .map(|&id| {
                let s = self.stats_of(Group::Field(id));
                let mut f = json!({"name": id.name(), "protected": id.spec().protected});
                match id.spec().kind {
                    Kind::Int { min, max } => {
                        f["type"] = json!("integer");
                        f["valid"] = json!({"minimum": min, "maximum": max});
                        f["training_range"] = json!([s.min, s.max]);
                    }
                    Kind::Float { min, max } => {
                        f["type"] = json!("number");
                        f["valid"] = json!({"minimum": min, "maximum": max});
                        f["training_range"] = json!([s.min, s.max]);
                    }
                    Kind::Category(values) => {
                        f["type"] = json!("category");
                        f["categories"] = json!(values);
                        let seen: Vec<&str> = values
                            .iter()
                            .zip(&s.category_counts)
                            .filter(|(_, n)| **n > 0)
                            .map(|(v, _)| *v)
                            .collect();
                        f["training_categories"] = json!(seen);
                    }
                }
                f
            })
            .collect();
        let dti = self.stats_of(Group::DebtToIncome);
        json!({
            "fields": fields,
            "engineered": [{"name": DEBT_TO_INCOME, "definition": "avg_monthly_payment / max(income, 1)",
                            "training_range": [dti.min, dti.max]}],
            "feature_names": self.feature_names,
            "feature_groups": self.columns.iter().map(|c| c.group().name()).collect::<Vec<_>>(),
        })
    }

    pub fn stats_of(&self, group: Group) -> &GroupStats {
        &self.stats[group.index()]
    }

    /// Values outside the training range and categories training never saw.
    pub fn warnings(&self, a: &Applicant) -> Vec<RangeWarning> {
        let mut out = Vec::new();
        for group in Group::all() {
            let s = self.stats_of(group);
            let v = group.raw(a);
            let message = match group {
                Group::Field(id) if matches!(id.spec().kind, Kind::Category(_)) => {
                    (s.category_counts.get(v as usize).copied().unwrap_or(0) == 0)
                        .then(|| format!("category {} was never seen in training", group.value(a)))
                }
                _ => (v < s.min || v > s.max).then(|| {
                    format!("{} is outside the training range [{}, {}]", group.value(a), s.min, s.max)
                }),
            };
            if let Some(message) = message {
                out.push(RangeWarning { field: group.name().to_string(), message });
            }
        }
        out
    }
}

fn group_stats(group: Group, applicants: &[Applicant], approved: &[bool]) -> GroupStats {
    let values: Vec<f64> = applicants.iter().map(|a| group.raw(a)).collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let approved_values: Vec<f64> =
        values.iter().zip(approved).filter(|(_, ok)| **ok).map(|(v, _)| *v).collect();
    let (category_counts, category_approval) = match group {
        Group::Field(id) => match id.spec().kind {
            Kind::Category(cats) => category_rates(cats.len(), &values, approved),
            _ => (Vec::new(), Vec::new()),
        },
        Group::DebtToIncome => (Vec::new(), Vec::new()),
    };
    GroupStats {
        name: group.name().to_string(),
        min,
        max,
        median: median(values),
        median_approved: median(approved_values),
        category_counts,
        category_approval,
    }
}

fn category_rates(n: usize, codes: &[f64], approved: &[bool]) -> (Vec<u64>, Vec<f64>) {
    let mut counts = vec![0u64; n];
    let mut yes = vec![0u64; n];
    for (&c, &ok) in codes.iter().zip(approved) {
        counts[c as usize] += 1;
        yes[c as usize] += u64::from(ok);
    }
    let rates = counts.iter().zip(&yes).map(|(&n, &y)| if n == 0 { f64::NAN } else { y as f64 / n as f64 });
    let rates = rates.collect();
    (counts, rates)
}

/// The median (mean of the two middle values for an even count); NaN when empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn applicant(income: f64, payment: f64, region: &str, education: &str) -> Applicant {
        // The seed's example customer (examples/customer.json) with these four fields changed.
        let mut body: serde_json::Value =
            serde_json::from_str(include_str!("../examples/customer.json")).unwrap();
        let c = &mut body["customer"];
        (c["income"], c["avg_monthly_payment"]) = (json!(income), json!(payment));
        (c["region"], c["education_level"]) = (json!(region), json!(education));
        Applicant::from_json(c).unwrap()
    }

    fn table() -> ApplicantTable {
        ApplicantTable {
            applicants: vec![
                applicant(800_000.0, 200_000.0, "Maule", "media"),
                applicant(400_000.0, 0.0, "Metropolitana", "postgrado"),
                applicant(1_000_000.0, 100_000.0, "Maule", "basica"),
            ],
            approval_score: None,
            approved: Some(vec![true, false, true]),
        }
    }

    #[test]
    fn encodes_one_hot_ordinal_numeric_and_debt_to_income() {
        let enc = Encoder::fit(&table()).unwrap();
        let names = enc.feature_names();
        assert_eq!(names.len(), 11 + 1 + 2 + 16 + 5 + 4 + 1);
        assert_eq!(names[0], "age");
        assert_eq!(names[1], "gender=f");
        assert_eq!(names[3], "region=Arica y Parinacota");
        assert_eq!(names.last().unwrap(), "debt_to_income");
        let x = enc.encode(&table().applicants[0]);
        let col = |n: &str| x[names.iter().position(|c| c == n).unwrap()];
        assert_eq!(col("region=Maule"), 1.0);
        assert_eq!(col("region=Metropolitana"), 0.0);
        assert_eq!(col("education_level"), 1.0);
        assert_eq!(col("income"), 800_000.0);
        assert_eq!(col("debt_to_income"), 0.25);
        let region_columns = enc.column_groups().iter().filter(|&&g| g == FieldId::Region.index()).count();
        assert_eq!(region_columns, 16);
    }

    #[test]
    fn reference_values_come_from_approved_rows() {
        let enc = Encoder::fit(&table()).unwrap();
        let income = enc.stats_of(Group::Field(FieldId::Income));
        assert_eq!((income.min, income.max, income.median), (400_000.0, 1_000_000.0, 800_000.0));
        assert_eq!(income.median_approved, 900_000.0);
        let region = enc.stats_of(Group::Field(FieldId::Region));
        assert_eq!(region.category_counts[8], 2);
        assert_eq!(region.category_approval[8], 1.0);
        assert_eq!(region.category_approval[6], 0.0);
    }

    #[test]
    fn warns_outside_training_ranges_and_for_unseen_categories() {
        let enc = Encoder::fit(&table()).unwrap();
        let w = enc.warnings(&applicant(3_000_000.0, 0.0, "Aysén", "media"));
        let fields: Vec<&str> = w.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, ["region", "income"]);
    }

    #[test]
    fn survives_a_serde_round_trip_and_rejects_foreign_encodings() {
        let enc = Encoder::fit(&table()).unwrap();
        let text = serde_json::to_string(&enc).unwrap();
        let back: Encoder = serde_json::from_str(&text).unwrap();
        let back = back.validated().unwrap();
        assert_eq!(back.encode(&table().applicants[1]), enc.encode(&table().applicants[1]));
        let tampered = text.replace("region=Maule", "region=Lima");
        let bad: Encoder = serde_json::from_str(&tampered).unwrap();
        assert!(bad.validated().is_err());
    }

    #[test]
    fn zero_income_keeps_the_ratio_finite() {
        let a = applicant(0.0, 50_000.0, "Maule", "media");
        assert_eq!(debt_to_income(&a), 50_000.0);
    }
}
