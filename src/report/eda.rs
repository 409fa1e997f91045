//! The data section (the EDA notebook): observed approval rate and income spread per group of
//! each categorical field and age band, approved vs denied distributions of the numeric inputs,
//! and missing or out-of-training-range values per field.

use super::charts::{Bar, Chart, Histogram, Kind};
use super::doc::{Block, Section, Table};
use super::inputs::Inputs;
use super::text::{self, amount, count, pct, tr};
use crate::data::summary::quantiles;
use crate::error::Result;
use crate::fairness::GroupBy;
use crate::schema::{Group, Kind as FieldKind, Unit};
use serde::Serialize;
use std::collections::BTreeMap;

/// Histogram bins of the approved vs denied distributions (between the 1st and 99th percentile).
const BINS: usize = 24;
/// Whole-number inputs spanning at most this many values get one bin per value.
const MAX_UNIT_BINS: usize = 40;
/// A field with more missing values than this share is an alert.
const MISSING_ALERT: f64 = 0.05;
/// A field with more values outside the training range than this share is an alert.
const RANGE_ALERT: f64 = 0.01;

#[derive(Debug, Serialize)]
pub struct GroupRow {
    pub label: String,
    pub n: u64,
    pub share: f64,
    /// Observed share of positive labels.
    pub approval_rate: f64,
    /// Quartiles of the money field (income) in the group, when the schema has one.
    pub income_quartiles: Option<[f64; 3]>,
}

#[derive(Debug, Serialize)]
pub struct GroupTable {
    pub field: String,
    pub groups: Vec<GroupRow>,
}

