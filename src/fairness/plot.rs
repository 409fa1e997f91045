//! The PNG of a fairness report: approval (selection) rate per group with its interval, one
//! heading per grouping, the overall rate as a dashed line, in the reader's language.

use super::report::{FairnessReport, Rate};
use super::table::by_title;
use crate::error::Result;
use crate::explain::Lang;
use crate::plots::{RateBar, RateChart, RatePanel, group_rates_png};
use crate::schema::Schema;
use std::path::Path;

/// Writes `report`'s selection rates by group to `path` (atomically).
pub fn selection_rates_png(path: &Path, report: &FairnessReport, schema: &Schema, lang: Lang) -> Result<()> {
    let panels: Vec<RatePanel> = report
        .by
        .iter()
        .map(|by| RatePanel {
            title: by_title(schema, by, lang),
            bars: by
                .groups
                .iter()
                .map(|g| {
                    let s = g.rate(Rate::SelectionRate);
                    RateBar { label: g.label.clone(), value: s.value, ci: s.ci, judged: g.judged() }
                })
                .collect(),
        })
        .collect();
    let overall = report.overall.rate(Rate::SelectionRate).value;
    let (title, x_desc, overall_label, not_judged) = match lang {
        Lang::Es => (
            if report.n_boot > 0 {
                "Tasa de aprobación por grupo (intervalos del 95%)"
            } else {
                "Tasa de aprobación por grupo"
            },
            "Tasa de aprobación del modelo",
            format!("total {overall:.3}"),
            format!("no evaluado (n < {} o sin ambas etiquetas)", report.min_group),
        ),
        Lang::En => (
            if report.n_boot > 0 {
                "Approval rate by group (95% intervals)"
            } else {
                "Approval rate by group"
            },
            "Model approval rate",
            format!("overall {overall:.3}"),
            format!("not judged (n < {} or one label only)", report.min_group),
        ),
    };
    let chart =
        RateChart { title, x_desc, overall_label: &overall_label, overall, not_judged_label: &not_judged };
    group_rates_png(path, &chart, &panels)
}
