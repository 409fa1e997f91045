//! Plain-language reasons for a denial, in Spanish or English: the applicant's value beside a
//! reference from training data ("Tasa de morosidad 18% — la mediana de los aprobados es 2%").

use crate::features::{Group, GroupStats};
use crate::schema::{Applicant, FieldId, Kind};
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

/// How a group's values read to a person.
#[derive(Clone, Copy)]
enum Unit {
    Money,
    Percent,
    Count,
    Years,
    Months,
}

/// How a group is told: a number in a unit, or one of a field's categories.
enum Reading {
    Numeric(Unit),
    Category(FieldId, &'static [&'static str]),
}

fn reading(group: Group) -> Reading {
    use FieldId::*;
    let id = match group {
        Group::DebtToIncome => return Reading::Numeric(Unit::Percent),
        Group::Field(id) => id,
    };
    if let Kind::Category(values) = id.spec().kind {
        return Reading::Category(id, values);
    }
    Reading::Numeric(match id {
        Income | AvgMonthlyPayment => Unit::Money,
        DelinquencyRate | RegionalCpi | RegionalUnemployment => Unit::Percent,
        EmploymentYears | Age => Unit::Years,
        CreditHistoryMonths => Unit::Months,
        _ => Unit::Count,
    })
}

/// One sentence an analyst can send: what the applicant has, and what approved applicants
/// typically have (numeric fields) or how the category fared in training (categorical fields).
pub fn reason_text(group: Group, a: &Applicant, stats: &GroupStats, lang: Lang) -> String {
    let spanish = lang == Lang::Es;
    let label = group.label(spanish);
    match reading(group) {
        Reading::Numeric(u) => {
            let yours = format_value(group.raw(a), u, lang);
            let reference = format_value(stats.median_approved, u, lang);
            match lang {
                Lang::Es => {
                    format!("{label}: {yours} — la mediana de los solicitantes aprobados es {reference}.")
                }
                Lang::En => format!("{label}: {yours} — approved applicants' median is {reference}."),
            }
        }
        Reading::Category(id, values) => categorical_text(id, values, a, stats, label, lang),
    }
}

fn categorical_text(
    id: FieldId,
    values: &[&str],
    a: &Applicant,
    stats: &GroupStats,
    label: &str,
    lang: Lang,
) -> String {
    let k = a.get(id) as usize;
    let rate = stats.category_approval.get(k).copied().unwrap_or(f64::NAN);
    let total: u64 = stats.category_counts.iter().sum();
    let overall = weighted_rate(stats, total);
    let (rate, overall) =
        (format_value(rate, Unit::Percent, lang), format_value(overall, Unit::Percent, lang));
    match lang {
        Lang::Es => format!(
            "{label}: {} — tasa de aprobación de este grupo {rate}, frente a {overall} en general.",
            values[k]
        ),
        Lang::En => {
            format!("{label}: {} — approval rate in this group {rate}, against {overall} overall.", values[k])
        }
    }
}

fn weighted_rate(stats: &GroupStats, total: u64) -> f64 {
    let approved: f64 = stats
        .category_counts
        .iter()
        .zip(&stats.category_approval)
        .filter(|(n, _)| **n > 0)
        .map(|(&n, &r)| n as f64 * r)
        .sum();
    approved / total as f64
}

fn format_value(v: f64, unit: Unit, lang: Lang) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    match (unit, lang) {
        (Unit::Money, Lang::Es) => format!("${}", group_thousands(v.round() as i64, '.')),
        (Unit::Money, Lang::En) => format!("CLP {}", group_thousands(v.round() as i64, ',')),
        (Unit::Percent, _) => {
            let pct = 100.0 * v;
            let text = if pct.abs() >= 10.0 || pct == pct.round() {
                format!("{pct:.0}")
            } else {
                format!("{pct:.1}")
            };
            let text = if lang == Lang::Es { text.replace('.', ",") } else { text };
            format!("{text}%")
        }
        (Unit::Count, _) => format!("{}", v.round() as i64),
        (Unit::Years, Lang::Es) => format!("{} años", trim_decimal(v, lang)),
        (Unit::Years, Lang::En) => format!("{} years", trim_decimal(v, lang)),
        (Unit::Months, Lang::Es) => format!("{} meses", v.round() as i64),
        (Unit::Months, Lang::En) => format!("{} months", v.round() as i64),
    }
}

fn trim_decimal(v: f64, lang: Lang) -> String {
    let s = if v == v.round() { format!("{v:.0}") } else { format!("{v:.1}") };
    if lang == Lang::Es { s.replace('.', ",") } else { s }
}

fn group_thousands(n: i64, sep: char) -> String {
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
        assert_eq!(format_value(1_234_567.0, Unit::Money, Lang::Es), "$1.234.567");
        assert_eq!(format_value(1_234_567.0, Unit::Money, Lang::En), "CLP 1,234,567");
        assert_eq!(format_value(0.18, Unit::Percent, Lang::En), "18%");
        assert_eq!(format_value(0.034, Unit::Percent, Lang::Es), "3,4%");
        assert_eq!(format_value(6.5, Unit::Years, Lang::Es), "6,5 años");
        assert_eq!(group_thousands(999, '.'), "999");
        assert_eq!(group_thousands(1000, '.'), "1.000");
    }

    #[test]
    fn languages_parse_from_flags_and_headers() {
        assert_eq!("EN".parse::<Lang>(), Ok(Lang::En));
        assert!("fr".parse::<Lang>().is_err());
        assert_eq!(Lang::from_accept_language("fr-CH, en-US;q=0.9, es;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de"), None);
    }
}
