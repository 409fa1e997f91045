//! The fairness report as a terminal table a risk officer reads, in Spanish or English: per
//! grouping its groups (flagged ones marked), its disparities with intervals, then the alerts.

use super::report::{Alert, ByReport, Disparity, FairnessReport, Flag, GroupReport, Rate, Stat};
use crate::explain::Lang;
use crate::schema::Schema;
use std::fmt::Write;

struct Words {
    title: &'static str,
    decisions: &'static str,
    approved_if: &'static str,
    replicates: &'static str,
    no_intervals: &'static str,
    overall: &'static str,
    group: &'static str,
    approval: &'static str,
    observed: &'static str,
    mean_p: &'static str,
    dp: &'static str,
    difference: &'static str,
    ratio: &'static str,
    to_overall: &'static str,
    eopp: &'static str,
    eodds: &'static str,
    not_judged: &'static str,
    too_small: &'static str,
    no_positives: &'static str,
    no_negatives: &'static str,
    no_alerts: &'static str,
    alerts: &'static str,
    vs: &'static str,
    no_label: &'static str,
    skipped: &'static str,
    rate_names: [&'static str; 6],
}

const EN: Words = Words {
    title: "Fairness of",
    decisions: "decisions",
    approved_if: "approved when P(approved) >=",
    replicates: "bootstrap replicates, 95% intervals in brackets",
    no_intervals: "no intervals (--n-boot 0)",
    overall: "Overall",
    group: "group",
    approval: "approval rate",
    observed: "observed",
    mean_p: "mean P",
    dp: "demographic parity",
    difference: "difference",
    ratio: "ratio",
    to_overall: "to overall",
    eopp: "equal opportunity difference",
    eodds: "equalized odds difference",
    not_judged: "listed, not judged",
    too_small: "fewer rows than --min-group",
    no_positives: "no positive label",
    no_negatives: "no negative label",
    no_alerts: "No alert: every judged disparity is within the thresholds",
    alerts: "Alerts",
    vs: "vs",
    no_label: "the batch has no label column",
    skipped: "observed rate, TPR, FPR, precision, ROC-AUC, equal opportunity and equalized odds are skipped",
    rate_names: ["approval rate", "mean P", "observed rate", "TPR", "FPR", "precision"],
};

const ES: Words = Words {
    title: "Equidad de",
    decisions: "decisiones",
    approved_if: "aprobado si P(aprobado) >=",
    replicates: "réplicas bootstrap, intervalos del 95% entre corchetes",
    no_intervals: "sin intervalos (--n-boot 0)",
    overall: "Total",
    group: "grupo",
    approval: "tasa de aprobación",
    observed: "observada",
    mean_p: "P media",
    dp: "paridad demográfica",
    difference: "diferencia",
    ratio: "razón",
    to_overall: "respecto del total",
    eopp: "diferencia de igualdad de oportunidades",
    eodds: "diferencia de probabilidades igualadas",
    not_judged: "listado, no evaluado",
    too_small: "menos filas que --min-group",
    no_positives: "sin etiqueta positiva",
    no_negatives: "sin etiqueta negativa",
    no_alerts: "Sin alertas: toda disparidad evaluada está dentro de los umbrales",
    alerts: "Alertas",
    vs: "vs",
    no_label: "el lote no tiene la columna de etiqueta",
    skipped: "se omiten tasa observada, TPR, FPR, precisión, ROC-AUC, igualdad de oportunidades y probabilidades igualadas",
    rate_names: ["tasa de aprobación", "P media", "tasa observada", "TPR", "FPR", "precisión"],
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::Es => &ES,
        Lang::En => &EN,
    }
}

fn num(v: f64) -> String {
    if v.is_nan() { "-".into() } else { format!("{v:.3}") }
}

/// `0.541 [0.535, 0.547]`, or the value alone without intervals.
fn with_ci(s: Stat) -> String {
    match s.ci {
        Some([lo, hi]) if !s.value.is_nan() => format!("{} [{}, {}]", num(s.value), num(lo), num(hi)),
        _ => num(s.value),
    }
}

/// How a grouping reads: its fields' labels, joined by ` × ` for an intersection.
pub fn by_title(schema: &Schema, by: &ByReport, lang: Lang) -> String {
    by.fields
        .iter()
        .map(|f| {
            schema
                .field_index(f)
                .map_or(f.clone(), |i| schema.field(i).labels.get(lang == Lang::Es).to_string())
        })
        .collect::<Vec<_>>()
        .join(" × ")
}

fn flag_text(flag: Flag, w: &Words) -> &'static str {
    match flag {
        Flag::TooSmall => w.too_small,
        Flag::NoPositives => w.no_positives,
        Flag::NoNegatives => w.no_negatives,
    }
}

