//! One applicant as values in the schema's field order (NaN = missing, a category as its index,
//! a boolean as 0/1), built only through validation: strict JSON parsing with every problem
//! reported at once, and range checks of raw values.

use super::{Column, Group, Kind, Schema};
use crate::error::FieldError;
use serde_json::{Map, Value};
use std::fmt;

/// One applicant's field values, in [`Schema::fields`] order. Integers are stored exactly as
/// f64, categories as their index, booleans as 0/1, a missing value (nullable fields only) as
/// NaN. Every value is valid for the schema it was checked against.
#[derive(Debug, Clone)]
pub struct Applicant {
    values: Box<[f64]>,
}

impl PartialEq for Applicant {
    /// Missing equals missing (NaN is not equal to itself as a number).
    fn eq(&self, other: &Applicant) -> bool {
        same_values(&self.values, &other.values)
    }
}

/// Element-wise equality where NaN (missing) equals NaN.
pub fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

impl Applicant {
    /// An applicant from values already checked against its schema (a row of a read table).
    pub(crate) fn from_checked(values: &[f64]) -> Applicant {
        Applicant { values: values.into() }
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Field `i`'s value (category index for categories, NaN when missing).
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        self.values[i]
    }
}

/// A field value, typed; categories in canonical spelling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Number(f64),
    Integer(i64),
    Category(&'a str),
    Boolean(bool),
    /// Not declared (a nullable field left empty).
    Missing,
}

impl fmt::Display for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Number(v) => write!(f, "{v}"),
            FieldValue::Integer(v) => write!(f, "{v}"),
            FieldValue::Category(v) => f.write_str(v),
            FieldValue::Boolean(v) => write!(f, "{v}"),
            FieldValue::Missing => f.write_str("missing"),
        }
    }
}

impl FieldValue<'_> {
    pub fn to_json(self) -> Value {
        match self {
            FieldValue::Number(v) => Value::from(v),
            FieldValue::Integer(v) => Value::from(v),
            FieldValue::Category(v) => Value::from(v),
            FieldValue::Boolean(v) => Value::from(v),
            FieldValue::Missing => Value::Null,
        }
    }
}

impl Column {
    /// A stored value, typed.
    pub fn value_of(&self, raw: f64) -> FieldValue<'_> {
        if raw.is_nan() {
            return FieldValue::Missing;
        }
        match &self.kind {
            Kind::Integer { .. } => FieldValue::Integer(raw as i64),
            Kind::Category(c) | Kind::Ordered(c) => FieldValue::Category(c.name(raw as usize)),
            Kind::Boolean => FieldValue::Boolean(raw != 0.0),
            Kind::Number { .. } | Kind::Text => FieldValue::Number(raw),
        }
    }

    /// Checks a stored value (category index, 0/1 for booleans, NaN for missing) against the
    /// column's rules.
    pub fn check(&self, value: f64) -> Result<(), FieldError> {
        let fail = |msg: String| Err(FieldError::new(self.name.as_str(), msg));
        if value.is_nan() {
            return if self.nullable {
                Ok(())
            } else {
                fail("is missing, and the column is not nullable".into())
            };
        }
        if value.is_infinite() {
            return fail(format!("must be a finite number, got {value}"));
        }
        match &self.kind {
            Kind::Integer { min, max } => {
                if value.fract() != 0.0 {
                    return fail(format!("must be an integer, got {value}"));
                }
                if value < *min as f64 || value > *max as f64 {
                    return fail(format!("must be between {min} and {max}, got {value}"));
                }
            }
            Kind::Number { min, max } => {
                if value < *min || value > *max {
                    return fail(format!("must be between {min} and {max}, got {value}"));
                }
            }
            Kind::Category(c) | Kind::Ordered(c) => {
                if value.fract() != 0.0 || value < 0.0 || value as usize >= c.len() {
                    return fail(format!("category index {value} is not one of the {} categories", c.len()));
                }
            }
            Kind::Boolean => {
                if value != 0.0 && value != 1.0 {
                    return fail(format!("a boolean is stored as 0 or 1, got {value}"));
                }
            }
            Kind::Text => return fail("text columns are not applicant fields".into()),
        }
        Ok(())
    }

    /// Parses one JSON value strictly: JSON types exact (`false` is not a number, `0` is not a
    /// string), `null` only for nullable columns, categories matched leniently.
    pub fn parse_json(&self, raw: &Value) -> Result<f64, FieldError> {
        let value = match (&self.kind, raw) {
            (_, Value::Null) if self.nullable => return Ok(f64::NAN),
            (Kind::Integer { .. }, Value::Number(n)) => match n.as_i64() {
                Some(i) => i as f64,
                // 45.0 is the integer 45 (JSON Schema counts it as one); 45.5 is not.
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => f,
                    _ => {
                        return Err(FieldError::new(
                            self.name.as_str(),
                            format!("must be an integer, got {n}"),
                        ));
                    }
                },
            },
            (Kind::Number { .. }, Value::Number(n)) => {
                n.as_f64().filter(|f| f.is_finite()).ok_or_else(|| {
                    FieldError::new(self.name.as_str(), format!("must be a finite number, got {n}"))
                })?
            }
            (Kind::Category(c) | Kind::Ordered(c), Value::String(s)) => match c.find(s) {
                Some(i) => i as f64,
                None => return Err(c.unknown(&self.name, s)),
            },
            (Kind::Boolean, Value::Bool(b)) => f64::from(u8::from(*b)),
            (kind, other) => return Err(self.type_error(kind, other)),
        };
        self.check(value)?;
        Ok(value)
    }

    fn type_error(&self, kind: &Kind, got: &Value) -> FieldError {
        let expected = match kind {
            Kind::Integer { .. } => "an integer",
            Kind::Number { .. } => "a number",
            Kind::Category(_) | Kind::Ordered(_) | Kind::Text => "a string",
            Kind::Boolean => "true or false",
        };
        let expected = if self.nullable { format!("{expected} or null") } else { expected.to_string() };
        FieldError::new(self.name.as_str(), format!("must be {expected}, got {}", json_type(got)))
    }
}

