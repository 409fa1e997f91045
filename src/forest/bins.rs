//! Pre-binning: every feature is cut once into at most 256 quantile bins (exact values when it has
//! at most 256 distinct ones) and the data becomes row-major `u8` codes, so split search is a
//! histogram over bins and a split between two bins maps back to a real threshold. A missing value
//! (NaN) gets a code of its own, one past the value bins, so histograms count missing rows apart.

use rayon::prelude::*;

/// The most bins a feature gets (codes are `u8`).
pub const MAX_BINS: usize = 256;

/// One feature's bins, in increasing order. Bin `b` holds the training values in
/// `lower[b] ..= upper[b]`, and `upper[b] < lower[b + 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBins {
    /// Smallest training value in each bin.
    pub lower: Vec<f64>,
    /// Largest training value in each bin.
    pub upper: Vec<f64>,
    /// Whether the column has missing values (NaN); they get the code `n_bins()`, after every
    /// value bin (there are then at most `MAX_BINS - 1` value bins).
    pub has_missing: bool,
}

/// Quantiles of a column longer than this are estimated from an evenly strided subsample of about
/// this many values (sorting every value of every continuous column would cost more than a tree).
const QUANTILE_SAMPLE: usize = 50_000;

impl FeatureBins {
    /// Bins for one column of finite values: one per distinct value if there are at most
    /// `max_bins`, otherwise groups of consecutive distinct values holding about equal row counts.
    #[cfg(test)]
    pub fn from_column(column: &[f64], max_bins: usize) -> FeatureBins {
        Self::fit_and_code(column, max_bins).0
    }

    /// The bins and every value's code. Bin edges of many-valued columns come from a subsample,
    /// but each bin's `lower` and `upper` are the true extremes of the training values in it.
    /// NaN is a missing value: the present values are binned as a column of their own into one
    /// bin fewer, and every NaN gets the code after theirs.
    pub fn fit_and_code(column: &[f64], max_bins: usize) -> (FeatureBins, Vec<u8>) {
        if !has_nan(column) {
            return Self::fit_and_code_present(column, max_bins);
        }
        let present: Vec<f64> = column.iter().copied().filter(|x| !x.is_nan()).collect();
        let (mut bins, present_codes) = Self::fit_and_code_present(&present, max_bins - 1);
        bins.has_missing = true;
        let missing = bins.n_bins() as u8;
        let mut codes = vec![missing; column.len()];
        let present_rows = codes.iter_mut().zip(column).filter(|(_, x)| !x.is_nan());
        for ((code, _), present_code) in present_rows.zip(present_codes) {
            *code = present_code;
        }
        (bins, codes)
    }

    /// `fit_and_code` for a column without missing values.
    fn fit_and_code_present(column: &[f64], max_bins: usize) -> (FeatureBins, Vec<u8>) {
        if let Some(exact) = small_integer_bins(column, max_bins) {
            return exact;
        }
        if let Some(distinct) = few_distinct_values(column, max_bins) {
            let bins = FeatureBins { lower: distinct.clone(), upper: distinct, has_missing: false };
            let codes = column.iter().map(|&x| bins.code(x)).collect();
            return (bins, codes);
        }
        let step = column.len().div_ceil(QUANTILE_SAMPLE).max(1);
        let sample: Vec<f64> = column.iter().step_by(step).copied().collect();
        let edges = quantile_groups(&sorted_value_runs(&sample), sample.len(), max_bins);
        edges.refit_to(column)
    }

    /// Bins with these bins' upper edges as cut points, each narrowed to the extremes of the
    /// column's values that fall in it (empty bins dropped), and the column's codes.
    fn refit_to(&self, column: &[f64]) -> (FeatureBins, Vec<u8>) {
        let n = self.n_bins();
        let (mut lower, mut upper) = (vec![f64::INFINITY; n], vec![f64::NEG_INFINITY; n]);
        let mut codes: Vec<u8> = column.iter().map(|&x| self.code(x)).collect();
        for (&x, &c) in column.iter().zip(&codes) {
            let x = canonical(x);
            lower[c as usize] = lower[c as usize].min(x);
            upper[c as usize] = upper[c as usize].max(x);
        }
        let kept: Vec<usize> = (0..n).filter(|&b| lower[b] <= upper[b]).collect();
        if kept.len() < n {
            let mut renumber = vec![0u8; n];
            for (new, &old) in kept.iter().enumerate() {
                renumber[old] = new as u8;
            }
            codes.iter_mut().for_each(|c| *c = renumber[*c as usize]);
        }
        let bins = FeatureBins {
            lower: kept.iter().map(|&b| lower[b]).collect(),
            upper: kept.iter().map(|&b| upper[b]).collect(),
            has_missing: false,
        };
        (bins, codes)
    }

