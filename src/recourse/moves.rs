//! Where each actionable field may go: the candidate values (one on each side of every forest
//! threshold that can change the field's effect, mapped back to the field's own values, at a
//! resolution a person can type), kept to the valid range, the training range and the field's
//! direction, and priced in training-distribution percentiles.

use crate::features::{Column, Encoder, GroupStats};
use crate::forest::Forest;
use crate::schema::{Group, Kind, Recourse, Schema, Unit};

/// Changing an unordered category has no percentile distance: it costs as much as moving from the
/// median to an extreme.
pub const CATEGORY_COST: f64 = 50.0;

/// The forest's distinct finite split thresholds per encoded column (the model's, computed once).
pub fn thresholds(forest: &Forest) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new(); forest.n_features];
    for tree in &forest.trees {
        for node in tree.nodes.iter().filter(|n| !n.is_leaf()) {
            // f64::MAX sends every present value left: no finite value crosses it.
            if node.threshold.is_finite() && node.threshold < f64::MAX {
                out[node.feature as usize].push(node.threshold);
            }
        }
    }
    for t in &mut out {
        t.sort_by(f64::total_cmp);
        t.dedup();
    }
    out
}

/// One direction a field may move in, values in order of increasing cost (nearest first).
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub field: usize,
    pub values: Vec<f64>,
    pub costs: Vec<f64>,
}

/// The fields each encoded column depends on (a derived ratio depends on two).
pub fn dependencies(schema: &Schema, columns: &[Column]) -> Vec<Vec<usize>> {
    columns
        .iter()
        .map(|c| match *c {
            Column::Value(i) | Column::Rank(i) | Column::OneHot(i, _) => vec![i],
            Column::Derived(d) => {
                let spec = &schema.derived()[d];
                let mut deps: Vec<usize> = [&spec.numerator, &spec.denominator]
                    .iter()
                    .filter_map(|n| schema.field_index(n))
                    .collect();
                deps.dedup();
                deps
            }
        })
        .collect()
}

/// The sides every actionable field of this applicant may move along. A field moves only if the
/// schema lets it (increase, decrease or any), the model uses it, training saw it, and it is
/// declared (a missing value has no direction to move in).
pub fn sides(encoder: &Encoder, thresholds: &[Vec<f64>], values: &[f64]) -> Vec<Side> {
    let schema = encoder.schema();
    let mut out = Vec::new();
    for (i, field) in schema.fields().enumerate() {
        let direction = field.recourse;
        if matches!(direction, Recourse::Immutable | Recourse::Context) || values[i].is_nan() {
            continue;
        }
        let Some(p) = encoder.groups().iter().position(|&g| g == Group::Field(i)) else { continue };
        let stats = encoder.stats(p);
        if stats.min.is_nan() {
            continue;
        }
        let current = values[i];
        if let Kind::Category(c) = &field.kind {
            // Unordered: every category training saw is its own one-step side.
            for k in (0..c.len()).filter(|&k| k as f64 != current) {
                if stats.category_counts.get(k).copied().unwrap_or(0) > 0 {
                    out.push(Side { field: i, values: vec![k as f64], costs: vec![CATEGORY_COST] });
                }
            }
            continue;
        }
        let (lo, hi) = allowed_range(&field.kind, stats);
        let (mut up, mut down) = match field.kind {
            Kind::Ordered(_) | Kind::Boolean => {
                let all: Vec<f64> = (lo.ceil() as i64..=hi.floor() as i64).map(|k| k as f64).collect();
                (all.clone(), all)
            }
            _ => breakpoint_values(encoder, thresholds, values, i),
        };
        let step = resolution(schema, i, stats);
        let price = |x: f64| (percentile(stats, x) - percentile(stats, current)).abs();
        // A value past the last threshold but beyond the training range by rounding: the
        // range's own end is on the same side of the threshold.
        for x in &mut up {
            if *x > hi && *x - step < hi {
                *x = hi;
            }
        }
        for x in &mut down {
            if *x < lo && *x + step > lo {
                *x = lo;
            }
        }
        up.retain(|&x| x.is_finite() && x >= lo && x <= hi && x > current);
        down.retain(|&x| x.is_finite() && x >= lo && x <= hi && x < current);
        up.sort_by(f64::total_cmp);
        down.sort_by(|a, b| b.total_cmp(a));
        for (wanted, mut side) in [(Recourse::Increase, up), (Recourse::Decrease, down)] {
            if direction != wanted && direction != Recourse::Any {
                continue;
            }
            side.dedup_by(|a, b| (*a - *b).abs() < step * 1e-6);
            if !side.is_empty() {
                let costs = side.iter().map(|&x| price(x)).collect();
                out.push(Side { field: i, values: side, costs });
            }
        }
    }
    out
}

