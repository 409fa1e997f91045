//! The two global SHAP views analysts know from `shap`: mean |φ| per field as ranked bars, and
//! the beeswarm: one row per field (largest mean |φ| on top), one dot per customer at its φ,
//! piled up where dots are dense, coloured by the field's value from low (blue) to high (red).

use super::{Area, DrawResult, FONT, GRID_GREY, axis_desc_font, label_font, title_font, write_png};
use crate::error::Result;
use crate::explain::GlobalShap;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Fields the beeswarm shows (the rest are summed up in none: the chart says "top N of M").
pub const BEESWARM_FIELDS: usize = 12;
/// shap's colours for low and high feature values, and grey for a missing value.
const LOW: RGBColor = RGBColor(0, 139, 251);
const HIGH: RGBColor = RGBColor(255, 0, 81);
const MISSING: RGBColor = RGBColor(160, 160, 160);
const WIDTH: u32 = 1300;
const ROW_HEIGHT: u32 = 64;
const CHROME_HEIGHT: u32 = 220;
/// The dots' radius in pixels, and how many dots a pile may stack either side of its row.
const DOT: i32 = 3;
/// Horizontal bins (pixels wide) in which dots pile up.
const PILE_BIN: f64 = 2.0 * DOT as f64;

/// Mean |φ| per field as ranked bars.
pub fn shap_bar_png(path: &Path, shap: &GlobalShap) -> Result<()> {
    let values: Vec<(String, f64)> = shap.ranking.iter().map(|f| (f.field.clone(), f.mean_abs)).collect();
    let title = format!("Mean |SHAP value| per field ({} customers)", shap.explained);
    super::ranked_bars_png(path, &title, "mean |SHAP value| (average change in P(approved))", &values)
}

/// The beeswarm of the [`BEESWARM_FIELDS`] fields with the largest mean |φ|.
pub fn shap_beeswarm_png(path: &Path, shap: &GlobalShap) -> Result<()> {
    let shown = shap.ranking.len().min(BEESWARM_FIELDS);
    let height = CHROME_HEIGHT + ROW_HEIGHT * shown as u32;
    write_png(path, (WIDTH, height.max(600)), |root| draw(root, shap, shown))
}

/// The 5th and 95th percentile of a field's present values: the colour scale's ends, so one
/// extreme income does not paint every other dot blue.
fn colour_range(values: &mut Vec<f64>) -> (f64, f64) {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return (0.0, 1.0);
    }
    values.sort_unstable_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.05), at(0.95));
    if hi > lo { (lo, hi) } else { (values[0], values[values.len() - 1].max(values[0] + 1e-12)) }
}

fn blend(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (f64::from(a) + t * (f64::from(b) - f64::from(a))).round() as u8;
    RGBColor(mix(LOW.0, HIGH.0), mix(LOW.1, HIGH.1), mix(LOW.2, HIGH.2))
}

