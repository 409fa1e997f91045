//! A tree's working memory: its in-bag rows copied next to each other (sample and codes in one
//! fixed-size record), reordered node by node as the tree grows, so every node's rows are one
//! contiguous run that deep nodes keep in cache. Reused from tree to tree on each thread.

use super::bins::packed_code;
use super::tally::Sample;

/// One in-bag row as a tree keeps it: word 0 is its `Sample`, the rest its packed bin codes. A
/// fixed size (one of a few widths, picked from the feature count) makes moving it a plain copy.
pub trait LocalRow: Copy + Send + Sync + 'static {
    const ZERO: Self;
    fn new(sample: Sample, codes: &[u64]) -> Self;
    fn sample(&self) -> Sample;
    fn code(&self, feature: usize) -> u8;
}

impl<const W: usize> LocalRow for [u64; W] {
    const ZERO: Self = [0; W];

    #[inline]
    fn new(sample: Sample, codes: &[u64]) -> Self {
        let mut row = [0; W];
        row[0] = sample.to_bits();
        row[1..=codes.len()].copy_from_slice(codes);
        row
    }

    #[inline]
    fn sample(&self) -> Sample {
        Sample::from_bits(self[0])
    }

    #[inline]
    fn code(&self, feature: usize) -> u8 {
        packed_code(&self[1..], feature)
    }
}

/// The record widths (in words) a tree may use: the smallest that holds 1 + ⌈p / 8⌉ words.
pub const ROW_WIDTHS: [usize; 6] = [2, 4, 6, 8, 16, 64];

/// The most features a local row can hold.
pub const MAX_FEATURES: usize = (ROW_WIDTHS[ROW_WIDTHS.len() - 1] - 1) * 8;

/// Buffers one thread reuses for every tree it grows (fresh pages for each tree would cost more
/// than growing the deep levels).
pub struct Workspace<R> {
    /// Bootstrap counts per training row.
    pub counts: Vec<u32>,
    /// The tree's in-bag rows with their codes, partitioned in place node by node.
    pub rows: Vec<R>,
    /// Where a partition puts the right-going rows before copying them back.
    pub scratch: Vec<R>,
}

impl<R> Default for Workspace<R> {
    fn default() -> Self {
        Workspace { counts: Vec::new(), rows: Vec::new(), scratch: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_row_keeps_its_sample_and_codes() {
        let codes = [0x0807_0605_0403_0201u64, 0x0a09];
        let row = <[u64; 4]>::new(Sample::new(12, 3, true), &codes);
        assert_eq!((row.sample().row(), row.sample().weight(), row.sample().label()), (12, 3, true));
        let read: Vec<u8> = (0..10).map(|f| row.code(f)).collect();
        assert_eq!(read, (1..=10).collect::<Vec<u8>>());
    }
}
