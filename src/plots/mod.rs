//! Evaluation charts as PNG files (confusion matrix, ROC curve, reliability diagram, feature
//! importance, global SHAP bars and beeswarm), drawn with plotters in pure Rust with an embedded DejaVu Sans font, so they render
//! the same on a machine without any system font or fontconfig.
//!
//! Every file is written atomically: the chart is rendered to a hidden `.png` beside the target
//! (plotters' encoder picks the format from the file extension), then copied into an
//! [`AtomicFile`] and renamed into place; the render file is always removed.

mod calibration;
mod confusion;
mod group_rates;
mod importance;
mod roc;
mod shap;

pub use calibration::calibration_png;
pub use confusion::confusion_matrix_png;
pub use group_rates::{RateBar, RateChart, RatePanel, group_rates_png};
pub use importance::{TOP_FEATURES, feature_importance_png, ranked_bars_png};
pub use roc::roc_curve_png;
pub use shap::{BEESWARM_FIELDS, shap_bar_png, shap_beeswarm_png};

use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The family every chart uses; registered from the embedded TTF files on first use.
const FONT: &str = "sans-serif";
const REGULAR_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

const TITLE_SIZE: f64 = 30.0;
const AXIS_DESC_SIZE: f64 = 22.0;
const LABEL_SIZE: f64 = 18.0;

/// Chart colours: the model in a strong blue, references (the diagonal) in grey.
const MODEL_BLUE: RGBColor = RGBColor(31, 119, 180);
const REFERENCE_GREY: RGBColor = RGBColor(120, 120, 120);
/// Grid lines at labelled ticks (the lines between them are white, i.e. not drawn).
const GRID_GREY: RGBColor = RGBColor(225, 225, 225);

/// Legend samples: line length, and how far above the text's layout centre they sit so that they
/// line up with the middle of the lower-case letters.
const LEGEND_SAMPLE_WIDTH: u32 = 32;
const LEGEND_LIFT: i32 = 3;

fn legend_line(x: i32, y: i32, style: ShapeStyle) -> PathElement<(i32, i32)> {
    PathElement::new([(x, y - LEGEND_LIFT), (x + LEGEND_SAMPLE_WIDTH as i32, y - LEGEND_LIFT)], style)
}

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
pub(crate) type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;
/// A chart with a probability on both axes (ROC curve, reliability diagram).
type UnitChart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The grid the probability charts share: ticks every 0.1 on both axes, light grey lines.
fn draw_unit_mesh(chart: &mut UnitChart, x_desc: &str, y_desc: &str) -> DrawResult {
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(11)
        .y_labels(11)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style(label_font())
        .axis_desc_style(axis_desc_font())
        .light_line_style(WHITE)
        .bold_line_style(GRID_GREY)
        .draw()?;
    Ok(())
}

/// The dashed diagonal y = x: a classifier that guesses (ROC), perfect calibration (reliability).
fn draw_diagonal(chart: &mut UnitChart, label: &str) -> DrawResult {
    let diagonal = REFERENCE_GREY.stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new([(0.0, 0.0), (1.0, 1.0)], 10, 8, diagonal))?
        .label(label)
        .legend(move |(x, y)| legend_line(x, y, diagonal));
    Ok(())
}

/// The legend, boxed, at `position`.
fn draw_legend<'a, 'b: 'a>(chart: &mut UnitChart<'a, 'b>, position: SeriesLabelPosition) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .margin(20)
        .legend_area_size(LEGEND_SAMPLE_WIDTH + 15)
        .label_font(label_font())
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

pub(crate) fn ensure_fonts_registered() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let invalid = |name: &str| format!("the embedded font {name} cannot be parsed");
            register_font(FONT, FontStyle::Normal, REGULAR_TTF).map_err(|_| invalid("DejaVuSans.ttf"))?;
            register_font(FONT, FontStyle::Bold, BOLD_TTF).map_err(|_| invalid("DejaVuSans-Bold.ttf"))
        })
        .clone()
        .map_err(Error::Internal)
}

fn title_font() -> TextStyle<'static> {
    FontDesc::new(FontFamily::Name(FONT), TITLE_SIZE, FontStyle::Bold).into()
}

fn axis_desc_font() -> TextStyle<'static> {
    FontDesc::new(FontFamily::Name(FONT), AXIS_DESC_SIZE, FontStyle::Normal).into()
}

