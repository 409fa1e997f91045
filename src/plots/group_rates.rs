//! A rate per group as horizontal bars with interval whiskers, groups listed under their
//! grouping's heading, a dashed line at the overall rate; groups not judged drawn in grey.

use super::{
    Area, DrawResult, FONT, GRID_GREY, LEGEND_SAMPLE_WIDTH, MODEL_BLUE, REFERENCE_GREY, axis_desc_font,
    label_font, legend_line, require_finite, title_font, write_png,
};
use crate::error::Result;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const WIDTH: u32 = 1200;
const ROW_HEIGHT: u32 = 34;
const CHROME_HEIGHT: u32 = 230;
const HEADING_BAND: RGBColor = RGBColor(240, 240, 240);

/// One group's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct RateBar {
    pub label: String,
    /// NaN: no bar (the rate is undefined).
    pub value: f64,
    pub ci: Option<[f64; 2]>,
    /// Judged groups are blue; listed-only ones grey.
    pub judged: bool,
}

/// A grouping's bars under its heading.
#[derive(Debug, Clone, PartialEq)]
pub struct RatePanel {
    pub title: String,
    pub bars: Vec<RateBar>,
}

/// The chart's words (the caller's language).
#[derive(Debug, Clone, PartialEq)]
pub struct RateChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    /// Legend text of the overall line, e.g. `overall 0.553`.
    pub overall_label: &'a str,
    pub overall: f64,
    /// Legend text of the grey bars.
    pub not_judged_label: &'a str,
}

/// Writes the chart of `panels` to `path` as a PNG (rates within [0, 1]).
pub fn group_rates_png(path: &Path, chart: &RateChart, panels: &[RatePanel]) -> Result<()> {
    require_finite("group rate chart", "the overall rate", chart.overall)?;
    for bar in panels.iter().flat_map(|p| &p.bars) {
        if let Some([lo, hi]) = bar.ci {
            for v in [lo, hi].into_iter().filter(|v| !v.is_nan()) {
                require_finite("group rate chart", &format!("the interval of {}", bar.label), v)?;
            }
        }
    }
    let rows = layout(panels);
    let height = (CHROME_HEIGHT + ROW_HEIGHT * rows.len() as u32).max(500);
    write_png(path, (WIDTH, height), |root| draw(root, chart, &rows))
}

/// A chart row, top to bottom.
enum Row<'a> {
    Heading(&'a str),
    Bar(&'a RateBar),
    /// Empty rows at the bottom keep the legend off the last bars.
    Spacer,
}

const LEGEND_ROWS: usize = 2;

fn layout(panels: &[RatePanel]) -> Vec<Row<'_>> {
    let mut rows = Vec::new();
    for p in panels {
        rows.push(Row::Heading(&p.title));
        rows.extend(p.bars.iter().map(Row::Bar));
    }
    rows.extend(std::iter::repeat_with(|| Row::Spacer).take(LEGEND_ROWS));
    rows
}

fn name_area_width(rows: &[Row]) -> u32 {
    let longest = rows
        .iter()
        .map(|r| match r {
            Row::Bar(b) => b.label.chars().count(),
            Row::Heading(_) | Row::Spacer => 0,
        })
        .max()
        .unwrap_or(0) as f64;
    (longest * super::LABEL_SIZE * 0.62) as u32 + 30
}