    /// The number of value bins (the missing code, if any, comes after them).
    pub fn n_bins(&self) -> usize {
        self.upper.len()
    }

    /// How many codes the column uses: its value bins and, if it has missing values, their code.
    pub fn n_codes(&self) -> usize {
        self.n_bins() + usize::from(self.has_missing)
    }

    /// The bin of a value (values above the last bin land in it, below the first in bin 0).
    #[inline]
    pub fn code(&self, x: f64) -> u8 {
        let b = self.upper.partition_point(|&u| u < x);
        b.min(self.upper.len() - 1) as u8
    }

    /// A real threshold that sends every training value of bins `..= left` left and of bins
    /// `right ..` right under `x <= threshold`: the midpoint of the gap, like scikit-learn's.
    pub fn threshold_between(&self, left: usize, right: usize) -> f64 {
        let (below, above) = (self.upper[left], self.lower[right]);
        let mid = below / 2.0 + above / 2.0;
        // Rounding can put the midpoint on `above` when the two are adjacent floats.
        if mid >= below && mid < above { mid } else { below }
    }
}

/// Whether the column holds a NaN: a branch-free scan per chunk (it runs over every column, and
/// most have none).
fn has_nan(column: &[f64]) -> bool {
    column.chunks(256).any(|chunk| chunk.iter().fold(false, |seen, x| seen | x.is_nan()))
}

/// -0.0 and 0.0 route identically under `<=`, so they must share a bin.
#[inline]
fn canonical(x: f64) -> f64 {
    x + 0.0
}

/// Integer columns below this (one-hot flags, counts, ages, ordinal codes) are binned through a
/// lookup table instead of a search per value.
const SMALL_INTEGERS: usize = 1024;

/// Exact bins and codes for a column of at most `max_bins` distinct integers in
/// `0..SMALL_INTEGERS`, by table lookup; `None` for any other column.
fn small_integer_bins(column: &[f64], max_bins: usize) -> Option<(FeatureBins, Vec<u8>)> {
    let mut seen = [false; SMALL_INTEGERS];
    // Branch-free within a chunk; a chunk with any other value stops the scan.
    for chunk in column.chunks(256) {
        let mut small_integers = true;
        for &x in chunk {
            // A round trip through an integer keeps exactly the small non-negative integers (and -0).
            let v = x as usize;
            small_integers &= v < SMALL_INTEGERS && v as f64 == x;
            seen[v & (SMALL_INTEGERS - 1)] = true;
        }
        if !small_integers {
            return None;
        }
    }
    let distinct: Vec<f64> = (0..SMALL_INTEGERS).filter(|&v| seen[v]).map(|v| v as f64).collect();
    if distinct.len() > max_bins {
        return None;
    }
    let mut table = [0u8; SMALL_INTEGERS];
    for (code, &v) in distinct.iter().enumerate() {
        table[v as usize] = code as u8;
    }
    let codes = column.iter().map(|&x| table[x as usize & (SMALL_INTEGERS - 1)]).collect();
    Some((FeatureBins { lower: distinct.clone(), upper: distinct, has_missing: false }, codes))
}

/// The sorted distinct values, or `None` as soon as there are more than `max_bins`.
fn few_distinct_values(column: &[f64], max_bins: usize) -> Option<Vec<f64>> {
    let mut distinct: Vec<f64> = Vec::new();
    let mut last = f64::NAN;
    for &raw in column {
        let x = canonical(raw);
        // Runs of one value are common and skip the search.
        if x == last {
            continue;
        }
        last = x;
        // Values are finite, so `<` orders them totally.
        let at = distinct.partition_point(|&v| v < x);
        if distinct.get(at) != Some(&x) {
            if distinct.len() == max_bins {
                return None;
            }
            distinct.insert(at, x);
        }
    }
    Some(distinct)
}

