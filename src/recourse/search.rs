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

/// A node as the walks need it, in 24 bytes (the model's nodes carry cover for TreeSHAP too):
/// a leaf keeps its value in `threshold` and has `left == Node::LEAF`.
#[derive(Debug, Clone, Copy)]
pub struct Flat {
    threshold: f64,
    left: u32,
    right: u32,
    feature: u32,
    default_left: bool,
}

impl Flat {
    #[inline]
    fn is_leaf(&self) -> bool {
        self.left == Node::LEAF
    }
}

/// The forest's trees in walking form, built once per model, each renumbered in depth-first
/// order (a left child right after its parent) so a walk down a path reads nearby memory.
pub fn flatten(forest: &Forest) -> Vec<Vec<Flat>> {
    forest
        .trees
        .iter()
        .map(|t| {
            let mut out: Vec<Flat> = Vec::with_capacity(t.nodes.len());
            // (old index, slot in `out` of the parent's child pointer to fill, is-left).
            let mut stack: Vec<(u32, Option<(usize, bool)>)> = vec![(0, None)];
            while let Some((old, parent)) = stack.pop() {
                let n = &t.nodes[old as usize];
                let here = out.len() as u32;
                if let Some((p, is_left)) = parent {
                    if is_left { out[p].left = here } else { out[p].right = here }
                }
                out.push(Flat {
                    threshold: if n.is_leaf() { n.value } else { n.threshold },
                    left: n.left,
                    right: n.right,
                    feature: n.feature,
                    default_left: n.default_left,
                });
                if !n.is_leaf() {
                    stack.push((n.right, Some((here as usize, false))));
                    stack.push((n.left, Some((here as usize, true))));
                }
            }
            out
        })
        .collect()
}

/// The fixed parts of one applicant's search.
pub struct Space<'a> {
    pub schema: &'a Schema,
    pub forest: &'a Forest,
    pub flat: &'a [Vec<Flat>],
    pub columns: &'a [Column],
    /// For each encoded column, the fields it depends on.
    pub deps: &'a [Vec<usize>],
    pub values: &'a [f64],
    /// The applicant as the forest sees it.
    pub base: Vec<f64>,
    pub threshold: f64,
}

/// Each tree's path for the unchanged applicant: above the first node whose column a box's
/// fields move, every point of the box goes the same way, so walks start there; a tree whose
/// path no moved field touches answers its leaf for the whole box.
struct Paths {
    nodes: Vec<Vec<u32>>,
    /// Per tree, per field: the depth of the first node on the path that depends on the field.
    first: Vec<Vec<u16>>,
    leaf_value: Vec<f64>,
}

const UNTOUCHED: u16 = u16::MAX;

