//! The applicant schema, defined once: the 16 customer fields (names, types, valid ranges,
//! canonical categories), the two label columns, and strict field-level validation of input.
//!
//! Everything else (generator, Parquet/CSV readers, the CLI's customer files, the HTTP API and its
//! OpenAPI document) takes names, types and rules from here.

use serde_json::{Map, Value};
use std::fmt;

pub mod json;

/// Number of customer fields (the model's raw inputs).
pub const N_FIELDS: usize = 16;
/// The label's own latent logit: written by the generator, never a model input.
pub const SCORE_COLUMN: &str = "approval_score";
/// The label: `Bernoulli(sigmoid(approval_score))`.
pub const LABEL_COLUMN: &str = "approved";

pub const GENDERS: &[&str] = &["f", "m"];
pub const REGIONS: &[&str] = &[
    "Arica y Parinacota",
    "Tarapacá",
    "Antofagasta",
    "Atacama",
    "Coquimbo",
    "Valparaíso",
    "Metropolitana",
    "O'Higgins",
    "Maule",
    "Ñuble",
    "Biobío",
    "Araucanía",
    "Los Ríos",
    "Los Lagos",
    "Aysén",
    "Magallanes",
];
/// Ordered from least to most education.
pub const EDUCATION_LEVELS: &[&str] = &["basica", "media", "tecnica", "universitaria", "postgrado"];
pub const MARITAL_STATUSES: &[&str] = &["soltero", "casado", "conviviente", "divorciado", "viudo"];
pub const HOUSING_STATUSES: &[&str] = &["propia", "hipotecada", "arriendo", "familiar"];

/// The type of a field and the values that are possible at all (not the training ranges: values
/// outside those are valid and answered with a warning).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Arrow int32; JSON integer.
    Int { min: i64, max: i64 },
    /// Arrow float64; JSON number.
    Float { min: f64, max: f64 },
    /// Arrow utf8; JSON string, one of the canonical spellings (matched case- and accent-insensitively).
    Category(&'static [&'static str]),
}

/// One customer field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Gender, marital status and age: never cited as a reason for a decision.
    pub protected: bool,
    /// Short human names used in reasons and reports.
    pub label_es: &'static str,
    pub label_en: &'static str,
}

/// Index of each field in [`FIELDS`] (and in [`Applicant`]'s value array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(usize)]
pub enum FieldId {
    Age,
    Gender,
    Region,
    EducationLevel,
    MaritalStatus,
    HousingStatus,
    Dependents,
    Income,
    EmploymentYears,
    CreditHistoryMonths,
    NumLoans,
    AvgMonthlyPayment,
    DelinquencyRate,
    CreditInquiries,
    RegionalCpi,
    RegionalUnemployment,
}

impl FieldId {
    pub const ALL: [FieldId; N_FIELDS] = [
        FieldId::Age,
        FieldId::Gender,
        FieldId::Region,
        FieldId::EducationLevel,
        FieldId::MaritalStatus,
        FieldId::HousingStatus,
        FieldId::Dependents,
        FieldId::Income,
        FieldId::EmploymentYears,
        FieldId::CreditHistoryMonths,
        FieldId::NumLoans,
        FieldId::AvgMonthlyPayment,
        FieldId::DelinquencyRate,
        FieldId::CreditInquiries,
        FieldId::RegionalCpi,
        FieldId::RegionalUnemployment,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn spec(self) -> &'static Field {
        &FIELDS[self.index()]
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn by_name(name: &str) -> Option<FieldId> {
        FIELDS.iter().position(|f| f.name == name).map(|i| FieldId::ALL[i])
    }
}

const fn int(name: &'static str, min: i64, max: i64, es: &'static str, en: &'static str) -> Field {
    Field { name, kind: Kind::Int { min, max }, protected: false, label_es: es, label_en: en }
}

const fn float(name: &'static str, min: f64, max: f64, es: &'static str, en: &'static str) -> Field {
    Field { name, kind: Kind::Float { min, max }, protected: false, label_es: es, label_en: en }
}

const fn category(
    name: &'static str,
    values: &'static [&'static str],
    es: &'static str,
    en: &'static str,
) -> Field {
    Field { name, kind: Kind::Category(values), protected: false, label_es: es, label_en: en }
}

