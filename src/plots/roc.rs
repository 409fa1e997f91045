//! The ROC curve: the model's (FPR, TPR) points with its AUC in the legend, against the dashed
//! diagonal of a classifier that guesses.

use super::{
    Area, DrawResult, MODEL_BLUE, draw_diagonal, draw_legend, draw_unit_mesh, legend_line, require_finite,
    title_font, write_png,
};
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (900, 850);

/// Writes the ROC curve through the points (`fpr[i]`, `tpr[i]`) (as from
/// [`crate::metrics::roc_curve`]) to `path` as a PNG. Non-finite points (one class missing) are
/// left out and a NaN `auc` shows as "undefined"; `fpr` and `tpr` must have the same length.
pub fn roc_curve_png(path: &Path, fpr: &[f64], tpr: &[f64], auc: f64) -> Result<()> {
    if fpr.len() != tpr.len() {
        return Err(Error::Internal(format!(
            "cannot draw the ROC curve: {} false positive rates but {} true positive rates",
            fpr.len(),
            tpr.len()
        )));
    }
    if !auc.is_nan() {
        require_finite("ROC curve", "the AUC", auc)?;
    }
    let points: Vec<(f64, f64)> =
        fpr.iter().zip(tpr).map(|(&x, &y)| (x, y)).filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    write_png(path, SIZE, |root| draw(root, &points, auc))
}

fn legend_for_model(auc: f64) -> String {
    if auc.is_nan() {
        "model (AUC undefined: one class only)".into()
    } else {
        format!("model (AUC = {auc:.4})")
    }
}

fn draw(root: &Area, points: &[(f64, f64)], auc: f64) -> DrawResult {
    let mut chart = ChartBuilder::on(root)
        .caption("ROC curve", title_font())
        .margin(25)
        .x_label_area_size(75)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    draw_unit_mesh(&mut chart, "False positive rate (1 − specificity)", "True positive rate (recall)")?;
    draw_diagonal(&mut chart, "chance (AUC = 0.5)")?;
    let model = MODEL_BLUE.stroke_width(3);
    chart
        .draw_series(LineSeries::new(points.iter().copied(), model))?
        .label(legend_for_model(auc))
        .legend(move |(x, y)| legend_line(x, y, model));
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}
