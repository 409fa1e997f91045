//! The SHAP pictures: the beeswarm (one dot per applicant and field, coloured by the value),
//! the dependence scatter (a field's φ against its value) and the waterfall from the base value
//! through each field's φ to the probability.

use super::*;

impl Chart {
    pub(super) fn beeswarm<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        fields: &[String],
        points: &[SwarmPoint],
        low: &str,
        high: &str,
    ) -> Drawn {
        let n = fields.len().max(1) as f64;
        let reach = points.iter().map(|p| p.phi.abs()).fold(0.0_f64, f64::max) * 1.05 + 1e-9;
        let (body, key) = root.split_vertically(self.size.1 - 34);
        let mut chart = ChartBuilder::on(&body)
            .caption(&self.title, font(TITLE))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(label_area(fields.iter().map(String::as_str)))
            .build_cartesian_2d(-reach..reach, 0.0..n)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_desc)
            .x_labels(5)
            .y_labels(0)
            .x_label_formatter(&|v| signed(*v))
            .label_style(font(LABEL))
            .axis_desc_style(font(DESC))
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new([(0.0, 0.0), (0.0, n)], 4, 4, GREY.stroke_width(1)))
            .map_err(err)?;
        let dots = points.iter().map(|p| {
            let y = n - p.row as f64 - 0.5 + 0.38 * p.jitter;
            let color = p.shade.map_or(RGBColor(170, 170, 170), shade);
            Circle::new((p.phi, y), 2, color.mix(0.75).filled())
        });
        chart.draw_series(dots).map_err(err)?;
        for (i, f) in fields.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(-reach, n - i as f64 - 0.5));
            root.draw(&Text::new(
                f.clone(),
                (px - 6, py),
                font(LABEL).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(err)?;
        }
        // The colour key: low → high value, as a strip of the gradient between two words.
        let (w, _) = key.dim_in_pixel();
        let (x0, x1) = (w as i32 / 2 - 120, w as i32 / 2 + 120);
        for k in 0..=48 {
            let t = k as f64 / 48.0;
            let x = x0 + (t * 240.0) as i32;
            key.draw(&Rectangle::new([(x, 8), (x + 6, 22)], shade(t).filled())).map_err(err)?;
        }
        key.draw(&Text::new(
            low.to_string(),
            (x0 - 8, 15),
            font(LABEL).pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(err)?;
        key.draw(&Text::new(
            high.to_string(),
            (x1 + 14, 15),
            font(LABEL).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err)?;
        Ok(())
    }

    pub(super) fn scatter<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        points: &[(f64, f64)],
    ) -> Drawn {
        let finite = || points.iter().filter(|p| p.0.is_finite() && p.1.is_finite());
        let (mut x0, mut x1) =
            finite().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| (a.0.min(p.0), a.1.max(p.0)));
        if x0.partial_cmp(&x1) != Some(std::cmp::Ordering::Less) {
            (x0, x1) = (x0.min(0.0) - 1.0, x1.max(0.0) + 1.0);
        }
        let reach = finite().map(|p| p.1.abs()).fold(0.0_f64, f64::max) * 1.1 + 1e-9;
        let pad = (x1 - x0) * 0.03;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, font(TITLE - 3.0))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0 - pad..x1 + pad, -reach..reach)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_desc)
            .y_desc(&self.y_desc)
            .x_labels(5)
            .y_labels(7)
            .x_label_formatter(&|v| short_number(*v))
            .y_label_formatter(&|v| signed(*v))
            .label_style(font(LABEL))
            .axis_desc_style(font(DESC - 1.0))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                [(x0 - pad, 0.0), (x1 + pad, 0.0)],
                4,
                4,
                GREY.stroke_width(1),
            ))
            .map_err(err)?;
        chart.draw_series(finite().map(|&p| Circle::new(p, 2, BLUE.mix(0.45).filled()))).map_err(err)?;
        Ok(())
    }

    pub(super) fn waterfall<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        base: &(String, f64),
        steps: &[(String, f64)],
        total: &(String, f64),
        threshold: &(String, f64),
    ) -> Drawn {
        let rows = steps.len() + 2;
        let n = rows as f64;
        let mut at = base.1;
        let mut spans = vec![(base.0.clone(), 0.0, base.1, GREY)];
        for (label, d) in steps {
            spans.push((label.clone(), at, at + d, if *d >= 0.0 { GREEN } else { RED }));
            at += d;
        }
        spans.push((total.0.clone(), 0.0, total.1, BLUE));
        let hi = spans.iter().map(|s| s.1.max(s.2)).fold(threshold.1, f64::max);
        let hi = (hi + 0.08).min(1.08);
        let labels: Vec<String> = spans.iter().map(|s| s.0.clone()).collect();
        let (body, key) = with_key(root, self.size, true);
        let mut chart = ChartBuilder::on(&body)
            .caption(&self.title, font(TITLE))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(label_area(labels.iter().map(String::as_str)))
            .build_cartesian_2d(0.0..hi, 0.0..n)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_desc)
            .x_labels(11)
            .y_labels(0)
            .x_label_formatter(&|v| format!("{v:.1}"))
            .label_style(font(LABEL))
            .axis_desc_style(font(DESC))
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        for (i, (label, from, to, color)) in spans.iter().enumerate() {
            let y = n - i as f64 - 1.0;
            chart
                .draw_series([Rectangle::new([(*from, y + 0.2), (*to, y + 0.8)], color.mix(0.85).filled())])
                .map_err(err)?;
            let value =
                if i == 0 || i + 1 == rows { format!("{to:.3}") } else { format!("{:+.3}", to - from) };
            let (px, py) = chart.backend_coord(&(from.max(*to), y + 0.5));
            root.draw(&Text::new(
                value,
                (px + 5, py),
                font(LABEL - 1.0).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
            let (lx, ly) = chart.backend_coord(&(0.0, y + 0.5));
            root.draw(&Text::new(
                label.clone(),
                (lx - 6, ly),
                font(LABEL).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(err)?;
        }
        let style = BLACK.stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new([(threshold.1, 0.0), (threshold.1, n)], 6, 5, style))
            .map_err(err)?;
        if let Some(key) = key {
            draw_key(&key, &[(Mark::Dashed(BLACK), format!("{} {:.2}", threshold.0, threshold.1))])?;
        }
        Ok(())
    }
}

/// Blue (low) through purple to red (high), SHAP's beeswarm convention.
fn shade(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(mix(30, 230), mix(136, 20), mix(229, 80))
}
