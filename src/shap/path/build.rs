//! Lays a forest's trees out for the path-dependent passes: the records the passes read (internal
//! nodes with an internal child in preorder, then bottom nodes), each edge's same-feature cover
//! product, its feature's previous edge and the accumulator slots.

use super::{MAX_DEPTH, SINKS, TreeSpan, ZERO_ACC};
use crate::forest::Tree;

/// `kid_split` of a leaf child and `Place::parent` of a root while the forest is built; then
/// (`Builder::finish`) `max_nodes`: the throwaway `a_in` entry (the down pass stores a leaf's `a`
/// without a check), and the base entry that stays 1 and the `leaf_sum` sink a root reads and a
/// bottom root writes.
const LEAF: u32 = u32::MAX;
/// `Place::prev_node` of a feature new on the path while the forest is built; then
/// `max_nodes + 1`, an `a_in` entry that stays 1.
const FRESH: u32 = u32::MAX - 1;
/// Marks a bottom node's local index while its tree is built (splits are numbered first, so
/// bottom i becomes `n_splits + i` once the tree is done).
const BOTTOM: u32 = 1 << 31;

/// Where a node sends x, without a branch: `Node::goes_left` negated.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    pub threshold: f64,
    /// A missing value (NaN) goes right (the node's `default_left` negated).
    pub nan_right: bool,
}

impl Route {
    #[inline(always)]
    pub fn goes_right(&self, v: f64) -> bool {
        (v > self.threshold) | (v.is_nan() & self.nan_right)
    }
}

/// A node's two children as its down step needs them: the cover product b of each edge (the
/// product of the cover ratios of the edges on the node's feature from the root down to the
/// child) and each leaf's value (0 for an internal child).
#[derive(Debug, Clone, Copy)]
pub(super) struct Kids {
    pub b: [f64; 2],
    pub value: [f64; 2],
}

impl Kids {
    /// Σ over the children of value · b: the leaf children's share of S divided by the node's
    /// base is this + t · `gain` (an internal child has value 0).
    #[inline(always)]
    pub fn leaf_constant(&self) -> f64 {
        self.value[0] * self.b[0] + self.value[1] * self.b[1]
    }

    /// Σ over the children of value · (a − b), given the children's a.
    #[inline(always)]
    pub fn gain(&self, a: [f64; 2]) -> f64 {
        let mut gain = 0.0;
        for ((value, b), a) in self.value.iter().zip(&self.b).zip(a) {
            gain += value * (a - b);
        }
        gain
    }
}

/// Where an internal node is: what its step reads of the nodes above it, all of which outlive
/// the down pass (per node, not per depth), so bottom nodes can run after it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Place {
    /// The parent's local index (its base), `max_nodes` for a root (base 1).
    pub parent: u32,
    /// The node below its feature's previous edge, whose `a_in` entry is that edge's a: itself
    /// when the edge into it is on its feature, `max_nodes + 1` (a = 1) when its feature is new
    /// on the path.
    pub prev_node: u32,
    /// b of the edge into it (1 for a root) and of its feature's previous edge (1 if none).
    pub b_own: f64,
    pub b_prev: f64,
}

/// An internal node with an internal child, in preorder, with what the down pass needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Split {
    pub route: Route,
    pub feature: u32,
    pub place: Place,
    /// Per child: its local index (`a_in`) if internal (below `n_splits` for a split,
    /// `n_splits + i` for the tree's bottom i), `max_nodes` for a leaf.
    pub kid_split: [u32; 2],
    pub kids: Kids,
}

/// What the up pass needs about a [`Split`] and the edge into it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Up {
    /// b of the edge into this node (1 for the root).
    pub b: f64,
    /// The parent's split feature: the integrand the edge books into (the sink row
    /// `n_features` for the root).
    pub feature: u32,
    pub depth: u32,
    /// Accumulator slot of the edge into this node when its subtree splits on the edge's
    /// feature again, else `ZERO_ACC`.
    pub own_acc: u32,
    /// For a node splitting on a feature already on its path, the accumulator slot of that
    /// feature's previous edge; else a sink (see `SINKS`).
    pub prev_acc: u32,
}

/// A bottom node: both children leaves (40% of the internal nodes of a depth-12 forest). Its
/// S is known once its parent's base is, so it has no up step: after the down pass it books its
/// own and its incoming edge's integrand and adds S to its parent's leaf share and to its
/// feature's previous edge's accumulator.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bottom {
    pub route: Route,
    pub feature: u32,
    pub place: Place,
    /// The integrand the incoming edge books into: the parent's feature, or the sink row
    /// `n_features` for a root or when the edge is on its own feature (S − the deeper part is 0).
    pub in_feature: u32,
    /// As `Up::prev_acc`.
    pub prev_acc: u32,
    pub kids: Kids,
}

