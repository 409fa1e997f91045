//! The interpretability section (the interpretability notebook): global mean |φ| and a beeswarm,
//! dependence plots of the top four fields, the walk-through of one denied customer (waterfall
//! and the reasons exactly as `/explain` gives them), and reason-code coverage over denials.

use super::charts::{Bar, Chart, Kind, SwarmPoint};
use super::doc::{Block, Section, Table};
use super::inputs::Inputs;
use super::text::{self, count, num, pct, tr};
use super::walkthrough::{self, Walkthrough};
use crate::error::Result;
use crate::explain::{DEFAULT_TOP, ExplainOptions, GlobalShap, Lang, Reference, global_shap};
use crate::schema::{Group, Kind as FieldKind, Schema};
use serde::Serialize;

/// Fields in the beeswarm, and points per field.
const SWARM_FIELDS: usize = 10;
const SWARM_POINTS: usize = 250;
/// Dependence plots: the top fields by mean |φ|.
const DEPENDENCE_FIELDS: usize = 4;

#[derive(Debug, Serialize)]
pub struct FieldShap {
    pub field: String,
    pub mean_abs: f64,
    /// Mean φ over the explained rows the model denies.
    pub mean_denied: f64,
    /// Spearman correlation of the field's value with its φ (numeric fields): positive when a
    /// higher value pushes towards approval. None for categories.
    pub direction: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Coverage {
    pub denied: u64,
    pub with_one_reason: u64,
    pub with_four_reasons: u64,
    /// (field, denials citing it), most cited first.
    pub cited: Vec<(String, u64)>,
}

#[derive(Debug, Serialize)]
pub struct InterpretData {
    pub rows_in_table: usize,
    pub rows_explained: usize,
    pub sampled: bool,
    pub seed: u64,
    pub method: &'static str,
    /// What the values compare applicants with (`base_value` is its mean prediction).
    pub reference: Reference,
    pub base_value: f64,
    pub ranking: Vec<FieldShap>,
    pub walkthrough: Option<Walkthrough>,
    pub coverage: Coverage,
    pub alerts: Vec<String>,
}

pub struct Interpret {
    pub section: Section,
    pub data: InterpretData,
}

pub fn build(inputs: &Inputs, probabilities: &[f64]) -> Result<Interpret> {
    let lang = inputs.lang;
    let ex = &inputs.explainer;
    let schema = ex.schema().clone();
    let table = &inputs.eval.table;
    let computed;
    let g = match &inputs.shap {
        Some(known) => known,
        None => {
            computed = global_shap(ex, table, inputs.shap_rows, inputs.seed)?;
            &computed
        }
    };
    let k = g.n_fields();
    let group_of = |name: &str| schema.group_named(name);
    let ranking: Vec<FieldShap> = g
        .ranking
        .iter()
        .map(|f| {
            let col = g.field_names.iter().position(|n| *n == f.field).unwrap_or(0);
            let numeric = group_of(&f.field).is_some_and(|gr| is_numeric(&schema, gr));
            FieldShap {
                field: f.field.clone(),
                mean_abs: f.mean_abs,
                mean_denied: f.mean_denied,
                direction: numeric.then(|| spearman(g, col)),
            }
        })
        .collect();

    let mut s = Section::new(
        "interpretability",
        tr(lang, "Interpretabilidad", "Interpretability"),
        tr(
            lang,
            "Compruebe que las variables que más pesan y el sentido de su efecto tienen sentido de negocio (más morosidad, menos aprobación), que ningún atributo protegido o proxy pese mucho, y que toda denegación tiene motivos que se pueden comunicar.",
            "Check that the fields that weigh most, and the direction of their effect, make business sense (more delinquency, less approval), that no protected attribute or proxy weighs much, and that every denial has reasons that can be given.",
        ),
    );
    let how = if g.sampled() {
        format!(
            "{} {} {} {} ({} {})",
            tr(lang, "SHAP exacto (TreeSHAP) de una muestra de", "Exact SHAP (TreeSHAP) of a sample of"),
            count(g.explained as u64),
            tr(lang, "de", "of"),
            count(g.rows_in_table as u64),
            tr(lang, "filas sin reemplazo, semilla", "rows without replacement, seed"),
            inputs.seed
        )
    } else {
        format!(
            "{} {} {}",
            tr(lang, "SHAP exacto (TreeSHAP) de las", "Exact SHAP (TreeSHAP) of all"),
            count(g.rows.len() as u64),
            tr(lang, "filas", "rows")
        )
    };
    s.push(Block::Paragraph(format!(
        "{how}; {} {}, {} {}, {} {}.",
        tr(lang, "método", "method"),
        ex.method(),
        tr(lang, "comparado con", "compared with"),
        ex.default_reference().compared_with(lang == Lang::Es),
        tr(lang, "valor base", "base value"),
        num(g.base_value, 4)
    )));
    let label = |name: &str| text::label_of(&schema, name, lang);
    let mut charts = vec![Chart {
        name: "shap-importance".into(),
        title: tr(lang, "Importancia global: media de |φ|", "Global importance: mean |φ|").into(),
        x_desc: tr(lang, "media de |φ| (puntos de probabilidad)", "mean |φ| (probability points)").into(),
        y_desc: String::new(),
        kind: Kind::Bars {
            bars: ranking
                .iter()
                .map(|f| Bar {
                    label: label(&f.field),
                    value: f.mean_abs,
                    ci: None,
                    muted: group_of(&f.field)
                        .is_some_and(|gr| schema.is_protected(gr) || schema.is_proxy(gr)),
                })
                .collect(),
            reference: None,
            percent: false,
        },
        size: (500, 90 + 24 * k as u32),
    }];
    charts.push(beeswarm(g, &schema, lang));
    s.push(Block::Heading(tr(lang, "Importancia global", "Global importance").into()));
    s.push(Block::Paragraph(tr(lang,
        "Barras claras: atributos protegidos o proxies (nunca se citan como motivo). En el enjambre, cada punto es un solicitante: a la derecha sube la probabilidad de aprobación; el color es el valor de la variable (azul bajo, rojo alto).",
        "Pale bars: protected attributes or proxies (never cited as a reason). In the swarm each dot is an applicant: to the right raises the probability of approval; the colour is the field's value (blue low, red high).").into()));
    s.push(Block::Charts(charts));
    let mut t = Table::new(
        "shap-ranking",
        &[
            tr(lang, "variable", "field"),
            tr(lang, "media |φ|", "mean |φ|"),
            tr(lang, "media φ en denegados", "mean φ of denials"),
            tr(lang, "dirección (Spearman valor-φ)", "direction (Spearman value-φ)"),
        ],
    );
    for f in &ranking {
        t.row(vec![
            label(&f.field),
            num(f.mean_abs, 4),
            format!("{:+.4}", f.mean_denied),
            f.direction.map_or("—".into(), |d| format!("{d:+.2}")),
        ]);
    }
    s.push(Block::Table(t));

    s.push(Block::Heading(
        tr(lang, "Dependencia de las cuatro variables principales", "Dependence of the top four fields")
            .into(),
    ));
    let dependence: Vec<Chart> = ranking
        .iter()
        .take(DEPENDENCE_FIELDS)
        .filter_map(|f| dependence(g, &schema, &f.field, lang))
        .collect();
    s.push(Block::Charts(dependence));

    let walk = walkthrough::choose(inputs, probabilities, lang)?;
    s.push(Block::Heading(
        tr(
            lang,
            "Recorrido: ¿por qué se deniega a este cliente?",
            "Walk-through: why is this customer denied?",
        )
        .into(),
    ));
    match &walk {
        Some(w) => walkthrough::blocks(&mut s, w, &schema, lang),
        None => s.push(Block::Paragraph(
            tr(
                lang,
                "El modelo no deniega a nadie en estos datos: no hay recorrido.",
                "The model denies no one in this data: there is no walk-through.",
            )
            .into(),
        )),
    }

    let coverage = coverage(inputs, g);
    let mut alerts = Vec::new();
    let denied = coverage.denied.max(1) as f64;
    let one = coverage.with_one_reason as f64 / denied;
    if coverage.denied > 0 && one < 0.99 {
        alerts.push(format!(
            "{} {}",
            pct(1.0 - one),
            tr(
                lang,
                "de las denegaciones no tienen ningún motivo citable",
                "of denials have no reason that can be cited"
            )
        ));
    }
    for f in ranking.iter().take(3) {
        if group_of(&f.field).is_some_and(|gr| schema.is_protected(gr) || schema.is_proxy(gr)) {
            alerts.push(format!(
                "{}: {}",
                label(&f.field),
                tr(
                    lang,
                    "atributo protegido o proxy entre las tres variables de más peso",
                    "a protected attribute or proxy among the three heaviest fields"
                )
            ));
        }
    }
    s.push(Block::Heading(tr(lang, "Cobertura de motivos", "Reason-code coverage").into()));
    s.push(Block::Alerts(alerts.clone()));
    s.push(Block::Facts(vec![
        (tr(lang, "Denegaciones explicadas", "Denials explained").into(), count(coverage.denied)),
        (
            tr(lang, "Con al menos un motivo", "With at least one reason").into(),
            format!("{} ({})", count(coverage.with_one_reason), pct(one)),
        ),
        (
            format!(
                "{} {DEFAULT_TOP} {}",
                tr(lang, "Con", "With"),
                tr(lang, "motivos distintos", "distinct reasons")
            ),
            format!(
                "{} ({})",
                count(coverage.with_four_reasons),
                pct(coverage.with_four_reasons as f64 / denied)
            ),
        ),
    ]));
    let mut t = Table::new(
        "reasons-cited",
        &[
            tr(lang, "variable citada", "field cited"),
            tr(lang, "denegaciones", "denials"),
            tr(lang, "proporción", "share"),
        ],
    );
    for (field, n) in &coverage.cited {
        t.row(vec![label(field), count(*n), pct(*n as f64 / denied)]);
    }
    s.push(Block::Table(t));

    let data = InterpretData {
        rows_in_table: g.rows_in_table,
        rows_explained: g.explained,
        sampled: g.sampled(),
        seed: inputs.seed,
        method: ex.method(),
        reference: ex.default_reference(),
        base_value: g.base_value,
        ranking,
        walkthrough: walk,
        coverage,
        alerts,
    };
    Ok(Interpret { section: s, data })
}

fn is_numeric(schema: &Schema, g: Group) -> bool {
    match g {
        Group::Field(i) => {
            matches!(schema.field(i).kind, FieldKind::Integer { .. } | FieldKind::Number { .. })
        }
        Group::Derived(_) => true,
    }
}

/// Ranks of `v` (ties get their mean rank), for a Spearman correlation.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        for &o in &order[i..=j] {
            r[o] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman correlation between a field's value and its φ over the rows where it is present.
fn spearman(g: &GlobalShap, col: usize) -> f64 {
    let k = g.n_fields();
    let (x, y): (Vec<f64>, Vec<f64>) = (0..g.rows.len())
        .map(|r| (g.values[r * k + col], g.phi[r * k + col]))
        .filter(|(x, _)| !x.is_nan())
        .unzip();
    let (rx, ry) = (ranks(&x), ranks(&y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx > 0.0 && syy > 0.0 { sxy / (sxx * syy).sqrt() } else { 0.0 }
}

/// Evenly spaced explained rows, at most `n`.
fn every_nth(total: usize, n: usize) -> impl Iterator<Item = usize> {
    let step = total.div_ceil(n.max(1)).max(1);
    (0..total).step_by(step)
}

fn beeswarm(g: &GlobalShap, schema: &Schema, lang: Lang) -> Chart {
    let k = g.n_fields();
    let top: Vec<&str> = g.ranking.iter().take(SWARM_FIELDS).map(|f| f.field.as_str()).collect();
    let mut points = Vec::new();
    for (row, name) in top.iter().enumerate() {
        let col = g.field_names.iter().position(|n| n == name).unwrap_or(0);
        let values: Vec<f64> = (0..g.rows.len()).map(|r| g.values[r * k + col]).collect();
        let rank = ranks(&values);
        let present = values.iter().filter(|v| !v.is_nan()).count().max(2) as f64;
        for (i, r) in every_nth(g.rows.len(), SWARM_POINTS).enumerate() {
            // A golden-ratio sequence: deterministic jitter that fills the row evenly.
            let jitter = ((i as f64 * 0.618_034).fract()) * 2.0 - 1.0;
            let shade = (!values[r].is_nan()).then(|| rank[r] / (present - 1.0));
            points.push(SwarmPoint { row, phi: g.phi[r * k + col], jitter, shade });
        }
    }
    Chart {
        name: "shap-beeswarm".into(),
        title: tr(lang, "Valores SHAP por solicitante", "SHAP values per applicant").into(),
        x_desc: tr(lang, "φ: efecto en P(aprobación)", "φ: effect on P(approval)").into(),
        y_desc: String::new(),
        kind: Kind::Beeswarm {
            fields: top.iter().map(|f| text::label_of(schema, f, lang)).collect(),
            points,
            low: tr(lang, "valor bajo", "low value").into(),
            high: tr(lang, "valor alto", "high value").into(),
        },
        size: (510, 110 + 34 * top.len() as u32),
    }
}

/// A numeric field's φ against its value (sampled), or a category's mean φ per category.
fn dependence(g: &GlobalShap, schema: &Schema, field: &str, lang: Lang) -> Option<Chart> {
    let k = g.n_fields();
    let col = g.field_names.iter().position(|n| n == field)?;
    let group = schema.group_named(field)?;
    let label = text::label(schema, group, lang);
    let title = format!("{}: {label}", tr(lang, "Dependencia", "Dependence"));
    let y_desc = format!("φ {label}");
    if is_numeric(schema, group) {
        let points = every_nth(g.rows.len(), super::MAX_POINTS)
            .map(|r| (g.values[r * k + col], g.phi[r * k + col]))
            .collect();
        return Some(Chart {
            name: format!("dependence-{field}"),
            title,
            x_desc: label,
            y_desc,
            kind: Kind::Scatter { points },
            size: (420, 300),
        });
    }
    let names: Vec<String> = match group {
        Group::Field(i) => schema
            .field(i)
            .kind
            .categories()
            .map(|c| c.names().map(str::to_string).collect())
            .unwrap_or_else(|| vec!["false".into(), "true".into()]),
        Group::Derived(_) => return None,
    };
    let mut sums = vec![(0.0, 0u64); names.len()];
    for r in 0..g.rows.len() {
        let v = g.values[r * k + col];
        if !v.is_nan() && (v as usize) < names.len() {
            sums[v as usize].0 += g.phi[r * k + col];
            sums[v as usize].1 += 1;
        }
    }
    let bars = names
        .iter()
        .zip(&sums)
        .filter(|(_, s)| s.1 > 0)
        .map(|(n, s)| Bar { label: n.clone(), value: s.0 / s.1 as f64, ci: None, muted: s.1 < 20 })
        .collect();
    Some(Chart {
        name: format!("dependence-{field}"),
        title,
        x_desc: format!("{} φ", tr(lang, "media de", "mean")),
        y_desc,
        kind: Kind::Bars { bars, reference: None, percent: false },
        size: (420, (90 + 24 * names.len() as u32).max(300)),
    })
}

/// Reasons of every denied row among the explained ones, as `/explain` would give them.
fn coverage(inputs: &Inputs, g: &GlobalShap) -> Coverage {
    let ex = &inputs.explainer;
    let k = g.n_fields();
    let threshold = ex.model().threshold;
    let options = ExplainOptions { lang: inputs.lang, ..ExplainOptions::default() };
    let (mut denied, mut one, mut four) = (0u64, 0u64, 0u64);
    let mut cited: Vec<(String, u64)> = g.field_names.iter().map(|n| (n.clone(), 0)).collect();
    for (j, &r) in g.rows.iter().enumerate() {
        if g.probability[j] >= threshold {
            continue;
        }
        denied += 1;
        let a = inputs.eval.table.applicant(r);
        let reasons = ex.reasons_of(&a, &g.phi[j * k..(j + 1) * k], options);
        one += u64::from(!reasons.is_empty());
        four += u64::from(reasons.len() >= DEFAULT_TOP);
        for reason in &reasons {
            if let Some(c) = cited.iter_mut().find(|c| c.0 == reason.feature) {
                c.1 += 1;
            }
        }
    }
    cited.retain(|c| c.1 > 0);
    cited.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Coverage { denied, with_one_reason: one, with_four_reasons: four, cited }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_their_mean_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![2.5, 0.0, 2.5, 1.0]);
        let steps: Vec<usize> = every_nth(10, 4).collect();
        assert_eq!(steps, vec![0, 3, 6, 9]);
    }
}
