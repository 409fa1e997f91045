//! The interpretability section's walk-through: which denied customer (`--customer`, else the
//! first denied applicant from Maule), the waterfall from the base value to the probability, and
//! the reasons and contributions exactly as `/explain` answers them.

use super::charts::{Chart, Kind};
use super::doc::{Block, Section, Table};
use super::inputs::Inputs;
use super::text::{self, num, tr};
use crate::error::Result;
use crate::explain::{Answer, ExplainOptions, Lang, json_value_text, value_text};
use crate::schema::{Applicant, Schema};
use serde::Serialize;

/// Bars of the waterfall before the rest is summed into one.
const WATERFALL_STEPS: usize = 8;
/// The region the default walk-through customer comes from (the notebook's question).
const WALKTHROUGH_REGION: (&str, &str) = ("region", "Maule");

#[derive(Debug, Serialize)]
pub struct Walkthrough {
    /// The customer's row in the evaluated rows (None: given with --customer).
    pub row: Option<usize>,
    pub chosen_by: String,
    /// The customer's fields as `/explain` reads them.
    pub customer: serde_json::Value,
    /// What `/explain` answers for this customer.
    pub answer: Answer,
    /// The customer's row values (what the value columns are worded from).
    #[serde(skip)]
    values: Vec<f64>,
}

/// The customer of the walk-through: `--customer`, else the first denied applicant from Maule
/// (in file order), else the first denied applicant.
pub fn choose(inputs: &Inputs, probabilities: &[f64], lang: Lang) -> Result<Option<Walkthrough>> {
    let ex = &inputs.explainer;
    let schema = ex.schema();
    let threshold = ex.model().threshold;
    let table = &inputs.eval.table;
    let (row, applicant, chosen_by): (Option<usize>, Applicant, String) = match &inputs.customer {
        Some(a) => (None, a.clone(), tr(lang, "dado con --customer", "given with --customer").into()),
        None => {
            let denied = |r: &usize| probabilities[*r] < threshold;
            let region = schema.field_index(WALKTHROUGH_REGION.0).and_then(|f| {
                let cat =
                    schema.field(f).kind.categories()?.names().position(|n| n == WALKTHROUGH_REGION.1)?;
                Some((f, cat as f64))
            });
            let from_region =
                region.and_then(|(f, cat)| (0..table.len()).filter(denied).find(|&r| table.row(r)[f] == cat));
            match (from_region, (0..table.len()).find(denied)) {
                (Some(r), _) => (
                    Some(r),
                    table.applicant(r),
                    format!(
                        "{} {}",
                        tr(lang, "primer solicitante denegado de", "first denied applicant from"),
                        WALKTHROUGH_REGION.1
                    ),
                ),
                (None, Some(r)) => (
                    Some(r),
                    table.applicant(r),
                    tr(lang, "primer solicitante denegado", "first denied applicant").into(),
                ),
                (None, None) => return Ok(None),
            }
        }
    };
    let answer = ex.explain(&applicant, ExplainOptions { lang, ..ExplainOptions::default() })?;
    Ok(Some(Walkthrough {
        row,
        chosen_by,
        customer: schema.applicant_json(applicant.values()),
        answer,
        values: applicant.values().to_vec(),
    }))
}

pub fn blocks(s: &mut Section, w: &Walkthrough, schema: &Schema, lang: Lang) {
    let a = &w.answer;
    let label = |name: &str| text::label_of(schema, name, lang);
    // Values as `explain` words them (units, thousands, es/en), not as JSON numbers.
    let value = |name: &str, json: &serde_json::Value| {
        schema
            .group_named(name)
            .map_or_else(|| json_value_text(json, lang), |g| value_text(schema, g, &w.values, lang))
    };
    let decision = if a.approved { tr(lang, "aprobado", "approved") } else { tr(lang, "denegado", "denied") };
    s.push(Block::Facts(vec![
        (
            tr(lang, "Cliente", "Customer").into(),
            match w.row {
                Some(r) => format!("{} {} ({})", tr(lang, "fila", "row"), r, w.chosen_by),
                None => w.chosen_by.clone(),
            },
        ),
        (
            tr(lang, "Decisión", "Decision").into(),
            format!(
                "{decision}: P = {} {} {}",
                num(a.probability, 4),
                tr(lang, "frente al umbral", "against the threshold"),
                a.threshold
            ),
        ),
        (tr(lang, "Valor base", "Base value").into(), num(a.base_value, 4)),
    ]));
    let steps: Vec<(String, f64)> =
        a.contributions.iter().take(WATERFALL_STEPS).map(|c| (label(&c.feature), c.shap)).collect();
    let rest: f64 = a.contributions.iter().skip(WATERFALL_STEPS).map(|c| c.shap).sum();
    let mut steps = steps;
    if a.contributions.len() > WATERFALL_STEPS {
        steps.push((
            format!(
                "{} {} {}",
                tr(lang, "otras", "other"),
                a.contributions.len() - WATERFALL_STEPS,
                tr(lang, "variables", "fields")
            ),
            rest,
        ));
    }
    s.push(Block::Charts(vec![Chart {
        name: "walkthrough-waterfall".into(),
        title: tr(lang, "Del valor base a la probabilidad", "From the base value to the probability").into(),
        x_desc: tr(lang, "P(aprobación)", "P(approval)").into(),
        y_desc: String::new(),
        kind: Kind::Waterfall {
            base: (tr(lang, "valor base", "base value").into(), a.base_value),
            steps,
            total: (tr(lang, "probabilidad", "probability").into(), a.probability),
            threshold: (tr(lang, "umbral", "threshold").into(), a.threshold),
        },
        size: (640, 150 + 34 * (WATERFALL_STEPS as u32 + 3)),
    }]));
    s.push(Block::Paragraph(
        tr(lang, "Motivos, tal como los devuelve /explain:", "Reasons, exactly as /explain returns them:")
            .into(),
    ));
    let mut t = Table::new(
        "walkthrough-reasons",
        &["#", tr(lang, "variable", "field"), tr(lang, "valor", "value"), "φ", tr(lang, "motivo", "reason")],
    );
    for (i, r) in a.reasons.iter().enumerate() {
        t.row(vec![
            (i + 1).to_string(),
            label(&r.feature),
            value(&r.feature, &r.value),
            format!("{:+.4}", r.shap),
            r.text.clone(),
        ]);
    }
    s.push(Block::Table(t));
    for warning in &a.warnings {
        s.push(Block::Alerts(vec![warning.message.clone()]));
    }
    let mut t = Table::new(
        "walkthrough-contributions",
        &[tr(lang, "variable", "field"), tr(lang, "valor", "value"), "φ"],
    );
    for c in &a.contributions {
        t.row(vec![label(&c.feature), value(&c.feature, &c.value), format!("{:+.4}", c.shap)]);
    }
    s.push(Block::Table(t));
}
