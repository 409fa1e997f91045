//! The performance section (the model-performance notebook): ROC and precision-recall curves,
//! AUC, Gini and KS with its decile table, the confusion matrix with rates per actual class, a
//! cut-off table, calibration with ECE and Brier, and the generating process's ceiling AUC.

use super::charts::{Chart, Kind, Series};
use super::doc::{Block, Section, Table};
use super::inputs::{Inputs, Scope};
use super::text::{count, num, pct, tr};
use crate::error::Result;
use crate::metrics::{self, Metrics};
use serde::Serialize;

/// At most this many points per drawn curve (the JSON twin keeps the same points).
const CURVE_POINTS: usize = 400;
/// Cut-offs of the cut-off table (the model's own threshold is added).
const CUTOFFS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
/// Expected calibration error above this is an alert.
const ECE_ALERT: f64 = 0.05;
/// An AUC this far below the generating process's ceiling is an alert.
const CEILING_GAP_ALERT: f64 = 0.05;

#[derive(Debug, Serialize)]
pub struct Decile {
    pub decile: usize,
    pub n: u64,
    pub min_probability: f64,
    pub max_probability: f64,
    /// Positive ("good": approved) and negative ("bad") labels in the decile.
    pub good: u64,
    pub bad: u64,
    pub cumulative_good: f64,
    pub cumulative_bad: f64,
    /// cumulative_good − cumulative_bad: KS is the largest over all thresholds.
    pub separation: f64,
}

#[derive(Debug, Serialize)]
pub struct Cutoff {
    pub threshold: f64,
    pub approval_rate: f64,
    /// Share of approved applicants whose label is negative.
    pub bad_rate: f64,
    pub precision: f64,
    /// Share of positive labels approved.
    pub recall: f64,
}

#[derive(Debug, Serialize)]
pub struct Ceiling {
    pub roc_auc: f64,
    pub brier: f64,
}

#[derive(Debug, Serialize)]
pub struct PerformanceData {
    pub scope: Scope,
    pub n: u64,
    /// `metrics.json`'s measurements on these rows.
    pub metrics: Metrics,
    /// Σ count/n · |mean predicted − observed| over the calibration buckets.
    pub ece: f64,
    pub roc: Vec<(f64, f64)>,
    pub pr: Vec<(f64, f64)>,
    pub ks_deciles: Vec<Decile>,
    pub cutoffs: Vec<Cutoff>,
    /// AUC and Brier of sigmoid(latent score): the best any model can do (when the data has it).
    pub ceiling: Option<Ceiling>,
    pub alerts: Vec<String>,
}

pub struct Performance {
    pub section: Section,
    pub data: PerformanceData,
}

