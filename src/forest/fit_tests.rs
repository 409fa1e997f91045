//! Tests of `fit`: the trees' invariants checked by routing the raw training rows through them
//! (the definition of cover and value), determinism across thread counts, toy problems, missing
//! values, errors.

use super::fit::{fit, fit_impl, fit_with_histogram_mode, tree_rng};
use super::grow::HistogramMode;
use super::params::{ForestParams, MaxFeatures};
use super::testdata::{Synthetic, logistic, logistic_with_gaps};
use super::tree::{Forest, Tree};
use crate::Error;
use rand::RngExt;

fn params(n_estimators: usize, max_depth: usize, min_samples_leaf: usize) -> ForestParams {
    ForestParams {
        n_estimators,
        max_depth: Some(max_depth),
        min_samples_leaf,
        max_features: MaxFeatures::Sqrt,
        bootstrap: true,
        seed: 7,
        oob_score: false,
    }
}

fn fit_quietly(params: &ForestParams, data: &Synthetic) -> super::FittedForest {
    fit(params, &data.columns, &data.y, &|_| {}).expect("fit succeeds")
}

/// scikit-learn's bootstrap, replayed from the definition: n draws with replacement from the
/// tree's own stream (the first numbers the tree's RNG produces).
fn bootstrap_counts(seed: u64, tree: usize, n: usize) -> Vec<u32> {
    let mut rng = tree_rng(seed, tree);
    let mut counts = vec![0u32; n];
    for _ in 0..n {
        counts[rng.random_range(0..n)] += 1;
    }
    counts
}

/// Per node: (distinct rows, weight, class-1 weight) of the training rows routed through it by
/// raw `x <= threshold` comparisons.
fn route_training_rows(tree: &Tree, data: &Synthetic, weights: &[u32]) -> Vec<(u32, u64, u64)> {
    let mut sums = vec![(0u32, 0u64, 0u64); tree.nodes.len()];
    for (row, &weight) in weights.iter().enumerate().filter(|&(_, &w)| w > 0) {
        let x = data.row(row);
        let mut i = 0;
        loop {
            let w = u64::from(weight);
            sums[i].0 += 1;
            sums[i].1 += w;
            sums[i].2 += if data.y[row] { w } else { 0 };
            if tree.nodes[i].is_leaf() {
                break;
            }
            i = tree.nodes[i].child(&x);
        }
    }
    sums
}

fn assert_tree_matches_routed_rows(
    tree: &Tree,
    data: &Synthetic,
    weights: &[u32],
    min_leaf: u32,
    max_depth: usize,
) {
    let routed = route_training_rows(tree, data, weights);
    assert!(tree.depth() <= max_depth);
    for (i, node) in tree.nodes.iter().enumerate() {
        let (rows, weight, positive) = routed[i];
        assert_eq!(node.cover, weight as f64, "node {i}: cover is the routed bootstrap weight");
        assert_eq!(node.value, positive as f64 / weight as f64, "node {i}: value is the class-1 share");
        assert!(node.cover > 0.0);
        if node.is_leaf() {
            assert!(rows >= min_leaf, "leaf {i} has {rows} distinct rows < {min_leaf}");
        } else {
            let (l, r) = (node.left as usize, node.right as usize);
            assert!(l > i && r > i, "children come after their parent");
            assert_eq!(node.cover, tree.nodes[l].cover + tree.nodes[r].cover);
        }
    }
}

#[test]
fn bootstrap_trees_hold_the_routed_covers_and_values_of_their_training_rows() {
    let data = logistic(3000, 1);
    let p = params(4, 8, 5);
    let forest = fit_quietly(&p, &data).forest;
    assert_eq!(forest.trees.len(), 4);
    for (t, tree) in forest.trees.iter().enumerate() {
        let counts = bootstrap_counts(p.seed, t, data.n_rows());
        assert_eq!(tree.nodes[0].cover, data.n_rows() as f64, "n draws");
        assert!(tree.nodes.len() > 20, "the tree grew");
        assert_tree_matches_routed_rows(tree, &data, &counts, 5, 8);
    }
}