/// (value, row count) for each distinct value, ascending.
fn sorted_value_runs(column: &[f64]) -> Vec<(f64, usize)> {
    let mut sorted: Vec<f64> = column.iter().map(|&x| canonical(x)).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut runs: Vec<(f64, usize)> = Vec::new();
    for x in sorted {
        match runs.last_mut() {
            Some((v, n)) if *v == x => *n += 1,
            _ => runs.push((x, 1)),
        }
    }
    runs
}

/// Groups consecutive distinct values into at most `max_bins` bins of about equal row counts. The
/// target is recomputed after each bin so a heavy value (say 70 % zeros) gets a bin of its own
/// without starving the rest of the range.
fn quantile_groups(runs: &[(f64, usize)], n_rows: usize, max_bins: usize) -> FeatureBins {
    let mut bins = FeatureBins {
        lower: Vec::with_capacity(max_bins),
        upper: Vec::with_capacity(max_bins),
        has_missing: false,
    };
    let (mut rows_left, mut bins_left) = (n_rows, max_bins);
    let mut in_bin = 0usize;
    for (i, &(value, count)) in runs.iter().enumerate() {
        let target = rows_left as f64 / bins_left as f64;
        let overshoot = (in_bin + count) as f64 - target;
        if in_bin > 0 && bins_left > 1 && overshoot > target - in_bin as f64 {
            // Closer to the target without this value: close the bin before it.
            rows_left -= in_bin;
            bins_left -= 1;
            in_bin = 0;
        }
        if in_bin == 0 {
            bins.lower.push(value);
            bins.upper.push(value);
        }
        in_bin += count;
        *bins.upper.last_mut().expect("a bin was opened") = value;
        let target = rows_left as f64 / bins_left as f64;
        if in_bin as f64 >= target && bins_left > 1 && i + 1 < runs.len() {
            rows_left -= in_bin;
            bins_left -= 1;
            in_bin = 0;
        }
    }
    bins
}

/// The training matrix as bin codes, row-major with a fixed stride (`stride >= n_features`,
/// padded with zeros): the stride of the tree-local row records (`workspace::code_stride`), so a
/// tree copies a row's codes as one fixed-size block.
#[derive(Debug, Clone)]
pub struct BinnedData {
    pub n_rows: usize,
    pub n_features: usize,
    pub bins: Vec<FeatureBins>,
    stride: usize,
    codes: Vec<u8>,
}

impl BinnedData {
    /// Bins column-major data (one `Vec` per feature, equal lengths, finite values or NaN for
    /// missing) into rows of `stride` codes.
    pub fn new(columns: &[Vec<f64>], stride: usize) -> BinnedData {
        let n_features = columns.len();
        let n_rows = columns.first().map_or(0, Vec::len);
        assert!(stride >= n_features, "the stride holds every feature");
        let (bins, coded): (Vec<FeatureBins>, Vec<Vec<u8>>) =
            columns.par_iter().map(|column| FeatureBins::fit_and_code(column, MAX_BINS)).unzip();
        let mut codes = vec![0u8; n_rows * stride];
        const CHUNK_ROWS: usize = 4096;
        if stride > 0 {
            codes.par_chunks_mut(CHUNK_ROWS * stride).enumerate().for_each(|(chunk, out)| {
                let first_row = chunk * CHUNK_ROWS;
                for (f, column) in coded.iter().enumerate() {
                    let column = &column[first_row..first_row + out.len() / stride];
                    for (row, &code) in out.chunks_exact_mut(stride).zip(column) {
                        row[f] = code;
                    }
                }
            });
        }
        BinnedData { n_rows, n_features, bins, stride, codes }
    }

