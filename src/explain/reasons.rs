//! Plain-language reasons for a denial, in Spanish or English: the applicant's value beside a
//! reference from training data ("Tasa de morosidad 18% — la mediana de los aprobados es 2%"),
//! in the unit and with the label the schema gives the field; a missing value is "not declared".

use super::Reference;
use crate::features::GroupStats;
use crate::schema::{FieldValue, Group, Kind, Schema, Unit};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// The applicants are in Chile: Spanish is the default.
    #[default]
    Es,
    En,
}

impl FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "es" => Ok(Lang::Es),
            "en" => Ok(Lang::En),
            other => Err(format!("unsupported language {other:?}: use es or en")),
        }
    }
}

impl Lang {
    /// The first supported language of an `Accept-Language` header, if any.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        header.split(',').find_map(|part| {
            let tag = part.split(';').next()?.trim();
            tag.split('-').next()?.parse().ok()
        })
    }
}

/// How a group is told: a number (in a unit, or plain), or one of a field's categories.
enum Reading<'a> {
    Numeric { unit: Option<&'a Unit>, integer: bool },
    Category,
}

fn reading(schema: &Schema, group: Group) -> Reading<'_> {
    match group {
        Group::Field(i) => match &schema.field(i).kind {
            Kind::Category(_) | Kind::Ordered(_) | Kind::Boolean => Reading::Category,
            kind => Reading::Numeric {
                unit: schema.group_unit(group),
                integer: matches!(kind, Kind::Integer { .. }),
            },
        },
        Group::Derived(_) => Reading::Numeric { unit: schema.group_unit(group), integer: false },
    }
}

/// One sentence an analyst can send: what the applicant has, and what approved applicants
/// typically have (numeric fields) or how the category fared in training (categorical fields).
pub fn reason_text(schema: &Schema, group: Group, values: &[f64], stats: &GroupStats, lang: Lang) -> String {
    let spanish = lang == Lang::Es;
    let label = schema.group_labels(group).get(spanish);
    let value = schema.group_value(group, values);
    let not_declared = if spanish { "no declarado" } else { "not declared" };
    match reading(schema, group) {
        Reading::Numeric { unit, integer } => {
            let yours = match value {
                FieldValue::Missing => not_declared.to_string(),
                _ => format_value(schema.group_raw(group, values), unit, integer, lang),
            };
            let reference = format_value(stats.median_approved, unit, integer, lang);
            match lang {
                Lang::Es => {
                    format!("{label}: {yours} — la mediana de los solicitantes aprobados es {reference}.")
                }
                Lang::En => format!("{label}: {yours} — approved applicants' median is {reference}."),
            }
        }
        Reading::Category => {
            let overall = format_value(stats.overall_rate(), Some(&Unit::Percent), false, lang);
            let k = schema.group_raw(group, values);
            let shown = match value {
                FieldValue::Missing => {
                    return match lang {
                        Lang::Es => {
                            format!("{label}: {not_declared} — tasa de aprobación general {overall}.")
                        }
                        Lang::En => format!("{label}: {not_declared} — approval rate {overall} overall."),
                    };
                }
                FieldValue::Boolean(b) => {
                    let word = match (b, spanish) {
                        (true, true) => "sí",
                        (true, false) => "yes",
                        (false, _) => "no",
                    };
                    word.to_string()
                }
                other => other.to_string(),
            };
            let rate = stats.category_approval.get(k as usize).copied().unwrap_or(f64::NAN);
            let rate = format_value(rate, Some(&Unit::Percent), false, lang);
            match lang {
                Lang::Es => {
                    format!(
                        "{label}: {shown} — tasa de aprobación de este grupo {rate}, frente a {overall} en general."
                    )
                }
                Lang::En => format!(
                    "{label}: {shown} — approval rate in this group {rate}, against {overall} overall."
                ),
            }
        }
    }
}