/// The report as text (ends with a newline).
pub fn render(report: &FairnessReport, schema: &Schema, lang: Lang) -> String {
    let w = words(lang);
    let mut out = String::new();
    let boot = if report.n_boot > 0 {
        format!("{} {}", report.n_boot, w.replicates)
    } else {
        w.no_intervals.to_string()
    };
    let _ = writeln!(
        out,
        "{} {} {} ({} {}); {boot}",
        w.title, report.n, w.decisions, w.approved_if, report.threshold
    );
    if !report.labelled {
        let _ = writeln!(out, "  ({}: `{}`; {})", w.no_label, report.label, w.skipped);
    }
    let o = &report.overall;
    let _ = write!(out, "{}: {} {}", w.overall, w.approval, with_ci(o.rate(Rate::SelectionRate)));
    if report.labelled {
        let _ = write!(
            out,
            ", {} {}, TPR {}, FPR {}, AUC {}",
            w.observed,
            num(o.rate(Rate::ObservedRate).value),
            num(o.rate(Rate::Tpr).value),
            num(o.rate(Rate::Fpr).value),
            num(o.roc_auc)
        );
    }
    out.push('\n');
    for by in &report.by {
        out.push('\n');
        render_by(&mut out, report, schema, by, lang);
    }
    out.push('\n');
    if report.alerts.is_empty() {
        let _ = writeln!(out, "{}.", w.no_alerts);
    } else {
        let _ = writeln!(out, "{} ({}):", w.alerts, report.alerts.len());
        for a in &report.alerts {
            let _ = writeln!(out, "  ! {}", alert_line(a, schema, report, lang));
        }
    }
    out
}

fn render_by(out: &mut String, report: &FairnessReport, schema: &Schema, by: &ByReport, lang: Lang) {
    let w = words(lang);
    let _ = writeln!(out, "{} ({})", by_title(schema, by, lang), by.name);
    let width = by.groups.iter().map(|g| g.label.chars().count()).max().unwrap_or(0).max(w.group.len()) + 2;
    let rate_width = if report.n_boot > 0 { 23 } else { 8 }.max(w.approval.chars().count() + 1);
    let mut header = format!("  {:<width$}{:>8}  {:<rate_width$}", w.group, "n", w.approval);
    if report.labelled {
        let _ = write!(header, "{:>9} {:>7} {:>7} {:>9} {:>7}", w.observed, "TPR", "FPR", "precision", "AUC");
    }
    let _ = write!(header, "{:>8}", w.mean_p);
    let _ = writeln!(out, "{}", header.trim_end());
    for g in &by.groups {
        let _ = writeln!(out, "{}", group_line(g, report.labelled, width, rate_width));
    }
    let flagged: Vec<&GroupReport> = by.groups.iter().filter(|g| !g.judged()).collect();
    if !flagged.is_empty() {
        let list: Vec<String> = flagged
            .iter()
            .map(|g| format!("{} ({})", g.label, flag_text(g.flag.unwrap_or(Flag::TooSmall), w)))
            .collect();
        let _ = writeln!(out, "  * {}: {}", w.not_judged, list.join("; "));
    }
    let d = |x: Disparity| with_ci(by.disparity(x));
    let _ = writeln!(
        out,
        "  {}: {} {}, {} {}  ({}: {} {}, {} {})",
        w.dp,
        w.difference,
        d(Disparity::DpDifference),
        w.ratio,
        d(Disparity::DpRatio),
        w.to_overall,
        w.difference,
        d(Disparity::DpDifferenceToOverall),
        w.ratio,
        d(Disparity::DpRatioToOverall)
    );
    if report.labelled {
        let _ = writeln!(
            out,
            "  {} {}  ({} {})",
            w.eopp,
            d(Disparity::EoppDifference),
            w.to_overall,
            d(Disparity::EoppDifferenceToOverall)
        );
        let _ = writeln!(
            out,
            "  {} {}  ({} {})",
            w.eodds,
            d(Disparity::EoddsDifference),
            w.to_overall,
            d(Disparity::EoddsDifferenceToOverall)
        );
    }
}

fn group_line(g: &GroupReport, labelled: bool, width: usize, rate_width: usize) -> String {
    let mark = if g.judged() { ' ' } else { '*' };
    let mut line = format!(
        "{mark} {:<width$}{:>8}  {:<rate_width$}",
        g.label,
        g.n,
        with_ci(g.rate(Rate::SelectionRate))
    );
    if labelled {
        let _ = write!(
            line,
            "{:>9} {:>7} {:>7} {:>9} {:>7}",
            num(g.rate(Rate::ObservedRate).value),
            num(g.rate(Rate::Tpr).value),
            num(g.rate(Rate::Fpr).value),
            num(g.rate(Rate::Precision).value),
            num(g.roc_auc)
        );
    }
    let _ = write!(line, "{:>8}", num(g.rate(Rate::MeanProbability).value));
    line
}

/// One alert as a sentence: what, how much, against what threshold, between which groups.
pub fn alert_line(a: &Alert, schema: &Schema, report: &FairnessReport, lang: Lang) -> String {
    let w = words(lang);
    let metric = match a.metric {
        Disparity::DpDifference => format!("{} ({})", w.dp, w.difference),
        Disparity::DpRatio => format!("{} ({})", w.dp, w.ratio),
        Disparity::EoppDifference => w.eopp.to_string(),
        _ => w.eodds.to_string(),
    };
    let title = report.by(&a.by).map_or_else(|| a.by.clone(), |b| by_title(schema, b, lang));
    let op = if a.metric.is_ratio() { "<" } else { ">" };
    let ci = a.ci.map(|[lo, hi]| format!(" [{}, {}]", num(lo), num(hi))).unwrap_or_default();
    format!(
        "{title}: {metric} {}{ci} {op} {}: {} {} ({}) {} {} ({})",
        num(a.value),
        a.threshold,
        w.rate_names[a.rate as usize],
        num(a.highest.1),
        a.highest.0,
        w.vs,
        num(a.lowest.1),
        a.lowest.0
    )
}
