//! The interventional walk for a block of rows at once (`walk.rs` walks one row): one preorder
//! scan of each tree serves every row of the block, the rows grouped by the way they went.
//!
//! What a row x contributes at a node depends on x only through the path positions it fails
//! (x's alive background rows are those passing all of them), and the rows of a block that went
//! the same way at every node of the path fail the same positions. So the scan carries *groups*
//! of rows — at the root the whole block, split at each edge into the rows taking it and those
//! failing its feature, a group dropped where no background row is alive — and does the edge's
//! word operations and the leaf's counting once a group, not once a row. Only the booking of
//! the leaf's sums into each row's values is per row, in the same order as the single-row walk:
//! the same bits (tested against the row-list reference, and batches against single rows).
//!
//! On the bench forest at 200 background rows, a block of 250 rows reaches a leaf as 1.84 rows
//! a group on average (counted with a temporary counter): the leaves' counting runs 54% as
//! often as row by row, and the edges 706 times a tree and row against about 1,400. One thread:
//! the single-row walk 8–9 ms a row, a block of 256 5.5–6 (a noisy machine; interleaved runs).
//! A block of 16 is no quicker than its rows alone (`shap::INTERVENTIONAL_BLOCK_MIN`). Blocks
//! of 512 share more: on a Zen 4, one thread, 200 background rows, 500-row blocks ran 230–243
//! rows/s against 210–212 for 256-row ones (interleaved), at twice the scratch (members and
//! alive sets are kept for `BLOCK_ROWS` groups a depth: ~0.7 MB a thread at 200 rows, depth 12).
//!
//! What a node's background rows fail is independent of x: the failing sets per depth are
//! worked out once for the block, in the single-row walk's scratch, whose leaf code this reuses.
//!
//! Tried and dropped: each background row's failed positions kept as one mask per depth for the
//! block and the leaf counting its alive rows one by one from them (10.6 ms a row: the
//! increments per row and position cost more than the bit-sliced counting they replaced).

// The row sets are indexed word by word in step; that is the point.
#![allow(clippy::needless_range_loop)]

use super::leaf::book;
use super::{
    InterventionalForest, InterventionalScratch, LEAF, Link, Scan, Walk, Width, run, set, split_roots,
};

/// Rows a block holds at most.
pub(in crate::shap) const BLOCK_ROWS: usize = 512;

/// Words of a set of a block's rows (bit r: row r).
const MEMBER_WORDS: usize = BLOCK_ROWS / 64;

/// The block walk's own working memory (the failing sets and the leaf's buffers are the
/// single-row walk's), sized by `fit`.
#[derive(Debug, Clone, Default)]
pub(in crate::shap::interventional) struct BlockScratch {
    /// The block's values column by column: feature f of row r at f · BLOCK_ROWS + r.
    columns: Vec<f64>,
    /// Per depth, the block's rows going left at the internal node there.
    x_left: Vec<u64>,
    /// Per depth, the groups at the node there (`BLOCK_ROWS` places each): their rows, the path
    /// positions they fail, and their alive background rows (`words` words); and how many.
    members: Vec<u64>,
    x_fails: Vec<u64>,
    alive: Vec<u64>,
    n_groups: Vec<usize>,
    /// The (unscaled) sums of the SHAP values, row r's at r · n_features.
    pub(in crate::shap::interventional) phi: Vec<f64>,
}

impl BlockScratch {
    /// Sizes the scratch for `forest`; allocates only if it does not fit.
    pub(in crate::shap::interventional) fn fit(&mut self, forest: &InterventionalForest) {
        let (levels, words) = (forest.depth + 2, forest.words);
        // The depths and the words each pinned (their product alone is not enough).
        if self.n_groups.len() == levels
            && self.alive.len() == levels * BLOCK_ROWS * words
            && self.phi.len() == BLOCK_ROWS * forest.n_features
        {
            return;
        }
        *self = BlockScratch {
            columns: vec![0.0; forest.n_features * BLOCK_ROWS],
            x_left: vec![0; levels * MEMBER_WORDS],
            members: vec![0; levels * BLOCK_ROWS * MEMBER_WORDS],
            x_fails: vec![0; levels * BLOCK_ROWS],
            alive: vec![0; levels * BLOCK_ROWS * words],
            n_groups: vec![0; levels],
            phi: vec![0.0; BLOCK_ROWS * forest.n_features],
        };
    }
}