const fn protected(field: Field) -> Field {
    Field { protected: true, ..field }
}

/// The 16 customer fields, in table order. Ranges are what is possible at all: an applicant is an
/// adult, money is not negative, rates are fractions.
pub const FIELDS: [Field; N_FIELDS] = [
    protected(int("age", 18, 120, "Edad", "Age")),
    protected(category("gender", GENDERS, "Género", "Gender")),
    category("region", REGIONS, "Región", "Region"),
    category("education_level", EDUCATION_LEVELS, "Nivel educacional", "Education level"),
    protected(category("marital_status", MARITAL_STATUSES, "Estado civil", "Marital status")),
    category("housing_status", HOUSING_STATUSES, "Situación de vivienda", "Housing status"),
    int("dependents", 0, 30, "Cargas familiares", "Dependents"),
    float("income", 0.0, 1e12, "Ingreso mensual", "Monthly income"),
    float("employment_years", 0.0, 105.0, "Años de empleo", "Years employed"),
    int("credit_history_months", 0, 1_250, "Historial crediticio (meses)", "Credit history (months)"),
    int("num_loans", 0, 100, "Créditos vigentes", "Open loans"),
    float("avg_monthly_payment", 0.0, 1e12, "Pago mensual promedio", "Average monthly payment"),
    float("delinquency_rate", 0.0, 1.0, "Tasa de morosidad", "Delinquency rate"),
    int("credit_inquiries", 0, 1_000, "Consultas de crédito recientes", "Recent credit inquiries"),
    float("regional_cpi", -1.0, 10.0, "IPC regional", "Regional inflation"),
    float("regional_unemployment", 0.0, 1.0, "Desempleo regional", "Regional unemployment"),
];

/// One applicant: the 16 field values in [`FIELDS`] order. Integers are stored exactly as f64,
/// categories as their index in the field's canonical list. Built only through validation, so
/// every value is within its field's valid range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Applicant {
    values: [f64; N_FIELDS],
}

/// A field that failed validation, with a sentence a user can act on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A field value, typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue {
    Int(i64),
    Float(f64),
    Category(&'static str),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::Float(v) => write!(f, "{v}"),
            FieldValue::Category(v) => f.write_str(v),
        }
    }
}

impl FieldValue {
    pub fn to_json(self) -> Value {
        match self {
            FieldValue::Int(v) => Value::from(v),
            FieldValue::Float(v) => Value::from(v),
            FieldValue::Category(v) => Value::from(v),
        }
    }
}

impl Applicant {
    /// Builds an applicant from raw values in field order (categories as indices), checking each
    /// against its field's rules.
    pub fn from_values(values: [f64; N_FIELDS]) -> Result<Applicant, Vec<FieldError>> {
        let errors: Vec<FieldError> =
            FieldId::ALL.iter().filter_map(|&id| check_value(id.spec(), values[id.index()]).err()).collect();
        if errors.is_empty() { Ok(Applicant { values }) } else { Err(errors) }
    }

    /// Parses a JSON customer object strictly: every field present, no unknown field, JSON types
    /// exact (`false` is not a number, `0` is not a string), values possible, categories known.
    /// All problems are reported at once.
    pub fn from_json(value: &Value) -> Result<Applicant, Vec<FieldError>> {
        let Some(object) = value.as_object() else {
            return Err(vec![FieldError::new(
                "customer",
                "must be a JSON object with the 16 applicant fields",
            )]);
        };
        parse_object(object)
    }

    /// The value of one field as a number (category index for categories).
    pub fn get(&self, id: FieldId) -> f64 {
        self.values[id.index()]
    }

    pub fn values(&self) -> &[f64; N_FIELDS] {
        &self.values
    }

