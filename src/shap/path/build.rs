//! Lays a forest's trees out for the path-dependent passes (the records of `path.rs`): internal
//! nodes in preorder, each edge's same-feature cover product, its feature's previous edge, the
//! depth slots and the accumulator slots.

use super::{FRESH_SLOT, LEAF, MAX_DEPTH, ROOT_SLOT, SINKS, Split, TreeSpan, Up, ZERO_ACC};
use crate::forest::Tree;

/// Lays trees' internal nodes out in preorder, computing each edge's same-feature cover
/// product, its feature's previous edge and the accumulator slots.
pub(super) struct Builder {
    pub(super) trees: Vec<TreeSpan>,
    pub(super) splits: Vec<Split>,
    pub(super) ups: Vec<Up>,
    /// Per feature, on the current path: (local split index below its deepest edge, or
    /// `LEAF` when not on the path; that node's slot; the edge's cover product).
    last: Vec<(u32, u32, f64)>,
    /// Deepest internal node, and most distinct features on a path, over all trees.
    pub(super) depth: usize,
    pub(super) unique: usize,
}

/// The edge into the node being added.
#[derive(Clone, Copy)]
struct Incoming {
    b: f64,
    feature: u32,
    depth: usize,
    slot: u32,
    unique: usize,
}

impl Builder {
    pub(super) fn new(n_features: usize) -> Builder {
        Builder {
            trees: Vec::new(),
            splits: Vec::new(),
            ups: Vec::new(),
            last: vec![(LEAF, FRESH_SLOT, 1.0); n_features],
            depth: 0,
            unique: 0,
        }
    }

    pub(super) fn add_tree(&mut self, tree: &Tree) -> std::result::Result<(), String> {
        let start = self.splits.len();
        let mut n_acc = 1 + SINKS;
        let root = Incoming { b: 1.0, feature: 0, depth: 0, slot: ROOT_SLOT, unique: 0 };
        if !tree.nodes[0].is_leaf() {
            self.add_split(tree, 0, root, start, &mut n_acc)?;
        }
        self.trees.push(TreeSpan {
            splits: start,
            n_splits: self.splits.len() - start,
            n_acc: n_acc as usize,
            value: tree.nodes[0].value,
        });
        Ok(())
    }

    /// Adds internal node `i` of `tree` and its subtree; returns its local split index.
    fn add_split(
        &mut self,
        tree: &Tree,
        i: usize,
        incoming: Incoming,
        start: usize,
        n_acc: &mut u32,
    ) -> std::result::Result<u32, String> {
        if incoming.depth >= MAX_DEPTH {
            return Err(format!("deeper than {MAX_DEPTH}, which TreeSHAP supports"));
        }
        let node = &tree.nodes[i];
        let feature = node.feature as usize;
        let (prev, prev_slot, b_prev) = self.last[feature];
        let unique = incoming.unique + usize::from(prev == LEAF);
        self.unique = self.unique.max(unique);
        self.depth = self.depth.max(incoming.depth);
        let local = (self.splits.len() - start) as u32;
        self.splits.push(Split {
            threshold: node.threshold,
            feature: node.feature,
            nan_right: !node.default_left,
            slot: incoming.slot,
            prev_slot,
            kid_split: [LEAF; 2],
            kid_b: [0.0; 2],
            kid_value: [0.0; 2],
        });
        self.ups.push(Up {
            b: incoming.b,
            feature: incoming.feature,
            depth: incoming.depth as u32,
            own_acc: ZERO_ACC,
            prev_acc: 1 + local % SINKS,
        });
        if prev != LEAF {
            // `prev` may be this node itself, when its own edge is on `feature`.
            let prev_up = &mut self.ups[start + prev as usize];
            if prev_up.own_acc == ZERO_ACC {
                prev_up.own_acc = *n_acc;
                *n_acc += 1;
            }
            self.ups[start + local as usize].prev_acc = self.ups[start + prev as usize].own_acc;
        }
        for (k, c) in [node.left as usize, node.right as usize].into_iter().enumerate() {
            let b = b_prev * (tree.nodes[c].cover / node.cover);
            if !(b > 0.0 && (1.0 / b).is_finite()) {
                return Err(format!("node {c}: the cover product along its path is {b}, not > 0"));
            }
            let split = start + local as usize;
            self.splits[split].kid_b[k] = b;
            if tree.nodes[c].is_leaf() {
                self.splits[split].kid_value[k] = tree.nodes[c].value;
                continue;
            }
            let depth = incoming.depth + 1;
            let slot = (2 * depth + k) as u32;
            let child = Incoming { b, feature: node.feature, depth, slot, unique };
            let next = (self.splits.len() - start) as u32;
            let saved = std::mem::replace(&mut self.last[feature], (next, slot, b));
            let kid = self.add_split(tree, c, child, start, n_acc)?;
            self.last[feature] = saved;
            self.splits[split].kid_split[k] = kid;
        }
        Ok(local)
    }
}
