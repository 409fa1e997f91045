//! Branch and bound over boxes of candidate moves: a box holds, for one to three sides (fields
//! moving one way), a range of their candidate values; walking the forest with the box gives the
//! lowest and highest probability any point in it can have (a split is taken both ways only when
//! the box straddles it), so a box that cannot reach the threshold is dropped whole, a box that
//! is approved everywhere yields its cheapest corner, and the rest are halved. Boxes are taken
//! cheapest first, so solutions come out in order of cost and the first per set of fields is its
//! cheapest.

use super::moves::Side;
use crate::features::Column;
use crate::forest::{Forest, Node};
use crate::schema::Schema;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The fixed parts of one applicant's search.
pub struct Space<'a> {
    pub schema: &'a Schema,
    pub forest: &'a Forest,
    pub columns: &'a [Column],
    /// For each encoded column, the fields it depends on.
    pub deps: &'a [Vec<usize>],
    pub values: &'a [f64],
    /// The applicant as the forest sees it.
    pub base: Vec<f64>,
    pub threshold: f64,
}

/// One dimension of a box: a side and a range `lo..hi` of its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dim {
    side: u16,
    lo: u32,
    hi: u32,
}

#[derive(Debug, Clone)]
struct Boxed {
    cost: f64,
    dims: Vec<Dim>,
    size: u64,
    seq: u64,
}

impl PartialEq for Boxed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Boxed {}
impl PartialOrd for Boxed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Boxed {
    /// BinaryHeap pops the greatest: the cheapest, then the fewest changes, the smallest box,
    /// the earliest made (so the search is deterministic).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .cost
            .total_cmp(&self.cost)
            .then(other.dims.len().cmp(&self.dims.len()))
            .then(other.size.cmp(&self.size))
            .then(other.seq.cmp(&self.seq))
    }
}

/// A set of moves the forest approves.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// (field, new value, its cost), in field order.
    pub moves: Vec<(usize, f64, f64)>,
    pub cost: f64,
}

/// How much a search did, and whether it finished.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Effort {
    pub boxes: u64,
    pub node_visits: u64,
    /// False when the budget ran out first: cheaper options may exist.
    pub exhaustive: bool,
}

/// The column's possible values over a box.
#[derive(Clone, Copy)]
enum Span {
    /// Not moved by the box: the applicant's own value.
    Fixed,
    Range(f64, f64),
    /// Missing at every corner (an input is missing).
    Missing,
    /// Not known to be monotone over the box: both ways at every split.
    Unknown,
}

/// Up to `wanted` cheapest approved moves with distinct sets of fields, none a superset of a
/// cheaper one, each changing at most `max_changes` fields; stops after `budget` node visits.
pub fn search(space: &Space, sides: &[Side], max_changes: usize, wanted: usize, budget: u64) -> (Vec<Found>, Effort) {
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<Boxed>, dims: Vec<Dim>| {
        let cost = dims.iter().map(|d| sides[d.side as usize].costs[d.lo as usize]).sum();
        let size = dims.iter().map(|d| u64::from(d.hi - d.lo)).product();
        seq += 1;
        heap.push(Boxed { cost, dims, size, seq });
    };
    for combo in combinations(sides, max_changes) {
        let dims = combo.iter().map(|&s| Dim { side: s as u16, lo: 0, hi: sides[s].values.len() as u32 }).collect();
        push(&mut heap, dims);
    }
    let mut found: Vec<Found> = Vec::new();
    let mut effort = Effort { exhaustive: true, ..Effort::default() };
    let mut scratch = space.values.to_vec();
    let mut spans = vec![Span::Fixed; space.base.len()];
    while let Some(b) = heap.pop() {
        if found.len() >= wanted {
            break;
        }
        let fields: Vec<usize> = b.dims.iter().map(|d| sides[d.side as usize].field).collect();
        if found.iter().any(|f| f.moves.iter().all(|m| fields.contains(&m.0))) {
            continue;
        }
        if effort.node_visits >= budget {
            effort.exhaustive = false;
            break;
        }
        effort.boxes += 1;
        let (low, high) = bounds(space, sides, &b.dims, &mut scratch, &mut spans, &mut effort.node_visits);
        if high < space.threshold {
            continue;
        }
        if low >= space.threshold {
            let mut moves: Vec<(usize, f64, f64)> = b
                .dims
                .iter()
                .map(|d| {
                    let side = &sides[d.side as usize];
                    (side.field, side.values[d.lo as usize], side.costs[d.lo as usize])
                })
                .collect();
            moves.sort_by_key(|m| m.0);
            found.push(Found { moves, cost: b.cost });
            continue;
        }
        // Halve the widest dimension (a point is decided above: its bounds are equal).
        let (k, widest) = b.dims.iter().enumerate().max_by_key(|(k, d)| (d.hi - d.lo, usize::MAX - k)).unwrap();
        let mid = widest.lo + (widest.hi - widest.lo) / 2;
        for (lo, hi) in [(widest.lo, mid), (mid, widest.hi)] {
            let mut dims = b.dims.clone();
            dims[k] = Dim { lo, hi, ..*widest };
            push(&mut heap, dims);
        }
    }
    (found, effort)
}

