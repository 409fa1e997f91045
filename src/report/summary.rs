//! The summary section and the opening: which model on which data, the headline metrics, every
//! alert of the other sections in one list, and how the model's SHAP picture maps to credit
//! policy ("high delinquency pushes the model to deny credit") with the measured numbers.

use super::doc::{Block, Section};
use super::eda::EdaData;
use super::inputs::Inputs;
use super::interpret::InterpretData;
use super::performance::PerformanceData;
use super::stability::Stability;
use super::text::{self, count, num, pct, tr};
use crate::explain::Lang;
use crate::schema::Schema;
use serde::Serialize;

/// Fields the policy mapping speaks of (the heaviest that can be cited as reasons).
const POLICY_FIELDS: usize = 6;
/// |Spearman| from which a field's effect is called monotone.
const MONOTONE: f64 = 0.3;

#[derive(Debug, Serialize)]
pub struct PolicyLine {
    pub field: String,
    /// 1-based rank by mean |φ| among all fields.
    pub rank: usize,
    pub mean_abs: f64,
    pub mean_denied: f64,
    pub direction: Option<f64>,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct SummaryData {
    pub model_uri: String,
    pub run_id: Option<String>,
    pub data: String,
    pub rows: u64,
    pub rows_evaluated: u64,
    pub roc_auc: f64,
    pub gini: f64,
    pub ks: f64,
    pub brier: f64,
    pub ece: f64,
    /// Share of the evaluated rows the model approves.
    pub model_approval_rate: f64,
    pub alerts: Vec<String>,
    pub policy: Vec<PolicyLine>,
}

pub struct Summary {
    pub section: Section,
    pub data: SummaryData,
    pub subtitle: String,
    /// The opening: SHAP features mapped to policy.
    pub policy: Vec<Block>,
}

pub fn build(
    inputs: &Inputs,
    perf: &PerformanceData,
    eda: &EdaData,
    interp: &InterpretData,
    stab: &Stability,
) -> Summary {
    let lang = inputs.lang;
    let schema = inputs.model().schema().clone();
    let m = &perf.metrics;
    let cm = &m.confusion_matrix;
    let model_approval_rate = (cm.tp + cm.fp) as f64 / cm.total().max(1) as f64;
    let mut alerts: Vec<String> = Vec::new();
    alerts.extend(eda.alerts.iter().cloned());
    alerts.extend(perf.alerts.iter().cloned());
    alerts.extend(interp.alerts.iter().cloned());
    alerts.extend(stab.alerts.iter().cloned());
    let policy = policy_lines(interp, &schema, lang);
    let run_id = inputs.model().info.run_id.clone().or_else(|| inputs.model_ref().run_id.clone());
    let data = SummaryData {
        model_uri: inputs.model_ref().uri.clone(),
        run_id: run_id.clone(),
        data: inputs.data_name.clone(),
        rows: eda.rows,
        rows_evaluated: perf.n,
        roc_auc: m.roc_auc,
        gini: m.gini,
        ks: m.ks,
        brier: m.brier,
        ece: perf.ece,
        model_approval_rate,
        alerts: alerts.clone(),
        policy,
    };
    let mut s = Section::new(
        "summary",
        tr(lang, "Resumen", "Summary"),
        tr(
            lang,
            "Lea primero las alertas: cada una remite a la sección donde se explica. Sin alertas, el modelo discrimina, está calibrado, trata a los grupos de forma pareja y los datos se parecen a los de entrenamiento.",
            "Read the alerts first: each one points to the section that explains it. Without alerts the model ranks well, is calibrated, treats groups evenly, and the data looks like the training data.",
        ),
    );
    s.push(Block::Facts(vec![
        (tr(lang, "Modelo", "Model").into(), data.model_uri.clone()),
        (tr(lang, "Run", "Run").into(), run_id.unwrap_or_else(|| "—".into())),
        (
            tr(lang, "Datos", "Data").into(),
            format!("{} ({} {})", data.data, count(data.rows), tr(lang, "filas", "rows")),
        ),
        (tr(lang, "Filas evaluadas", "Rows evaluated").into(), count(data.rows_evaluated)),
        (
            "ROC AUC / Gini / KS".into(),
            format!("{} / {} / {}", num(m.roc_auc, 4), num(m.gini, 4), num(m.ks, 4)),
        ),
        ("Brier / ECE".into(), format!("{} / {}", num(m.brier, 4), num(perf.ece, 4))),
        (tr(lang, "Aprobación del modelo", "Model approval rate").into(), pct(model_approval_rate)),
    ]));
    s.push(Block::Heading(tr(lang, "Alertas", "Alerts").into()));
    if alerts.is_empty() {
        s.push(Block::Paragraph(tr(lang, "Ninguna.", "None.").into()));
    } else {
        s.push(Block::Alerts(alerts));
    }
    let subtitle = format!(
        "{} · {} · {} {}",
        data.model_uri,
        data.data,
        tr(lang, "generado", "generated"),
        format_args!("{} UTC", crate::tracking::utc_minutes(crate::tracking::now_ms()))
    );
    let mut opening = vec![Block::Heading(
        tr(
            lang,
            "Cómo se traducen las variables SHAP en política de crédito",
            "How SHAP features map to credit policy",
        )
        .into(),
    )];
    opening.push(Block::Paragraph(format!(
        "{} {} {}; {}",
        tr(lang, "Medido sobre", "Measured on"),
        count(interp.rows_explained as u64),
        tr(lang, "solicitantes explicados con TreeSHAP exacto", "applicants explained with exact TreeSHAP"),
        tr(lang,
            "φ es el efecto de la variable en la probabilidad de aprobación (puntos de probabilidad). La dirección es la correlación de Spearman entre el valor y su φ.",
            "φ is the field's effect on the probability of approval (probability points). The direction is the Spearman correlation between the value and its φ."),
    )));
    opening.push(Block::Facts(
        data.policy.iter().map(|p| (text::label_of(&schema, &p.field, lang), p.text.clone())).collect(),
    ));
    Summary { section: s, data, subtitle, policy: opening }
}

fn policy_lines(interp: &InterpretData, schema: &Schema, lang: Lang) -> Vec<PolicyLine> {
    let cited =
        |name: &str| schema.group_named(name).is_some_and(|g| !schema.is_protected(g) && !schema.is_proxy(g));
    interp
        .ranking
        .iter()
        .enumerate()
        .filter(|(_, f)| cited(&f.field))
        .take(POLICY_FIELDS)
        .map(|(i, f)| {
            let effect = match f.direction {
                Some(d) if d <= -MONOTONE => tr(
                    lang,
                    "valores más altos empujan al modelo a denegar el crédito",
                    "higher values push the model to deny credit",
                ),
                Some(d) if d >= MONOTONE => tr(
                    lang,
                    "valores más altos empujan al modelo a aprobar",
                    "higher values push the model to approve",
                ),
                Some(_) => tr(lang, "sin un efecto monótono claro", "no clear monotone effect"),
                None => tr(lang, "el efecto depende de la categoría", "the effect depends on the category"),
            };
            let direction = f.direction.map(|d| format!(" (Spearman {d:+.2})")).unwrap_or_default();
            let text = format!(
                "{} {}, {} {}: {effect}{direction}; {} {:+.4}.",
                tr(lang, "puesto", "rank"),
                i + 1,
                tr(lang, "media |φ|", "mean |φ|"),
                num(f.mean_abs, 4),
                tr(
                    lang,
                    "entre los denegados mueve P(aprobación) en promedio",
                    "among denied applicants it moves P(approval) on average by"
                ),
                f.mean_denied
            );
            PolicyLine {
                field: f.field.clone(),
                rank: i + 1,
                mean_abs: f.mean_abs,
                mean_denied: f.mean_denied,
                direction: f.direction,
                text,
            }
        })
        .collect()
}