/// One sentence against a reference sample (see `reference.rs`): the applicant's value beside
/// the sample's median (numeric groups) or the sample's share of the applicant's category and
/// its most common one, naming who the sample is.
pub fn compared_text(
    schema: &Schema,
    group: Group,
    values: &[f64],
    sample: &GroupStats,
    reference: Reference,
    lang: Lang,
) -> String {
    let spanish = lang == Lang::Es;
    let label = schema.group_labels(group).get(spanish);
    let who = reference.compared_with(spanish);
    let yours = value_text(schema, group, values, lang);
    let (Reading::Category, Group::Field(i)) = (reading(schema, group), group) else {
        let median = number_text(schema, group, sample.median, lang);
        return match lang {
            Lang::Es => format!("{label}: {yours} — comparado con {who}, cuya mediana es {median}."),
            Lang::En => format!("{label}: {yours} — compared with {who}, whose median is {median}."),
        };
    };
    let counts = &sample.category_counts;
    let total = counts.iter().sum::<u64>().max(1) as f64;
    let share = |k: usize| {
        format_value(counts.get(k).map_or(0.0, |&n| n as f64 / total), Some(&Unit::Percent), false, lang)
    };
    let mine = (!values[i].is_nan()).then_some(values[i] as usize);
    // The sample's most common category (the first on ties), when it is not the applicant's.
    let mode =
        (0..counts.len()).rev().max_by_key(|&k| counts[k]).filter(|&k| counts[k] > 0 && Some(k) != mine);
    let most = mode.map(|k| {
        let mut row = values.to_vec();
        row[i] = k as f64;
        (value_text(schema, group, &row, lang), share(k))
    });
    let have = mine.map(share);
    match (lang, have, most) {
        (Lang::Es, Some(have), Some((m, ms))) => format!(
            "{label}: {yours} — comparado con {who}: el {have} de ellos tiene «{yours}»; lo más común es «{m}» ({ms})."
        ),
        (Lang::Es, Some(have), None) => {
            format!("{label}: {yours} — comparado con {who}: el {have} de ellos tiene «{yours}».")
        }
        (Lang::Es, None, Some((m, ms))) => {
            format!("{label}: {yours} — comparado con {who}: lo más común es «{m}» ({ms}).")
        }
        (Lang::Es, None, None) => format!("{label}: {yours} — comparado con {who}."),
        (Lang::En, Some(have), Some((m, ms))) => format!(
            "{label}: {yours} — compared with {who}: {have} of them have “{yours}”; the most common is “{m}” ({ms})."
        ),
        (Lang::En, Some(have), None) => {
            format!("{label}: {yours} — compared with {who}: {have} of them have “{yours}”.")
        }
        (Lang::En, None, Some((m, ms))) => {
            format!("{label}: {yours} — compared with {who}: the most common is “{m}” ({ms}).")
        }
        (Lang::En, None, None) => format!("{label}: {yours} — compared with {who}."),
    }
}

/// A group's value as a person reads it, in the schema's unit ("$650.000", "3,5%", "media",
/// "sí"); "not declared" when missing.
pub fn value_text(schema: &Schema, group: Group, values: &[f64], lang: Lang) -> String {
    let spanish = lang == Lang::Es;
    match (reading(schema, group), schema.group_value(group, values)) {
        (_, FieldValue::Missing) => (if spanish { "no declarado" } else { "not declared" }).to_string(),
        (Reading::Numeric { unit, integer }, _) => {
            format_value(schema.group_raw(group, values), unit, integer, lang)
        }
        (Reading::Category, FieldValue::Boolean(b)) => (match (b, spanish) {
            (true, true) => "sí",
            (true, false) => "yes",
            (false, _) => "no",
        })
        .to_string(),
        (Reading::Category, other) => other.to_string(),
    }
}

/// A value that is no schema group's (an encoded column of `--per-column`) as a person reads
/// it: a number in the language's decimals, "not declared" for null.
pub fn json_value_text(v: &serde_json::Value, lang: Lang) -> String {
    match v {
        serde_json::Value::Null if lang == Lang::Es => "no declarado".into(),
        serde_json::Value::Null => "not declared".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |f| plain(f, lang)),
        other => other.to_string(),
    }
}

/// A raw number of a numeric group in the group's unit (a training range's ends).
pub fn number_text(schema: &Schema, group: Group, v: f64, lang: Lang) -> String {
    match reading(schema, group) {
        Reading::Numeric { unit, integer } => format_value(v, unit, integer, lang),
        Reading::Category => plain(v, lang),
    }
}