/// Every choice of 1..=max sides over distinct fields.
fn combinations(sides: &[Side], max: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    fn extend(sides: &[Side], max: usize, start: usize, current: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        for s in start..sides.len() {
            if current.iter().any(|&c| sides[c].field == sides[s].field) {
                continue;
            }
            current.push(s);
            out.push(current.clone());
            if current.len() < max {
                extend(sides, max, s + 1, current, out);
            }
            current.pop();
        }
    }
    extend(sides, max, 0, &mut current, &mut out);
    out
}

/// The lowest and highest probability over a box.
fn bounds(
    space: &Space,
    sides: &[Side],
    dims: &[Dim],
    scratch: &mut [f64],
    spans: &mut [Span],
    visits: &mut u64,
) -> (f64, f64) {
    let moved: Vec<usize> = dims.iter().map(|d| sides[d.side as usize].field).collect();
    for (c, column) in space.columns.iter().enumerate() {
        let varying: Vec<usize> =
            dims.iter().enumerate().filter(|(_, d)| space.deps[c].contains(&sides[d.side as usize].field)).map(|(k, _)| k).collect();
        spans[c] = if varying.is_empty() {
            Span::Fixed
        } else {
            corner_span(space, sides, dims, &varying, *column, scratch)
        };
    }
    for &f in &moved {
        scratch[f] = space.values[f];
    }
    let (mut low, mut high) = (0.0, 0.0);
    let mut stack: Vec<u32> = Vec::with_capacity(64);
    for tree in &space.forest.trees {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        stack.clear();
        stack.push(0);
        while let Some(i) = stack.pop() {
            *visits += 1;
            let node: &Node = &tree.nodes[i as usize];
            if node.is_leaf() {
                lo = lo.min(node.value);
                hi = hi.max(node.value);
                continue;
            }
            let f = node.feature as usize;
            let (left, right) = match spans[f] {
                Span::Fixed => {
                    let l = node.goes_left(space.base[f]);
                    (l, !l)
                }
                Span::Missing => (node.default_left, !node.default_left),
                Span::Range(a, b) => (a <= node.threshold, b > node.threshold),
                Span::Unknown => (true, true),
            };
            if left {
                stack.push(node.left);
            }
            if right {
                stack.push(node.right);
            }
        }
        low += lo;
        high += hi;
    }
    let n = space.forest.trees.len() as f64;
    (low / n, high / n)
}

/// A column's values at the box's corners. Each column is monotone in each of its fields over a
/// side (an identity, a one-hot of one category, a ratio with a positive denominator), so its
/// extremes over the box are at corners; a corner where a ratio's denominator is not positive
/// makes the span unknown.
fn corner_span(space: &Space, sides: &[Side], dims: &[Dim], varying: &[usize], column: Column, scratch: &mut [f64]) -> Span {
    let (mut lo, mut hi, mut missing, mut present) = (f64::INFINITY, f64::NEG_INFINITY, 0, 0);
    for corner in 0..(1u32 << varying.len()) {
        for (bit, &k) in varying.iter().enumerate() {
            let d = dims[k];
            let side = &sides[d.side as usize];
            let at = if corner & (1 << bit) == 0 { d.lo } else { d.hi - 1 };
            scratch[side.field] = side.values[at as usize];
        }
        let v = column.encode(space.schema, scratch);
        if v.is_nan() {
            missing += 1;
        } else {
            present += 1;
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    for &k in varying {
        let f = sides[dims[k].side as usize].field;
        scratch[f] = space.values[f];
    }
    if let Column::Derived(d) = column {
        let spec = &space.schema.derived()[d];
        let den = space.schema.field_index(&spec.denominator);
        let positive = varying.iter().all(|&k| {
            let dim = dims[k];
            let side = &sides[dim.side as usize];
            Some(side.field) != den
                || [dim.lo, dim.hi - 1].iter().all(|&at| side.values[at as usize].max(spec.floor) > 0.0)
        });
        if !positive && present > 0 {
            return Span::Unknown;
        }
    }
    match (missing, present) {
        (_, 0) => Span::Missing,
        (0, _) => Span::Range(lo, hi),
        _ => Span::Unknown,
    }
}
