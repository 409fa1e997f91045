//! The reliability diagram: for each probability bucket, the observed approval rate against the
//! mean predicted probability (on the diagonal when calibrated), and below it the number of rows
//! per bucket, so a reader sees which points rest on few rows.

use super::{
    Area, DrawResult, FONT, GRID_GREY, LEGEND_LIFT, LEGEND_SAMPLE_WIDTH, MODEL_BLUE, axis_desc_font,
    draw_diagonal, draw_legend, draw_unit_mesh, label_font, require_finite, title_font, write_png,
};
use crate::error::Result;
use crate::metrics::CalibrationBucket;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const SIZE: (u32, u32) = (900, 1000);
/// Share of the height given to the reliability panel; the counts panel takes the rest.
const RELIABILITY_SHARE: f64 = 0.68;

/// Writes the reliability diagram of `buckets` (as from [`crate::metrics::calibration`]) to `path`
/// as a PNG; empty buckets are skipped.
pub fn calibration_png(path: &Path, buckets: &[CalibrationBucket]) -> Result<()> {
    for b in buckets {
        require_finite("calibration plot", "a bucket edge", b.lower)?;
        require_finite("calibration plot", "a bucket edge", b.upper)?;
        if let (Some(mean), Some(rate)) = (b.mean_predicted, b.observed_rate) {
            require_finite("calibration plot", "a bucket's mean prediction", mean)?;
            require_finite("calibration plot", "a bucket's observed rate", rate)?;
        }
    }
    write_png(path, SIZE, |root| draw(root, buckets))
}

/// (mean predicted, observed rate, count) of the non-empty buckets.
fn points(buckets: &[CalibrationBucket]) -> Vec<(f64, f64, u64)> {
    buckets
        .iter()
        .filter(|b| b.count > 0)
        .filter_map(|b| Some((b.mean_predicted?, b.observed_rate?, b.count)))
        .collect()
}

fn draw(root: &Area, buckets: &[CalibrationBucket]) -> DrawResult {
    let root = root.margin(15, 0, 0, 0).titled("Calibration (reliability diagram)", title_font())?;
    let split_at = (f64::from(root.dim_in_pixel().1) * RELIABILITY_SHARE) as u32;
    let (upper, lower) = root.split_vertically(split_at);
    draw_reliability(&upper, &points(buckets))?;
    draw_counts(&lower, buckets)
}

fn draw_reliability(area: &Area, points: &[(f64, f64, u64)]) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .margin(25)
        .margin_bottom(10)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    draw_unit_mesh(&mut chart, "Mean predicted probability of approval", "Observed approval rate")?;
    draw_diagonal(&mut chart, "perfectly calibrated")?;
    let model = MODEL_BLUE.stroke_width(3);
    chart.draw_series(LineSeries::new(points.iter().map(|&(x, y, _)| (x, y)), model))?;
    chart
        .draw_series(points.iter().map(|&(x, y, _)| Circle::new((x, y), 6, MODEL_BLUE.filled())))?
        .label("model (one point per bucket)")
        .legend(move |(x, y)| {
            Circle::new((x + LEGEND_SAMPLE_WIDTH as i32 / 2, y - LEGEND_LIFT), 6, MODEL_BLUE.filled())
        });
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Row counts are whole: a tick at 0.5 (small samples) gets no label rather than a rounded one.
fn whole_number(v: &f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() }
}

fn draw_counts(area: &Area, buckets: &[CalibrationBucket]) -> DrawResult {
    let tallest = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin(25)
        .margin_top(5)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..1.0, 0.0..tallest * 1.2)?;
    chart
        .configure_mesh()
        .x_desc("Predicted probability bucket")
        .y_desc("Rows")
        .x_labels(11)
        .y_labels(5)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&whole_number)
        .label_style(label_font())
        .axis_desc_style(axis_desc_font())
        .light_line_style(WHITE)
        .bold_line_style(GRID_GREY)
        .draw()?;
    let bar = MODEL_BLUE.mix(0.55).filled();
    chart.draw_series(buckets.iter().filter(|b| b.count > 0).map(|b| {
        let mut rect = Rectangle::new([(b.lower, 0.0), (b.upper, b.count as f64)], bar);
        rect.set_margin(0, 0, 2, 2);
        rect
    }))?;
    let above = TextStyle::from((FONT, 15.0).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(buckets.iter().filter(|b| b.count > 0).map(|b| {
        let top_centre = ((b.lower + b.upper) / 2.0, b.count as f64);
        EmptyElement::at(top_centre) + Text::new(b.count.to_string(), (0, -4), above.clone())
    }))?;
    Ok(())
}
