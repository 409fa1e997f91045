//! The report's charts as data, drawn by one plotters routine per kind onto any backend: inline
//! SVG for the HTML report, PNG files for the Markdown one (so both show the same picture).

use crate::error::{Error, Result};
use crate::plots;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

mod shap;

type Drawn = std::result::Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(230, 110, 20);
const GREEN: RGBColor = RGBColor(44, 150, 44);
const RED: RGBColor = RGBColor(205, 39, 40);
const GREY: RGBColor = RGBColor(110, 110, 110);
const GRID: RGBColor = RGBColor(225, 225, 225);
/// Series colours in order.
pub const PALETTE: [RGBColor; 4] = [BLUE, ORANGE, GREEN, RGBColor(148, 103, 189)];

const TITLE: f64 = 19.0;
const LABEL: f64 = 13.0;
const DESC: f64 = 14.0;

fn font(size: f64) -> TextStyle<'static> {
    ("sans-serif", size).into_font().into()
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// A reference (chance, perfect calibration): grey and dashed.
    pub reference: bool,
    /// Mark each point with a dot (a few points, e.g. calibration deciles).
    pub dots: bool,
}

/// One horizontal bar, with an optional interval and a note at its end.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub ci: Option<[f64; 2]>,
    /// Drawn pale (e.g. a group too small to judge).
    pub muted: bool,
}

/// A histogram per series over shared bins (densities, so groups of different sizes compare).
#[derive(Debug, Clone)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub series: Vec<(String, Vec<f64>)>,
}

/// One point of a beeswarm: field row, SHAP value, vertical jitter in [-1, 1], colour in [0, 1]
/// (the value's rank within its field; None when missing).
#[derive(Debug, Clone, Copy)]
pub struct SwarmPoint {
    pub row: usize,
    pub phi: f64,
    pub jitter: f64,
    pub shade: Option<f64>,
}

/// What a chart shows.
#[derive(Debug, Clone)]
pub enum Kind {
    Lines {
        series: Vec<Series>,
        x: (f64, f64),
        y: (f64, f64),
        legend_upper: bool,
    },
    Bars {
        bars: Vec<Bar>,
        reference: Option<(String, f64)>,
        percent: bool,
    },
    Histogram(Histogram),
    Beeswarm {
        fields: Vec<String>,
        points: Vec<SwarmPoint>,
        low: String,
        high: String,
    },
    Scatter {
        points: Vec<(f64, f64)>,
    },
    /// From `base` through each (label, delta) to the final value; `threshold` as a line.
    Waterfall {
        base: (String, f64),
        steps: Vec<(String, f64)>,
        total: (String, f64),
        threshold: (String, f64),
    },
}

/// A chart: a title, axis descriptions and what it shows.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File stem of its PNG in the Markdown report.
    pub name: String,
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub kind: Kind,
    pub size: (u32, u32),
}