/// Where a field may go: the schema's valid range within the range training saw.
fn allowed_range(kind: &Kind, stats: &GroupStats) -> (f64, f64) {
    let (valid_lo, valid_hi) = match kind {
        Kind::Number { min, max } => (*min, *max),
        Kind::Integer { min, max } => (*min as f64, *max as f64),
        Kind::Category(c) | Kind::Ordered(c) => (0.0, c.len() as f64 - 1.0),
        Kind::Boolean => (0.0, 1.0),
        Kind::Text => (f64::NAN, f64::NAN),
    };
    (valid_lo.max(stats.min), valid_hi.min(stats.max))
}

/// The values of field `i` on each side of every threshold that can change what the forest sees:
/// its own column's thresholds, and those of derived ratios it enters, solved for the field with
/// the applicant's other values fixed. Returns the candidates for moving up and for moving down:
/// going up, the cheapest value past an own threshold `t` (`x <= t` goes left) is the first one
/// above it; going down, `t` itself or the last one below. A ratio's solved threshold may fall
/// either way by rounding, so both of its neighbours are kept.
fn breakpoint_values(
    encoder: &Encoder,
    thresholds: &[Vec<f64>],
    values: &[f64],
    i: usize,
) -> (Vec<f64>, Vec<f64>) {
    let schema = encoder.schema();
    let stats_p = encoder.groups().iter().position(|&g| g == Group::Field(i));
    let step = stats_p.map_or(1.0, |p| resolution(schema, i, encoder.stats(p)));
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let mut points = Vec::new();
    for (c, column) in encoder.columns().iter().enumerate() {
        match *column {
            Column::Value(f) | Column::Rank(f) if f == i => {
                for &t in &thresholds[c] {
                    let (below, above) = around(t, step);
                    up.push(above);
                    down.push(below);
                }
            }
            Column::Derived(d) => {
                let spec = &schema.derived()[d];
                let (num, den) = (schema.field_index(&spec.numerator), schema.field_index(&spec.denominator));
                if num == Some(i) && den != Some(i) {
                    let other = den.map_or(f64::NAN, |j| values[j]);
                    if other.is_finite() {
                        points.extend(thresholds[c].iter().map(|s| s * other.max(spec.floor)));
                    }
                } else if den == Some(i) && num != Some(i) {
                    let other = num.map_or(f64::NAN, |j| values[j]);
                    if other.is_finite() {
                        points.extend(thresholds[c].iter().filter(|s| **s != 0.0).map(|s| other / s));
                    }
                }
            }
            _ => {}
        }
    }
    for b in points.into_iter().filter(|b| b.is_finite()) {
        let (below, above) = around(b, step);
        up.extend([below, above]);
        down.extend([below, above]);
    }
    (up, down)
}

/// The largest value at `step` resolution that is at most `b`, and the smallest above it.
pub fn around(b: f64, step: f64) -> (f64, f64) {
    // Values are built as k / (1/step) when 1/step is whole, so 0.1% prints as 0.001.
    let inverse = (1.0 / step).round();
    let at = |k: f64| if step < 1.0 { k / inverse } else { k * step };
    let mut k = if step < 1.0 { (b * inverse).floor() } else { (b / step).floor() };
    while at(k + 1.0) <= b {
        k += 1.0;
    }
    while at(k) > b {
        k -= 1.0;
    }
    (at(k), at(k + 1.0))
}