/// Lays trees' internal nodes out, computing each edge's same-feature cover product, its
/// feature's previous edge and the accumulator slots.
pub(super) struct Builder {
    pub(super) trees: Vec<TreeSpan>,
    pub(super) splits: Vec<Split>,
    pub(super) ups: Vec<Up>,
    pub(super) bottoms: Vec<Bottom>,
    n_features: u32,
    /// Per feature, on the current path: the local index of the node below its deepest edge
    /// (`LEAF` when not on the path) and the edge's cover product.
    last: Vec<(u32, f64)>,
    /// Deepest split, and most distinct features on a path, over all trees.
    pub(super) depth: usize,
    pub(super) unique: usize,
}

/// The edge into the node being added: its parent's local index (`LEAF` for a root), the
/// parent's feature (`n_features` for a root), b, the depth below it and the distinct
/// features above it.
#[derive(Clone, Copy)]
struct Edge {
    parent: u32,
    feature: u32,
    b: f64,
    depth: usize,
    unique: usize,
}

/// The tree being added: where its records start and how many accumulator slots it uses.
struct Adding<'t> {
    tree: &'t Tree,
    splits: usize,
    bottoms: usize,
    n_acc: u32,
}

impl Builder {
    pub(super) fn new(n_features: usize) -> Builder {
        Builder {
            trees: Vec::new(),
            splits: Vec::new(),
            ups: Vec::new(),
            bottoms: Vec::new(),
            n_features: n_features as u32,
            last: vec![(LEAF, 1.0); n_features],
            depth: 0,
            unique: 0,
        }
    }

    pub(super) fn add_tree(&mut self, tree: &Tree) -> std::result::Result<(), String> {
        let mut at =
            Adding { tree, splits: self.splits.len(), bottoms: self.bottoms.len(), n_acc: 1 + SINKS };
        let root = Edge { parent: LEAF, feature: self.n_features, b: 1.0, depth: 0, unique: 0 };
        if !tree.nodes[0].is_leaf() {
            self.add_internal(&mut at, 0, root)?;
        }
        let n_splits = self.splits.len() - at.splits;
        let fix = |index: &mut u32| {
            if *index & BOTTOM != 0 && *index < FRESH {
                *index = n_splits as u32 + (*index & !BOTTOM);
            }
        };
        for split in &mut self.splits[at.splits..] {
            split.kid_split.iter_mut().for_each(fix);
        }
        for bottom in &mut self.bottoms[at.bottoms..] {
            fix(&mut bottom.place.prev_node);
        }
        self.trees.push(TreeSpan {
            splits: at.splits,
            n_splits,
            bottoms: at.bottoms,
            n_bottoms: self.bottoms.len() - at.bottoms,
            n_acc: at.n_acc as usize,
            value: tree.nodes[0].value,
        });
        Ok(())
    }

    /// Gives the sentinels their final indices (see `LEAF`, `FRESH`) once every tree is in;
    /// returns the largest internal node count of a tree (splits and bottoms), `max_nodes`.
    pub(super) fn finish(&mut self) -> usize {
        let max_nodes = self.trees.iter().map(|t| t.n_splits + t.n_bottoms).max().unwrap_or(0) as u32;
        let places = self.splits.iter_mut().map(|split| &mut split.place);
        for place in places.chain(self.bottoms.iter_mut().map(|bottom| &mut bottom.place)) {
            place.parent = if place.parent == LEAF { max_nodes } else { place.parent };
            place.prev_node = if place.prev_node == FRESH { max_nodes + 1 } else { place.prev_node };
        }
        let kids = self.splits.iter_mut().flat_map(|split| &mut split.kid_split);
        kids.filter(|kid| **kid == LEAF).for_each(|kid| *kid = max_nodes);
        max_nodes as usize
    }

    /// Adds internal node `i` of the tree and its subtree, as a bottom node or a split; returns its
    /// local index (provisional for a bottom node).
    fn add_internal(&mut self, at: &mut Adding, i: usize, edge: Edge) -> std::result::Result<u32, String> {
        if is_bottom(at.tree, i) { self.add_bottom(at, i, edge) } else { self.add_split(at, i, edge) }
    }

    /// The local index the next bottom node or split of the tree being added gets.
    fn next_local(&self, at: &Adding, bottom: bool) -> u32 {
        if bottom {
            BOTTOM | (self.bottoms.len() - at.bottoms) as u32
        } else {
            (self.splits.len() - at.splits) as u32
        }
    }

