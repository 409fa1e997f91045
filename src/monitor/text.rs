//! What a person reads: each alert as one line (what moved, by how much, against what), and the
//! batch as a terminal table, in Spanish or English.

use super::report::{Against, Alert, AlertKind, BatchReport, Finding, InputDrift, PsiBand, TestName};
use crate::explain::Lang;
use crate::fairness::{Disparity, FairnessReport, Stat};
use std::fmt::Write;

/// A finding worded in `lang`.
pub fn alert(f: &Finding, lang: Lang) -> Alert {
    let es = lang == Lang::Es;
    let against = match (f.against, es) {
        (Against::Reference, false) => "the training reference",
        (Against::Reference, true) => "la referencia de entrenamiento",
        (Against::PreviousBatch, false) => "the previous batch",
        (Against::PreviousBatch, true) => "el lote anterior",
    };
    let p =
        f.p_value.map(|p| if p < 1e-15 { "; p < 1e-15".to_string() } else { format!("; p = {}", fmt_p(p)) });
    let p = p.unwrap_or_default();
    let message = match (f.kind, es) {
        (AlertKind::Psi, false) => {
            format!("{}: PSI {:.3} against {against} (limit {:.2}{p})", f.subject, f.value, f.threshold)
        }
        (AlertKind::Psi, true) => {
            format!("{}: PSI {:.3} frente a {against} (límite {:.2}{p})", f.subject, f.value, f.threshold)
        }
        (AlertKind::ApprovalRate, false) => format!(
            "{}: approval rate {} vs {} in {against} ({} points, limit {}{p})",
            f.subject,
            pct(f.value),
            pct(f.compared_with),
            points(f.value - f.compared_with),
            points_abs(f.threshold)
        ),
        (AlertKind::ApprovalRate, true) => format!(
            "{}: tasa de aprobación {} vs {} en {against} ({} puntos, límite {}{p})",
            f.subject,
            pct(f.value),
            pct(f.compared_with),
            points(f.value - f.compared_with),
            points_abs(f.threshold)
        ),
        (AlertKind::ApprovalGap, false) => format!(
            "{}: approval gap between groups {} points vs {} in {against} ({} points, limit {})",
            f.subject,
            points_abs(f.value),
            points_abs(f.compared_with),
            points(f.value - f.compared_with),
            points_abs(f.threshold)
        ),
        (AlertKind::ApprovalGap, true) => format!(
            "{}: brecha de aprobación entre grupos {} puntos vs {} en {against} ({} puntos, límite {})",
            f.subject,
            points_abs(f.value),
            points_abs(f.compared_with),
            points(f.value - f.compared_with),
            points_abs(f.threshold)
        ),
    };
    Alert {
        kind: f.kind,
        subject: f.subject.clone(),
        against: f.against,
        value: f.value,
        compared_with: f.compared_with,
        threshold: f.threshold,
        p_value: f.p_value,
        message,
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn points(x: f64) -> String {
    format!("{:+.1}", 100.0 * x)
}

fn points_abs(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

fn fmt_p(p: f64) -> String {
    match p {
        p if p < 1e-15 => "<1e-15".into(),
        p if p < 1e-4 => format!("{p:.1e}"),
        p => format!("{p:.4}"),
    }
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), pct)
}

/// The batch as a terminal report.
pub fn render(report: &BatchReport, lang: Lang) -> String {
    let es = lang == Lang::Es;
    let tr = |en: &'static str, sp: &'static str| if es { sp } else { en };
    let mut out = String::new();
    let period = report.period.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
    let _ = writeln!(
        out,
        "{} {}{period}: {} {} · {} {}",
        tr("batch", "lote"),
        report.batch,
        report.n_rows,
        tr("rows", "filas"),
        tr("model", "modelo"),
        report.model
    );
    let _ = writeln!(
        out,
        "\n{:<24} {:>7}  {:<10} {:>10} {:>10}",
        tr("input", "variable"),
        "PSI",
        tr("band", "banda"),
        tr("test", "prueba"),
        "p"
    );
    for drift in report.inputs.iter().chain([&report.score]) {
        let _ = writeln!(out, "{}", drift_line(drift, es));
    }
    let a = &report.approval;
    let _ = writeln!(
        out,
        "\n{}: {} ({}: {}; {}: {})",
        tr("approval rate", "tasa de aprobación"),
        pct(a.rate),
        tr("reference", "referencia"),
        pct(a.reference_rate),
        tr("previous batch", "lote anterior"),
        opt_pct(a.previous_rate)
    );
    for field in &a.by {
        let gap = |g: Option<f64>| g.map_or_else(|| "—".into(), points_abs);
        let _ = writeln!(
            out,
            "\n{}  ({} {} / {} {} / {} {})",
            field.field,
            tr("gap", "brecha"),
            gap(field.gap),
            tr("reference", "referencia"),
            gap(field.reference_gap),
            tr("previous", "anterior"),
            gap(field.previous_gap)
        );
        let _ = writeln!(
            out,
            "  {:<22} {:>8} {:>8} {:>10} {:>9}",
            tr("group", "grupo"),
            "n",
            tr("rate", "tasa"),
            tr("reference", "referencia"),
            tr("previous", "anterior")
        );
        for g in field.groups.iter().filter(|g| g.n > 0 || g.reference_n > 0) {
            let mark =
                if g.judged { "" } else { tr("  (few rows, not judged)", "  (pocas filas, no se juzga)") };
            let _ = writeln!(
                out,
                "  {:<22} {:>8} {:>8} {:>10} {:>9}{mark}",
                g.value,
                g.n,
                opt_pct(g.rate),
                opt_pct(g.reference_rate),
                opt_pct(g.previous_rate)
            );
        }
    }
    if let Some(f) = &report.fairness {
        fairness_lines(&mut out, f, es);
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(out, "\n{}:", tr("warnings", "avisos"));
        report.warnings.iter().for_each(|w| {
            let _ = writeln!(out, "  {}", w.message);
        });
    }
    let _ = writeln!(out);
    if report.alerts.is_empty() {
        let _ = writeln!(out, "{}", tr("no alerts", "sin alertas"));
    } else {
        let _ = writeln!(out, "{} ({}):", tr("ALERTS", "ALERTAS"), report.alerts.len());
        report.alerts.iter().for_each(|a| {
            let _ = writeln!(out, "  {}", a.message);
        });
    }
    if let Some(t) = &report.tracking {
        let _ = writeln!(out, "\nMLflow: run {} step {} · {}", t.run_id, t.step, t.ui_url);
    }
    out
}

/// The batch's disparities per grouping (Fairlearn's names), and what stands past
/// `credrisk fairness`'s thresholds: reported, not alerted on here.
fn fairness_lines(out: &mut String, f: &FairnessReport, es: bool) {
    let tr = |en: &'static str, sp: &'static str| if es { sp } else { en };
    let _ = writeln!(
        out,
        "\n{} ({} {}, {}):",
        tr("fairness of the batch", "equidad del lote"),
        f.n_boot,
        tr("bootstrap replicates", "réplicas bootstrap"),
        tr("as credrisk fairness", "como credrisk fairness")
    );
    let _ = writeln!(
        out,
        "  {:<22} {:>20} {:>20} {:>20} {:>20}",
        tr("by", "por"),
        "dp_difference",
        "dp_ratio",
        "eopp_difference",
        "eodds_difference"
    );
    let stat = |s: Stat| match (s.value.is_nan(), s.ci) {
        (true, _) => "—".to_string(),
        (false, Some([lo, hi])) => format!("{:.3} [{lo:.3}, {hi:.3}]", s.value),
        (false, None) => format!("{:.3}", s.value),
    };
    for by in &f.by {
        let cells: Vec<String> = Disparity::JUDGED.iter().map(|&d| stat(by.disparity(d))).collect();
        let _ = writeln!(
            out,
            "  {:<22} {:>20} {:>20} {:>20} {:>20}",
            by.name, cells[0], cells[1], cells[2], cells[3]
        );
    }
    if !f.alerts.is_empty() {
        let _ = writeln!(
            out,
            "  {} {} {}",
            f.alerts.len(),
            tr(
                "standing disparities past credrisk fairness's thresholds (reported; monitor alerts on movement)",
                "disparidades por sobre los umbrales de credrisk fairness (informadas; monitor alerta sobre cambios)"
            ),
            f.alerts.iter().map(|a| format!("{}:{}", a.by, a.metric.key())).collect::<Vec<_>>().join(", ")
        );
    }
    for note in &f.notes {
        let _ = writeln!(out, "  {}: {note}", tr("note", "nota"));
    }
}

fn drift_line(d: &InputDrift, es: bool) -> String {
    let band = match (d.band, es) {
        (PsiBand::Stable, false) => "stable",
        (PsiBand::Stable, true) => "estable",
        (PsiBand::Moderate, false) => "moderate",
        (PsiBand::Moderate, true) => "moderado",
        (PsiBand::Shifted, false) => "SHIFTED",
        (PsiBand::Shifted, true) => "DESPLAZADO",
    };
    let (test, p) = match &d.test {
        Some(t) => {
            let name = match t.name {
                TestName::Ks => format!("KS {:.3}", t.result.statistic),
                TestName::ChiSquared => format!("χ² {:.1}", t.result.statistic),
            };
            (name, fmt_p(t.result.p_value))
        }
        None => ("—".into(), "—".into()),
    };
    format!("{:<24} {:>7.4}  {:<10} {:>10} {:>10}", d.name, d.psi, band, test, p)
}