    /// The value of one field, typed; categories in canonical spelling.
    pub fn value(&self, id: FieldId) -> FieldValue {
        let raw = self.get(id);
        match id.spec().kind {
            Kind::Int { .. } => FieldValue::Int(raw as i64),
            Kind::Float { .. } => FieldValue::Float(raw),
            Kind::Category(values) => FieldValue::Category(values[raw as usize]),
        }
    }

    /// The category of a categorical field, in canonical spelling.
    pub fn category(&self, id: FieldId) -> &'static str {
        match self.value(id) {
            FieldValue::Category(c) => c,
            other => panic!("{} is not categorical (value {other})", id.name()),
        }
    }

    /// The customer as a JSON object with canonical spellings, in field order.
    pub fn to_json(&self) -> Value {
        let object: Map<String, Value> =
            FieldId::ALL.iter().map(|&id| (id.name().to_string(), self.value(id).to_json())).collect();
        Value::Object(object)
    }
}

fn parse_object(object: &Map<String, Value>) -> Result<Applicant, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut values = [0.0; N_FIELDS];
    for id in FieldId::ALL {
        match object.get(id.name()) {
            None => errors.push(FieldError::new(id.name(), "is required")),
            Some(raw) => match parse_json_value(id.spec(), raw) {
                Ok(v) => values[id.index()] = v,
                Err(e) => errors.push(e),
            },
        }
    }
    for key in object.keys().filter(|k| FieldId::by_name(k).is_none()) {
        errors.push(FieldError::new(key.as_str(), "is not an applicant field"));
    }
    if errors.is_empty() { Ok(Applicant { values }) } else { Err(errors) }
}

fn parse_json_value(field: &Field, raw: &Value) -> Result<f64, FieldError> {
    let value = match field.kind {
        Kind::Int { .. } => match raw {
            Value::Number(n) => match n.as_i64() {
                Some(i) => i as f64,
                None => match n.as_f64() {
                    // 45.0 is the integer 45 (JSON Schema counts it as one); 45.5 is not.
                    Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => f,
                    _ => return Err(FieldError::new(field.name, format!("must be an integer, got {n}"))),
                },
            },
            other => return Err(type_error(field, "an integer", other)),
        },
        Kind::Float { .. } => match raw {
            Value::Number(n) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| FieldError::new(field.name, format!("must be a finite number, got {n}")))?,
            other => return Err(type_error(field, "a number", other)),
        },
        Kind::Category(values) => match raw {
            Value::String(s) => match match_category(values, s) {
                Some(i) => i as f64,
                None => return Err(unknown_category(field.name, values, s)),
            },
            other => return Err(type_error(field, "a string", other)),
        },
    };
    check_value(field, value)?;
    Ok(value)
}

fn type_error(field: &Field, expected: &str, got: &Value) -> FieldError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    FieldError::new(field.name, format!("must be {expected}, got {got}"))
}

/// The error for a category that matches none of `values`, listing the valid ones.
pub fn unknown_category(field: &str, values: &[&str], got: &str) -> FieldError {
    FieldError::new(field, format!("unknown category {got:?}; valid: {}", values.join(", ")))
}

/// Checks a numeric value (category index for categories) against the field's rules.
pub fn check_value(field: &Field, value: f64) -> Result<(), FieldError> {
    let fail = |msg: String| Err(FieldError::new(field.name, msg));
    if !value.is_finite() {
        return fail(format!("must be a finite number, got {value}"));
    }
    match field.kind {
        Kind::Int { min, max } => {
            if value.fract() != 0.0 {
                return fail(format!("must be an integer, got {value}"));
            }
            if value < min as f64 || value > max as f64 {
                return fail(format!("must be between {min} and {max}, got {value}"));
            }
        }
        Kind::Float { min, max } => {
            if value < min || value > max {
                return fail(format!("must be between {min} and {max}, got {value}"));
            }
        }
        Kind::Category(values) => {
            if value.fract() != 0.0 || value < 0.0 || value as usize >= values.len() {
                return fail(format!("category index {value} is not one of the {} categories", values.len()));
            }
        }
    }
    Ok(())
}