/// Sets `s.block.phi` (row r at r · n_features) to the unscaled SHAP sums of each row of `xs`
/// (at most `BLOCK_ROWS`); `s` fitted to `forest` (both the walk's scratch and the block's).
pub(in crate::shap::interventional) fn rows(
    forest: &InterventionalForest,
    xs: &[&[f64]],
    s: &mut InterventionalScratch,
) {
    assert!(xs.len() <= BLOCK_ROWS && s.block.phi.len() == BLOCK_ROWS * forest.n_features);
    s.block.phi.fill(0.0);
    if xs.is_empty() {
        return;
    }
    for (r, x) in xs.iter().enumerate() {
        for (f, &v) in x.iter().enumerate() {
            s.block.columns[f * BLOCK_ROWS + r] = v;
        }
    }
    run(forest, &mut Rows { n: xs.len(), s });
}

/// The block walk, as a `Scan`.
struct Rows<'a> {
    n: usize,
    s: &'a mut InterventionalScratch,
}

impl Scan for Rows<'_> {
    #[inline(always)]
    fn scan<N: Width, const PEXT: bool>(&mut self, forest: &InterventionalForest, width: N) {
        let mut walk = Block::<N, PEXT> { forest, n: self.n, s: &mut *self.s, width };
        for root in split_roots(forest) {
            walk.tree(root);
        }
    }
}

struct Block<'a, N: Width, const PEXT: bool> {
    forest: &'a InterventionalForest,
    /// Rows in the block (1..=BLOCK_ROWS).
    n: usize,
    s: &'a mut InterventionalScratch,
    width: N,
}