pub fn build(inputs: &Inputs) -> Result<Performance> {
    let lang = inputs.lang;
    let model = inputs.model();
    let table = &inputs.eval.table;
    let y = table.approved.as_deref().unwrap_or(&[]);
    let p = &inputs.eval.probabilities;
    let m = metrics::evaluate(y, p, model.threshold)?;
    let n = y.len() as u64;
    let ece = m.ece;
    let roc_curve = metrics::roc_curve(y, p);
    let roc = thin(roc_curve.fpr.iter().copied().zip(roc_curve.tpr.iter().copied()).collect());
    let pr_curve = metrics::pr_curve(y, p);
    let pr = thin(pr_curve.recall.iter().copied().zip(pr_curve.precision.iter().copied()).collect());
    let ks_deciles = deciles(y, p);
    let mut thresholds = CUTOFFS.to_vec();
    if !thresholds.iter().any(|t| (t - model.threshold).abs() < 1e-12) {
        thresholds.push(model.threshold);
        thresholds.sort_by(f64::total_cmp);
    }
    let cutoffs: Vec<Cutoff> = thresholds.iter().map(|&t| cutoff(y, p, t)).collect();
    let ceiling = table.score.as_ref().map(|scores| {
        let q: Vec<f64> = scores.iter().map(|&s| crate::data::generate::sigmoid(s)).collect();
        Ceiling { roc_auc: metrics::roc_auc(y, &q), brier: metrics::brier(y, &q) }
    });
    let mut alerts = Vec::new();
    if ece > ECE_ALERT {
        alerts.push(format!(
            "{} {} > {ECE_ALERT}",
            tr(lang, "Calibración: ECE", "Calibration: ECE"),
            num(ece, 3)
        ));
    }
    if let Some(c) = &ceiling
        && c.roc_auc - m.roc_auc > CEILING_GAP_ALERT
    {
        alerts.push(format!(
            "{} {} {} {}",
            tr(lang, "AUC", "AUC"),
            num(m.roc_auc, 4),
            tr(lang, "muy por debajo del techo", "well below the ceiling"),
            num(c.roc_auc, 4)
        ));
    }

    let mut s = Section::new(
        "performance",
        tr(lang, "Desempeño", "Performance"),
        tr(
            lang,
            "Busque la distancia entre el AUC y el techo del proceso generador (lo que queda por aprender), el punto de corte donde la tasa de malos aprobados deja de ser aceptable, y deciles de calibración lejos de la diagonal.",
            "Look at the gap between the AUC and the generating process's ceiling (what is left to learn), the cut-off at which the bad rate among approvals stops being acceptable, and calibration buckets far from the diagonal.",
        ),
    );
    let scope = match inputs.eval.scope {
        Scope::HeldOut => tr(
            lang,
            "partición de prueba del entrenamiento (las cifras de metrics.json)",
            "the training run's held-out split (the numbers of metrics.json)",
        ),
        Scope::WholeFile => tr(lang, "todas las filas del archivo", "every row of the file"),
    };
    let mut facts = vec![
        (tr(lang, "Filas evaluadas", "Rows evaluated").into(), format!("{} ({scope})", count(n))),
        ("ROC AUC".into(), num(m.roc_auc, 4)),
        ("Gini".into(), num(m.gini, 4)),
        ("KS".into(), num(m.ks, 4)),
        ("PR AUC".into(), num(m.pr_auc, 4)),
        ("Brier".into(), num(m.brier, 4)),
        ("ECE".into(), num(ece, 4)),
        (tr(lang, "Log loss", "Log loss").into(), num(m.log_loss, 4)),
    ];
    if let Some(c) = &ceiling {
        facts.push((
            tr(lang, "AUC techo (sigmoid del puntaje latente)", "Ceiling AUC (sigmoid of the latent score)")
                .into(),
            num(c.roc_auc, 4),
        ));
    }
    s.push(Block::Facts(facts));
    s.push(Block::Alerts(alerts.clone()));
    let diagonal = |label: &str| Series {
        label: label.into(),
        points: vec![(0.0, 0.0), (1.0, 1.0)],
        reference: true,
        dots: false,
    };
    let base = y.iter().filter(|&&v| v).count() as f64 / n.max(1) as f64;
    s.push(Block::Charts(vec![
        Chart {
            name: "roc".into(),
            title: format!("{} (AUC {})", tr(lang, "Curva ROC", "ROC curve"), num(m.roc_auc, 3)),
            x_desc: tr(lang, "tasa de falsos positivos", "false positive rate").into(),
            y_desc: tr(lang, "tasa de verdaderos positivos", "true positive rate").into(),
            kind: Kind::Lines {
                series: vec![
                    Series {
                        label: tr(lang, "modelo", "model").into(),
                        points: roc.clone(),
                        reference: false,
                        dots: false,
                    },
                    diagonal(tr(lang, "azar", "chance")),
                ],
                x: (0.0, 1.0),
                y: (0.0, 1.0),
                legend_upper: false,
            },
            size: (500, 420),
        },
        Chart {
            name: "precision-recall".into(),
            title: format!(
                "{} (AP {})",
                tr(lang, "Precisión-exhaustividad", "Precision-recall"),
                num(m.pr_auc, 3)
            ),
            x_desc: tr(lang, "exhaustividad (recall)", "recall").into(),
            y_desc: tr(lang, "precisión", "precision").into(),
            kind: Kind::Lines {
                series: vec![
                    Series {
                        label: tr(lang, "modelo", "model").into(),
                        points: pr.clone(),
                        reference: false,
                        dots: false,
                    },
                    Series {
                        label: tr(lang, "tasa base", "base rate").into(),
                        points: vec![(0.0, base), (1.0, base)],
                        reference: true,
                        dots: false,
                    },
                ],
                x: (0.0, 1.0),
                y: (0.0, 1.0),
                legend_upper: false,
            },
            size: (500, 420),
        },
    ]));

    s.push(Block::Heading(format!("{} (KS {})", tr(lang, "Tabla de deciles", "Decile table"), num(m.ks, 4))));
    s.push(Block::Paragraph(tr(lang,
        "Filas ordenadas de mayor a menor probabilidad; «buenos» son las etiquetas positivas (aprobados). La separación acumulada máxima entre deciles se acerca al KS, que se toma sobre todos los umbrales.",
        "Rows sorted from highest to lowest probability; \"good\" are positive labels (approved). The largest cumulative separation between deciles approaches KS, which is taken over every threshold.").into()));
    let mut t = Table::new(
        "ks-deciles",
        &[
            tr(lang, "decil", "decile"),
            tr(lang, "filas", "rows"),
            tr(lang, "P mín", "min P"),
            tr(lang, "P máx", "max P"),
            tr(lang, "buenos", "good"),
            tr(lang, "malos", "bad"),
            tr(lang, "% buenos acum.", "cum. % good"),
            tr(lang, "% malos acum.", "cum. % bad"),
            tr(lang, "separación", "separation"),
        ],
    );
    for d in &ks_deciles {
        t.row(vec![
            d.decile.to_string(),
            count(d.n),
            num(d.min_probability, 3),
            num(d.max_probability, 3),
            count(d.good),
            count(d.bad),
            pct(d.cumulative_good),
            pct(d.cumulative_bad),
            num(d.separation, 3),
        ]);
    }
    s.push(Block::Table(t));

    let cm = &m.confusion_matrix;
    s.push(Block::Heading(format!(
        "{} (P ≥ {})",
        tr(lang, "Matriz de confusión", "Confusion matrix"),
        model.threshold
    )));
    let mut t = Table::new(
        "confusion-matrix",
        &[
            tr(lang, "real", "actual"),
            tr(lang, "aprobado por el modelo", "model approves"),
            tr(lang, "denegado por el modelo", "model denies"),
            tr(lang, "tasa de aprobación", "approval rate"),
            tr(lang, "tasa de denegación", "denial rate"),
        ],
    );
    let rate = |a: u64, b: u64| a as f64 / (a + b).max(1) as f64;
    t.row(vec![
        tr(lang, "aprobado", "approved").into(),
        count(cm.tp),
        count(cm.fn_),
        pct(rate(cm.tp, cm.fn_)),
        pct(rate(cm.fn_, cm.tp)),
    ]);
    t.row(vec![
        tr(lang, "denegado", "denied").into(),
        count(cm.fp),
        count(cm.tn),
        pct(rate(cm.fp, cm.tn)),
        pct(rate(cm.tn, cm.fp)),
    ]);
    s.push(Block::Table(t));
    s.push(Block::Facts(vec![
        (tr(lang, "Exactitud", "Accuracy").into(), num(m.accuracy, 4)),
        (tr(lang, "Precisión", "Precision").into(), num(m.precision, 4)),
        (tr(lang, "Exhaustividad", "Recall").into(), num(m.recall, 4)),
        ("F1".into(), num(m.f1, 4)),
    ]));

    s.push(Block::Heading(tr(lang, "Puntos de corte", "Cut-offs").into()));
    let mut t = Table::new(
        "cutoffs",
        &[
            tr(lang, "umbral", "threshold"),
            tr(lang, "tasa de aprobación", "approval rate"),
            tr(lang, "tasa de malos aprobados", "bad rate of approvals"),
            tr(lang, "precisión", "precision"),
            tr(lang, "buenos aprobados", "good approved"),
        ],
    );
    for c in &cutoffs {
        let mark = if (c.threshold - model.threshold).abs() < 1e-12 { " ◀" } else { "" };
        t.row(vec![
            format!("{}{mark}", num(c.threshold, 2)),
            pct(c.approval_rate),
            pct(c.bad_rate),
            pct(c.precision),
            pct(c.recall),
        ]);
    }
    s.push(Block::Table(t));

    s.push(Block::Heading(format!(
        "{} (ECE {}, Brier {})",
        tr(lang, "Calibración", "Calibration"),
        num(ece, 4),
        num(m.brier, 4)
    )));
    let observed: Vec<(f64, f64)> =
        m.calibration.iter().filter_map(|b| Some((b.mean_predicted?, b.observed_rate?))).collect();
    s.push(Block::Charts(vec![Chart {
        name: "calibration".into(),
        title: tr(lang, "Calibración por décimo de probabilidad", "Calibration by tenth of probability")
            .into(),
        x_desc: tr(lang, "probabilidad media predicha", "mean predicted probability").into(),
        y_desc: tr(lang, "tasa de aprobación observada", "observed approval rate").into(),
        kind: Kind::Lines {
            series: vec![
                Series {
                    label: tr(lang, "modelo", "model").into(),
                    points: observed,
                    reference: false,
                    dots: true,
                },
                diagonal(tr(lang, "calibración perfecta", "perfect calibration")),
            ],
            x: (0.0, 1.0),
            y: (0.0, 1.0),
            legend_upper: true,
        },
        size: (500, 420),
    }]));
    let mut t = Table::new(
        "calibration",
        &[
            tr(lang, "intervalo de P", "P bucket"),
            tr(lang, "filas", "rows"),
            tr(lang, "P media", "mean P"),
            tr(lang, "aprobación observada", "observed approval"),
            tr(lang, "diferencia", "gap"),
        ],
    );
    for b in &m.calibration {
        let gap = match (b.mean_predicted, b.observed_rate) {
            (Some(a), Some(o)) => num(o - a, 3),
            _ => "—".into(),
        };
        t.row(vec![
            format!("({}, {}]", num(b.lower, 1), num(b.upper, 1)),
            count(b.count),
            b.mean_predicted.map_or("—".into(), |v| num(v, 3)),
            b.observed_rate.map_or("—".into(), |v| num(v, 3)),
            gap,
        ]);
    }
    s.push(Block::Table(t));

    let data = PerformanceData {
        scope: inputs.eval.scope,
        n,
        metrics: m,
        ece,
        roc,
        pr,
        ks_deciles,
        cutoffs,
        ceiling,
        alerts,
    };
    Ok(Performance { section: s, data })
}