impl Chart {
    /// The name as a file stem and an HTML id ([`super::doc::slug`]).
    pub fn slug(&self) -> String {
        super::doc::slug(&self.name)
    }

    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> Result<String> {
        plots::ensure_fonts_registered()?;
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size).into_drawing_area();
            self.draw(&root).map_err(|e| Error::Internal(format!("drawing {}: {e}", self.name)))?;
            root.present().map_err(|e| Error::Internal(format!("drawing {}: {e}", self.name)))?;
        }
        // plotters writes a standalone document's root element; inline it needs no XML prolog.
        let start = out.find("<svg").unwrap_or(0);
        Ok(out[start..].to_string())
    }

    /// The chart as a PNG file (written atomically).
    pub fn png(&self, path: &Path) -> Result<()> {
        plots::write_png(path, self.size, |root| self.draw(root).map_err(Into::into))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        root.fill(&WHITE).map_err(err)?;
        match &self.kind {
            Kind::Lines { series, x, y, legend_upper } => self.lines(root, series, *x, *y, *legend_upper),
            Kind::Bars { bars, reference, percent } => self.bars(root, bars, reference.as_ref(), *percent),
            Kind::Histogram(h) => self.histogram(root, h),
            Kind::Beeswarm { fields, points, low, high } => self.beeswarm(root, fields, points, low, high),
            Kind::Scatter { points } => self.scatter(root, points),
            Kind::Waterfall { base, steps, total, threshold } => {
                self.waterfall(root, base, steps, total, threshold)
            }
        }
    }

    fn lines<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        series: &[Series],
        x: (f64, f64),
        y: (f64, f64),
        legend_upper: bool,
    ) -> Drawn {
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, font(TITLE))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(62)
            .build_cartesian_2d(x.0..x.1, y.0..y.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_desc)
            .y_desc(&self.y_desc)
            .x_labels(11)
            .y_labels(11)
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(font(LABEL))
            .axis_desc_style(font(DESC))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let color = if s.reference { GREY } else { PALETTE[i % PALETTE.len()] };
            let style = color.stroke_width(if s.reference { 1 } else { 2 });
            let anno = if s.reference {
                chart
                    .draw_series(DashedLineSeries::new(s.points.iter().copied(), 6, 5, style))
                    .map_err(err)?
            } else {
                chart.draw_series(LineSeries::new(s.points.iter().copied(), style)).map_err(err)?
            };
            anno.label(&s.label).legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
            if s.dots {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(if legend_upper {
                SeriesLabelPosition::UpperLeft
            } else {
                SeriesLabelPosition::LowerRight
            })
            .margin(12)
            .label_font(font(LABEL))
            .background_style(WHITE.mix(0.9))
            .border_style(GREY)
            .draw()
            .map_err(err)?;
        Ok(())
    }

    /// Horizontal bars, one per row, labels drawn at the left by hand (any text fits).
    fn bars<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        bars: &[Bar],
        reference: Option<&(String, f64)>,
        percent: bool,
    ) -> Drawn {
        let n = bars.len().max(1) as f64;
        let hi = bars.iter().map(|b| b.ci.map_or(b.value, |c| c[1]).max(b.value)).fold(0.0_f64, f64::max);
        let lo = bars.iter().map(|b| b.value.min(0.0)).fold(0.0_f64, f64::min);
        let hi = hi.max(reference.map_or(0.0, |r| r.1)) * 1.12 + 1e-9;
        let lo = if lo < 0.0 { lo * 1.12 } else { 0.0 };
        let label_width = label_area(bars.iter().map(|b| b.label.as_str()));
        let (body, key) = with_key(root, self.size, reference.is_some());
        let mut chart = ChartBuilder::on(&body)
            .caption(&self.title, font(TITLE))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(label_width)
            .build_cartesian_2d(lo..hi, 0.0..n)
            .map_err(err)?;
        let fmt = move |v: &f64| if percent { format!("{:.0}%", v * 100.0) } else { short_number(*v) };
        chart
            .configure_mesh()
            .x_desc(&self.x_desc)
            .x_labels(8)
            .y_labels(0)
            .x_label_formatter(&fmt)
            .label_style(font(LABEL))
            .axis_desc_style(font(DESC))
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        for (i, b) in bars.iter().enumerate() {
            let y = n - i as f64 - 1.0;
            let color = if b.value < 0.0 { RED } else { BLUE };
            let fill = if b.muted { color.mix(0.3).filled() } else { color.mix(0.85).filled() };
            chart.draw_series([Rectangle::new([(0.0, y + 0.18), (b.value, y + 0.82)], fill)]).map_err(err)?;
            if let Some([l, h]) = b.ci {
                let mid = y + 0.5;
                let whisker = BLACK.stroke_width(1);
                chart
                    .draw_series([
                        PathElement::new([(l, mid), (h, mid)], whisker),
                        PathElement::new([(l, mid - 0.18), (l, mid + 0.18)], whisker),
                        PathElement::new([(h, mid - 0.18), (h, mid + 0.18)], whisker),
                    ])
                    .map_err(err)?;
            }
            let (px, py) = chart.backend_coord(&(lo, y + 0.5));
            root.draw(&Text::new(
                b.label.clone(),
                (px - 6, py),
                font(LABEL).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(err)?;
        }
        if let (Some((label, v)), Some(key)) = (reference, key) {
            let style = GREY.stroke_width(2);
            chart.draw_series(DashedLineSeries::new([(*v, 0.0), (*v, n)], 6, 5, style)).map_err(err)?;
            draw_key(&key, &[(Mark::Dashed(GREY), format!("{label} {}", fmt(v)))])?;
        }
        Ok(())
    }

    fn histogram<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, h: &Histogram) -> Drawn {
        let (x0, x1) = (h.edges[0], *h.edges.last().expect("bins have edges"));
        let top = h.series.iter().flat_map(|(_, d)| d.iter().copied()).fold(0.0_f64, f64::max) * 1.05 + 1e-12;
        let (body, key) = with_key(root, self.size, true);
        let mut chart = ChartBuilder::on(&body)
            .caption(&self.title, font(TITLE - 3.0))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(20)
            .build_cartesian_2d(x0..x1, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_desc)
            .x_labels(5)
            .y_labels(0)
            .x_label_formatter(&|v| short_number(*v))
            .label_style(font(LABEL))
            .axis_desc_style(font(DESC - 1.0))
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        for (i, (_, density)) in h.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let rects = h
                .edges
                .windows(2)
                .zip(density)
                .map(|(e, &d)| Rectangle::new([(e[0], 0.0), (e[1], d)], color.mix(0.4).filled()));
            chart.draw_series(rects).map_err(err)?;
        }
        let items: Vec<(Mark, String)> = h
            .series
            .iter()
            .enumerate()
            .map(|(i, (label, _))| (Mark::Fill(PALETTE[i % PALETTE.len()]), label.clone()))
            .collect();
        if let Some(key) = key {
            draw_key(&key, &items)?;
        }
        Ok(())
    }
}