    /// Adds internal node `i` of the tree (which has an internal child) and its subtree; returns
    /// its local split index.
    fn add_split(&mut self, at: &mut Adding, i: usize, edge: Edge) -> std::result::Result<u32, String> {
        if edge.depth >= MAX_DEPTH {
            return Err(format!("deeper than {MAX_DEPTH}, which TreeSHAP supports"));
        }
        let tree = at.tree;
        let node = &tree.nodes[i];
        let feature = node.feature as usize;
        let (prev, b_prev) = self.last[feature];
        let unique = edge.unique + usize::from(prev == LEAF);
        self.unique = self.unique.max(unique);
        self.depth = self.depth.max(edge.depth);
        let local = self.next_local(at, false);
        let prev_node = if prev == LEAF { FRESH } else { prev };
        self.splits.push(Split {
            route: Route { threshold: node.threshold, nan_right: !node.default_left },
            feature: node.feature,
            place: Place { parent: edge.parent, prev_node, b_own: edge.b, b_prev },
            kid_split: [LEAF; 2],
            kids: Kids { b: [0.0; 2], value: [0.0; 2] },
        });
        self.ups.push(Up {
            b: edge.b,
            feature: edge.feature,
            depth: edge.depth as u32,
            own_acc: ZERO_ACC,
            prev_acc: 1 + local % SINKS,
        });
        if prev != LEAF {
            // `prev` may be this node itself, when its own edge is on `feature`.
            let prev_acc = self.acc_of(at, prev);
            self.ups[at.splits + local as usize].prev_acc = prev_acc;
        }
        let split = at.splits + local as usize;
        let kids = [node.left as usize, node.right as usize];
        for (k, c) in kids.into_iter().enumerate() {
            let b = kid_b(tree, node.cover, c, b_prev)?;
            self.splits[split].kids.b[k] = b;
            self.splits[split].kids.value[k] =
                if tree.nodes[c].is_leaf() { tree.nodes[c].value } else { 0.0 };
        }
        // Bottom children before the subtrees: a block runs them right after this node's down
        // step, so they are numbered (and the one-row passes run them) in that order.
        for bottom in [true, false] {
            for (k, c) in kids.into_iter().enumerate().filter(|&(_, c)| !tree.nodes[c].is_leaf()) {
                if is_bottom(tree, c) != bottom {
                    continue;
                }
                let b = self.splits[split].kids.b[k];
                let child = Edge { parent: local, feature: node.feature, b, depth: edge.depth + 1, unique };
                let next = self.next_local(at, bottom);
                let saved = std::mem::replace(&mut self.last[feature], (next, b));
                let kid = self.add_internal(at, c, child);
                self.last[feature] = saved;
                self.splits[split].kid_split[k] = kid?;
            }
        }
        Ok(local)
    }

    /// Adds bottom node `i` of the tree; returns its provisional local index.
    fn add_bottom(&mut self, at: &mut Adding, i: usize, edge: Edge) -> std::result::Result<u32, String> {
        let tree = at.tree;
        let node = &tree.nodes[i];
        let local = self.next_local(at, true);
        let sink = 1 + (local & !BOTTOM) % SINKS;
        let (prev, b_prev) = self.last[node.feature as usize];
        self.unique = self.unique.max(edge.unique + usize::from(prev == LEAF));
        let (prev_node, in_feature, prev_acc) = if prev == local {
            // The edge into it is on its own feature: that edge books nothing.
            (local, self.n_features, sink)
        } else if prev == LEAF {
            (FRESH, edge.feature, sink)
        } else {
            (prev, edge.feature, self.acc_of(at, prev))
        };
        let mut kids = Kids { b: [0.0; 2], value: [0.0; 2] };
        for (k, c) in [node.left as usize, node.right as usize].into_iter().enumerate() {
            kids.b[k] = kid_b(tree, node.cover, c, b_prev)?;
            kids.value[k] = tree.nodes[c].value;
        }
        self.bottoms.push(Bottom {
            route: Route { threshold: node.threshold, nan_right: !node.default_left },
            feature: node.feature,
            place: Place { parent: edge.parent, prev_node, b_own: edge.b, b_prev },
            in_feature,
            prev_acc,
            kids,
        });
        Ok(local)
    }

    /// The accumulator slot of the edge into local split `node` (allocated on first use).
    fn acc_of(&mut self, at: &mut Adding, node: u32) -> u32 {
        let up = &mut self.ups[at.splits + node as usize];
        if up.own_acc == ZERO_ACC {
            up.own_acc = at.n_acc;
            at.n_acc += 1;
        }
        up.own_acc
    }
}

/// Whether node `i` is internal with two leaf children.
fn is_bottom(tree: &Tree, i: usize) -> bool {
    let node = &tree.nodes[i];
    !node.is_leaf() && tree.nodes[node.left as usize].is_leaf() && tree.nodes[node.right as usize].is_leaf()
}

/// The cover product b of the edge into child `c` of a node with `cover` (`b_prev`: its
/// feature's previous edge's), which must be > 0 with a finite inverse.
fn kid_b(tree: &Tree, cover: f64, c: usize, b_prev: f64) -> std::result::Result<f64, String> {
    let b = b_prev * (tree.nodes[c].cover / cover);
    if b > 0.0 && (1.0 / b).is_finite() {
        Ok(b)
    } else {
        Err(format!("node {c}: the cover product along its path is {b}, not > 0"))
    }
}