#[derive(Debug, Serialize)]
pub struct Distribution {
    pub field: String,
    pub edges: Vec<f64>,
    /// Density per bin (integrates to the share of the class's values inside the range).
    pub approved: Vec<f64>,
    pub denied: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct Quality {
    pub field: String,
    pub missing: u64,
    /// Values below the smallest / above the largest the model saw in training.
    pub below_training: u64,
    pub above_training: u64,
}

#[derive(Debug, Serialize)]
pub struct EdaData {
    pub rows: u64,
    pub approval_rate: f64,
    /// The money field the income spreads are of (None when the schema has none).
    pub income_field: Option<String>,
    pub by: Vec<GroupTable>,
    pub distributions: Vec<Distribution>,
    pub quality: Vec<Quality>,
    pub alerts: Vec<String>,
}

pub struct Eda {
    pub section: Section,
    pub data: EdaData,
}

pub fn build(inputs: &Inputs) -> Result<Eda> {
    let lang = inputs.lang;
    let table = &inputs.profile;
    let schema = table.schema().clone();
    let y = table.approved.as_deref().unwrap_or(&[]);
    let n = table.len();
    let approval_rate = y.iter().filter(|&&v| v).count() as f64 / n.max(1) as f64;
    let income = (0..schema.n_fields()).find(|&i| matches!(schema.field(i).unit, Some(Unit::Money(_))));
    let income_name = income.map(|i| schema.field(i).name.clone());

    let mut s = Section::new(
        "data",
        tr(lang, "Datos", "Data"),
        tr(
            lang,
            "Busque grupos cuya tasa de aprobación observada se aleje mucho del total (el modelo aprenderá esa diferencia), diferencias de ingreso entre regiones, variables que separan aprobados de denegados y valores faltantes o fuera del rango de entrenamiento.",
            "Look for groups whose observed approval rate is far from the overall one (the model will learn that gap), income spreads between regions, inputs that separate approved from denied applicants, and missing or out-of-training-range values.",
        ),
    );
    s.push(Block::Facts(vec![
        (tr(lang, "Archivo", "File").into(), inputs.data_name.clone()),
        (tr(lang, "Filas", "Rows").into(), count(n as u64)),
        (tr(lang, "Tasa de aprobación observada", "Observed approval rate").into(), pct(approval_rate)),
    ]));

    // Groups: every categorical field, then the protected numeric ones in bands (age).
    let fields: Vec<usize> = (0..schema.n_fields())
        .filter(|&i| matches!(schema.field(i).kind, FieldKind::Category(_) | FieldKind::Ordered(_)))
        .chain((0..schema.n_fields()).filter(|&i| {
            let f = schema.field(i);
            f.protected && matches!(f.kind, FieldKind::Integer { .. } | FieldKind::Number { .. })
        }))
        .collect();
    let income_values: Option<Vec<f64>> = income.map(|i| table.column(i).collect());
    let mut by = Vec::new();
    let mut charts = Vec::new();
    for &field in &fields {
        let name = &schema.field(field).name;
        let grouping = GroupBy::parse(&schema, name, &BTreeMap::new(), table)?.assign(table);
        let k = grouping.labels.len();
        let (mut rows, mut pos) = (vec![0u64; k], vec![0u64; k]);
        let mut incomes: Vec<Vec<f64>> = vec![Vec::new(); k];
        for (r, &g) in grouping.index.iter().enumerate() {
            rows[g as usize] += 1;
            pos[g as usize] += u64::from(y.get(r).copied().unwrap_or(false));
            if let Some(v) = income_values.as_ref().map(|v| v[r]).filter(|v| !v.is_nan()) {
                incomes[g as usize].push(v);
            }
        }
        let groups: Vec<GroupRow> = (0..k)
            .map(|g| GroupRow {
                label: grouping.labels[g].clone(),
                n: rows[g],
                share: rows[g] as f64 / n as f64,
                approval_rate: pos[g] as f64 / rows[g].max(1) as f64,
                income_quartiles: (income.is_some() && !incomes[g].is_empty()).then(|| {
                    let q = quantiles(&mut incomes[g], &[0.25, 0.5, 0.75]);
                    [q[0], q[1], q[2]]
                }),
            })
            .collect();
        let label = text::label(&schema, Group::Field(field), lang);
        charts.push(Chart {
            name: format!("approval-by-{name}"),
            title: format!("{}: {label}", tr(lang, "Aprobación observada", "Observed approval")),
            x_desc: tr(lang, "tasa de aprobación", "approval rate").into(),
            y_desc: String::new(),
            kind: Kind::Bars {
                bars: groups
                    .iter()
                    .map(|g| Bar {
                        label: g.label.clone(),
                        value: g.approval_rate,
                        ci: None,
                        muted: g.n < 50,
                    })
                    .collect(),
                reference: Some((tr(lang, "total", "overall").into(), approval_rate)),
                percent: true,
            },
            size: (500, (90 + 26 * k as u32).max(200)),
        });
        by.push(GroupTable { field: name.clone(), groups });
    }
    let region = by.iter().find(|t| t.field == "region").or_else(|| by.iter().max_by_key(|t| t.groups.len()));
    if let (Some(region), Some(income)) = (region, income) {
        let label = text::label(&schema, Group::Field(income), lang);
        let field_label = text::label_of(&schema, &region.field, lang);
        charts.insert(
            0,
            Chart {
                name: format!("income-by-{}", region.field),
                title: format!(
                    "{label}: {} ({field_label})",
                    tr(lang, "mediana y rango intercuartil", "median and interquartile range")
                ),
                x_desc: label.clone(),
                y_desc: String::new(),
                kind: Kind::Bars {
                    bars: region
                        .groups
                        .iter()
                        .filter_map(|g| {
                            g.income_quartiles.map(|q| Bar {
                                label: g.label.clone(),
                                value: q[1],
                                ci: Some([q[0], q[2]]),
                                muted: g.n < 50,
                            })
                        })
                        .collect(),
                    reference: None,
                    percent: false,
                },
                size: (500, (90 + 26 * region.groups.len() as u32).max(200)),
            },
        );
    }
    s.push(Block::Heading(tr(lang, "Aprobación e ingreso por grupo", "Approval and income by group").into()));
    s.push(Block::Charts(charts));
    for t in &by {
        let mut header = vec![
            text::label_of(&schema, &t.field, lang),
            tr(lang, "filas", "rows").into(),
            tr(lang, "proporción", "share").into(),
            tr(lang, "aprobación", "approval").into(),
        ];
        if let Some(name) = &income_name {
            let l = text::label_of(&schema, name, lang);
            header.extend([format!("{l} p25"), format!("{l} p50"), format!("{l} p75")]);
        }
        let mut tab = Table { id: format!("groups-{}", t.field), header, rows: Vec::new() };
        for g in &t.groups {
            let mut row = vec![g.label.clone(), count(g.n), pct(g.share), pct(g.approval_rate)];
            if income_name.is_some() {
                row.extend(
                    g.income_quartiles
                        .map_or_else(|| vec!["—".into(); 3], |q| q.iter().map(|&v| amount(v)).collect()),
                );
            }
            tab.row(row);
        }
        s.push(Block::Table(tab));
    }

    // Approved vs denied: the numeric model inputs that are not protected attributes.
    let groups = inputs.model().encoder.groups().to_vec();
    let numeric: Vec<Group> = groups
        .iter()
        .copied()
        .filter(|&g| !schema.is_protected(g) && !schema.is_proxy(g))
        .filter(|&g| match g {
            Group::Field(i) => {
                matches!(schema.field(i).kind, FieldKind::Integer { .. } | FieldKind::Number { .. })
            }
            Group::Derived(_) => true,
        })
        .collect();
    let mut distributions = Vec::new();
    let mut hist_charts = Vec::new();
    for &g in &numeric {
        let values: Vec<f64> = table.rows().map(|row| schema.group_raw(g, row)).collect();
        let d = distribution(schema.group_name(g), &values, y);
        let label = text::label(&schema, g, lang);
        hist_charts.push(Chart {
            name: format!("dist-{}", d.field),
            title: label.clone(),
            x_desc: label,
            y_desc: String::new(),
            kind: Kind::Histogram(Histogram {
                edges: d.edges.clone(),
                series: vec![
                    (tr(lang, "aprobados", "approved").into(), d.approved.clone()),
                    (tr(lang, "denegados", "denied").into(), d.denied.clone()),
                ],
            }),
            size: (330, 220),
        });
        distributions.push(d);
    }
    s.push(Block::Heading(
        tr(lang, "Aprobados y denegados por variable", "Approved vs denied by input").into(),
    ));
    s.push(Block::Paragraph(tr(lang,
        "Densidades entre los percentiles 1 y 99 de cada variable; cuanto menos se solapan las dos curvas, más separa la variable por sí sola.",
        "Densities between each input's 1st and 99th percentile; the less the two overlap, the more the input separates on its own.").into()));
    s.push(Block::Charts(hist_charts));

    // Missing and out of the training range, per model input.
    let mut quality = Vec::new();
    let mut alerts = Vec::new();
    for (p, &g) in groups.iter().enumerate() {
        let stats = inputs.model().encoder.stats(p);
        let numeric_group = stats.category_counts.is_empty();
        let (mut missing, mut below, mut above) = (0u64, 0u64, 0u64);
        for row in table.rows() {
            let v = schema.group_raw(g, row);
            if v.is_nan() {
                missing += 1;
            } else if numeric_group && v < stats.min {
                below += 1;
            } else if numeric_group && v > stats.max {
                above += 1;
            }
        }
        let label = text::label(&schema, g, lang);
        if missing as f64 > MISSING_ALERT * n as f64 {
            alerts.push(format!(
                "{label}: {} {}",
                pct(missing as f64 / n as f64),
                tr(lang, "de valores faltantes", "of values missing")
            ));
        }
        if (below + above) as f64 > RANGE_ALERT * n as f64 {
            alerts.push(format!(
                "{label}: {} {}",
                pct((below + above) as f64 / n as f64),
                tr(lang, "fuera del rango de entrenamiento", "outside the training range")
            ));
        }
        quality.push(Quality {
            field: schema.group_name(g).to_string(),
            missing,
            below_training: below,
            above_training: above,
        });
    }
    s.push(Block::Heading(
        tr(lang, "Valores faltantes y fuera de rango", "Missing and out-of-range values").into(),
    ));
    s.push(Block::Alerts(alerts.clone()));
    let mut t = Table::new(
        "quality",
        &[
            tr(lang, "variable", "input"),
            tr(lang, "faltantes", "missing"),
            tr(lang, "bajo el mínimo de entrenamiento", "below training min"),
            tr(lang, "sobre el máximo de entrenamiento", "above training max"),
        ],
    );
    for q in &quality {
        t.row(vec![
            text::label_of(&schema, &q.field, lang),
            count(q.missing),
            count(q.below_training),
            count(q.above_training),
        ]);
    }
    s.push(Block::Table(t));
    let data = EdaData {
        rows: n as u64,
        approval_rate,
        income_field: income_name,
        by,
        distributions,
        quality,
        alerts,
    };
    Ok(Eda { section: s, data })
}

/// Approved and denied densities of `values` over shared bins between the 1st and 99th
/// percentile of the present values.
fn distribution(field: &str, values: &[f64], y: &[bool]) -> Distribution {
    let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let q = quantiles(&mut present, &[0.01, 0.99]);
    let (lo, hi) = if q[0] < q[1] { (q[0], q[1]) } else { (q[0] - 0.5, q[0] + 0.5) };
    let lo = if lo.is_finite() { lo } else { 0.0 };
    let hi = if hi.is_finite() && hi > lo { hi } else { lo + 1.0 };
    // Whole numbers over a short range (loans, dependents) get one bin per value.
    let whole = present.iter().all(|v| v.fract() == 0.0) && hi - lo <= MAX_UNIT_BINS as f64;
    let (lo, hi, bins) = if whole { (lo - 0.5, hi + 0.5, (hi - lo) as usize + 1) } else { (lo, hi, BINS) };
    let width = (hi - lo) / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|i| lo + width * i as f64).collect();
    let (mut a, mut d) = (vec![0.0; bins], vec![0.0; bins]);
    let (mut na, mut nd) = (0.0, 0.0);
    for (&v, &yes) in values.iter().zip(y) {
        if v.is_nan() {
            continue;
        }
        if yes {
            na += 1.0
        } else {
            nd += 1.0
        }
        if v < lo || v > hi {
            continue;
        }
        let b = (((v - lo) / width) as usize).min(bins - 1);
        if yes { a[b] += 1.0 } else { d[b] += 1.0 }
    }
    let density = |c: Vec<f64>, total: f64| {
        c.into_iter().map(|x| if total > 0.0 { x / (total * width) } else { 0.0 }).collect()
    };
    Distribution { field: field.to_string(), edges, approved: density(a, na), denied: density(d, nd) }
}
