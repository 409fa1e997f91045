//! What split search adds up per histogram bin: distinct rows, bootstrap weight and class-1
//! weight. Two representations of the same sums: three `u32`s, or (for fewer than 2^21 rows, the
//! common case) one packed `u64` so that each histogram update is a single add.

/// What a tree needs to know of one in-bag training row besides its codes, in one `u64`: row
/// index (high 32 bits, for tests and debugging), bootstrap count (bits 1..32) and label (bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample(u64);

impl Sample {
    /// `row` below 2^32 and `count` below 2^31 (the caller allows at most 2^31 - 1 rows, hence
    /// draws).
    pub fn new(row: usize, count: u32, label: bool) -> Sample {
        Sample(((row as u64) << 32) | (u64::from(count) << 1) | u64::from(label))
    }

    #[inline]
    pub fn to_bits(self) -> u64 {
        self.0
    }

    #[inline]
    pub fn from_bits(bits: u64) -> Sample {
        Sample(bits)
    }

    #[cfg(test)]
    pub fn row(self) -> usize {
        (self.0 >> 32) as usize
    }

    #[inline]
    pub fn weight(self) -> u32 {
        (self.0 as u32) >> 1
    }

    #[inline]
    pub fn label(self) -> bool {
        self.0 & 1 == 1
    }
}

/// Exact integer sums over a set of samples: a parent's are the sum of its children's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Distinct rows (what `min_samples_leaf` counts, as in scikit-learn).
    pub rows: u32,
    /// Bootstrap weight: the node's cover.
    pub weight: u32,
    /// Class-1 weight.
    pub positive: u32,
}

impl Counts {
    pub fn is_pure(&self) -> bool {
        self.positive == 0 || self.positive == self.weight
    }

    /// The class-1 fraction.
    pub fn value(&self) -> f64 {
        self.positive as f64 / self.weight as f64
    }

    /// Σ_class weight² / weight: the larger the sum of this over the children, the lower their
    /// weighted Gini impurity (scikit-learn's `proxy_impurity_improvement`).
    #[inline]
    pub fn gini_proxy(&self) -> f64 {
        let (w, p) = (self.weight as f64, self.positive as f64);
        let n = w - p;
        (p * p + n * n) / w
    }
}

/// A histogram cell: the sums of `Counts` in some representation.
pub trait Tally: Copy + Default + Eq + Send + Sync + 'static {
    /// The largest number of rows (hence of draws) this representation can sum exactly.
    const MAX_ROWS: usize;
    /// One sample's contribution.
    fn one(sample: Sample) -> Self;
    fn add(&mut self, other: Self);
    /// `self − other`, for `other` a subset of what `self` sums.
    fn minus(self, other: Self) -> Self;
    fn counts(self) -> Counts;

    #[inline]
    fn is_empty(self) -> bool {
        self == Self::default()
    }
}

impl Tally for Counts {
    const MAX_ROWS: usize = u32::MAX as usize;

    #[inline]
    fn one(s: Sample) -> Counts {
        let w = s.weight();
        Counts { rows: 1, weight: w, positive: if s.label() { w } else { 0 } }
    }

    #[inline]
    fn add(&mut self, o: Counts) {
        self.rows += o.rows;
        self.weight += o.weight;
        self.positive += o.positive;
    }

    #[inline]
    fn minus(self, o: Counts) -> Counts {
        Counts {
            rows: self.rows - o.rows,
            weight: self.weight - o.weight,
            positive: self.positive - o.positive,
        }
    }

    #[inline]
    fn counts(self) -> Counts {
        self
    }
}

/// Rows, weight and class-1 weight in three 21-bit fields of one `u64`; exact while each sum stays
/// below 2^21, i.e. for fewer than 2^21 rows (n draws in all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Packed(u64);

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;

impl Tally for Packed {
    const MAX_ROWS: usize = FIELD_MASK as usize;

    #[inline]
    fn one(s: Sample) -> Packed {
        let w = u64::from(s.weight());
        let positive = if s.label() { w } else { 0 };
        Packed((1 << (2 * FIELD_BITS)) | (w << FIELD_BITS) | positive)
    }

    #[inline]
    fn add(&mut self, o: Packed) {
        self.0 += o.0;
    }

    #[inline]
    fn minus(self, o: Packed) -> Packed {
        // No field borrows: each of `o`'s fields is at most `self`'s.
        Packed(self.0 - o.0)
    }

    #[inline]
    fn counts(self) -> Counts {
        Counts {
            rows: (self.0 >> (2 * FIELD_BITS)) as u32,
            weight: ((self.0 >> FIELD_BITS) & FIELD_MASK) as u32,
            positive: (self.0 & FIELD_MASK) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_pack_and_unpack() {
        let s = Sample::new(4_000_000_000, 17, true);
        assert_eq!((s.row(), s.weight(), s.label()), (4_000_000_000, 17, true));
        let s = Sample::new(0, (1 << 31) - 1, false);
        assert_eq!((s.row(), s.weight(), s.label()), (0, (1 << 31) - 1, false));
    }

    #[test]
    fn packed_sums_equal_wide_sums_up_to_the_field_limit() {
        let samples: Vec<Sample> = (0..1000).map(|i| Sample::new(i, (i % 5) as u32, i % 3 == 0)).collect();
        let (mut wide, mut packed) = (Counts::default(), Packed::default());
        for &s in &samples {
            wide.add(Counts::one(s));
            packed.add(Packed::one(s));
        }
        assert_eq!(packed.counts(), wide);
        // Python: sum(i % 5 for i in range(1000) if i % 3 == 0) == 668.
        assert_eq!(wide, Counts { rows: 1000, weight: 2000, positive: 668 });
        let part = samples[..300].iter().fold(Packed::default(), |mut a, &s| {
            a.add(Packed::one(s));
            a
        });
        let mut wide_part = Counts::default();
        samples[..300].iter().for_each(|&s| wide_part.add(Counts::one(s)));
        assert_eq!(packed.minus(part).counts(), wide.minus(wide_part));
        // The largest sums a packed cell must hold: MAX_ROWS rows of total weight MAX_ROWS, all class 1.
        let mut full = Packed::default();
        full.add(Packed::one(Sample::new(0, Packed::MAX_ROWS as u32, true)));
        for _ in 1..Packed::MAX_ROWS {
            full.add(Packed(1 << (2 * FIELD_BITS)));
        }
        let max = Packed::MAX_ROWS as u32;
        assert_eq!(full.counts(), Counts { rows: max, weight: max, positive: max });
    }
}