impl Paths {
    fn of(space: &Space) -> Paths {
        let n_fields = space.values.len();
        let mut nodes = Vec::with_capacity(space.flat.len());
        let mut first = Vec::with_capacity(space.forest.trees.len());
        let mut leaf_value = Vec::with_capacity(space.forest.trees.len());
        for tree in space.flat {
            let mut path = Vec::new();
            let mut firsts = vec![UNTOUCHED; n_fields];
            let mut i = 0usize;
            loop {
                let node = &tree[i];
                if node.is_leaf() {
                    leaf_value.push(node.threshold);
                    break;
                }
                for &f in &space.deps[node.feature as usize] {
                    if firsts[f] == UNTOUCHED {
                        firsts[f] = path.len() as u16;
                    }
                }
                path.push(i as u32);
                let x = space.base[node.feature as usize];
                let left = x <= node.threshold || (x.is_nan() && node.default_left);
                i = if left { node.left } else { node.right } as usize;
            }
            nodes.push(path);
            first.push(firsts);
        }
        Paths { nodes, first, leaf_value }
    }
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
/// cheaper one, each changing `changes` fields (a range); stops after `budget` node visits.
/// `found` holds the options of an earlier search (fewer changes), which these must differ from.
pub fn search(
    space: &Space,
    sides: &[Side],
    changes: std::ops::RangeInclusive<usize>,
    wanted: usize,
    budget: u64,
    mut found: Vec<Found>,
) -> (Vec<Found>, Effort) {
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<Boxed>, dims: Vec<Dim>| {
        let cost = dims.iter().map(|d| sides[d.side as usize].costs[d.lo as usize]).sum();
        let size = dims.iter().map(|d| u64::from(d.hi - d.lo)).product();
        seq += 1;
        heap.push(Boxed { cost, dims, size, seq });
    };
    for combo in combinations(sides, *changes.end()).into_iter().filter(|c| changes.contains(&c.len())) {
        let dims =
            combo.iter().map(|&s| Dim { side: s as u16, lo: 0, hi: sides[s].values.len() as u32 }).collect();
        push(&mut heap, dims);
    }
    let mut effort = Effort { exhaustive: true, ..Effort::default() };
    let mut scratch = space.values.to_vec();
    let mut spans = vec![Span::Fixed; space.base.len()];
    let paths = Paths::of(space);
    let mut taken: Vec<usize> = found.iter().flat_map(|f| f.moves.iter().map(|m| m.0)).collect();
    while let Some(b) = heap.pop() {
        if found.len() >= wanted {
            break;
        }
        let fields: Vec<usize> = b.dims.iter().map(|d| sides[d.side as usize].field).collect();
        // Diverse options: none repeats a cheaper one's fields plus more, and each brings a
        // field no cheaper option changes.
        if found.iter().any(|f| f.moves.iter().all(|m| fields.contains(&m.0)))
            || (!found.is_empty() && fields.iter().all(|f| taken.contains(f)))
        {
            continue;
        }
        if effort.node_visits >= budget {
            effort.exhaustive = false;
            break;
        }
        effort.boxes += 1;
        let (low, high) =
            bounds(space, &paths, sides, &b.dims, &mut scratch, &mut spans, &mut effort.node_visits);
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
            taken.extend(&fields);
            found.push(Found { moves, cost: b.cost });
            continue;
        }
        // Halve the widest dimension (a point is decided above: its bounds are equal).
        let (k, widest) =
            b.dims.iter().enumerate().max_by_key(|(k, d)| (d.hi - d.lo, usize::MAX - k)).unwrap();
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
    paths: &Paths,
    sides: &[Side],
    dims: &[Dim],
    scratch: &mut [f64],
    spans: &mut [Span],
    visits: &mut u64,
) -> (f64, f64) {
    let moved: Vec<usize> = dims.iter().map(|d| sides[d.side as usize].field).collect();
    let mut varying: Vec<usize> = Vec::with_capacity(dims.len());
    for (c, column) in space.columns.iter().enumerate() {
        varying.clear();
        varying.extend((0..dims.len()).filter(|&k| space.deps[c].contains(&moved[k])));
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
    for (t, tree) in space.flat.iter().enumerate() {
        let start = moved.iter().map(|&f| paths.first[t][f]).min().unwrap_or(UNTOUCHED);
        if start == UNTOUCHED {
            low += paths.leaf_value[t];
            high += paths.leaf_value[t];
            continue;
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        stack.clear();
        stack.push(paths.nodes[t][start as usize]);
        while let Some(i) = stack.pop() {
            *visits += 1;
            let node = &tree[i as usize];
            if node.is_leaf() {
                lo = lo.min(node.threshold);
                hi = hi.max(node.threshold);
                continue;
            }
            let f = node.feature as usize;
            let (left, right) = match spans[f] {
                Span::Fixed => {
                    let x = space.base[f];
                    let l = x <= node.threshold || (x.is_nan() && node.default_left);
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
fn corner_span(
    space: &Space,
    sides: &[Side],
    dims: &[Dim],
    varying: &[usize],
    column: Column,
    scratch: &mut [f64],
) -> Span {
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