/// At most [`CURVE_POINTS`] points of a curve, evenly spaced along it, both ends kept.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= CURVE_POINTS {
        return points;
    }
    let last = points.len() - 1;
    (0..CURVE_POINTS).map(|i| points[i * last / (CURVE_POINTS - 1)]).collect()
}

/// The KS decile table: rows by descending probability in ten groups of (nearly) equal size.
fn deciles(y: &[bool], p: &[f64]) -> Vec<Decile> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let goods = y.iter().filter(|&&v| v).count().max(1) as f64;
    let bads = (y.len() - y.iter().filter(|&&v| v).count()).max(1) as f64;
    let (mut cum_good, mut cum_bad) = (0u64, 0u64);
    (0..10)
        .filter_map(|d| {
            let rows = &order[d * order.len() / 10..(d + 1) * order.len() / 10];
            if rows.is_empty() {
                return None;
            }
            let good = rows.iter().filter(|&&r| y[r]).count() as u64;
            let bad = rows.len() as u64 - good;
            cum_good += good;
            cum_bad += bad;
            let (cg, cb) = (cum_good as f64 / goods, cum_bad as f64 / bads);
            Some(Decile {
                decile: d + 1,
                n: rows.len() as u64,
                min_probability: p[*rows.last()?],
                max_probability: p[rows[0]],
                good,
                bad,
                cumulative_good: cg,
                cumulative_bad: cb,
                separation: cg - cb,
            })
        })
        .collect()
}

