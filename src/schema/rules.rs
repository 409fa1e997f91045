//! The rules every schema obeys, checked once when it is built: unique names, exactly one label
//! with a positive class its type can hold, valid ranges, at least one model input, derived
//! features over numeric fields; the roles resolved into indices.

use super::{Column, Derived, Kind, MAX_EXACT, Positive, Role, Schema};

/// Where in a schema a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    File,
    Column(usize),
    Derived(usize),
}

/// A schema that breaks a rule: where, which key, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub place: Place,
    pub key: &'static str,
    pub message: String,
}

impl Schema {
    /// Checks the rules every schema obeys and resolves the roles: unique names, exactly one
    /// label with a positive class its type can hold, valid ranges, at least one model input,
    /// derived features over numeric fields.
    pub fn new(
        name: impl Into<String>,
        columns: Vec<Column>,
        derived: Vec<Derived>,
    ) -> Result<Schema, Problem> {
        let name = name.into();
        let fail = |place, key, message: String| Err(Problem { place, key, message });
        if name.trim().is_empty() {
            return fail(Place::File, "name", "the schema needs a name".into());
        }
        let (mut fields, mut labels, mut scores, mut ids) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, c) in columns.iter().enumerate() {
            let at = Place::Column(i);
            if c.name.trim().is_empty() || c.name.contains(['=', ',', '"', '\n']) {
                return fail(
                    at,
                    "name",
                    format!("{:?} is not a usable column name (empty, or has = , \" or a newline)", c.name),
                );
            }
            if let Some(j) = columns[..i].iter().position(|o| o.name == c.name) {
                return fail(
                    at,
                    "name",
                    format!("column {:?} is declared twice (also column {})", c.name, j + 1),
                );
            }
            check_kind(c).map_err(|(key, message)| Problem { place: at, key, message })?;
            match &c.role {
                Role::Feature => fields.push(i),
                Role::Label(positive) => {
                    check_positive(c, positive).map_err(|m| Problem {
                        place: at,
                        key: "positive",
                        message: m,
                    })?;
                    labels.push(i);
                }
                Role::Id => ids.push(i),
                Role::Diagnostic => scores.push(i),
            }
            if !matches!(c.role, Role::Feature) {
                for (flag, set) in [
                    ("exclude", c.exclude),
                    ("protected", c.protected),
                    ("proxy", c.proxy),
                    ("reported", c.reported),
                ] {
                    if set {
                        return fail(
                            at,
                            flag,
                            format!("only feature columns can be {flag}; {:?} is not a feature", c.name),
                        );
                    }
                }
                if c.nullable && !matches!(c.role, Role::Id) {
                    return fail(
                        at,
                        "nullable",
                        format!("the {} column {:?} cannot be nullable", role_name(&c.role), c.name),
                    );
                }
            }
            if matches!(c.kind, Kind::Text) != matches!(c.role, Role::Id) {
                return fail(
                    at,
                    "type",
                    "type \"text\" is for id columns, and id columns are type \"text\"".into(),
                );
            }
        }
        match labels.len() {
            0 => {
                return fail(
                    Place::File,
                    "role",
                    "no label column: mark the outcome column role = \"label\" with its positive value"
                        .into(),
                );
            }
            1 => {}
            _ => {
                return fail(
                    Place::Column(labels[1]),
                    "role",
                    format!("a second label column {:?}; a schema has exactly one", columns[labels[1]].name),
                );
            }
        }
        if scores.len() > 1 {
            return fail(Place::Column(scores[1]), "role", "at most one diagnostic column".into());
        }
        if let Some(&i) = scores.first()
            && !matches!(columns[i].kind, Kind::Number { .. } | Kind::Integer { .. })
        {
            return fail(
                Place::Column(i),
                "type",
                "the diagnostic column must be a number (the label's latent logit)".into(),
            );
        }

