//! The fast walks against `Forest::predict`, bit for bit, on ranks and on values, with and
//! without missing values; ranks against the comparisons they stand in for.

use super::*;
use crate::model::Model;

/// A 12-tree model trained with gaps in three encoded columns (so splits learn where a missing
/// value goes), its table, and the table's encoded columns with those gaps.
fn gapped_model(rows: u64) -> (Model, ApplicantTable, Vec<Vec<f64>>) {
    let table = crate::data::generate_table(rows, 9).unwrap();
    let encoder = crate::features::Encoder::fit(&table).unwrap();
    let n = encoder.n_features();
    let gap = |j: usize, r: usize| {
        [(3, 4), (9, 6), (n - 1, 5)].iter().any(|&(c, every)| c == j && r.is_multiple_of(every))
    };
    let mut columns = encoder.encode_columns(&table);
    for (j, column) in columns.iter_mut().enumerate() {
        for (r, v) in column.iter_mut().enumerate() {
            if gap(j, r) {
                *v = f64::NAN;
            }
        }
    }
    let params = crate::forest::ForestParams {
        n_estimators: 12,
        max_depth: Some(9),
        min_samples_leaf: 5,
        ..Default::default()
    };
    let fitted = crate::forest::fit(&params, &columns, table.approved.as_deref().unwrap(), &|_| {}).unwrap();
    let model = Model { encoder, forest: fitted.forest, threshold: 0.5, info: Default::default() };
    (model, table, columns)
}

#[test]
fn block_scores_are_the_forests_own_bit_for_bit_with_and_without_gaps() {
    let (model, table, columns) = gapped_model(3 * BLOCK as u64 + 3); // a block's tail of 3
    let n = model.encoder.n_features();
    let defaults = model.forest.trees.iter().flat_map(|t| &t.nodes).filter(|n| n.default_left).count();
    assert!(defaults > 0, "some splits send missing values left");
    let ranked = Scorer::new(&model);
    assert!(matches!(ranked.walk, Walk::Ranked { .. }), "this forest is walked on ranks");
    let exact = Scorer::with_bins(&model, None);
    // Gaps everywhere, and gaps in the first block only (the others take the walk that skips
    // the missing-value test).
    let gapped: Vec<f64> =
        (0..table.len()).flat_map(|r| (0..n).map(move |j| (r, j))).map(|(r, j)| columns[j][r]).collect();
    let first_only: Vec<f64> = gapped
        .chunks(n)
        .enumerate()
        .flat_map(|(r, x)| if r < BLOCK { x.to_vec() } else { model.encoder.encode(table.row(r)) })
        .collect();
    for (walk, scorer) in [("ranks", &ranked), ("values", &exact)] {
        for (i, s) in scorer.score(&table).iter().enumerate() {
            let expected = model.forest.predict(&model.encoder.encode(table.row(i)));
            assert_eq!(s.to_bits(), expected.to_bits(), "row {i} on {walk}");
        }
        for (what, rows) in [("gaps", &gapped), ("gaps in the first block", &first_only)] {
            let scores = scorer.score_rows(rows, n, |x, j| x[j]);
            assert_eq!(scores.len(), table.len());
            for (r, s) in scores.iter().enumerate() {
                let expected = model.forest.predict(&rows[r * n..(r + 1) * n]);
                assert_eq!(s.to_bits(), expected.to_bits(), "row {r} with {what} on {walk}");
            }
        }
    }
    assert_eq!(score_table(&model, &table), ranked.score(&table));
}

#[test]
fn flattened_children_are_adjacent_and_leaves_stay_put() {
    let (model, _, _) = gapped_model(2000);
    let n = model.encoder.n_features();
    let scorer = Scorer::new(&model);
    let Walk::Ranked { trees: ranked, .. } = &scorer.walk else { panic!("walked on values") };
    let Walk::Exact(exact) = Scorer::with_bins(&model, None).walk else { panic!("walked on ranks") };
    for (tree, (ranked, exact)) in model.forest.trees.iter().zip(ranked.iter().zip(&exact)) {
        assert_eq!(ranked.steps.len(), tree.nodes.len());
        assert_eq!((ranked.depth, exact.depth), (tree.depth(), tree.depth()));
        for (k, (r, e)) in ranked.steps.iter().zip(&exact.steps).enumerate() {
            let k = k as u32;
            assert_eq!(r.left, e.left);
            if ranked.is_leaf(k) {
                for rank in [0, 7, MISSING_RANK] {
                    assert_eq!(r.next::<true>(&vec![rank; n]), k, "a leaf keeps every row");
                    assert_eq!(r.next::<false>(&vec![rank; n]), k);
                }
                for value in [f64::NAN, f64::INFINITY, -1.0] {
                    assert_eq!(e.next::<true>(&vec![value; n]), k, "a leaf keeps every row");
                }
            } else {
                assert!(r.left > k && (r.left as usize + 1) < ranked.steps.len());
            }
        }
    }
}