fn cutoff(y: &[bool], p: &[f64], threshold: f64) -> Cutoff {
    let (mut approved, mut good_approved) = (0u64, 0u64);
    for (&yes, &q) in y.iter().zip(p) {
        if q >= threshold {
            approved += 1;
            good_approved += u64::from(yes);
        }
    }
    let goods = y.iter().filter(|&&v| v).count() as u64;
    let precision = if approved == 0 { f64::NAN } else { good_approved as f64 / approved as f64 };
    Cutoff {
        threshold,
        approval_rate: approved as f64 / y.len().max(1) as f64,
        bad_rate: 1.0 - precision,
        precision,
        recall: good_approved as f64 / goods.max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_and_cutoffs_by_hand() {
        // Twenty rows, probabilities 0.95, 0.90, …, 0.00; the top 8 are good, plus row 12.
        let p: Vec<f64> = (0..20).map(|i| 0.95 - 0.05 * i as f64).collect();
        let y: Vec<bool> = (0..20).map(|i| i < 8 || i == 12).collect();
        let d = deciles(&y, &p);
        assert_eq!(d.len(), 10);
        assert!(d.iter().all(|d| d.n == 2));
        assert_eq!((d[0].good, d[0].bad), (2, 0));
        assert_eq!((d[4].good, d[4].bad), (0, 2));
        assert_eq!((d[6].good, d[6].bad), (1, 1));
        assert!((d[3].separation - 8.0 / 9.0).abs() < 1e-12, "all 8 of 9 goods, no bad yet");
        assert_eq!(d[9].cumulative_good, 1.0);
        // p ≥ 0.475: rows 0..=9 (0.95 − 0.05·9 is a hair under 0.5 in binary), eight good.
        let c = cutoff(&y, &p, 0.475);
        assert_eq!(c.approval_rate, 0.5);
        assert!((c.precision - 0.8).abs() < 1e-12 && (c.bad_rate - 0.2).abs() < 1e-12);
        assert!((c.recall - 8.0 / 9.0).abs() < 1e-12);
        assert!(cutoff(&y, &p, 0.99).precision.is_nan());
    }

    #[test]
    fn thin_keeps_both_ends() {
        let points: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        let t = thin(points);
        assert_eq!(t.len(), CURVE_POINTS);
        assert_eq!((t[0].0, t[CURVE_POINTS - 1].0), (0.0, 999.0));
    }
}