/// The smallest change worth proposing in a field: whole units for integers, counts, months and
/// money, a tenth of a year, a tenth of a percentage point; otherwise a ten-thousandth of the
/// training range.
pub fn resolution(schema: &Schema, i: usize, stats: &GroupStats) -> f64 {
    let field = schema.field(i);
    match (&field.kind, &field.unit) {
        (Kind::Integer { .. } | Kind::Ordered(_) | Kind::Boolean | Kind::Category(_), _) => 1.0,
        (_, Some(Unit::Money(_) | Unit::Count | Unit::Months)) => 1.0,
        (_, Some(Unit::Years)) => 0.1,
        (_, Some(Unit::Percent)) => 0.001,
        _ => {
            let span = (stats.max - stats.min).abs();
            if span > 0.0 && span.is_finite() { 10f64.powf((span.log10() - 4.0).floor()) } else { 1.0 }
        }
    }
}

/// Where `x` falls in the training distribution, 0..=100: interpolated between the kept
/// percentiles (the middle of a run of equal ones, so a value held by many applicants sits in
/// the middle of them); for categories and booleans, the middle of the value's share of rows;
/// for models without percentiles, linear through the minimum, median and maximum.
pub fn percentile(stats: &GroupStats, x: f64) -> f64 {
    if !stats.category_counts.is_empty() {
        let total: u64 = stats.category_counts.iter().sum();
        let k = (x.max(0.0) as usize).min(stats.category_counts.len() - 1);
        let below: u64 = stats.category_counts[..k].iter().sum();
        return 100.0 * (below as f64 + stats.category_counts[k] as f64 / 2.0) / total.max(1) as f64;
    }
    let fallback;
    let (q, scale): (&[f64], f64) = if stats.percentiles.len() >= 2 {
        (&stats.percentiles, 100.0 / (stats.percentiles.len() - 1) as f64)
    } else {
        fallback = [stats.min, stats.median, stats.max];
        (&fallback, 50.0)
    };
    let below = q.partition_point(|&v| v < x);
    let at_most = q.partition_point(|&v| v <= x);
    let index = if below < at_most {
        (below + at_most - 1) as f64 / 2.0
    } else if below == 0 {
        0.0
    } else if below == q.len() {
        (q.len() - 1) as f64
    } else {
        let (a, b) = (q[below - 1], q[below]);
        (below - 1) as f64 + (x - a) / (b - a)
    };
    index * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_around_a_threshold_fall_on_each_side_at_the_resolution() {
        assert_eq!(around(1234.5, 1.0), (1234.0, 1235.0));
        assert_eq!(around(1234.0, 1.0), (1234.0, 1235.0));
        assert_eq!(around(0.0525, 0.001), (0.052, 0.053));
        assert_eq!(around(0.3, 0.1), (0.3, 0.4));
        for b in [0.7, 0.1 + 0.2, 12.05, 3.0e-3] {
            let (lo, hi) = around(b, 0.001);
            assert!(lo <= b && hi > b, "{b}: {lo} {hi}");
        }
    }

    #[test]
    fn percentiles_interpolate_and_ties_sit_in_the_middle() {
        let values: Vec<f64> = (0..=100).map(f64::from).collect();
        let stats = GroupStats::of("x", &values, &vec![true; values.len()], 0);
        assert_eq!(percentile(&stats, 30.0), 30.0);
        assert_eq!(percentile(&stats, 30.5), 30.5);
        assert_eq!(percentile(&stats, -5.0), 0.0);
        assert_eq!(percentile(&stats, 500.0), 100.0);
        // Half the rows are 0: zero sits at the 25th percentile.
        let mut skewed = vec![0.0; 50];
        skewed.extend((1..=51).map(f64::from));
        let stats = GroupStats::of("y", &skewed, &vec![true; skewed.len()], 0);
        assert_eq!(percentile(&stats, 0.0), 24.5);
        let cats = GroupStats::of("c", &[0.0, 0.0, 1.0, 2.0], &[true; 4], 3);
        assert_eq!(percentile(&cats, 0.0), 25.0);
        assert_eq!(percentile(&cats, 2.0), 87.5);
    }
}