#[test]
fn a_rank_splits_where_its_threshold_does() {
    let split = |feature, threshold| Node { threshold, feature, left: 1, right: 2, ..Node::leaf(0.0, 1.0) };
    let stump = |feature, threshold| Tree {
        nodes: vec![split(feature, threshold), Node::leaf(0.0, 1.0), Node::leaf(1.0, 1.0)],
    };
    let thresholds = [-0.0, 0.0, 0.5, 0.5, 1e-300, -2.5, 3.0, f64::INFINITY, f64::NEG_INFINITY, 1e9];
    // Feature 0: every threshold; 1: one threshold; 2: none.
    let mut trees: Vec<Tree> = thresholds.iter().map(|&t| stump(0, t)).collect();
    trees.push(stump(1, 0.5));
    let bins = Bins::of(&trees, 3).unwrap();
    assert!(matches!(bins.ranks[..], [Rank::Many(Sorted { len: 8, .. }), Rank::One(0.5), Rank::Unused]));
    let values = [
        -0.0,
        0.0,
        0.5,
        0.49,
        0.51,
        1e-300,
        2e-300,
        -2.5,
        3.0,
        4.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e9,
        -1e300,
    ];
    for (feature, cuts) in [(0, &thresholds[..]), (1, &[0.5][..])] {
        for &t in cuts {
            for &x in &values {
                let ranked = bins.rank(feature, x) <= bins.rank(feature, t);
                assert_eq!(ranked, x <= t, "feature {feature}: {x} <= {t}");
            }
        }
    }
    let mut row = [0u16; 3];
    let x = [1.0, f64::NAN, 2.0];
    assert!(bins.rank_into(&mut row, |j| x[j]));
    assert_eq!(row, [bins.rank(0, 1.0), MISSING_RANK, 0]);
    assert!(!bins.rank_into(&mut row, |j| [1.0, 0.0, 2.0][j]));

    // Many thresholds, dense in places and spread over a wide span (or an infinite one, where
    // the guide cannot help): the guided rank is the count of thresholds below, at, beside and
    // between them.
    let mut spread: Vec<f64> = (0..700).map(|i| 0.37 * f64::from(i).powi(3) - 5e4).collect();
    spread.extend((0..300).map(|i| 1000.0 + 1e-9 * f64::from(i)));
    for extremes in [vec![], vec![f64::MAX, -f64::MAX], vec![f64::INFINITY, f64::NEG_INFINITY]] {
        let mut cuts = spread.clone();
        cuts.extend(&extremes);
        let trees: Vec<Tree> = cuts.iter().map(|&t| stump(0, t)).collect();
        let bins = Bins::of(&trees, 1).unwrap();
        cuts.sort_by(f64::total_cmp);
        let beside = |&c: &f64| [c, c.next_down(), c.next_up(), c + 0.5, c - 1e-7];
        let probes = cuts.iter().flat_map(beside).chain([f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e300]);
        for x in probes {
            let expected = cuts.partition_point(|&c| c < x);
            assert_eq!(usize::from(bins.rank(0, x)), expected, "rank of {x} with {extremes:?}");
        }
    }

    // Ranks cannot stand in: a NaN threshold, too many thresholds, a feature out of range.
    assert!(Bins::of(&[stump(0, f64::NAN)], 1).is_none());
    let many: Vec<Tree> = (0..=MAX_CUTS).map(|t| stump(0, t as f64)).collect();
    assert!(Bins::of(&many, 1).is_none());
    assert!(Bins::of(&many[..MAX_CUTS], 1).is_some());
    assert!(Bins::of(&[stump(1, 0.5)], 1).is_none());
}
