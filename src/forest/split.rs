//! Choosing where one feature splits a node, from the node's histogram of that feature: the cut
//! with the largest Gini decrease, and the side missing values go to, as scikit-learn's
//! `BestSplitter` (1.9) chooses them.

use super::tally::{Counts, Tally};

/// Where a split cuts one feature's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Between two value bins: the last non-empty one that goes left and the first non-empty one
    /// that goes right.
    Between { left_bin: usize, right_bin: usize },
    /// Every present value left (the last non-empty value bin is `last_bin`), every missing one
    /// right (scikit-learn's threshold +inf).
    PresentLeft { last_bin: usize },
}

/// The best cut found in one feature's histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub cut: Cut,
    /// Where missing values go: the side the node's missing rows were sent to, or, when it has
    /// none, the side with more rows.
    pub default_left: bool,
    pub left: Counts,
    pub proxy: f64,
}

impl Cut {
    /// The largest value code that goes left (the missing code is larger than every value code).
    pub fn last_left_bin(self) -> usize {
        match self {
            Cut::Between { left_bin, .. } => left_bin,
            Cut::PresentLeft { last_bin } => last_bin,
        }
    }
}

/// The threshold of a `Cut::PresentLeft` split: every finite value is at most this, so every
/// present value goes left and only a missing one (NaN, which compares false) goes right, as
/// scikit-learn's +inf does; finite because the dump format and JSON have no infinity.
pub const PRESENT_LEFT_THRESHOLD: f64 = f64::MAX;

/// Scans one feature's histogram for its best cut as scikit-learn's `BestSplitter` (1.9) does with
/// missing values: `values` are the value bins' cells, `missing` the node's missing rows. The
/// candidates, in scikit-learn's order (the first of equal Gini decreases wins):
/// 1. each cut between two consecutive non-empty bins with the missing rows on the right, then
///    (if there are missing rows) every present value left and every missing one right;
/// 2. if there are missing rows, each cut between two bins with the missing rows on the left.
///
/// Every side keeps at least `min_leaf` rows. Returns whether the feature can split the node
/// (scikit-learn calls it constant when every value is missing, or when the present values are
/// all equal and none is missing), and the best candidate.
pub fn best_cut<T: Tally>(
    values: &[T],
    missing: Counts,
    totals: &Counts,
    min_leaf: u32,
) -> (bool, Option<Candidate>) {
    let has_missing = missing.rows > 0;
    let mut left = Counts::default();
    let mut last_non_empty: Option<usize> = None;
    // The best with the missing rows right (first pass) and left (second pass).
    let (mut best_right, mut best_left): (Option<Candidate>, Option<Candidate>) = (None, None);
    let mut non_constant = false;
    for (b, cell) in values.iter().enumerate() {
        if cell.is_empty() {
            continue;
        }
        if let Some(left_bin) = last_non_empty {
            non_constant = true;
            // The right side only shrinks from here, with or without the missing rows.
            if totals.rows - left.rows < min_leaf {
                break;
            }
            let cut = Cut::Between { left_bin, right_bin: b };
            if left.rows >= min_leaf {
                // A node without missing rows sends future missing values to its larger child,
                // like scikit-learn: with nothing learnt about them, where most rows went.
                let default_left = !has_missing && left.rows > totals.rows - left.rows;
                consider(&mut best_right, cut, default_left, left, totals);
            }
            if has_missing {
                let mut with_missing = left;
                with_missing.add(missing);
                if with_missing.rows >= min_leaf && totals.rows - with_missing.rows >= min_leaf {
                    consider(&mut best_left, cut, true, with_missing, totals);
                }
            }
        }
        left.add(cell.counts());
        last_non_empty = Some(b);
    }
    if has_missing && let Some(last_bin) = values.iter().rposition(|cell| !cell.is_empty()) {
        non_constant = true;
        let present = totals.minus(missing);
        if present.rows >= min_leaf && missing.rows >= min_leaf {
            consider(&mut best_right, Cut::PresentLeft { last_bin }, false, present, totals);
        }
    }
    let best = match (best_right, best_left) {
        (Some(right), Some(left)) => Some(if left.proxy > right.proxy { left } else { right }),
        (right, left) => right.or(left),
    };
    (non_constant, best)
}