#[test]
fn unbootstrapped_unlimited_tree_with_every_feature_is_pure_or_unsplittable_at_the_leaves() {
    let data = logistic(2000, 2);
    let p = ForestParams {
        n_estimators: 1,
        max_depth: None,
        min_samples_leaf: 1,
        max_features: MaxFeatures::All,
        bootstrap: false,
        ..params(1, 1, 1)
    };
    let tree = &fit_quietly(&p, &data).forest.trees[0];
    let ones = vec![1u32; data.n_rows()];
    assert_tree_matches_routed_rows(tree, &data, &ones, 1, usize::MAX);
    // Every training row is predicted by its own leaf: impure leaves only where rows with equal
    // features disagree, which continuous features make impossible here.
    let routed = route_training_rows(tree, &data, &ones);
    for (i, node) in tree.nodes.iter().enumerate().filter(|(_, n)| n.is_leaf()) {
        assert!(node.value == 0.0 || node.value == 1.0, "leaf {i} with {} rows impure", routed[i].0);
    }
}

#[test]
fn the_forest_is_identical_whatever_the_thread_count_and_histogram_layout() {
    let data = logistic(4000, 3);
    let p = ForestParams { oob_score: true, ..params(6, 10, 3) };
    let fit_on = |threads: usize, mode: HistogramMode| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| fit_with_histogram_mode(&p, &data.columns, &data.y, &|_| {}, Some(mode)).unwrap())
    };
    let one = fit_on(1, HistogramMode::Sampled);
    assert_eq!(one, fit_on(2, HistogramMode::Sampled));
    assert_eq!(one, fit_on(2, HistogramMode::Subtract));
    let wide = fit_impl(&p, &data.columns, &data.y, &|_| {}, Some(HistogramMode::Sampled), true).unwrap();
    assert_eq!(one, wide, "packed and wide histogram cells grow the same trees");
    let other_seed = fit(&ForestParams { seed: 8, ..p.clone() }, &data.columns, &data.y, &|_| {}).unwrap();
    assert_ne!(one.forest, other_seed.forest);
}

#[test]
fn trees_grown_with_gaps_hold_the_routed_covers_and_values_of_their_training_rows() {
    // Routing NaN by each node's `default_left` must reproduce what training put in every node.
    let data = logistic_with_gaps(3000, 11);
    let p = params(4, 8, 5);
    let forest = fit_quietly(&p, &data).forest;
    let mut defaults = [0usize; 2];
    for (t, tree) in forest.trees.iter().enumerate() {
        let counts = bootstrap_counts(p.seed, t, data.n_rows());
        assert_tree_matches_routed_rows(tree, &data, &counts, 5, 8);
        tree.nodes.iter().filter(|n| !n.is_leaf()).for_each(|n| defaults[usize::from(n.default_left)] += 1);
    }
    assert!(defaults[0] > 10 && defaults[1] > 10, "both default sides are learned: {defaults:?}");
    let unbootstrapped = ForestParams {
        max_depth: None,
        min_samples_leaf: 1,
        max_features: MaxFeatures::All,
        bootstrap: false,
        ..params(1, 1, 1)
    };
    let tree = &fit_quietly(&unbootstrapped, &data).forest.trees[0];
    assert_tree_matches_routed_rows(tree, &data, &vec![1; data.n_rows()], 1, usize::MAX);
}

#[test]
fn the_forest_with_gaps_is_identical_whatever_the_thread_count_and_histogram_layout() {
    let data = logistic_with_gaps(4000, 12);
    let p = ForestParams { oob_score: true, ..params(6, 10, 3) };
    let fit_on = |threads: usize, mode: HistogramMode| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| fit_with_histogram_mode(&p, &data.columns, &data.y, &|_| {}, Some(mode)).unwrap())
    };
    let one = fit_on(1, HistogramMode::Sampled);
    assert_eq!(one, fit_on(2, HistogramMode::Sampled));
    assert_eq!(one, fit_on(2, HistogramMode::Subtract));
    let wide = fit_impl(&p, &data.columns, &data.y, &|_| {}, Some(HistogramMode::Sampled), true).unwrap();
    assert_eq!(one, wide, "packed and wide histogram cells grow the same trees");
    let oob = one.oob.unwrap();
    assert!(oob.roc_auc.unwrap() > 0.65, "the gaps leave signal (6 trees): {:?}", oob.roc_auc);
}