    /// The codes of one row (`stride` of them; those past `n_features` are 0).
    #[inline]
    pub fn row(&self, row: usize) -> &[u8] {
        &self.codes[row * self.stride..(row + 1) * self.stride]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_a_bin_each() {
        let column = [3.0, 1.0, -0.0, 1.0, 0.0, 3.0, 2.5];
        let bins = FeatureBins::from_column(&column, MAX_BINS);
        assert_eq!(bins.upper, vec![0.0, 1.0, 2.5, 3.0]);
        assert_eq!(bins.lower, bins.upper);
        let codes: Vec<u8> = column.iter().map(|&x| bins.code(x)).collect();
        assert_eq!(codes, vec![3, 1, 0, 1, 0, 3, 2]);
    }

    #[test]
    fn many_distinct_values_get_near_equal_count_bins_and_a_heavy_value_its_own() {
        // 70 % zeros then 3000 distinct values: the zero bin, then bins of ~3000/255 rows each.
        let mut column = vec![0.0; 7000];
        column.extend((1..=3000).map(|i| i as f64 * 0.5));
        let bins = FeatureBins::from_column(&column, MAX_BINS);
        assert_eq!(bins.n_bins(), MAX_BINS);
        assert_eq!((bins.lower[0], bins.upper[0]), (0.0, 0.0));
        let mut counts = vec![0usize; bins.n_bins()];
        for &x in &column {
            counts[bins.code(x) as usize] += 1;
        }
        assert_eq!(counts[0], 7000);
        let (min, max) = (counts[1..].iter().min().unwrap(), counts[1..].iter().max().unwrap());
        assert!(*min >= 10 && *max <= 13, "bin sizes {min}..{max}");
        // Bins are disjoint, ordered and cover every value: each value's bin contains it.
        for b in 1..bins.n_bins() {
            assert!(bins.upper[b - 1] < bins.lower[b] && bins.lower[b] <= bins.upper[b]);
        }
        for &x in &column {
            let b = bins.code(x) as usize;
            assert!(bins.lower[b] <= x && x <= bins.upper[b]);
        }
    }

    #[test]
    fn subsampled_quantile_bins_hold_the_true_extremes_and_near_equal_counts() {
        // 300k distinct values (a shuffled grid): edges come from a 50k subsample.
        let n = 300_000u64;
        let column: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64 / 10.0).collect();
        let (bins, codes) = FeatureBins::fit_and_code(&column, MAX_BINS);
        assert!(bins.n_bins() > 250 && bins.n_bins() <= MAX_BINS, "{} bins", bins.n_bins());
        let mut counts = vec![0usize; bins.n_bins()];
        let mut extremes = vec![(f64::INFINITY, f64::NEG_INFINITY); bins.n_bins()];
        for (&x, &c) in column.iter().zip(&codes) {
            let b = c as usize;
            assert_eq!(c, bins.code(x), "stored code equals the code of the value");
            counts[b] += 1;
            extremes[b] = (extremes[b].0.min(x), extremes[b].1.max(x));
        }
        for (b, extreme) in extremes.iter().enumerate() {
            assert_eq!(*extreme, (bins.lower[b], bins.upper[b]), "bin {b} is its values' range");
        }
        let ideal = n as f64 / bins.n_bins() as f64;
        let worst = counts.iter().map(|&c| (c as f64 / ideal - 1.0).abs()).fold(0.0, f64::max);
        assert!(worst < 0.1, "bin counts deviate from equal by up to {worst}");
    }

    #[test]
    fn small_integer_columns_are_binned_exactly_by_lookup() {
        let column = [3.0, 0.0, 1023.0, 3.0, 7.0, -0.0];
        let (bins, codes) = FeatureBins::fit_and_code(&column, MAX_BINS);
        assert_eq!(bins.upper, vec![0.0, 3.0, 7.0, 1023.0]);
        assert_eq!(codes, vec![1, 0, 3, 1, 2, 0]);
        for (&x, &c) in column.iter().zip(&codes) {
            assert_eq!(bins.code(x), c, "the table agrees with the search");
        }
        // Out of the table's range, fractional or too many distinct values: the general path.
        assert!(small_integer_bins(&[1024.0], MAX_BINS).is_none());
        assert!(small_integer_bins(&[-1.0], MAX_BINS).is_none());
        assert!(small_integer_bins(&[0.5], MAX_BINS).is_none());
        let wide: Vec<f64> = (0..300).map(f64::from).collect();
        assert!(small_integer_bins(&wide, MAX_BINS).is_none());
        assert_eq!(FeatureBins::fit_and_code(&wide, MAX_BINS).0.n_bins(), MAX_BINS);
    }

