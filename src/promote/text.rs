//! The gate's report and a rollback as terminal text, in Spanish or English: one line per rule
//! (candidate, champion, limit, verdict), then what happened to the alias.

use super::GateReport;
use super::record::{Rollback, previous_alias};
use super::rules::{Rule, RuleResult, Verdict};
use crate::explain::{Lang, group_thousands};
use std::fmt::Write;

pub fn render(report: &GateReport, lang: Lang) -> String {
    let es = lang == Lang::Es;
    let tr = |en: &'static str, sp: &'static str| if es { sp } else { en };
    let sep = if es { '.' } else { ',' };
    let mut out = String::new();
    let holder = match &report.champion {
        Some(c) => format!("{} {}", tr("held by version", "en manos de la versión"), c.version),
        None => tr("not held by any version", "sin versión").to_string(),
    };
    let _ = writeln!(
        out,
        "credrisk promote — models:/{}/{} → {} ({holder})",
        report.model, report.candidate.version, report.alias
    );
    let _ = writeln!(
        out,
        "{}: {} ({} {}; SHAP {} {})",
        tr("batch", "lote"),
        report.batch.path,
        group_thousands(report.batch.rows as i64, sep),
        tr("rows", "filas"),
        tr("on", "sobre"),
        group_thousands(report.candidate.evaluation.shap_rows as i64, sep),
    );
    let width = report.rules.iter().map(|r| r.rule.key().chars().count()).max().unwrap_or(10);
    let _ = writeln!(
        out,
        "\n{:<width$} {:>10} {:>10} {:>10}  {}",
        tr("rule", "regla"),
        tr("candidate", "candidato"),
        tr("champion", "campeón"),
        tr("limit", "límite"),
        tr("result", "resultado")
    );
    for r in &report.rules {
        let _ = writeln!(out, "{}", line(r, width, report.champion.is_some(), es));
    }
    let _ = writeln!(out);
    let failed = report.failures();
    let verdict = match (report.passed, report.dry_run) {
        (true, true) => format!(
            "{}: {}",
            tr("PASSES (dry run)", "APRUEBA (simulación)"),
            tr("nothing was written", "no se escribió nada")
        ),
        (false, true) => format!(
            "{} ({}): {}",
            tr("WOULD BE REFUSED (dry run)", "SERÍA RECHAZADO (simulación)"),
            failed.join(", "),
            tr("nothing was written", "no se escribió nada")
        ),
        (true, false) => {
            let mut text = format!(
                "{}: {} {} → {} {}",
                tr("PROMOTED", "PROMOVIDO"),
                tr("alias", "alias"),
                report.alias,
                tr("version", "versión"),
                report.candidate.version
            );
            if let Some(c) = &report.champion {
                let _ = write!(
                    text,
                    " ({} {} {} {})",
                    tr("version", "la versión"),
                    c.version,
                    tr("is now", "queda como"),
                    previous_alias(&report.alias)
                );
            }
            text
        }
        (false, false) => {
            let count = match (failed.len(), es) {
                (1, false) => "1 rule failed".to_string(),
                (1, true) => "1 regla fallida".to_string(),
                (n, false) => format!("{n} rules failed"),
                (n, true) => format!("{n} reglas fallidas"),
            };
            format!(
                "{} ({count}: {}): {}",
                tr("REFUSED", "RECHAZADO"),
                failed.join(", "),
                tr("nothing moved", "no se movió nada")
            )
        }
    };
    let _ = writeln!(out, "{verdict}");
    if let Some(artifact) = &report.artifact {
        let _ = writeln!(out, "{}: {artifact}", tr("report", "informe"));
    }
    out
}

fn line(r: &RuleResult, width: usize, has_champion: bool, es: bool) -> String {
    let rank = matches!(r.rule, Rule::MustRank(_) | Rule::MustNotRank(_));
    let unused = if es { "no usa" } else { "unused" };
    let value = |v: Option<f64>, exists: bool| match v {
        Some(v) if rank => format!("#{v:.0}"),
        Some(v) => format!("{v:.4}"),
        None if rank && exists => unused.to_string(),
        None => "—".to_string(),
    };
    let limit = r.limit.map_or_else(String::new, |l| l.text());
    let verdict = match (r.verdict, es) {
        (Verdict::Pass, false) => "pass",
        (Verdict::Pass, true) => "cumple",
        (Verdict::Fail, false) => "FAIL",
        (Verdict::Fail, true) => "FALLA",
        (Verdict::Report, false) => "reported",
        (Verdict::Report, true) => "informativo",
        (Verdict::NotApplicable, false) => "n/a",
        (Verdict::NotApplicable, true) => "no aplica",
    };
    format!(
        "{:<width$} {:>10} {:>10} {:>10}  {verdict}",
        r.rule.key(),
        value(r.candidate, true),
        value(r.champion, has_champion),
        limit
    )
}

pub fn render_rollback(r: &Rollback, lang: Lang) -> String {
    match lang {
        Lang::Es => format!(
            "credrisk promote --rollback — {}: alias {} vuelve a la versión {} (la versión {} lo pierde; {} eliminado)\n",
            r.model,
            r.alias,
            r.restored,
            r.demoted,
            previous_alias(&r.alias)
        ),
        Lang::En => format!(
            "credrisk promote --rollback — {}: alias {} is back on version {} (version {} lost it; {} removed)\n",
            r.model,
            r.alias,
            r.restored,
            r.demoted,
            previous_alias(&r.alias)
        ),
    }
}
