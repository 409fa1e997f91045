//! Writing a schema as TOML in the shape users write it, so that `Schema` ⇄ TOML round-trips:
//! the keys in a fixed order, defaults left out, strings quoted and escaped by the `toml` crate.

use super::{Categories, Kind, MAX_EXACT, Positive, Role, Schema, Unit};
use std::fmt::Write as _;
use toml::Value;

const HEADER: &str = "# credrisk schema: one [[column]] per table column, in table order; `credrisk schema show`\n\
# prints the built-in schema with every key explained. Check edits with `credrisk schema check`.\n";

/// TOML text of a string or number, quoted and escaped as TOML wants.
fn lit(value: impl Into<Value>) -> String {
    value.into().to_string()
}

pub fn write(schema: &Schema) -> String {
    let mut out = String::from(HEADER);
    let _ = writeln!(out, "\nname = {}", lit(schema.name()));
    for c in schema.columns() {
        let _ = writeln!(
            out,
            "\n[[column]]\nname = {}\ntype = {}",
            lit(c.name.as_str()),
            lit(c.kind.type_name())
        );
        match &c.kind {
            Kind::Number { min, max } => {
                for (key, v) in [("min", min), ("max", max)] {
                    if v.is_finite() {
                        let _ = writeln!(out, "{key} = {}", number(*v));
                    }
                }
            }
            Kind::Integer { min, max } => {
                let limit = MAX_EXACT as i64;
                if *min != -limit {
                    let _ = writeln!(out, "min = {min}");
                }
                if *max != limit {
                    let _ = writeln!(out, "max = {max}");
                }
            }
            Kind::Category(cats) | Kind::Ordered(cats) => write_categories(&mut out, cats),
            Kind::Boolean | Kind::Text => {}
        }
        if let Some(edges) = &c.bands {
            let edges: Vec<String> = edges.iter().map(|e| number(*e)).collect();
            let _ = writeln!(out, "bands = [{}]", edges.join(", "));
        }
        if c.nullable {
            out.push_str("nullable = true\n");
        }
        write_unit(&mut out, c.unit.as_ref());
        let _ = writeln!(
            out,
            "label_es = {}\nlabel_en = {}",
            lit(c.labels.es.as_str()),
            lit(c.labels.en.as_str())
        );
        match &c.role {
            Role::Feature => {}
            Role::Label(p) => {
                let value = match p {
                    Positive::Boolean(b) => lit(*b),
                    Positive::Category(s) => lit(s.as_str()),
                    Positive::Integer(i) => lit(*i),
                };
                let _ = writeln!(out, "role = \"label\"\npositive = {value}");
            }
            Role::Id => out.push_str("role = \"id\"\n"),
            Role::Diagnostic => out.push_str("role = \"diagnostic\"\n"),
        }
        for (key, set) in
            [("protected", c.protected), ("proxy", c.proxy), ("reported", c.reported), ("exclude", c.exclude)]
        {
            if set {
                let _ = writeln!(out, "{key} = true");
            }
        }
        if c.role == Role::Feature {
            let _ = writeln!(out, "recourse = {}", lit(c.recourse.name()));
        }
    }
    for d in schema.derived() {
        let _ = writeln!(
            out,
            "\n[[derived]]\nname = {}\nkind = \"ratio\"\nnumerator = {}\ndenominator = {}\nfloor = {}",
            lit(d.name.as_str()),
            lit(d.numerator.as_str()),
            lit(d.denominator.as_str()),
            number(d.floor)
        );
        write_unit(&mut out, d.unit.as_ref());
        let _ = writeln!(
            out,
            "label_es = {}\nlabel_en = {}",
            lit(d.labels.es.as_str()),
            lit(d.labels.en.as_str())
        );
        if d.exclude {
            out.push_str("exclude = true\n");
        }
    }
    out
}

/// A bound as TOML: whole numbers as integers when they fit exactly, others as floats.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() <= MAX_EXACT as f64 { lit(v as i64) } else { lit(v) }
}

fn write_categories(out: &mut String, cats: &Categories) {
    out.push_str("categories = [\n");
    for c in cats.values() {
        if c.variants.is_empty() {
            let _ = writeln!(out, "    {},", lit(c.canonical.as_str()));
        } else {
            let variants: Vec<String> = c.variants.iter().map(|v| lit(v.as_str())).collect();
            let _ = writeln!(
                out,
                "    {{ canonical = {}, variants = [{}] }},",
                lit(c.canonical.as_str()),
                variants.join(", ")
            );
        }
    }
    out.push_str("]\n");
}

fn write_unit(out: &mut String, unit: Option<&Unit>) {
    let text = match unit {
        None => return,
        Some(Unit::Money(currency)) => format!("{{ money = {} }}", lit(currency.as_str())),
        Some(Unit::Percent) => "\"percent\"".into(),
        Some(Unit::Count) => "\"count\"".into(),
        Some(Unit::Years) => "\"years\"".into(),
        Some(Unit::Months) => "\"months\"".into(),
    };
    let _ = writeln!(out, "unit = {text}");
}