    #[test]
    fn thresholds_separate_the_bins_they_split() {
        let bins = FeatureBins { lower: vec![1.0, 2.0, 4.0], upper: vec![1.5, 3.0, 9.0], has_missing: false };
        assert_eq!(bins.threshold_between(0, 1), 1.75);
        assert_eq!(bins.threshold_between(0, 2), 2.75);
        let tiny = 1.0f64;
        let next = f64::from_bits(tiny.to_bits() + 1);
        let adjacent = FeatureBins { lower: vec![tiny, next], upper: vec![tiny, next], has_missing: false };
        let t = adjacent.threshold_between(0, 1);
        assert!(tiny <= t && t < next);
    }

    #[test]
    fn missing_values_get_the_code_after_the_value_bins() {
        let nan = f64::NAN;
        // Small integers (table path) and fractional values (search path), NaN anywhere.
        for column in [vec![nan, 3.0, 1.0, nan, 3.0, 0.0], vec![nan, 0.75, 0.5, nan, 0.75, -0.25]] {
            let (bins, codes) = FeatureBins::fit_and_code(&column, MAX_BINS);
            assert!(bins.has_missing);
            assert_eq!((bins.n_bins(), bins.n_codes()), (3, 4));
            assert_eq!(codes, vec![3, 2, 1, 3, 2, 0], "{column:?}");
            let present: Vec<f64> = column.iter().copied().filter(|x| !x.is_nan()).collect();
            let (alone, _) = FeatureBins::fit_and_code(&present, MAX_BINS);
            assert_eq!(
                (&bins.lower, &bins.upper),
                (&alone.lower, &alone.upper),
                "bins of the present values"
            );
            assert!(!alone.has_missing && alone.n_codes() == alone.n_bins());
        }
        // Every value missing: no value bin, and code 0 means missing.
        let (bins, codes) = FeatureBins::fit_and_code(&[nan, nan], MAX_BINS);
        assert_eq!((bins.n_bins(), bins.n_codes(), codes), (0, 1, vec![0, 0]));
    }

    #[test]
    fn a_column_with_missing_values_keeps_one_code_for_them() {
        // 300 distinct present values and 10 % NaN: 255 quantile bins, code 255 is missing.
        let column: Vec<f64> =
            (0..3000).map(|i| if i % 10 == 3 { f64::NAN } else { f64::from(i % 300) + 0.5 }).collect();
        let (bins, codes) = FeatureBins::fit_and_code(&column, MAX_BINS);
        assert_eq!((bins.n_bins(), bins.n_codes()), (MAX_BINS - 1, MAX_BINS));
        for (&x, &c) in column.iter().zip(&codes) {
            if x.is_nan() {
                assert_eq!(c, 255);
            } else {
                assert_eq!(c, bins.code(x));
                assert!(bins.lower[c as usize] <= x && x <= bins.upper[c as usize]);
            }
        }
        // A NaN-free column of the same values keeps all 256 bins.
        let present: Vec<f64> = column.iter().copied().filter(|x| !x.is_nan()).collect();
        assert_eq!(FeatureBins::fit_and_code(&present, MAX_BINS).0.n_bins(), MAX_BINS);
        assert!(has_nan(&column) && !has_nan(&present) && !has_nan(&[]));
    }

    #[test]
    fn binned_data_is_row_major_with_a_padded_stride() {
        let columns = vec![vec![5.0, 6.0, 5.0], vec![0.0, 0.0, 1.0]];
        let data = BinnedData::new(&columns, 4);
        assert_eq!(
            (data.row(0), data.row(1), data.row(2)),
            (&[0, 0, 0, 0][..], &[1, 0, 0, 0][..], &[0, 1, 0, 0][..])
        );
    }
}