impl<N: Width, const PEXT: bool> Block<'_, N, PEXT> {
    /// Scans the tree rooted at internal node `root` in preorder, jumping past a subtree where
    /// no group is left: at depth 0 one group, every row, every background row alive.
    #[inline(always)]
    fn tree(&mut self, root: usize) {
        let (forest, words) = (self.forest, self.width.words());
        let b = &mut self.s.block;
        for m in 0..MEMBER_WORDS {
            let first = (m * 64).min(self.n);
            let rows = (self.n - first).min(64);
            b.members[m] = if rows == 0 { 0 } else { u64::MAX >> (64 - rows) };
        }
        b.x_fails[0] = 0;
        b.alive[..words].copy_from_slice(&forest.all_rows);
        b.n_groups[0] = 1;
        self.left(0, root);
        let end = forest.links[root].end as usize;
        let mut i = root + 1;
        while i < end {
            let link = forest.links[i];
            if !self.edge(&link) {
                i = link.end as usize;
                continue;
            }
            let step = forest.steps[i];
            let d = link.depth as usize;
            if step.right == LEAF {
                self.leaf(d, &link, step.threshold);
            } else {
                self.left(d, i);
            }
            i += 1;
        }
    }

    /// The block's rows going left at internal node `i`, at depth `d`.
    #[inline(always)]
    fn left(&mut self, d: usize, i: usize) {
        let step = self.forest.steps[i];
        let b = &mut self.s.block;
        let column = &b.columns[step.feature as usize * BLOCK_ROWS..][..BLOCK_ROWS];
        let x_left = &mut b.x_left[d * MEMBER_WORDS..][..MEMBER_WORDS];
        for m in 0..self.n.div_ceil(64) {
            let mut bits = 0;
            for (j, &v) in column[m * 64..self.n.min(m * 64 + 64)].iter().enumerate() {
                bits |= u64::from(step.goes_left(v)) << j;
            }
            x_left[m] = bits;
        }
    }

    /// The edge `link` into a node at depth d: the background rows failing its feature there
    /// (once for the block), then each group at the parent split into its rows taking the edge
    /// and those failing the feature, each part kept if a background row is alive for it.
    /// Whether any group is kept.
    #[inline(always)]
    fn edge(&mut self, link: &Link) -> bool {
        let (forest, words) = (self.forest, self.width.words());
        let d = link.depth as usize;
        let position = link.position as usize;
        let bit = 1u64 << position;
        let s = &mut *self.s;
        s.on_path[position] = link.feature;
        let flip = if link.left { u64::MAX } else { 0 };
        // SAFETY: see `set`; `routes` holds every internal node's set.
        let route = unsafe { set(&forest.routes, link.route as usize, words) };
        // `before` is a depth above d or the zero set past every depth (never d).
        let before = link.before as usize;
        let (saved, failing): (&[u64], &mut [u64]) = if before < d {
            let (above, here) = s.fails.split_at_mut(d * words);
            (&above[before * words..][..words], &mut here[..words])
        } else {
            let (above, here) = s.fails.split_at_mut(before * words);
            (&here[..words], &mut above[d * words..][..words])
        };
        for w in 0..words {
            failing[w] = saved[w] | (route[w] ^ flip);
        }
        let b = &mut s.block;
        // The rows taking the edge: going left at the parent for a left edge.
        let mut takes = [0u64; MEMBER_WORDS];
        for m in 0..MEMBER_WORDS {
            takes[m] = b.x_left[(d - 1) * MEMBER_WORDS + m] ^ !flip;
        }
        let (members_above, members_here) = b.members.split_at_mut(d * BLOCK_ROWS * MEMBER_WORDS);
        let members_above = &members_above[(d - 1) * BLOCK_ROWS * MEMBER_WORDS..];
        let (alive_above, alive_here) = b.alive.split_at_mut(d * BLOCK_ROWS * words);
        let alive_above = &alive_above[(d - 1) * BLOCK_ROWS * words..];
        let mut kept = 0;
        for g in 0..b.n_groups[d - 1] {
            let x_fails = b.x_fails[(d - 1) * BLOCK_ROWS + g];
            let members = &members_above[g * MEMBER_WORDS..][..MEMBER_WORDS];
            let alive = &alive_above[g * words..][..words];
            for part in [0u64, u64::MAX] {
                // Part 0: the rows taking the edge; part all ones: those failing the feature.
                let mut rows = [0u64; MEMBER_WORDS];
                let mut any_row = 0;
                for m in 0..MEMBER_WORDS {
                    rows[m] = members[m] & (takes[m] ^ part);
                    any_row |= rows[m];
                }
                if any_row == 0 {
                    continue;
                }
                let fails = x_fails | (bit & part);
                // All ones where the part fails the feature: then only rows passing it live.
                let kill = 0u64.wrapping_sub(u64::from(fails & bit != 0));
                let child = &mut alive_here[kept * words..][..words];
                let mut any_alive = 0;
                for w in 0..words {
                    child[w] = alive[w] & !(failing[w] & kill);
                    any_alive |= child[w];
                }
                if any_alive != 0 {
                    members_here[kept * MEMBER_WORDS..][..MEMBER_WORDS].copy_from_slice(&rows);
                    b.x_fails[d * BLOCK_ROWS + kept] = fails;
                    kept += 1;
                }
            }
        }
        b.n_groups[d] = kept;
        kept != 0
    }

    /// A leaf of `value` at depth `d`, reached by `link`: each group's sums (the single-row
    /// walk's, on the group's alive rows and failed positions), booked to each of its rows.
    #[inline(always)]
    fn leaf(&mut self, d: usize, link: &Link, value: f64) {
        let (forest, words) = (self.forest, self.width.words());
        let n_features = forest.n_features;
        for g in 0..self.s.block.n_groups[d] {
            let s = &mut *self.s;
            let x_fails = s.block.x_fails[d * BLOCK_ROWS + g];
            s.alive[d * words..][..words]
                .copy_from_slice(&s.block.alive[(d * BLOCK_ROWS + g) * words..][..words]);
            s.x_fails[d] = x_fails;
            let (credited, debit) =
                Walk::<N, PEXT> { forest, x: &[], s: &mut *s, width: self.width }.sums(d, link);
            let b = &mut s.block;
            let members = &b.members[(d * BLOCK_ROWS + g) * MEMBER_WORDS..][..MEMBER_WORDS];
            for m in 0..MEMBER_WORDS {
                let mut rows = members[m];
                while rows != 0 {
                    let r = m * 64 + rows.trailing_zeros() as usize;
                    rows &= rows - 1;
                    let phi = &mut b.phi[r * n_features..][..n_features];
                    book(phi, &s.on_path, &s.credit, credited, x_fails, value, debit);
                }
            }
        }
    }
}