/// The JSON type of a value, as a message says it.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Schema {
    /// Builds an applicant from stored values in field order, checking each against its field.
    pub fn applicant(&self, values: Vec<f64>) -> Result<Applicant, Vec<FieldError>> {
        self.check_values(&values)?;
        Ok(Applicant { values: values.into_boxed_slice() })
    }

    /// Checks one applicant's stored values; every problem at once.
    pub fn check_values(&self, values: &[f64]) -> Result<(), Vec<FieldError>> {
        if values.len() != self.n_fields() {
            let message = format!("{} values for {} fields", values.len(), self.n_fields());
            return Err(vec![FieldError::new("applicant", message)]);
        }
        let errors: Vec<FieldError> =
            self.fields().zip(values).filter_map(|(f, &v)| f.check(v).err()).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Parses a JSON customer object strictly: every field present (nullable ones may be
    /// `null`), no unknown field, JSON types exact, values possible, categories known. All
    /// problems are reported at once, in field order, unknown keys last.
    pub fn parse_applicant(&self, value: &Value) -> Result<Applicant, Vec<FieldError>> {
        let Some(object) = value.as_object() else {
            let message = format!("must be a JSON object with the {} applicant fields", self.n_fields());
            return Err(vec![FieldError::new("customer", message)]);
        };
        self.parse_object(object)
    }

    fn parse_object(&self, object: &Map<String, Value>) -> Result<Applicant, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut values = vec![0.0; self.n_fields()];
        let mut found = 0;
        for (field, slot) in self.fields().zip(values.iter_mut()) {
            match object.get(&field.name) {
                None => errors.push(FieldError::new(field.name.as_str(), "is required")),
                Some(raw) => {
                    found += 1;
                    match field.parse_json(raw) {
                        Ok(v) => *slot = v,
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        // Every key is a field unless the object has more keys than fields were found.
        if object.len() > found {
            for key in object.keys().filter(|k| self.field_index(k).is_none()) {
                errors.push(FieldError::new(key.as_str(), "is not an applicant field"));
            }
        }
        if errors.is_empty() { Ok(Applicant { values: values.into_boxed_slice() }) } else { Err(errors) }
    }

    /// One applicant's values as a JSON object with canonical spellings, in field order
    /// (missing values as `null`).
    pub fn applicant_json(&self, values: &[f64]) -> Value {
        let object: Map<String, Value> =
            self.fields().zip(values).map(|(f, &v)| (f.name.clone(), f.value_of(v).to_json())).collect();
        Value::Object(object)
    }

    /// A group's value for an applicant, typed (a derived feature is a number).
    pub fn group_value(&self, g: Group, values: &[f64]) -> FieldValue<'_> {
        match g {
            Group::Field(i) => self.field(i).value_of(values[i]),
            Group::Derived(_) => match self.group_raw(g, values) {
                v if v.is_nan() => FieldValue::Missing,
                v => FieldValue::Number(v),
            },
        }
    }
}
