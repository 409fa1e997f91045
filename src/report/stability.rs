//! The fairness and stability section: `credrisk fairness`'s report of the evaluated rows
//! (groups, intervals, disparities, alerts) and `credrisk monitor`'s comparison of the data with
//! the model's training reference (PSI of each input and of the score), when the model has them.

use super::charts::{Bar, Chart, Kind};
use super::doc::{Block, Section, Table};
use super::inputs::Inputs;
use super::text::{self, count, num, pct, tr, with_ci};
use crate::error::Result;
use crate::fairness::{self, Disparity, FairnessConfig, FairnessReport, Rate};
use crate::monitor::{self, BatchReport};

pub struct Stability {
    pub section: Section,
    pub fairness: Option<FairnessReport>,
    pub monitor: Option<BatchReport>,
    /// Fairness alerts then drift alerts, as sentences.
    pub alerts: Vec<String>,
}

pub fn build(inputs: &Inputs, probabilities: &[f64]) -> Result<Stability> {
    let lang = inputs.lang;
    let model = inputs.model();
    let schema = model.schema().clone();
    let mut s = Section::new(
        "fairness-stability",
        tr(lang, "Equidad y estabilidad", "Fairness and stability"),
        tr(
            lang,
            "Busque diferencias de aprobación entre grupos protegidos cuyo intervalo no incluye el umbral de alerta, y variables (o el puntaje) con PSI sobre 0.10 (moverse) o 0.25 (desplazada) frente a la referencia de entrenamiento.",
            "Look for approval gaps between protected groups whose interval stays past the alert threshold, and inputs (or the score) with a PSI above 0.10 (moving) or 0.25 (shifted) against the training reference.",
        ),
    );
    let mut alerts = Vec::new();

    // Fairness: needs protected or proxy fields (or it has nothing to group by).
    let has_groups = !fairness::default_by(&schema).is_empty();
    let fair = if has_groups {
        Some(fairness::evaluate(
            &inputs.eval.table,
            probabilities,
            model.threshold,
            &FairnessConfig::default(),
        )?)
    } else {
        None
    };
    s.push(Block::Heading(tr(lang, "Equidad", "Fairness").into()));
    match &fair {
        None => s.push(Block::Paragraph(
            tr(
                lang,
                "El esquema no declara atributos protegidos ni proxies: no hay tabla de equidad.",
                "The schema declares no protected attributes or proxies: there is no fairness table.",
            )
            .into(),
        )),
        Some(f) => {
            let fa: Vec<String> =
                f.alerts.iter().map(|a| fairness::alert_line(a, &schema, f, lang)).collect();
            alerts.extend(fa.iter().cloned());
            s.push(Block::Paragraph(format!(
                "{} {}, {} {} ({} {}); {} {}.",
                tr(lang, "Intervalos bootstrap al", "Bootstrap intervals at"),
                pct(f.confidence),
                count(f.n_boot as u64),
                tr(lang, "réplicas", "replicates"),
                tr(lang, "semilla", "seed"),
                f.seed,
                tr(lang, "grupos con menos de", "groups with fewer than"),
                format_args!(
                    "{} {}",
                    f.min_group,
                    tr(lang, "filas se listan sin juzgar", "rows are listed, not judged")
                )
            )));
            s.push(Block::Alerts(fa));
            let mut charts = Vec::new();
            let mut tables = Vec::new();
            for by in &f.by {
                let title = fairness::by_title(&schema, by, lang);
                charts.push(Chart {
                    name: format!("fairness-{}", by.name),
                    title: format!("{}: {title}", tr(lang, "Aprobación del modelo", "Model approval")),
                    x_desc: tr(lang, "tasa de aprobación (IC 95%)", "approval rate (95% CI)").into(),
                    y_desc: String::new(),
                    kind: Kind::Bars {
                        bars: by
                            .groups
                            .iter()
                            .map(|g| {
                                let st = g.rate(Rate::SelectionRate);
                                Bar { label: g.label.clone(), value: st.value, ci: st.ci, muted: !g.judged() }
                            })
                            .collect(),
                        reference: Some((
                            tr(lang, "total", "overall").into(),
                            f.overall.rate(Rate::SelectionRate).value,
                        )),
                        percent: true,
                    },
                    size: (500, (90 + 26 * by.groups.len() as u32).max(200)),
                });
                let mut t = Table::new(
                    &format!("fairness-{}", by.name),
                    &[
                        &title,
                        tr(lang, "filas", "rows"),
                        tr(lang, "aprobación", "approval"),
                        "TPR",
                        "FPR",
                        tr(lang, "precisión", "precision"),
                        "AUC",
                    ],
                );
                for g in &by.groups {
                    let flag = if g.judged() { "" } else { " *" };
                    t.row(vec![
                        format!("{}{flag}", g.label),
                        count(g.n),
                        with_ci(g.rate(Rate::SelectionRate).value, g.rate(Rate::SelectionRate).ci, 3),
                        with_ci(g.rate(Rate::Tpr).value, g.rate(Rate::Tpr).ci, 3),
                        with_ci(g.rate(Rate::Fpr).value, g.rate(Rate::Fpr).ci, 3),
                        num(g.rate(Rate::Precision).value, 3),
                        num(g.roc_auc, 3),
                    ]);
                }
                tables.push(Block::Heading(title));
                tables.push(Block::Table(t));
                let mut t = Table::new(
                    &format!("disparities-{}", by.name),
                    &[
                        tr(lang, "disparidad", "disparity"),
                        tr(lang, "valor (IC 95%)", "value (95% CI)"),
                        tr(lang, "umbral", "threshold"),
                    ],
                );
                for d in Disparity::JUDGED {
                    let st = by.disparity(d);
                    let limit = if d.is_ratio() {
                        format!("≥ {}", f.thresholds.min_ratio)
                    } else {
                        format!("≤ {}", f.thresholds.max_difference)
                    };
                    t.row(vec![d.key().to_string(), with_ci(st.value, st.ci, 3), limit]);
                }
                tables.push(Block::Table(t));
            }
            s.push(Block::Charts(charts));
            s.blocks.extend(tables);
        }
    }

    // Stability: the model's reference against the report's data.
    s.push(Block::Heading(
        tr(
            lang,
            "Estabilidad (PSI frente a la referencia de entrenamiento)",
            "Stability (PSI against the training reference)",
        )
        .into(),
    ));
    let drift = inputs.reference.as_ref().map(|r| {
        let scores = inputs.profile_probabilities.clone();
        monitor::compare(
            model,
            &inputs.model_ref().uri,
            r,
            &inputs.profile,
            scores.unwrap_or_else(|| monitor::score_table(model, &inputs.profile)),
            &inputs.data_name,
            lang,
        )
    });
    match &drift {
        None => s.push(Block::Paragraph(
            tr(
                lang,
                "El modelo no tiene referencia de entrenamiento (reference.json): no hay PSI.",
                "The model has no training reference (reference.json): there is no PSI.",
            )
            .into(),
        )),
        Some(d) => {
            let da: Vec<String> = d.alerts.iter().chain(&d.warnings).map(|a| a.message.clone()).collect();
            alerts.extend(d.alerts.iter().map(|a| a.message.clone()));
            s.push(Block::Paragraph(format!(
                "{} {} {} {}. {} {} → {}.",
                count(d.n_rows),
                tr(lang, "filas de", "rows of"),
                inputs.data_name,
                tr(lang, "frente a la referencia del modelo", "against the model's reference"),
                tr(lang, "Aprobación del modelo: referencia", "Model approval: reference"),
                pct(d.approval.reference_rate),
                pct(d.approval.rate)
            )));
            s.push(Block::Alerts(da));
            let label = |name: &str| {
                if name == monitor::reference::SCORE_NAME {
                    tr(lang, "puntaje (P)", "score (P)").to_string()
                } else {
                    text::label_of(&schema, name, lang)
                }
            };
            let rows: Vec<&monitor::report::InputDrift> =
                d.inputs.iter().chain(std::iter::once(&d.score)).collect();
            s.push(Block::Charts(vec![Chart {
                name: "psi".into(),
                title: tr(lang, "PSI por variable", "PSI per input").into(),
                x_desc: "PSI".into(),
                y_desc: String::new(),
                kind: Kind::Bars {
                    bars: rows
                        .iter()
                        .map(|r| Bar { label: label(&r.name), value: r.psi, ci: None, muted: false })
                        .collect(),
                    reference: Some((tr(lang, "alerta", "alert").into(), d.thresholds.psi_alert)),
                    percent: false,
                },
                size: (500, 90 + 24 * rows.len() as u32),
            }]));
            let mut t = Table::new(
                "psi",
                &[
                    tr(lang, "variable", "input"),
                    "PSI",
                    tr(lang, "banda", "band"),
                    tr(lang, "prueba", "test"),
                    "p",
                ],
            );
            for r in &rows {
                let (test, p) = r.test.as_ref().map_or(("—".into(), "—".into()), |t| {
                    (format!("{:?}", t.name).to_lowercase(), format!("{:.3}", t.result.p_value))
                });
                t.row(vec![label(&r.name), num(r.psi, 4), format!("{:?}", r.band).to_lowercase(), test, p]);
            }
            s.push(Block::Table(t));
        }
    }
    Ok(Stability { section: s, fairness: fair, monitor: drift, alerts })
}