        let mut derived = derived;
        for (d, spec) in derived.iter_mut().enumerate() {
            let at = Place::Derived(d);
            if columns.iter().any(|c| c.name == spec.name) {
                return fail(at, "name", format!("derived feature {:?} has the name of a column", spec.name));
            }
            let input = |key: &'static str, field: &str| -> Result<usize, Problem> {
                let i = fields.iter().position(|&c| columns[c].name == field).ok_or_else(|| Problem {
                    place: at,
                    key,
                    message: format!("{field:?} is not a feature column"),
                })?;
                let c = &columns[fields[i]];
                if !matches!(c.kind, Kind::Number { .. } | Kind::Integer { .. }) {
                    return Err(Problem { place: at, key, message: format!("{field:?} is not numeric") });
                }
                if c.exclude && !spec.exclude {
                    return Err(Problem {
                        place: at,
                        key,
                        message: format!("{field:?} is excluded, so {:?} must be excluded too", spec.name),
                    });
                }
                Ok(i)
            };
            spec.fields = (input("numerator", &spec.numerator)?, input("denominator", &spec.denominator)?);
            if !(spec.floor.is_finite() && spec.floor > 0.0) {
                return fail(at, "floor", format!("floor must be a positive number, got {}", spec.floor));
            }
        }
        for d in 1..derived.len() {
            if derived[..d].iter().any(|o| o.name == derived[d].name) {
                return fail(
                    Place::Derived(d),
                    "name",
                    format!("derived feature {:?} is declared twice", derived[d].name),
                );
            }
        }
        let inputs = fields.iter().filter(|&&i| !columns[i].exclude).count()
            + derived.iter().filter(|d| !d.exclude).count();
        if inputs == 0 {
            return fail(
                Place::File,
                "column",
                "no model inputs: every feature is excluded (or there are none)".into(),
            );
        }
        Ok(Schema { name, columns, derived, fields, label: labels[0], score: scores.first().copied(), ids })
    }
}

fn role_name(role: &Role) -> &'static str {
    match role {
        Role::Feature => "feature",
        Role::Label(_) => "label",
        Role::Id => "id",
        Role::Diagnostic => "diagnostic",
    }
}

fn check_kind(c: &Column) -> Result<(), (&'static str, String)> {
    match &c.kind {
        Kind::Number { min, max } => {
            if min.is_nan() || max.is_nan() {
                return Err(("min", "min and max must be numbers".into()));
            }
            if min > max {
                return Err(("min", format!("min {min} is greater than max {max}")));
            }
        }
        Kind::Integer { min, max } if min > max => {
            return Err(("min", format!("min {min} is greater than max {max}")));
        }
        Kind::Integer { min, max } if min.unsigned_abs() > MAX_EXACT || max.unsigned_abs() > MAX_EXACT => {
            return Err(("max", format!("integer bounds must lie within ±{MAX_EXACT} (exact as f64)")));
        }
        _ => {}
    }
    if let Some(edges) = &c.bands {
        if !matches!(c.kind, Kind::Number { .. } | Kind::Integer { .. }) {
            return Err(("bands", "bands apply to number and integer columns".into()));
        }
        if edges.is_empty() || edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] >= w[1])
        {
            return Err((
                "bands",
                format!("bands must be finite, increasing edges (e.g. [18, 26, 36]), got {edges:?}"),
            ));
        }
    }
    Ok(())
}

fn check_positive(c: &Column, positive: &Positive) -> Result<(), String> {
    match (&c.kind, positive) {
        (Kind::Boolean, Positive::Boolean(_)) => Ok(()),
        (Kind::Category(cats) | Kind::Ordered(cats), Positive::Category(p)) => {
            if cats.names().any(|n| n == p) {
                Ok(())
            } else {
                Err(format!(
                    "positive {p:?} is not one of the label's categories ({})",
                    cats.names().collect::<Vec<_>>().join(", ")
                ))
            }
        }
        (Kind::Integer { min, max }, Positive::Integer(p)) if (min..=max).contains(&p) => Ok(()),
        (Kind::Integer { min, max }, Positive::Integer(p)) => {
            Err(format!("positive {p} is outside the label's range {min}..={max}"))
        }
        (Kind::Number { .. } | Kind::Text, _) => {
            Err(format!("a label must be boolean, category, ordered or integer, not {}", c.kind.type_name()))
        }
        (kind, p) => Err(format!("positive {p:?} does not fit the label's type {}", kind.type_name())),
    }
}