fn format_value(v: f64, unit: Option<&Unit>, integer: bool, lang: Lang) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let es = lang == Lang::Es;
    match unit {
        // The Chilean peso's own sign in Spanish; any other currency by its code.
        Some(Unit::Money(c)) if es && c == "CLP" => format!("${}", group_thousands(v.round() as i64, '.')),
        Some(Unit::Money(c)) if es => format!("{c} {}", group_thousands(v.round() as i64, '.')),
        Some(Unit::Money(c)) => format!("{c} {}", group_thousands(v.round() as i64, ',')),
        Some(Unit::Percent) => {
            let pct = 100.0 * v;
            let text = if pct.abs() >= 10.0 || pct == pct.round() {
                format!("{pct:.0}")
            } else {
                format!("{pct:.1}")
            };
            let text = if es { text.replace('.', ",") } else { text };
            format!("{text}%")
        }
        Some(Unit::Count) => format!("{}", v.round() as i64),
        Some(Unit::Years) => {
            let one = trim_decimal(v, lang) == "1";
            let unit = match (es, one) {
                (true, true) => "año",
                (true, false) => "años",
                (false, true) => "year",
                (false, false) => "years",
            };
            format!("{} {unit}", trim_decimal(v, lang))
        }
        Some(Unit::Months) => {
            let n = v.round() as i64;
            let unit = match (es, n == 1) {
                (true, true) => "mes",
                (true, false) => "meses",
                (false, true) => "month",
                (false, false) => "months",
            };
            format!("{n} {unit}")
        }
        None if integer => format!("{}", v.round() as i64),
        None => plain(v, lang),
    }
}

/// A number without a unit: whole numbers as such, others to two decimals at most.
fn plain(v: f64, lang: Lang) -> String {
    let text =
        if v == v.round() { format!("{v:.0}") } else { format!("{v:.2}").trim_end_matches('0').to_string() };
    if lang == Lang::Es { text.replace('.', ",") } else { text }
}

fn trim_decimal(v: f64, lang: Lang) -> String {
    let s = if v == v.round() { format!("{v:.0}") } else { format!("{v:.1}") };
    if lang == Lang::Es { s.replace('.', ",") } else { s }
}

/// A whole number with `sep` between groups of three digits (Spanish `.`, English `,`).
pub fn group_thousands(n: i64, sep: char) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_money_and_percentages_per_language() {
        let clp = Unit::Money("CLP".into());
        assert_eq!(format_value(1_234_567.0, Some(&clp), false, Lang::Es), "$1.234.567");
        assert_eq!(format_value(1_234_567.0, Some(&clp), false, Lang::En), "CLP 1,234,567");
        let dm = Unit::Money("DM".into());
        assert_eq!(format_value(18_424.0, Some(&dm), false, Lang::Es), "DM 18.424");
        assert_eq!(format_value(0.18, Some(&Unit::Percent), false, Lang::En), "18%");
        assert_eq!(format_value(0.034, Some(&Unit::Percent), false, Lang::Es), "3,4%");
        assert_eq!(format_value(6.5, Some(&Unit::Years), false, Lang::Es), "6,5 años");
        assert_eq!(format_value(4.0, None, true, Lang::En), "4");
        assert_eq!(format_value(2.126, None, false, Lang::Es), "2,13");
        assert_eq!(group_thousands(999, '.'), "999");
        assert_eq!(group_thousands(1000, '.'), "1.000");
    }

    /// Labels and units come from the schema; a missing value is "not declared".
    #[test]
    fn reasons_read_from_the_schema_and_say_not_declared() {
        use crate::schema::{CHILE_TOML, builtin};
        let schema = builtin();
        let field = |name: &str| Group::Field(schema.field_index(name).unwrap());
        let mut values = vec![0.0; 16];
        values[schema.field_index("delinquency_rate").unwrap()] = 0.18;
        let stats = GroupStats::of("delinquency_rate", &[0.02, 0.3], &[true, false], 0);
        let text = reason_text(&schema, field("delinquency_rate"), &values, &stats, Lang::Es);
        assert_eq!(text, "Tasa de morosidad: 18% — la mediana de los solicitantes aprobados es 2%.");
        let nullable = CHILE_TOML.replace(
            "name = \"income\"\ntype = \"number\"",
            "name = \"income\"\ntype = \"number\"\nnullable = true",
        );
        let schema = Schema::from_toml(&nullable).unwrap();
        values[schema.field_index("income").unwrap()] = f64::NAN;
        let stats = GroupStats::of("income", &[700_000.0], &[true], 0);
        let g = Group::Field(schema.field_index("income").unwrap());
        assert_eq!(
            reason_text(&schema, g, &values, &stats, Lang::En),
            "Monthly income: not declared — approved applicants' median is CLP 700,000."
        );
        assert!(
            reason_text(&schema, g, &values, &stats, Lang::Es)
                .starts_with("Ingreso mensual: no declarado — ")
        );
    }

    #[test]
    fn languages_parse_from_flags_and_headers() {
        assert_eq!("EN".parse::<Lang>(), Ok(Lang::En));
        assert!("fr".parse::<Lang>().is_err());
        assert_eq!(Lang::from_accept_language("fr-CH, en-US;q=0.9, es;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de"), None);
    }
}