fn draw(root: &Area, words: &RateChart, rows: &[Row]) -> DrawResult {
    let n = rows.len() as u32;
    // Row 0 is drawn at the bottom: the first row gets the highest segment.
    let row_of = |k: usize| n - 1 - k as u32;
    let label_of = |value: &SegmentValue<u32>| match value {
        SegmentValue::CenterOf(r) if *r < n => match &rows[(n - 1 - r) as usize] {
            Row::Bar(b) => b.label.clone(),
            Row::Heading(_) | Row::Spacer => String::new(),
        },
        _ => String::new(),
    };
    let mut chart = ChartBuilder::on(root)
        .caption(words.title, title_font())
        .margin(25)
        .margin_right(40)
        .x_label_area_size(75)
        .y_label_area_size(name_area_width(rows))
        .build_cartesian_2d(0.0..1.0, (0u32..n.max(1) - 1).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(words.x_desc)
        .x_labels(11)
        .y_labels(n.max(1) as usize)
        .y_label_formatter(&label_of)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .label_style(label_font())
        .axis_desc_style(axis_desc_font())
        .light_line_style(WHITE)
        .bold_line_style(GRID_GREY)
        .draw()?;

    // Headings: bold, on a light band across the plot, so each grouping reads as a block.
    let headings: Vec<(u32, &str)> = rows
        .iter()
        .enumerate()
        .filter_map(|(k, r)| match r {
            Row::Heading(t) => Some((row_of(k), *t)),
            _ => None,
        })
        .collect();
    chart.draw_series(headings.iter().map(|&(row, _)| {
        Rectangle::new(
            [(0.0, SegmentValue::Exact(row)), (1.0, SegmentValue::Exact(row + 1))],
            HEADING_BAND.filled(),
        )
    }))?;
    let heading_style = FontDesc::new(FontFamily::Name(FONT), super::LABEL_SIZE, FontStyle::Bold)
        .into_text_style(root)
        .pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(headings.iter().map(|&(row, title)| {
        EmptyElement::at((0.0, SegmentValue::CenterOf(row)))
            + Text::new(title.to_string(), (8, 0), heading_style.clone())
    }))?;

    let bars: Vec<(u32, &RateBar)> = rows
        .iter()
        .enumerate()
        .filter_map(|(k, r)| match r {
            Row::Bar(b) if !b.value.is_nan() => Some((row_of(k), *b)),
            _ => None,
        })
        .collect();
    let colour = |b: &RateBar| if b.judged { MODEL_BLUE.mix(0.75) } else { REFERENCE_GREY.mix(0.45) };
    chart.draw_series(bars.iter().map(|&(row, b)| {
        let mut rect = Rectangle::new(
            [(0.0, SegmentValue::Exact(row)), (b.value, SegmentValue::Exact(row + 1))],
            colour(b).filled(),
        );
        rect.set_margin(6, 6, 0, 0);
        rect
    }))?;
    let whisker = BLACK.stroke_width(2);
    chart.draw_series(bars.iter().filter_map(|&(row, b)| {
        let [lo, hi] = b.ci?;
        (!lo.is_nan() && !hi.is_nan()).then(|| {
            PathElement::new([(lo, SegmentValue::CenterOf(row)), (hi, SegmentValue::CenterOf(row))], whisker)
        })
    }))?;
    // End caps: short vertical ticks at both ends of each interval.
    chart.draw_series(bars.iter().filter_map(|&(row, b)| b.ci.map(|ci| (row, ci))).flat_map(
        |(row, [lo, hi])| {
            [lo, hi].into_iter().filter(|v| !v.is_nan()).map(move |x| {
                EmptyElement::at((x, SegmentValue::CenterOf(row)))
                    + PathElement::new([(0, -7), (0, 7)], BLACK.stroke_width(2))
            })
        },
    ))?;
    let value_style = TextStyle::from((FONT, 15.0).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(bars.iter().map(|&(row, b)| {
        let end = b.ci.map_or(b.value, |[_, hi]| if hi.is_nan() { b.value } else { hi.max(b.value) });
        EmptyElement::at((end, SegmentValue::CenterOf(row)))
            + Text::new(format!("{:.3}", b.value), (8, 0), value_style.clone())
    }))?;

    let overall = REFERENCE_GREY.stroke_width(2);
    let top = SegmentValue::Exact(n);
    chart
        .draw_series(DashedLineSeries::new(
            [(words.overall, SegmentValue::Exact(0)), (words.overall, top)],
            8,
            6,
            overall,
        ))?
        .label(words.overall_label)
        .legend(move |(x, y)| legend_line(x, y, overall));
    let grey = REFERENCE_GREY.mix(0.45).filled();
    chart
        .draw_series(std::iter::empty::<Rectangle<(f64, SegmentValue<u32>)>>())?
        .label(words.not_judged_label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 9), (x + LEGEND_SAMPLE_WIDTH as i32, y + 3)], grey));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .margin(15)
        .legend_area_size(LEGEND_SAMPLE_WIDTH + 15)
        .label_font(label_font())
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
