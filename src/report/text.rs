//! The report's words and number formats: one Spanish and one English text per phrase, numbers
//! with a decimal point in both languages (a technical report read beside JSON and code) and
//! counts grouped by thin spaces, so a test can parse every number back.

use crate::explain::Lang;
use crate::schema::{Group, Schema};

/// Spanish or English.
pub fn tr(lang: Lang, es: &'static str, en: &'static str) -> &'static str {
    if lang == Lang::Es { es } else { en }
}

/// `es` or `en`.
pub fn code(lang: Lang) -> &'static str {
    tr(lang, "es", "en")
}

/// A group's label in the report's language.
pub fn label(schema: &Schema, g: Group, lang: Lang) -> String {
    schema.group_labels(g).get(lang == Lang::Es).to_string()
}

/// A field's label by name (the name itself when the schema does not know it).
pub fn label_of(schema: &Schema, name: &str, lang: Lang) -> String {
    schema.group_named(name).map_or_else(|| name.to_string(), |g| label(schema, g, lang))
}

/// Counts with thin-space thousands: 250 000.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A share as a percentage with one decimal: 0.6391 → "63.9%"; "—" when undefined.
pub fn pct(v: f64) -> String {
    if v.is_finite() { format!("{:.1}%", 100.0 * v) } else { "—".into() }
}

/// A number with `d` decimals; "—" when undefined.
pub fn num(v: f64, d: usize) -> String {
    if v.is_finite() { format!("{v:.d$}") } else { "—".into() }
}

/// A value and its interval: "0.434 [0.394, 0.489]".
pub fn with_ci(v: f64, ci: Option<[f64; 2]>, d: usize) -> String {
    match ci {
        Some([l, h]) if v.is_finite() => format!("{} [{}, {}]", num(v, d), num(l, d), num(h, d)),
        _ => num(v, d),
    }
}

/// A quantity for a table cell: money and big numbers without decimals, small ones with two.
pub fn amount(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v.abs() >= 1000.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        format!("{sign}{}", count(v.round().abs() as u64))
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(250_000), "250\u{202f}000");
        assert_eq!(count(999), "999");
        assert_eq!(pct(0.63914), "63.9%");
        assert_eq!(pct(f64::NAN), "—");
        assert_eq!(with_ci(0.4341, Some([0.394, 0.489]), 3), "0.434 [0.394, 0.489]");
        assert_eq!(amount(1_234_567.4), "1\u{202f}234\u{202f}567");
        assert_eq!(amount(0.351), "0.35");
    }
}
