//! A tree's working memory: its in-bag rows copied next to each other (sample and codes in one
//! fixed-size record), reordered node by node as the tree grows, so every node's rows are one
//! contiguous run that deep nodes keep in cache. Reused from tree to tree on each thread.

use super::tally::Sample;

/// One in-bag row as a tree keeps it: its `Sample` in the first 8 bytes, then its bin codes, one
/// byte per feature (a code is a single byte load). A fixed size (one of `RECORD_BYTES`, picked
/// from the feature count) makes moving a row a plain copy.
pub trait LocalRow: Copy + Send + Sync + 'static {
    const ZERO: Self;
    /// `codes` must be `code_stride` long for this record size.
    fn new(sample: Sample, codes: &[u8]) -> Self;
    fn sample(&self) -> Sample;
    fn code(&self, feature: usize) -> u8;
}

impl<const N: usize> LocalRow for [u8; N] {
    const ZERO: Self = [0; N];

    #[inline]
    fn new(sample: Sample, codes: &[u8]) -> Self {
        let mut row = [0; N];
        row[..8].copy_from_slice(&sample.to_bits().to_le_bytes());
        row[8..].copy_from_slice(codes);
        row
    }

    #[inline]
    fn sample(&self) -> Sample {
        let mut bits = [0; 8];
        bits.copy_from_slice(&self[..8]);
        Sample::from_bits(u64::from_le_bytes(bits))
    }

    #[inline]
    fn code(&self, feature: usize) -> u8 {
        self[8 + feature]
    }
}

/// The record sizes (bytes) a tree may use: the smallest whose codes hold every feature.
pub const RECORD_BYTES: [usize; 6] = [16, 32, 48, 64, 128, 512];

/// The most features a record can hold.
pub const MAX_FEATURES: usize = RECORD_BYTES[RECORD_BYTES.len() - 1] - 8;

/// The record size for `n_features` features (at most `MAX_FEATURES`).
pub fn record_bytes(n_features: usize) -> usize {
    RECORD_BYTES.into_iter().find(|&b| b - 8 >= n_features).unwrap_or(RECORD_BYTES[RECORD_BYTES.len() - 1])
}

/// How many codes a record of that size holds: the row stride of `BinnedData`.
pub fn code_stride(n_features: usize) -> usize {
    record_bytes(n_features) - 8
}

/// Buffers one thread reuses for every tree it grows (fresh pages for each tree would cost more
/// than growing the deep levels).
pub struct Workspace<R> {
    /// Bootstrap counts per training row.
    pub counts: Vec<u32>,
    /// The tree's in-bag rows with their codes; a level's partition moves each node's rows
    /// between `rows` and `scratch` (even depths live in `rows`, odd depths in `scratch`).
    pub rows: Vec<R>,
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
        let codes: Vec<u8> = (1..=24).collect();
        let row = <[u8; 32]>::new(Sample::new(12, 3, true), &codes);
        assert_eq!((row.sample().row(), row.sample().weight(), row.sample().label()), (12, 3, true));
        let read: Vec<u8> = (0..24).map(|f| row.code(f)).collect();
        assert_eq!(read, codes);
    }

    #[test]
    fn records_are_the_smallest_that_hold_every_feature() {
        assert_eq!((record_bytes(1), record_bytes(8), record_bytes(9)), (16, 16, 32));
        assert_eq!((record_bytes(40), record_bytes(41), record_bytes(504)), (48, 64, 512));
        assert_eq!(code_stride(40), 40);
    }
}