/// Keeps the candidate (`left` the counts that go left) if its Gini decrease beats `best`'s.
#[inline]
fn consider(best: &mut Option<Candidate>, cut: Cut, default_left: bool, left: Counts, totals: &Counts) {
    let proxy = left.gini_proxy() + totals.minus(left).gini_proxy();
    if best.is_none_or(|b| proxy > b.proxy) {
        *best = Some(Candidate { cut, default_left, left, proxy });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rows: u32, weight: u32, positive: u32) -> Counts {
        Counts { rows, weight, positive }
    }

    #[test]
    fn best_cut_maximises_the_gini_decrease_by_brute_force() {
        // Bins with (rows, weight, positive); empty bins in between must be skipped.
        let hist = [
            counts(3, 4, 0),
            counts(0, 0, 0),
            counts(2, 3, 1),
            counts(4, 4, 4),
            counts(0, 0, 0),
            counts(3, 5, 2),
        ];
        let mut totals = Counts::default();
        hist.iter().for_each(|&h| totals.add(h));
        let gini = |c: &Counts| {
            let v = c.positive as f64 / c.weight as f64;
            c.weight as f64 * 2.0 * v * (1.0 - v)
        };
        // Brute force over every prefix of non-empty bins.
        let non_empty: Vec<usize> = (0..hist.len()).filter(|&b| hist[b].rows > 0).collect();
        let mut best = (f64::INFINITY, 0, 0, Counts::default());
        for w in non_empty.windows(2) {
            let mut left = Counts::default();
            hist[..=w[0]].iter().for_each(|&h| left.add(h));
            let impurity = gini(&left) + gini(&totals.minus(left));
            if impurity < best.0 {
                best = (impurity, w[0], w[1], left);
            }
        }
        let (non_constant, cut) = best_cut(&hist, Counts::default(), &totals, 1);
        let cut = cut.unwrap();
        assert!(non_constant);
        assert_eq!((cut.cut, cut.left), (Cut::Between { left_bin: best.1, right_bin: best.2 }, best.3));
        // By hand: the cut after bin 2 (impurity 1.714 + 4.0) beats after bin 3 (5.45 + 2.4).
        assert_eq!(cut.cut, Cut::Between { left_bin: 2, right_bin: 3 });
        // Rows per side: after bin 0 3|9, after bin 2 5|7, after bin 3 9|3. With at least 6 rows
        // per leaf no cut is allowed, with 5 only the one after bin 2.
        assert!(best_cut(&hist, Counts::default(), &totals, 6).1.is_none());
        let at_least_5 = best_cut(&hist, Counts::default(), &totals, 5).1.unwrap();
        assert_eq!(at_least_5.cut, Cut::Between { left_bin: 2, right_bin: 3 });
        // No row is missing: a missing value will go to the larger side (7 rows right).
        assert!(!cut.default_left);
    }

    #[test]
    fn without_missing_rows_missing_values_go_to_the_child_with_more_rows() {
        // Pure 7 | 3 split: the left child has more (distinct) rows, though less weight.
        let hist = [counts(7, 7, 0), counts(3, 9, 3)];
        let cut = best_cut(&hist, Counts::default(), &counts(10, 16, 3), 1).1.unwrap();
        assert_eq!((cut.cut, cut.default_left), (Cut::Between { left_bin: 0, right_bin: 1 }, true));
        // 5 | 5: a tie goes right (scikit-learn's `n_left > n_right`).
        let hist = [counts(5, 5, 0), counts(5, 5, 5)];
        assert!(!best_cut(&hist, Counts::default(), &counts(10, 10, 5), 1).1.unwrap().default_left);
    }

    #[test]
    fn a_single_non_empty_bin_is_constant() {
        let hist = [counts(0, 0, 0), counts(5, 7, 3), counts(0, 0, 0)];
        let (non_constant, cut) = best_cut(&hist, Counts::default(), &hist[1], 1);
        assert!(!non_constant && cut.is_none());
    }

    fn sum(cells: &[Counts]) -> Counts {
        let mut total = Counts::default();
        cells.iter().for_each(|&c| total.add(c));
        total
    }

    #[test]
    fn missing_rows_go_to_the_side_of_their_class() {
        // Bin 0 is all class 0, bin 1 all class 1; the six missing rows are class 1, then class 0.
        let hist = [counts(10, 10, 0), counts(10, 10, 10)];
        let positive_missing = counts(6, 6, 6);
        let cut =
            best_cut(&hist, positive_missing, &sum(&[hist[0], hist[1], positive_missing]), 1).1.unwrap();
        assert_eq!(cut.cut, Cut::Between { left_bin: 0, right_bin: 1 });
        assert_eq!((cut.default_left, cut.left), (false, hist[0]));
        let negative_missing = counts(6, 6, 0);
        let cut =
            best_cut(&hist, negative_missing, &sum(&[hist[0], hist[1], negative_missing]), 1).1.unwrap();
        assert_eq!(cut.cut, Cut::Between { left_bin: 0, right_bin: 1 });
        assert_eq!((cut.default_left, cut.left), (true, counts(16, 16, 0)));
    }

    #[test]
    fn missing_apart_from_present_values_when_only_missingness_informs() {
        // The present values say nothing (half of each bin is class 1); the missing rows are all
        // class 1: the best split is present | missing, which sends missing values right.
        let hist = [counts(10, 10, 5), counts(10, 10, 5)];
        let missing = counts(8, 8, 8);
        let totals = sum(&[hist[0], hist[1], missing]);
        let (non_constant, cut) = best_cut(&hist, missing, &totals, 1);
        let cut = cut.unwrap();
        assert!(non_constant);
        assert_eq!(
            (cut.cut, cut.default_left, cut.left),
            (Cut::PresentLeft { last_bin: 1 }, false, counts(20, 20, 10))
        );
        // With at least 9 rows per leaf the 8 missing rows cannot be a leaf: the cut between the
        // bins remains, missing rows right (left ties with it and is searched second).
        let small = best_cut(&hist, missing, &totals, 9).1.unwrap();
        assert_eq!(small.cut, Cut::Between { left_bin: 0, right_bin: 1 });
    }

    #[test]
    fn one_present_value_with_missing_rows_can_split_and_all_missing_cannot() {
        // scikit-learn calls a feature constant when every value is missing, or when its present
        // values are equal and none is missing.
        let hist = [counts(0, 0, 0), counts(6, 6, 1), counts(0, 0, 0)];
        let missing = counts(4, 4, 4);
        let (non_constant, cut) = best_cut(&hist, missing, &sum(&[hist[1], missing]), 1);
        assert!(non_constant);
        assert_eq!(cut.unwrap().cut, Cut::PresentLeft { last_bin: 1 });
        let (non_constant, cut) = best_cut(&hist[..0], missing, &missing, 1);
        assert!(!non_constant && cut.is_none());
        let (non_constant, cut) = best_cut(&[counts(0, 0, 0)], missing, &missing, 1);
        assert!(!non_constant && cut.is_none());
    }

    #[test]
    fn only_missing_rows_on_the_left_leave_enough_rows_there() {
        // 2 | 10 is below 5 rows per leaf; with the 4 missing rows (class 0) left it is 6 | 10,
        // and present | missing is 12 | 4: only the second pass has a cut.
        let hist = [counts(2, 2, 0), counts(10, 10, 10)];
        let missing = counts(4, 4, 0);
        let cut = best_cut(&hist, missing, &sum(&[hist[0], hist[1], missing]), 5).1.unwrap();
        assert_eq!(cut.cut, Cut::Between { left_bin: 0, right_bin: 1 });
        assert_eq!((cut.default_left, cut.left), (true, counts(6, 6, 0)));
    }

    #[test]
    fn present_left_sends_every_value_bin_left() {
        // Bin 0 is mixed, bins 1 and 2 class 0, the 10 missing rows class 1; with 10 rows per
        // leaf, present | missing (21 | 10) beats the cuts between bins.
        let hist = [counts(12, 12, 6), counts(5, 5, 0), counts(4, 4, 0)];
        let missing = counts(10, 10, 10);
        let cut = best_cut(&hist, missing, &sum(&[hist[0], hist[1], hist[2], missing]), 10).1.unwrap();
        assert_eq!((cut.cut, cut.left), (Cut::PresentLeft { last_bin: 2 }, counts(21, 21, 6)));
    }

    #[test]
    fn equal_decreases_keep_scikit_learns_first_candidate() {
        // Missing rows (one of each class) right or left of the 0 | 1 cut give mirror-image
        // children (4 + 0 | 5 + 1 against 5 + 1 | 0 + 4): the same decrease, and the first pass
        // (missing right) is searched first.
        let hist = [counts(4, 4, 0), counts(4, 4, 4)];
        let missing = counts(2, 2, 1);
        let totals = sum(&[hist[0], hist[1], missing]);
        let right = counts(4, 4, 0).gini_proxy() + counts(6, 6, 5).gini_proxy();
        let left = counts(6, 6, 1).gini_proxy() + counts(4, 4, 4).gini_proxy();
        assert_eq!(right, left, "the two candidates tie exactly");
        let cut = best_cut(&hist, missing, &totals, 1).1.unwrap();
        assert_eq!((cut.cut, cut.default_left), (Cut::Between { left_bin: 0, right_bin: 1 }, false));
    }
}