#[test]
fn informative_missingness_is_one_split_that_sends_missing_values_right() {
    // The present values (0..4, each once per class) say nothing; every missing value is class 1:
    // one split, present | missing, at a threshold every finite value is below.
    let x: Vec<f64> = (0..10).map(|i| f64::from(i / 2)).chain([f64::NAN; 6]).collect();
    let y: Vec<bool> = (0..16).map(|i| i >= 10 || i % 2 == 0).collect();
    let p = ForestParams { bootstrap: false, max_features: MaxFeatures::All, ..params(1, 1, 1) };
    let forest = fit(&p, &[x], &y, &|_| {}).unwrap().forest;
    let nodes = &forest.trees[0].nodes;
    assert_eq!(nodes.len(), 3);
    assert_eq!((nodes[0].threshold, nodes[0].default_left), (f64::MAX, false));
    assert_eq!((nodes[1].value, nodes[1].cover, nodes[2].value, nodes[2].cover), (0.5, 10.0, 1.0, 6.0));
    assert_eq!((forest.predict(&[f64::NAN]), forest.predict(&[1e300])), (1.0, 0.5));
}

#[test]
fn missing_values_follow_the_class_they_resemble() {
    // x <= 4 is class 0, x >= 10 class 1; the missing rows are class 0, so they join the left.
    let x: Vec<f64> = (0..5).chain(10..15).map(f64::from).chain([f64::NAN; 3]).collect();
    let y: Vec<bool> = (0..13).map(|i| (5..10).contains(&i)).collect();
    let p = ForestParams { bootstrap: false, max_features: MaxFeatures::All, ..params(1, 3, 1) };
    let nodes = fit(&p, &[x], &y, &|_| {}).unwrap().forest.trees[0].nodes.clone();
    assert_eq!(nodes.len(), 3);
    assert_eq!((nodes[0].threshold, nodes[0].default_left), (7.0, true));
    assert_eq!((nodes[1].value, nodes[1].cover, nodes[2].value, nodes[2].cover), (0.0, 8.0, 1.0, 5.0));
}

#[test]
fn a_split_that_saw_no_missing_value_sends_them_to_its_larger_child() {
    // Feature 1 has gaps elsewhere but none among the rows the root splits on feature 0, whose
    // left child has 7 rows and right 3: a missing feature 0 goes left.
    let columns = vec![(0..10).map(f64::from).collect::<Vec<_>>(), vec![f64::NAN; 10]];
    let y: Vec<bool> = (0..10).map(|i| i >= 7).collect();
    let p = ForestParams { bootstrap: false, max_features: MaxFeatures::All, ..params(1, 3, 1) };
    let forest = fit(&p, &columns, &y, &|_| {}).unwrap().forest;
    let nodes = &forest.trees[0].nodes;
    assert_eq!((nodes.len(), nodes[0].feature, nodes[0].threshold, nodes[0].default_left), (3, 0, 6.5, true));
    assert_eq!(forest.predict(&[f64::NAN, f64::NAN]), 0.0);
    // The all-missing feature never splits: every value is missing, so it is constant.
    assert!(forest.trees[0].nodes.iter().all(|n| n.is_leaf() || n.feature == 0));
}

#[test]
fn every_tree_reports_done_once() {
    let data = logistic(500, 4);
    let done = std::sync::Mutex::new(Vec::new());
    fit(&params(9, 4, 1), &data.columns, &data.y, &|t| done.lock().unwrap().push(t)).unwrap();
    let mut done = done.into_inner().unwrap();
    done.sort();
    assert_eq!(done, (0..9).collect::<Vec<_>>());
}

#[test]
fn a_separable_problem_is_one_split_at_the_gap_midpoint() {
    // x <= 9 is class 0, x >= 20 class 1: one split at (9 + 20) / 2, two pure leaves.
    let x: Vec<f64> = (0..10).chain(20..30).map(f64::from).collect();
    let y: Vec<bool> = x.iter().map(|&v| v > 15.0).collect();
    let p = ForestParams { bootstrap: false, max_features: MaxFeatures::All, ..params(1, 5, 1) };
    let forest = fit(&p, &[x], &y, &|_| {}).unwrap().forest;
    let nodes = &forest.trees[0].nodes;
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0].threshold, 14.5);
    assert_eq!((nodes[1].value, nodes[1].cover, nodes[2].value, nodes[2].cover), (0.0, 10.0, 1.0, 10.0));
    assert_eq!(forest.predict(&[14.5]), 0.0);
    assert_eq!(forest.predict(&[14.6]), 1.0);
}

