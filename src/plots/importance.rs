//! Ranked horizontal bars (Gini importance as sklearn's `feature_importances_`, mean |SHAP|), the
//! largest on top, at most [`TOP_FEATURES`] of them, each bar labelled with its value.

use super::{
    Area, DrawResult, FONT, GRID_GREY, MODEL_BLUE, axis_desc_font, label_font, require_finite, title_font,
    write_png,
};
use crate::error::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// How many features the chart shows.
pub const TOP_FEATURES: usize = 20;
const WIDTH: u32 = 1100;
/// Pixels per bar row plus room for the title and the axis.
const ROW_HEIGHT: u32 = 38;
const CHROME_HEIGHT: u32 = 220;

/// Writes the `TOP_FEATURES` largest of `importances` (name, value) to `path` as a PNG bar chart,
/// sorted descending (ties by name). Values must be finite; negative ones (e.g. permutation
/// importance) extend left of zero.
pub fn feature_importance_png(path: &Path, importances: &[(String, f64)]) -> Result<()> {
    ranked_bars_png(path, "Gini importance", "Mean decrease in Gini impurity (share of the total)", importances)
}

/// The same chart with its own title and axis description (e.g. mean |SHAP value|).
pub fn ranked_bars_png(path: &Path, title: &str, x_desc: &str, values: &[(String, f64)]) -> Result<()> {
    for (name, value) in values {
        require_finite(title, &format!("the value of {name}"), *value)?;
    }
    let top = top_features(values);
    let height = (CHROME_HEIGHT + ROW_HEIGHT * top.len() as u32).max(600);
    write_png(path, (WIDTH, height), |root| draw(root, &top, values.len(), title, x_desc))
}

fn top_features(importances: &[(String, f64)]) -> Vec<(String, f64)> {
    let mut sorted = importances.to_vec();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(TOP_FEATURES);
    sorted
}

/// Label area wide enough for the longest name (DejaVu Sans averages ~0.6 em per character).
fn name_area_width(top: &[(String, f64)]) -> u32 {
    let longest = top.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0) as f64;
    (longest * super::LABEL_SIZE * 0.62) as u32 + 30
}

fn draw(root: &Area, top: &[(String, f64)], total_features: usize, title: &str, x_desc: &str) -> DrawResult {
    let rows = top.len() as u32;
    let low = top.iter().map(|(_, v)| *v).fold(0.0, f64::min);
    let high = top.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let span = (high - low).max(f64::MIN_POSITIVE);
    // Row 0 is drawn at the bottom, so the most important feature gets the highest row.
    let row_of = |rank: usize| rows - 1 - rank as u32;
    let name_of_row = |value: &SegmentValue<u32>| match value {
        SegmentValue::CenterOf(row) if *row < rows => top[(rows - 1 - row) as usize].0.clone(),
        _ => String::new(),
    };
    let title = if total_features > top.len() {
        format!("{title} (top {} of {total_features})", top.len())
    } else {
        title.to_string()
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, title_font())
        .margin(25)
        .margin_right(40)
        .x_label_area_size(75)
        .y_label_area_size(name_area_width(top))
        .build_cartesian_2d(
            (low - 0.05 * span * f64::from(u8::from(low < 0.0)))..(high + 0.18 * span),
            // An inclusive u32 range: 0..rows-1 is one segment per bar.
            (0u32..rows.max(1) - 1).into_segmented(),
        )?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(x_desc)
        .y_labels(rows.max(1) as usize)
        .y_label_formatter(&name_of_row)
        .x_label_formatter(&|v| format!("{v:.3}"))
        .label_style(label_font())
        .axis_desc_style(axis_desc_font())
        .light_line_style(WHITE)
        .bold_line_style(GRID_GREY)
        .draw()?;

    let bar = MODEL_BLUE.filled();
    chart.draw_series(top.iter().enumerate().map(|(rank, (_, value))| {
        let row = row_of(rank);
        let mut rect =
            Rectangle::new([(0.0, SegmentValue::Exact(row)), (*value, SegmentValue::Exact(row + 1))], bar);
        rect.set_margin(5, 5, 0, 0);
        rect
    }))?;
    let value_label = TextStyle::from((FONT, 16.0).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(top.iter().enumerate().map(|(rank, (_, value))| {
        let end = (value.max(0.0), SegmentValue::CenterOf(row_of(rank)));
        EmptyElement::at(end) + Text::new(format!("{value:.4}"), (6, 0), value_label.clone())
    }))?;
    Ok(())
}
