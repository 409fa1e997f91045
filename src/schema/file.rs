//! Reading the schema file: TOML parsed with every problem named by key and line (the `toml`
//! crate's spans), then turned into a [`Schema`] whose rule violations are located the same way.

use super::{
    Categories, Category, Column, Derived, Kind, Labels, MAX_EXACT, Place, Positive, Problem, Recourse, Role,
    Schema, Unit,
};
use crate::error::{Error, Result as CrateResult};
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml::{Spanned, Value};

/// The largest schema file read (a schema of a thousand columns is far smaller).
pub const MAX_SCHEMA_BYTES: u64 = 4 << 20;

/// Reads and checks a schema file: any problem is one line naming the file, the line and the key.
pub fn read_file(path: &Path) -> CrateResult<Schema> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > MAX_SCHEMA_BYTES {
        return Err(Error::bad_file(
            path,
            format!("is {len} bytes; a schema file is at most {MAX_SCHEMA_BYTES}"),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_SCHEMA_BYTES), &mut bytes)
        .map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::bad_file(path, format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
    })?;
    Schema::from_toml(&text).map_err(|e| Error::bad_file(path, e.to_string()))
}

/// A schema file that cannot be used: the line (when known) and a sentence naming the key.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SchemaError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    name: Option<Spanned<String>>,
    #[serde(default)]
    column: Vec<Spanned<RawColumn>>,
    #[serde(default)]
    derived: Vec<Spanned<RawDerived>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    min: Option<Spanned<Value>>,
    max: Option<Spanned<Value>>,
    bands: Option<Spanned<Vec<Value>>>,
    categories: Option<Spanned<Vec<RawCategory>>>,
    nullable: Option<Spanned<bool>>,
    unit: Option<Spanned<Value>>,
    label_es: Option<String>,
    label_en: Option<String>,
    role: Option<Spanned<String>>,
    positive: Option<Spanned<Value>>,
    protected: Option<Spanned<bool>>,
    proxy: Option<Spanned<bool>>,
    reported: Option<Spanned<bool>>,
    exclude: Option<Spanned<bool>>,
    recourse: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCategory {
    Plain(String),
    Full {
        canonical: String,
        #[serde(default)]
        variants: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDerived {
    name: Spanned<String>,
    kind: Spanned<String>,
    numerator: Spanned<String>,
    denominator: Spanned<String>,
    floor: Option<Spanned<Value>>,
    unit: Option<Spanned<Value>>,
    label_es: Option<String>,
    label_en: Option<String>,
    exclude: Option<Spanned<bool>>,
}

/// Parses and checks a schema file.
pub fn parse(text: &str) -> Result<Schema, SchemaError> {
    let raw: RawSchema = toml::from_str(text).map_err(|e| SchemaError {
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().replace('\n', " "),
    })?;
    let error =
        |span: Range<usize>, message: String| SchemaError { line: Some(line_of(text, span.start)), message };
    let columns = raw
        .column
        .iter()
        .map(|c| column(c.get_ref()).map_err(|(span, m)| error(span, m)))
        .collect::<Result<Vec<_>, _>>()?;
    let derived = raw
        .derived
        .iter()
        .map(|d| derived(d.get_ref()).map_err(|(span, m)| error(span, m)))
        .collect::<Result<Vec<_>, _>>()?;
    let name = raw.name.as_ref().map(|n| n.get_ref().clone()).unwrap_or_default();
    Schema::new(name, columns, derived).map_err(|p| {
        let span = problem_span(&raw, &p);
        let context = match p.place {
            Place::File => format!("key `{}`", p.key),
            Place::Column(i) => {
                format!("column {:?}, key `{}`", raw.column[i].get_ref().name.get_ref(), p.key)
            }
            Place::Derived(d) => {
                format!("derived {:?}, key `{}`", raw.derived[d].get_ref().name.get_ref(), p.key)
            }
        };
        SchemaError {
            line: span.map(|s| line_of(text, s.start)),
            message: format!("{context}: {}", p.message),
        }
    })
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

type Failure = (Range<usize>, String);

fn fail<T>(span: Range<usize>, name: &str, key: &str, message: impl fmt::Display) -> Result<T, Failure> {
    Err((span, format!("column {name:?}, key `{key}`: {message}")))
}

fn column(raw: &RawColumn) -> Result<Column, Failure> {
    let name = raw.name.get_ref().clone();
    let n = name.as_str();
    let flag = |f: &Option<Spanned<bool>>| f.as_ref().is_some_and(|b| *b.get_ref());
    let role = match raw.role.as_ref().map(|r| (r.get_ref().as_str(), r.span())) {
        None | Some(("feature", _)) => Role::Feature,
        Some(("label", span)) => match &raw.positive {
            None => {
                return fail(
                    span,
                    n,
                    "positive",
                    "the label column needs `positive` = the value that means approved (good)",
                );
            }
            // Resolved against the kind below.
            Some(_) => Role::Label(Positive::Boolean(true)),
        },
        Some(("id", _)) => Role::Id,
        Some(("diagnostic", _)) => Role::Diagnostic,
        Some((other, span)) => {
            return fail(
                span,
                n,
                "role",
                format!("unknown role {other:?}; expected feature, label, id or diagnostic"),
            );
        }
    };
    let kind = kind(raw)?;
    let role = match (role, &raw.positive) {
        (Role::Label(_), Some(p)) => {
            Role::Label(positive(&kind, p.get_ref()).or_else(|m| fail(p.span(), n, "positive", m))?)
        }
        (_, Some(p)) => {
            return fail(
                p.span(),
                n,
                "positive",
                "only the label column (role = \"label\") has a positive value",
            );
        }
        (role, None) => role,
    };
    let recourse = match &raw.recourse {
        None => Recourse::Any,
        Some(r) if role != Role::Feature => {
            return fail(r.span(), n, "recourse", "recourse is for feature columns");
        }
        Some(r) => match Recourse::ALL.into_iter().find(|x| x.name() == r.get_ref()) {
            Some(x) => x,
            None => {
                let message = format!(
                    "unknown recourse {:?}; expected immutable, increase, decrease, any or context",
                    r.get_ref()
                );
                return fail(r.span(), n, "recourse", message);
            }
        },
    };
    let unit = match &raw.unit {
        None => None,
        Some(u) => Some(unit(u.get_ref()).or_else(|m| fail(u.span(), n, "unit", m))?),
    };
    Ok(Column {
        labels: Labels {
            es: raw.label_es.clone().unwrap_or_else(|| name.clone()),
            en: raw.label_en.clone().unwrap_or_else(|| name.clone()),
        },
        kind,
        nullable: flag(&raw.nullable),
        unit,
        role,
        protected: flag(&raw.protected),
        proxy: flag(&raw.proxy),
        reported: flag(&raw.reported),
        exclude: flag(&raw.exclude),
        recourse,
        bands: bands(raw)?,
        name,
    })
}

/// The fairness bands of a numeric column: numbers (their order is checked by [`Schema::new`]).
fn bands(raw: &RawColumn) -> Result<Option<Vec<f64>>, Failure> {
    let n = raw.name.get_ref().as_str();
    let Some(list) = &raw.bands else { return Ok(None) };
    if !matches!(raw.kind.get_ref().as_str(), "number" | "integer") {
        return fail(list.span(), n, "bands", "bands apply to number and integer columns".to_string());
    }
    list.get_ref()
        .iter()
        .map(|v| match v {
            Value::Integer(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            other => fail(list.span(), n, "bands", format!("every band edge is a number, got {other}")),
        })
        .collect::<Result<Vec<f64>, Failure>>()
        .map(Some)
}

fn kind(raw: &RawColumn) -> Result<Kind, Failure> {
    let n = raw.name.get_ref().as_str();
    let type_name = raw.kind.get_ref().as_str();
    if !matches!(type_name, "number" | "integer" | "category" | "ordered" | "boolean" | "text") {
        let message = format!(
            "unknown type {type_name:?}; expected number, integer, category, ordered, boolean or text"
        );
        return fail(raw.kind.span(), n, "type", message);
    }
    let numeric = matches!(type_name, "number" | "integer");
    for (key, present) in
        [("min", raw.min.as_ref().map(|v| v.span())), ("max", raw.max.as_ref().map(|v| v.span()))]
    {
        if let (Some(span), false) = (present, numeric) {
            return fail(
                span,
                n,
                key,
                format!("{key} applies to number and integer columns, not {type_name}"),
            );
        }
    }
    let categorical = matches!(type_name, "category" | "ordered");
    if let (Some(c), false) = (&raw.categories, categorical) {
        return fail(
            c.span(),
            n,
            "categories",
            format!("categories apply to category and ordered columns, not {type_name}"),
        );
    }
    let bound = |v: &Option<Spanned<Value>>, key: &str, default: f64| -> Result<f64, Failure> {
        match v.as_ref().map(|s| (s.get_ref(), s.span())) {
            None => Ok(default),
            Some((Value::Integer(i), _)) => Ok(*i as f64),
            Some((Value::Float(f), _)) if !f.is_nan() => Ok(*f),
            Some((other, span)) => fail(span, n, key, format!("must be a number, got {}", other.type_str())),
        }
    };
    let whole = |v: &Option<Spanned<Value>>, key: &str, default: i64| -> Result<i64, Failure> {
        match v.as_ref().map(|s| (s.get_ref(), s.span())) {
            None => Ok(default),
            Some((Value::Integer(i), _)) => Ok(*i),
            Some((other, span)) => {
                fail(span, n, key, format!("an integer column's bound must be an integer, got {other}"))
            }
        }
    };
    let limit = MAX_EXACT as i64;
    Ok(match type_name {
        "number" => Kind::Number {
            min: bound(&raw.min, "min", f64::NEG_INFINITY)?,
            max: bound(&raw.max, "max", f64::INFINITY)?,
        },
        "integer" => {
            Kind::Integer { min: whole(&raw.min, "min", -limit)?, max: whole(&raw.max, "max", limit)? }
        }
        "category" | "ordered" => {
            let Some(list) = &raw.categories else {
                return fail(
                    raw.kind.span(),
                    n,
                    "categories",
                    format!("a {type_name} column lists its categories"),
                );
            };
            let values = list
                .get_ref()
                .iter()
                .map(|c| match c {
                    RawCategory::Plain(s) => Category::plain(s.clone()),
                    RawCategory::Full { canonical, variants } => {
                        Category { canonical: canonical.clone(), variants: variants.clone() }
                    }
                })
                .collect();
            let categories = Categories::new(values).or_else(|m| fail(list.span(), n, "categories", m))?;
            if type_name == "ordered" { Kind::Ordered(categories) } else { Kind::Category(categories) }
        }
        "boolean" => Kind::Boolean,
        _ => Kind::Text,
    })
}

fn positive(kind: &Kind, value: &Value) -> Result<Positive, String> {
    Ok(match (kind, value) {
        (_, Value::Boolean(b)) => Positive::Boolean(*b),
        (_, Value::Integer(i)) => Positive::Integer(*i),
        // A spelling of a category stands for its canonical form (checked by Schema::new).
        (Kind::Category(c) | Kind::Ordered(c), Value::String(s)) => {
            Positive::Category(c.find(s).map_or_else(|| s.clone(), |i| c.name(i).to_string()))
        }
        (_, Value::String(s)) => Positive::Category(s.clone()),
        (_, other) => {
            return Err(format!("must be a boolean, a string or an integer, got {}", other.type_str()));
        }
    })
}

fn unit(value: &Value) -> Result<Unit, String> {
    match value {
        Value::String(s) => match s.as_str() {
            "percent" => Ok(Unit::Percent),
            "count" => Ok(Unit::Count),
            "years" => Ok(Unit::Years),
            "months" => Ok(Unit::Months),
            "money" => Err("money needs its currency: unit = { money = \"CLP\" }".into()),
            other => Err(format!(
                "unknown unit {other:?}; expected {{ money = \"CLP\" }}, percent, count, years or months"
            )),
        },
        Value::Table(t) if t.len() == 1 => match t.get("money") {
            Some(Value::String(c)) if !c.trim().is_empty() => Ok(Unit::Money(c.trim().to_string())),
            _ => Err("write a currency as unit = { money = \"CLP\" }".into()),
        },
        _ => Err("write a unit as a name (percent, count, years, months) or { money = \"CLP\" }".into()),
    }
}

fn derived(raw: &RawDerived) -> Result<Derived, Failure> {
    let name = raw.name.get_ref().clone();
    let fail = |span: Range<usize>, key: &str, message: String| -> Result<Derived, Failure> {
        Err((span, format!("derived {name:?}, key `{key}`: {message}")))
    };
    if raw.kind.get_ref() != "ratio" {
        return fail(
            raw.kind.span(),
            "kind",
            format!("unknown kind {:?}; the only kind is \"ratio\"", raw.kind.get_ref()),
        );
    }
    let floor = match raw.floor.as_ref().map(|f| (f.get_ref(), f.span())) {
        Some((Value::Integer(i), _)) => *i as f64,
        Some((Value::Float(f), _)) => *f,
        Some((_, span)) => return fail(span, "floor", "must be a positive number".into()),
        None => {
            return fail(
                raw.name.span(),
                "floor",
                "a ratio needs `floor`, the smallest denominator used".into(),
            );
        }
    };
    let unit = match &raw.unit {
        None => None,
        Some(u) => match unit(u.get_ref()) {
            Ok(u) => Some(u),
            Err(m) => return fail(u.span(), "unit", m),
        },
    };
    let labels = Labels {
        es: raw.label_es.clone().unwrap_or_else(|| name.clone()),
        en: raw.label_en.clone().unwrap_or_else(|| name.clone()),
    };
    let mut d = Derived::ratio(&name, raw.numerator.get_ref(), raw.denominator.get_ref(), floor, labels);
    d.unit = unit;
    d.exclude = raw.exclude.as_ref().is_some_and(|e| *e.get_ref());
    Ok(d)
}

/// Where a problem found by [`Schema::new`] is in the file: its key's value, else its table.
fn problem_span(raw: &RawSchema, p: &Problem) -> Option<Range<usize>> {
    match p.place {
        Place::File => match p.key {
            "name" => raw.name.as_ref().map(|n| n.span()),
            _ => raw.column.last().map(|c| c.span()),
        },
        Place::Column(i) => {
            let c = raw.column.get(i)?;
            let r = c.get_ref();
            let span = match p.key {
                "name" => Some(r.name.span()),
                "type" => Some(r.kind.span()),
                "min" => r.min.as_ref().map(|v| v.span()),
                "max" => r.max.as_ref().map(|v| v.span()),
                "bands" => r.bands.as_ref().map(|v| v.span()),
                "positive" => r.positive.as_ref().map(|v| v.span()),
                "role" => r.role.as_ref().map(|v| v.span()),
                "nullable" => r.nullable.as_ref().map(|v| v.span()),
                "protected" => r.protected.as_ref().map(|v| v.span()),
                "proxy" => r.proxy.as_ref().map(|v| v.span()),
                "reported" => r.reported.as_ref().map(|v| v.span()),
                "exclude" => r.exclude.as_ref().map(|v| v.span()),
                _ => None,
            };
            Some(span.unwrap_or_else(|| r.name.span()))
        }
        Place::Derived(d) => {
            let r = raw.derived.get(d)?.get_ref();
            Some(match p.key {
                "numerator" => r.numerator.span(),
                "denominator" => r.denominator.span(),
                "floor" => r.floor.as_ref().map_or_else(|| r.name.span(), |f| f.span()),
                _ => r.name.span(),
            })
        }
    }
}