#[test]
fn constant_sampled_features_make_the_node_draw_more() {
    // Feature 0 is constant, feature 1 separates: with one feature per split the root must still
    // split on feature 1 (scikit-learn draws on while every drawn feature is constant).
    let columns = vec![vec![1.0; 8], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]];
    let y = vec![false, false, false, false, true, true, true, true];
    let p = ForestParams { bootstrap: false, max_features: MaxFeatures::Count(1), ..params(5, 3, 1) };
    let forest = fit(&p, &columns, &y, &|_| {}).unwrap().forest;
    for tree in &forest.trees {
        assert_eq!((tree.nodes.len(), tree.nodes[0].feature, tree.nodes[0].threshold), (3, 1, 3.5));
    }
}

#[test]
fn out_of_bag_predictions_average_the_trees_that_did_not_draw_the_row() {
    // With gaps too: a left-out row's missing values take each node's default side.
    for data in [logistic(1500, 5), logistic_with_gaps(1500, 5)] {
        let p = ForestParams { oob_score: true, ..params(12, 6, 5) };
        let fitted = fit_quietly(&p, &data);
        let oob = fitted.oob.expect("asked for");
        let bags: Vec<Vec<u32>> = (0..12).map(|t| bootstrap_counts(p.seed, t, data.n_rows())).collect();
        let mut scored = 0;
        let mut correct = 0;
        for (row, label) in data.y.iter().enumerate() {
            let x = data.row(row);
            let out: Vec<f64> = bags
                .iter()
                .zip(&fitted.forest.trees)
                .filter(|(bag, _)| bag[row] == 0)
                .map(|(_, tree)| tree.predict(&x))
                .collect();
            let want = (!out.is_empty()).then(|| out.iter().sum::<f64>() / out.len() as f64);
            assert_eq!(oob.predictions[row], want, "row {row}");
            if let Some(p) = want {
                scored += 1;
                correct += usize::from((p > 0.5) == *label);
            }
        }
        assert_eq!(oob.n_scored, scored);
        assert_eq!(oob.accuracy, correct as f64 / scored as f64);
        assert!(oob.accuracy > 0.6 && oob.roc_auc.unwrap() > 0.7, "{} {:?}", oob.accuracy, oob.roc_auc);
    }
}

#[test]
fn importances_favour_the_informative_features() {
    let data = logistic(4000, 6);
    let forest: Forest = fit_quietly(&params(20, 8, 5), &data).forest;
    let imp = forest.feature_importances();
    assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // Features 8 and 9 are pure noise; 0 and 1 carry most of the signal.
    assert!(imp[0] > imp[8] && imp[0] > imp[9] && imp[1] > imp[8] && imp[1] > imp[9], "{imp:?}");
}

fn usage_message(result: crate::Result<super::FittedForest>) -> String {
    match result {
        Err(Error::Usage(message)) => message,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn bad_training_data_is_a_clear_error() {
    let p = params(2, 3, 1);
    let y = vec![true, false, true];
    let good = vec![vec![1.0, 2.0, 3.0]];
    let none: &(dyn Fn(usize) + Sync) = &|_| {};
    type Case = (Vec<Vec<f64>>, Vec<bool>, &'static str);
    let cases: Vec<Case> = vec![
        (vec![], y.clone(), "no feature columns"),
        (vec![vec![]], vec![], "no rows"),
        (vec![vec![1.0, 2.0, 3.0], vec![1.0, 2.0]], y.clone(), "column 1 has 2 rows but there are 3 labels"),
        (vec![vec![1.0, f64::NEG_INFINITY, 3.0]], y.clone(), "column 0, row 1: -inf is not a finite number"),
        (vec![vec![1.0, 2.0, f64::INFINITY]], y.clone(), "row 2: inf"),
        (good.clone(), vec![true; 3], "every training label is true"),
        (good.clone(), vec![false; 3], "every training label is false"),
    ];
    for (columns, labels, expected) in cases {
        let message = usage_message(fit(&p, &columns, &labels, none));
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    let too_many = ForestParams { max_features: MaxFeatures::Count(2), ..p.clone() };
    assert!(usage_message(fit(&too_many, &good, &y, none)).contains("only 1 feature"));
    let no_trees = ForestParams { n_estimators: 0, ..p };
    assert!(usage_message(fit(&no_trees, &good, &y, none)).contains("n_estimators"));
}