fn label_font() -> TextStyle<'static> {
    FontDesc::new(FontFamily::Name(FONT), LABEL_SIZE, FontStyle::Normal).into()
}

/// Renders `draw` on a white `size` canvas and writes the PNG to `path` atomically.
pub(crate) fn write_png(path: &Path, size: (u32, u32), draw: impl FnOnce(&Area) -> DrawResult) -> Result<()> {
    ensure_fonts_registered()?;
    let mut target = AtomicFile::create(path)?;
    let render = RenderFile::beside(target.temp_path());
    {
        let root = BitMapBackend::new(&render.0, size).into_drawing_area();
        let drawn = root.fill(&WHITE).map_err(Into::into).and_then(|()| draw(&root));
        drawn.and_then(|()| root.present().map_err(Into::into)).map_err(|e| drawing_failed(path, &*e))?;
    }
    let png = std::fs::read(&render.0).map_err(|e| Error::io(&render.0, e))?;
    target.write_all(&png).map_err(|e| Error::io(path, e))?;
    target.commit()
}

fn drawing_failed(path: &Path, e: &dyn std::error::Error) -> Error {
    Error::Internal(format!("drawing {}: {e}", path.display()))
}

/// The hidden `.png` plotters encodes into; removed when dropped, whatever happened.
struct RenderFile(PathBuf);

impl RenderFile {
    fn beside(temp: &Path) -> RenderFile {
        // A counter as well as the pid: charts may be drawn from several threads at once.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        RenderFile(temp.with_extension(format!("{n}.render.png")))
    }
}

impl Drop for RenderFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Rejects non-finite values (a caller's bug) with the chart and the value named.
fn require_finite(chart: &str, what: &str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::Internal(format!("cannot draw the {chart}: {what} is {value}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{self, ConfusionMatrix};

    /// Width and height from a PNG's IHDR chunk, after checking the 8-byte signature.
    pub(super) fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        (be(16), be(20))
    }

    fn only_file_is(dir: &Path, name: &str) -> (u32, u32) {
        let names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![name.to_string()], "no temp or render file may be left behind");
        png_size(&std::fs::read(dir.join(name)).unwrap())
    }

    fn example_scores() -> (Vec<bool>, Vec<f64>) {
        let y: Vec<bool> = (0..400).map(|i| (i * 37) % 100 < 45).collect();
        let p: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, &yi)| {
                let noise = ((i * 7919) % 101) as f64 / 100.0;
                (0.6 * noise + if yi { 0.35 } else { 0.05 }).min(1.0)
            })
            .collect();
        (y, p)
    }

    #[test]
    fn each_chart_is_a_png_of_the_declared_size_and_nothing_else_is_left() {
        let (y, p) = example_scores();
        type DrawChart<'a> = Box<dyn Fn(&Path) -> Result<()> + 'a>;
        let cases: [(&str, DrawChart); 4] = [
            (
                "confusion_matrix.png",
                Box::new(|path| {
                    confusion_matrix_png(
                        path,
                        &ConfusionMatrix { tn: 5210, fp: 830, fn_: 1204, tp: 2756 },
                        0.5,
                    )
                }),
            ),
            (
                "roc_curve.png",
                Box::new(|path| {
                    let curve = metrics::roc_curve(&y, &p);
                    roc_curve_png(path, &curve.fpr, &curve.tpr, metrics::roc_auc(&y, &p))
                }),
            ),
            ("calibration.png", Box::new(|path| calibration_png(path, &metrics::calibration(&y, &p)))),
            (
                "feature_importance.png",
                Box::new(|path| {
                    let features: Vec<(String, f64)> =
                        (0..30).map(|i| (format!("feature_{i:02}"), 1.0 / (1.0 + i as f64))).collect();
                    feature_importance_png(path, &features)
                }),
            ),
        ];
        for (name, draw) in cases {
            let dir = tempfile::tempdir().unwrap();
            draw(&dir.path().join(name)).unwrap();
            let (w, h) = only_file_is(dir.path(), name);
            assert!(w >= 800 && h >= 600, "{name}: {w}x{h}");
        }
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("roc_curve.png");
        let err = roc_curve_png(&path, &[0.0, 1.0], &[0.0, 1.0], 0.5).unwrap_err();
        assert!(err.to_string().contains("absent"), "{err}");
    }
}