/// How a key entry is drawn.
enum Mark {
    Dashed(RGBColor),
    Fill(RGBColor),
}

/// Height of the key strip under a chart.
const KEY_HEIGHT: u32 = 26;

/// The chart's body and, when `key`, a strip under it for the key: a key inside the plot would
/// cover bars somewhere, whatever corner it is put in.
fn with_key<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    size: (u32, u32),
    key: bool,
) -> (DrawingArea<DB, Shift>, Option<DrawingArea<DB, Shift>>) {
    if key {
        let (body, strip) = root.split_vertically(size.1.saturating_sub(KEY_HEIGHT));
        (body, Some(strip))
    } else {
        (root.clone(), None)
    }
}

/// The key entries side by side, centred in the strip.
fn draw_key<DB: DrawingBackend>(strip: &DrawingArea<DB, Shift>, items: &[(Mark, String)]) -> Drawn {
    let (w, _) = strip.dim_in_pixel();
    let widths: Vec<i32> =
        items.iter().map(|(_, l)| 30 + (l.chars().count() as f64 * LABEL * 0.6) as i32 + 24).collect();
    let mut x = (w as i32 - widths.iter().sum::<i32>()).max(0) / 2;
    let mid = KEY_HEIGHT as i32 / 2;
    for ((mark, label), width) in items.iter().zip(widths) {
        match mark {
            Mark::Dashed(c) => {
                for k in 0..3 {
                    strip
                        .draw(&PathElement::new([(x + k * 9, mid), (x + k * 9 + 5, mid)], c.stroke_width(2)))
                        .map_err(err)?;
                }
            }
            Mark::Fill(c) => strip
                .draw(&Rectangle::new([(x, mid - 6), (x + 22, mid + 6)], c.mix(0.5).filled()))
                .map_err(err)?,
        }
        strip
            .draw(&Text::new(
                label.clone(),
                (x + 30, mid),
                font(LABEL).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
        x += width;
    }
    Ok(())
}

/// Pixels for the longest of `labels` at the label size (about 0.6 em per character).
fn label_area<'a>(labels: impl Iterator<Item = &'a str>) -> u32 {
    let longest = labels.map(|l| l.chars().count()).max().unwrap_or(4);
    (longest as f64 * LABEL * 0.6 + 16.0).clamp(60.0, 330.0) as u32
}

/// A signed tick, "0" at zero (not "-0.00").
fn signed(v: f64) -> String {
    if v.abs() < 5e-3 { "0".into() } else { format!("{v:+.2}") }
}

/// 1234567 → "1.2M", 25000 → "25k", 0.35 → "0.35": axis ticks that never collide.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_draws_to_svg_with_its_title() {
        let chart = |kind| Chart {
            name: "t".into(),
            title: "Título & <x>".into(),
            x_desc: "x".into(),
            y_desc: "y".into(),
            kind,
            size: (700, 420),
        };
        let kinds = vec![
            Kind::Lines {
                series: vec![Series {
                    label: "a".into(),
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                    reference: false,
                    dots: true,
                }],
                x: (0.0, 1.0),
                y: (0.0, 1.0),
                legend_upper: false,
            },
            Kind::Bars {
                bars: vec![Bar { label: "g".into(), value: 0.4, ci: Some([0.3, 0.5]), muted: false }],
                reference: Some(("all".into(), 0.35)),
                percent: true,
            },
            Kind::Histogram(Histogram {
                edges: vec![0.0, 1.0, 2.0],
                series: vec![("a".into(), vec![0.2, 0.8])],
            }),
            Kind::Beeswarm {
                fields: vec!["f".into()],
                points: vec![SwarmPoint { row: 0, phi: -0.1, jitter: 0.3, shade: Some(0.2) }],
                low: "low".into(),
                high: "high".into(),
            },
            Kind::Scatter { points: vec![(1.0, 0.1), (2.0, -0.1)] },
            Kind::Waterfall {
                base: ("base".into(), 0.6),
                steps: vec![("f".into(), -0.3)],
                total: ("P".into(), 0.3),
                threshold: ("cut-off".into(), 0.5),
            },
        ];
        for kind in kinds {
            let svg = chart(kind).svg().unwrap();
            assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
            assert!(svg.contains("Título &amp; &lt;x&gt;"), "the title is escaped XML text");
        }
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(1_234_567.0), "1.2M");
        assert_eq!(short_number(25_000.0), "25k");
        assert_eq!(short_number(0.35), "0.35");
        assert_eq!(short_number(12.0), "12");
    }
}
