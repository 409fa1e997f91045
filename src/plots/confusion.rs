//! The confusion matrix at the decision threshold as a 2×2 heat map: actual class in rows
//! (not approved on top, as sklearn's ConfusionMatrixDisplay), predicted class in columns, each
//! cell with its count, its name and its rate within the actual class (sklearn's
//! `normalize="true"`: of the rows that were not approved, the share the model approved), which is
//! what an analyst reads; the shade follows that rate.

use super::{Area, DrawResult, FONT, axis_desc_font, label_font, require_finite, title_font, write_png};
use crate::error::Result;
use crate::metrics::ConfusionMatrix;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const SIZE: (u32, u32) = (900, 800);

/// Writes the confusion matrix `cm` (decided at `threshold`) to `path` as a PNG.
pub fn confusion_matrix_png(path: &Path, cm: &ConfusionMatrix, threshold: f64) -> Result<()> {
    require_finite("confusion matrix", "the threshold", threshold)?;
    write_png(path, SIZE, |root| draw(root, cm, threshold))
}

struct Cell {
    name: &'static str,
    actual: bool,
    predicted: bool,
    count: u64,
}

fn cells(cm: &ConfusionMatrix) -> [Cell; 4] {
    [
        Cell { name: "true negatives", actual: false, predicted: false, count: cm.tn },
        Cell { name: "false positives", actual: false, predicted: true, count: cm.fp },
        Cell { name: "false negatives", actual: true, predicted: false, count: cm.fn_ },
        Cell { name: "true positives", actual: true, predicted: true, count: cm.tp },
    ]
}

/// Tick label of a row or column: columns (predicted) are 0, 1 left to right; rows (actual) have
/// class 0 on top, i.e. in segment 1.
fn class_label(value: &SegmentValue<u32>, top_is_negative: bool) -> String {
    let SegmentValue::CenterOf(segment) = value else { return String::new() };
    let positive = if top_is_negative { *segment == 0 } else { *segment == 1 };
    if positive { "approved (1)".into() } else { "not approved (0)".into() }
}

/// (column, row) segment of a cell (actual class 0 in the upper row).
fn segment(cell: &Cell) -> (u32, u32) {
    (u32::from(cell.predicted), u32::from(!cell.actual))
}

/// White to dark blue with the cell's rate within its actual class.
fn shade(fraction: f64) -> RGBColor {
    let mix = |light: u8, dark: u8| {
        (f64::from(light) + (f64::from(dark) - f64::from(light)) * fraction).round() as u8
    };
    RGBColor(mix(240, 8), mix(246, 48), mix(252, 107))
}

fn draw(root: &Area, cm: &ConfusionMatrix, threshold: f64) -> DrawResult {
    let mut chart = ChartBuilder::on(root)
        .caption(format!("Confusion matrix at threshold {threshold:.2}"), title_font())
        .margin(25)
        .margin_right(45)
        .x_label_area_size(90)
        .y_label_area_size(230)
        // An inclusive u32 range: 0..1 is the two segments 0 and 1.
        .build_cartesian_2d((0u32..1).into_segmented(), (0u32..1).into_segmented())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("Predicted class")
        .y_desc("Actual class")
        .x_label_formatter(&|v| class_label(v, false))
        .y_label_formatter(&|v| class_label(v, true))
        .label_style(label_font())
        .axis_desc_style(axis_desc_font())
        .draw()?;

    for cell in cells(cm) {
        let (x, y) = segment(&cell);
        let class_total = if cell.actual { cm.tp + cm.fn_ } else { cm.tn + cm.fp };
        let fraction = cell.count as f64 / class_total.max(1) as f64;
        let (from, to) = (
            (SegmentValue::Exact(x), SegmentValue::Exact(y)),
            (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
        );
        chart.draw_series(std::iter::once(Rectangle::new([from, to], shade(fraction).filled())))?;
        let ink = if fraction > 0.5 { WHITE } else { BLACK };
        let centred = |size: f64| {
            TextStyle::from((FONT, size).into_font()).color(&ink).pos(Pos::new(HPos::Center, VPos::Center))
        };
        let class = if cell.actual { "approved" } else { "not approved" };
        let rate = format!("{:.1}% of actual {class}", 100.0 * fraction);
        chart.draw_series(std::iter::once(
            EmptyElement::at((SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)))
                + Text::new(cell.count.to_string(), (0, -30), centred(40.0))
                + Text::new(cell.name, (0, 12), centred(19.0))
                + Text::new(rate, (0, 40), centred(19.0)),
        ))?;
    }
    Ok(())
}