fn draw(root: &Area, shap: &GlobalShap, shown: usize) -> DrawResult {
    let k = shap.n_fields();
    let n = shap.rows.len();
    let fields: Vec<usize> = shap.ranking[..shown]
        .iter()
        .map(|f| shap.field_names.iter().position(|name| *name == f.field).expect("ranked fields are fields"))
        .collect();
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for &f in &fields {
        for r in 0..n {
            lo = lo.min(shap.phi[r * k + f]);
            hi = hi.max(shap.phi[r * k + f]);
        }
    }
    let pad = 0.04 * (hi - lo).max(1e-6);
    let longest = fields.iter().map(|&f| shap.field_names[f].chars().count()).max().unwrap_or(0) as f64;
    let name_width = (longest * super::LABEL_SIZE * 0.62) as u32 + 30;
    let (main, legend) = root.split_horizontally(WIDTH - 120);
    let fields_part = if shown < k { format!("top {shown} of {k} fields, ") } else { String::new() };
    let customers = if n < shap.explained {
        format!("{n} of {} customers", shap.explained)
    } else {
        format!("{n} customers")
    };
    let title = format!("SHAP value per customer ({fields_part}{customers})");
    let rows = shown as f64;
    let mut chart = ChartBuilder::on(&main)
        .caption(title, title_font())
        .margin(25)
        .x_label_area_size(75)
        .y_label_area_size(name_width)
        .build_cartesian_2d((lo - pad)..(hi + pad), -0.5..(rows - 0.5))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("SHAP value (change in P(approved) for this customer)")
        .x_label_formatter(&|v| if v.abs() < 1e-9 { "0".to_string() } else { format!("{v:+.2}") })
        .label_style(label_font())
        .axis_desc_style(axis_desc_font())
        .light_line_style(WHITE)
        .bold_line_style(GRID_GREY)
        .draw()?;
    chart.draw_series(LineSeries::new([(0.0, -0.5), (0.0, rows - 0.5)], BLACK.mix(0.5).stroke_width(1)))?;

    // Pixels per unit of φ, for piling dots within a pixel-wide bin.
    let (x0, _) = chart.backend_coord(&(lo - pad, 0.0));
    let (x1, _) = chart.backend_coord(&(hi + pad, 0.0));
    let px_per_phi = f64::from(x1 - x0) / (hi - lo + 2.0 * pad);
    let (_, y_top) = chart.backend_coord(&(0.0, 0.0));
    let (_, y_next) = chart.backend_coord(&(0.0, 1.0));
    let row_px = f64::from((y_top - y_next).abs());
    let max_offset = 0.4; // of a row: piles stay clear of the neighbouring rows
    let step = (2.0 * DOT as f64 - 1.0) / row_px;

    let name_style = label_font().pos(Pos::new(HPos::Right, VPos::Center));
    for (rank, &f) in fields.iter().enumerate() {
        let y = rows - 1.0 - rank as f64;
        let (_, py) = chart.backend_coord(&(lo - pad, y));
        root.draw(&Text::new(shap.field_names[f].clone(), (name_width as i32 + 10, py), name_style.clone()))?;

        let mut values: Vec<f64> = (0..n).map(|r| shap.values[r * k + f]).collect();
        let (vlo, vhi) = colour_range(&mut values);
        // Dots in order of φ; each bin's pile grows alternately above and below the row.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| shap.phi[a * k + f].total_cmp(&shap.phi[b * k + f]));
        let mut pile: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        let levels: Vec<f64> = order
            .iter()
            .map(|&r| {
                let count =
                    pile.entry((shap.phi[r * k + f] * px_per_phi / PILE_BIN).floor() as i64).or_insert(0);
                let level = (*count).div_ceil(2) as f64 * if *count % 2 == 1 { 1.0 } else { -1.0 };
                *count += 1;
                level
            })
            .collect();
        // Dense piles are squeezed (as shap does) so the tallest just fits: the outline keeps
        // the density's shape instead of being cut flat.
        let tallest = levels.iter().fold(0.0f64, |m, l| m.max(l.abs())) * step;
        let squeeze = if tallest > max_offset { max_offset / tallest } else { 1.0 };
        let dots = order.iter().zip(&levels).map(|(&r, level)| {
            let phi = shap.phi[r * k + f];
            let value = shap.values[r * k + f];
            let colour = if value.is_nan() { MISSING } else { blend((value - vlo) / (vhi - vlo)) };
            Circle::new((phi, y + level * step * squeeze), DOT, colour.mix(0.75).filled())
        });
        chart.draw_series(dots)?;
    }
    draw_colour_bar(&legend)
}

/// A vertical low→high gradient with its labels, right of the plot.
fn draw_colour_bar(area: &Area) -> DrawResult {
    let (_, h) = area.dim_in_pixel();
    let (top, bottom) = (120, h as i32 - 140);
    let (left, right) = (8, 24);
    let steps = 100;
    for i in 0..steps {
        let t = f64::from(i) / f64::from(steps);
        let y0 = bottom - ((bottom - top) as f64 * t) as i32;
        let y1 = bottom - ((bottom - top) as f64 * (t + 1.0 / f64::from(steps))) as i32;
        area.draw(&Rectangle::new([(left, y1), (right, y0)], blend(t).filled()))?;
    }
    let style = TextStyle::from((FONT, 16.0).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new("field value", (0, top - 44), style.clone()))?;
    area.draw(&Text::new("high", (right + 6, top + 8), style.clone()))?;
    area.draw(&Text::new("low", (right + 6, bottom - 8), style.clone()))?;
    area.draw(&Circle::new((left + 8, bottom + 30), DOT + 1, MISSING.filled()))?;
    area.draw(&Text::new("missing", (right + 6, bottom + 30), style.clone()))?;
    Ok(())
}