/// The index of `input` among `values`, ignoring case, accents and surrounding spaces
/// (`valparaiso` → `Valparaíso`, `NUBLE` → `Ñuble`).
pub fn match_category(values: &[&str], input: &str) -> Option<usize> {
    if let Some(i) = values.iter().position(|v| *v == input) {
        return Some(i);
    }
    let key = fold(input);
    values.iter().position(|v| fold(v) == key)
}

/// Lower-cases and strips the Spanish diacritics, for lenient category matching. Text in
/// Unicode decomposed form (NFD: `i` followed by U+0301) folds like its composed form: combining
/// marks (U+0300–U+036F) are dropped.
pub fn fold(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            '’' | '`' | '´' => '\'',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> Value {
        json!({
            "age": 45, "gender": "f", "region": "Metropolitana", "education_level": "media",
            "marital_status": "casado", "housing_status": "arriendo", "dependents": 2,
            "income": 800000, "employment_years": 6, "credit_history_months": 84, "num_loans": 2,
            "avg_monthly_payment": 150000, "delinquency_rate": 0.05, "credit_inquiries": 1,
            "regional_cpi": 0.034, "regional_unemployment": 0.086
        })
    }

    #[test]
    fn parses_the_seed_example_and_round_trips() {
        let a = Applicant::from_json(&example()).unwrap();
        assert_eq!(a.get(FieldId::Age), 45.0);
        assert_eq!(a.category(FieldId::Region), "Metropolitana");
        assert_eq!(a.get(FieldId::Income), 800000.0);
        assert_eq!(Applicant::from_json(&a.to_json()).unwrap(), a);
    }

    #[test]
    fn categories_match_case_and_accent_insensitively() {
        assert_eq!(match_category(REGIONS, "valparaiso"), Some(5));
        assert_eq!(match_category(REGIONS, "  ÑUBLE "), Some(9));
        assert_eq!(match_category(REGIONS, "o'higgins"), Some(7));
        assert_eq!(match_category(REGIONS, "Lima"), None);
        // Decomposed (NFD) spellings, as macOS file names and some keyboards produce them.
        assert_eq!(match_category(REGIONS, "Valparai\u{301}so"), Some(5));
        assert_eq!(match_category(REGIONS, "N\u{303}uble"), Some(9));
        assert_eq!(match_category(REGIONS, "BIOBI\u{301}O"), Some(10));
        let mut v = example();
        v["region"] = json!("BIOBIO");
        assert_eq!(Applicant::from_json(&v).unwrap().category(FieldId::Region), "Biobío");
    }

    #[test]
    fn types_are_strict_and_every_error_is_reported() {
        let mut v = example();
        v["income"] = json!(false);
        v["age"] = json!(17);
        v["gender"] = json!(0);
        v["delinquency_rate"] = json!(1.5);
        v["dependents"] = json!(1.5);
        v["region"] = json!("Lima");
        v.as_object_mut().unwrap().remove("num_loans");
        v["nickname"] = json!("x");
        let errors = Applicant::from_json(&v).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["age", "gender", "region", "dependents", "income", "num_loans", "delinquency_rate", "nickname"]
        );
        assert!(errors[2].message.contains("Valparaíso"), "{}", errors[2].message);
        assert_eq!(errors[4].message, "must be a number, got a boolean");
    }

    #[test]
    fn integral_floats_count_as_integers() {
        let mut v = example();
        v["age"] = json!(45.0);
        assert_eq!(Applicant::from_json(&v).unwrap().get(FieldId::Age), 45.0);
    }

    #[test]
    fn negative_income_is_impossible() {
        let mut v = example();
        v["income"] = json!(-1);
        let errors = Applicant::from_json(&v).unwrap_err();
        assert_eq!(errors[0].field, "income");
    }

    #[test]
    fn field_ids_follow_the_table_order() {
        for (i, id) in FieldId::ALL.iter().enumerate() {
            assert_eq!(id.index(), i);
            assert_eq!(FieldId::by_name(FIELDS[i].name), Some(*id));
        }
    }
}
