//! TreeSHAP against the spec's hand-checked table and against brute-force Shapley enumeration on
//! seeded random trees and forests (features split repeatedly on a path, rows on thresholds).

use super::brute;
use super::*;
use crate::forest::{Node, spec_tree};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOL: f64 = 1e-12;

fn assert_close(ours: &[f64], oracle: &[f64], what: &str) {
    assert_eq!(ours.len(), oracle.len(), "{what}");
    for (j, (a, b)) in ours.iter().zip(oracle).enumerate() {
        assert!(
            (a - b).abs() <= TOL,
            "{what}: feature {j}: ours {a} vs oracle {b} (|diff| {:.3e})",
            (a - b).abs()
        );
    }
}

/// The table of docs/forest-dump.md: (row, f(x), path-dependent φ, interventional φ).
#[allow(clippy::type_complexity)]
const SPEC_TABLE: [([f64; 3], f64, [f64; 3], [f64; 3]); 4] = [
    ([0.0, 3.0, 0.0], 0.5, [-0.21, 0.07, 0.0], [-0.3, 0.3, 0.0]),
    ([1.0, 0.0, 7.0], 0.6, [0.02, -0.06, 0.0], [0.1, 0.0, 0.0]),
    ([0.5, 2.0, 0.0], 0.1, [-0.33, -0.21, 0.0], [-0.4, 0.0, 0.0]),
    ([1.5, 5.0, 0.0], 0.6, [-0.06, 0.02, 0.0], [0.0, 0.1, 0.0]),
];

fn spec_forest() -> Forest {
    Forest { n_features: 3, trees: vec![spec_tree()] }
}

#[test]
fn path_dependent_matches_the_spec_table() {
    let shap = TreeShap::path_dependent(&spec_forest()).unwrap();
    assert!((shap.base_value() - 0.64).abs() <= TOL);
    for (x, fx, phi, _) in SPEC_TABLE {
        let e = shap.explain(&x).unwrap();
        assert_eq!(e.prediction, fx);
        assert_close(&e.values, &phi, &format!("path-dependent {x:?}"));
    }
}

#[test]
fn interventional_matches_the_spec_table() {
    let shap = TreeShap::interventional(&spec_forest(), &[0.0, 0.0, 0.0, 2.0, 0.0, 0.0]).unwrap();
    assert!((shap.base_value() - 0.5).abs() <= TOL);
    assert_eq!(shap.n_background(), 2);
    for (x, fx, _, phi) in SPEC_TABLE {
        let e = shap.explain(&x).unwrap();
        assert_eq!(e.prediction, fx);
        assert_close(&e.values, &phi, &format!("interventional {x:?}"));
    }
}

/// Grid the thresholds are drawn from; rows draw from a finer grid so they often sit exactly on
/// a threshold.
fn threshold(rng: &mut ChaCha8Rng) -> f64 {
    rng.random_range(0..8) as f64 * 0.5
}

/// A grid value, or a missing one (NaN) one time in eight.
fn grid_value(rng: &mut ChaCha8Rng) -> f64 {
    if rng.random_range(0..8) == 0 { f64::NAN } else { rng.random_range(0..17) as f64 * 0.25 }
}

/// A random tree in preorder (children after parents); covers are log-uniform at the leaves
/// (ratios down to 1e-5) and sums above, values uniform in [0, 1].
fn random_tree(rng: &mut ChaCha8Rng, m: usize, max_depth: usize, p_split: f64) -> Tree {
    fn grow(
        rng: &mut ChaCha8Rng,
        nodes: &mut Vec<Node>,
        m: usize,
        depth: usize,
        max_depth: usize,
        p: f64,
    ) -> usize {
        let at = nodes.len();
        if depth >= max_depth || (depth > 0 && !rng.random_bool(p)) {
            let cover = 10f64.powf(rng.random_range(0.0..5.0)).round().max(1.0);
            nodes.push(Node::leaf(rng.random_range(0.0..1.0), cover));
            return at;
        }
        let (feature, threshold) = (rng.random_range(0..m) as u32, threshold(rng));
        let default_left = rng.random_bool(0.5);
        nodes.push(Node::leaf(0.0, 0.0));
        let left = grow(rng, nodes, m, depth + 1, max_depth, p);
        let right = grow(rng, nodes, m, depth + 1, max_depth, p);
        let (cl, cr) = (nodes[left].cover, nodes[right].cover);
        let (vl, vr) = (nodes[left].value, nodes[right].value);
        nodes[at] = Node {
            threshold,
            value: (cl * vl + cr * vr) / (cl + cr),
            cover: cl + cr,
            feature,
            left: left as u32,
            right: right as u32,
            default_left,
        };
        at
    }
    let mut nodes = Vec::new();
    grow(rng, &mut nodes, m, 0, max_depth, p_split);
    Tree { nodes }
}

fn random_forest(rng: &mut ChaCha8Rng, m: usize, trees: usize, max_depth: usize, p_split: f64) -> Forest {
    Forest { n_features: m, trees: (0..trees).map(|_| random_tree(rng, m, max_depth, p_split)).collect() }
}

fn random_rows(rng: &mut ChaCha8Rng, m: usize, n: usize) -> Vec<Vec<f64>> {
    (0..n).map(|_| (0..m).map(|_| grid_value(rng)).collect()).collect()
}

/// Checks both methods on `forest` against brute force for `rows`, and additivity.
fn check_against_brute_force(forest: &Forest, rows: &[Vec<f64>], background: &[Vec<f64>], what: &str) {
    let m = forest.n_features;
    let path = TreeShap::path_dependent(forest).unwrap();
    let flat: Vec<f64> = background.concat();
    let inter = TreeShap::interventional(forest, &flat).unwrap();
    for x in rows {
        let ours = path.explain(x).unwrap();
        let oracle = brute::shapley(m, |s| brute::path_value(forest, x, s));
        assert_close(&ours.values, &oracle, &format!("{what} path-dependent x={x:?}"));
        assert!((ours.base_value - brute::path_value(forest, x, 0)).abs() <= TOL, "{what} base");
        assert_eq!(ours.prediction.to_bits(), forest.predict(x).to_bits(), "{what} prediction");
        assert!(ours.additivity_error() <= TOL, "{what} additivity {}", ours.additivity_error());

        let ours = inter.explain(x).unwrap();
        let oracle = brute::shapley(m, |s| brute::interventional_value(forest, x, background, s));
        assert_close(&ours.values, &oracle, &format!("{what} interventional x={x:?}"));
        let base = brute::interventional_value(forest, x, background, 0);
        assert!((ours.base_value - base).abs() <= TOL, "{what} interventional base");
        assert!(ours.additivity_error() <= TOL, "{what} interventional additivity");
    }
}

#[test]
fn random_trees_and_forests_match_brute_force() {
    for seed in 0..60u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let m = 1 + (seed % 8) as usize;
        let trees = 1 + (seed % 4) as usize;
        // Depth 1: stumps, whose root is a bottom node (both children leaves).
        let max_depth = 1 + (seed % 8) as usize;
        let forest = random_forest(&mut rng, m, trees, max_depth, 0.85);
        let rows = random_rows(&mut rng, m, 4);
        let background = random_rows(&mut rng, m, 1 + (seed % 5) as usize);
        check_against_brute_force(
            &forest,
            &rows,
            &background,
            &format!("seed {seed} m={m} depth≤{max_depth}"),
        );
    }
}

#[test]
fn features_split_many_times_on_one_path_match_brute_force() {
    // Two features and deep trees: every path repeats features, with x on and off each side.
    for seed in 100..120u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let forest = random_forest(&mut rng, 2, 2, 9, 0.8);
        let rows = random_rows(&mut rng, 2, 6);
        let background = random_rows(&mut rng, 2, 3);
        check_against_brute_force(&forest, &rows, &background, &format!("seed {seed}"));
    }
}

#[test]
fn deep_trees_with_many_features_on_a_path_match_brute_force() {
    // Up to 12 distinct features on a path: integrands of degree 11, six or more quadrature nodes.
    let mut widest = 0;
    for seed in 200..206u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let forest = random_forest(&mut rng, 12, 1, 22, 0.72);
        let engine = PathForest::new(&forest).unwrap();
        widest = widest.max(path::lanes_of(&engine));
        let rows = random_rows(&mut rng, 12, 2);
        let background = random_rows(&mut rng, 12, 2);
        check_against_brute_force(&forest, &rows, &background, &format!("deep seed {seed}"));
    }
    assert!(widest >= 5, "the deep trees should need wide rules, got {widest} lanes");
}

#[test]
fn every_instruction_set_and_threading_gives_the_same_bits_as_the_plain_reference() {
    let isas = isa::Isa::available();
    // On the x86_64 machines this runs on, at least AVX: the comparison is never with itself only.
    #[cfg(target_arch = "x86_64")]
    assert!(isas.len() >= 2, "only {isas:?} available");
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // Depth 12 and nine features: the 6-lane polynomials the bench forest uses.
    let mut forest = random_forest(&mut rng, 9, 6, 12, 0.85);
    // And a stump: a tree that is one bottom node.
    forest.trees.push(random_tree(&mut rng, 9, 1, 0.85));
    let plain = path::with_isa(&PathForest::new(&forest).unwrap(), isa::Isa::Baseline);
    assert_eq!(path::lanes_of(&plain), 6);
    let rows = random_rows(&mut rng, 9, 20);
    let references: Vec<Vec<f64>> = rows
        .iter()
        .map(|x| {
            let mut reference = vec![0.0; 9];
            plain.shap_into(x, &mut plain.scratch(), &mut reference);
            reference
        })
        .collect();
    for &isa in &isas {
        let variant = std::sync::Arc::new(path::with_isa(&plain, isa));
        for (x, reference) in rows.iter().zip(&references) {
            let (mut one, mut two) = (vec![0.0; 9], vec![0.0; 9]);
            variant.shap_into(x, &mut variant.scratch(), &mut one);
            variant.shap_parallel(x, &mut variant.scratch(), &mut two);
            assert_eq!(bits(&one), bits(reference), "{isa:?} one thread");
            assert_eq!(bits(&two), bits(reference), "{isa:?} two threads");
        }
        // A batch's blocks of rows in the vector lanes (`block.rs`), short ones too.
        let mut scratch = variant.scratch();
        for size in [path::BLOCK, 11, 8, 5, 3, 1] {
            for (block, expected) in rows.chunks(size).zip(references.chunks(size)) {
                let x: Vec<&[f64]> = block.iter().map(Vec::as_slice).collect();
                let mut values = vec![vec![0.0; 9]; x.len()];
                let mut phi: Vec<&mut [f64]> = values.iter_mut().map(Vec::as_mut_slice).collect();
                variant.shap_block(&x, &mut scratch, &mut phi);
                for (got, reference) in values.iter().zip(expected) {
                    assert_eq!(bits(got), bits(reference), "{isa:?} block of {size}");
                }
            }
        }
    }
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn backgrounds_over_many_machine_words_match_brute_force() {
    // 64 rows to a word: 130 rows fill two words and 2 bits of a third, 64 exactly one.
    for (seed, rows) in [(300u64, 130usize), (301, 64), (302, 65), (303, 200)] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let forest = random_forest(&mut rng, 6, 3, 8, 0.85);
        let x = random_rows(&mut rng, 6, 3);
        let background = random_rows(&mut rng, 6, rows);
        check_against_brute_force(&forest, &x, &background, &format!("seed {seed}, {rows} rows"));
    }
}

#[test]
fn every_instruction_set_gives_the_interventional_reference_bits() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut forest = random_forest(&mut rng, 9, 6, 12, 0.85);
    // And a stump: a tree that is one bottom node.
    forest.trees.push(random_tree(&mut rng, 9, 1, 0.85));
    let background: Vec<f64> = random_rows(&mut rng, 9, 150).concat();
    let plain = interventional::with_isa(
        &InterventionalForest::new(&forest, &background).unwrap(),
        isa::Isa::Baseline,
    );
    for x in random_rows(&mut rng, 9, 20) {
        let mut reference = vec![0.0; 9];
        plain.shap_into(&x, &mut plain.scratch(), &mut reference);
        for (i, variant) in interventional::variants(&plain).iter().enumerate() {
            let mut values = vec![0.0; 9];
            variant.shap_into(&x, &mut variant.scratch(), &mut values);
            assert_eq!(bits(&values), bits(&reference), "variant {i}");
        }
    }
}

#[test]
fn a_single_leaf_tree_adds_to_the_base_only() {
    let forest =
        Forest { n_features: 3, trees: vec![spec_tree(), Tree { nodes: vec![Node::leaf(0.3, 5.0)] }] };
    let x = [0.0, 3.0, 0.0];
    let e = TreeShap::path_dependent(&forest).unwrap().explain(&x).unwrap();
    assert!((e.base_value - (0.64 + 0.3) / 2.0).abs() <= TOL);
    assert_close(&e.values, &[-0.105, 0.035, 0.0], "half the spec tree");
    assert!((e.prediction - 0.4).abs() <= TOL);
}

#[test]
fn batches_equal_single_rows_bit_for_bit_whatever_the_thread_count() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let forest = random_forest(&mut rng, 6, 8, 7, 0.9);
    // Path-dependent blocks of `path::BLOCK` rows, then 11: a block of 8 and three alone.
    let rows: Vec<f64> = random_rows(&mut rng, 6, 59).concat();
    let background: Vec<f64> = random_rows(&mut rng, 6, 5).concat();
    for shap in
        [TreeShap::path_dependent(&forest).unwrap(), TreeShap::interventional(&forest, &background).unwrap()]
    {
        let in_pool = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| shap.explain_rows(&rows).unwrap())
        };
        let one = in_pool(1);
        assert_eq!(one, in_pool(3));
        for (x, e) in rows.chunks(6).zip(&one) {
            assert_eq!(*e, shap.explain(x).unwrap());
        }
        // A reused scratch gives the same bits as a fresh one.
        let mut scratch = shap.scratch();
        let mut values = vec![0.0; 6];
        for (x, e) in rows.chunks(6).zip(&one) {
            assert_eq!(shap.explain_into(x, &mut scratch, &mut values).unwrap(), e.prediction);
            assert_eq!(values, e.values);
        }
    }
}

#[test]
fn the_explainer_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TreeShap>();
}

#[test]
fn bad_rows_and_backgrounds_are_clear_errors() {
    let forest = spec_forest();
    let shap = TreeShap::path_dependent(&forest).unwrap();
    assert!(
        shap.explain(&[1.0, 2.0])
            .unwrap_err()
            .to_string()
            .contains("a row of 2 values given to a forest of 3")
    );
    let err = shap.explain(&[1.0, f64::INFINITY, 0.0]).unwrap_err().to_string();
    assert!(err.contains("feature 1 is inf"), "{err}");
    // NaN is a missing value: it goes to each node's default side (right in the spec tree).
    assert_eq!(shap.explain(&[1.0, f64::NAN, 0.0]).unwrap().prediction, 0.6);
    assert!(shap.explain_rows(&[0.0; 7]).unwrap_err().to_string().contains("whole rows of 3"));
    let err = TreeShap::interventional(&forest, &[0.0; 4]).unwrap_err().to_string();
    assert!(err.contains("whole rows of 3 values"), "{err}");
    assert!(TreeShap::interventional(&forest, &[]).is_err());
    let err = TreeShap::interventional(&forest, &[0.0, f64::INFINITY, 0.0]).unwrap_err().to_string();
    assert!(err.contains("background row 0 column 1 is inf"), "{err}");
    assert!(TreeShap::new(&forest, Method::Interventional, None).is_err());
    assert!(TreeShap::new(&forest, Method::PathDependent, Some(&[0.0; 3])).is_err());
    let mut broken = spec_tree();
    broken.nodes[1].left = 0;
    let err = TreeShap::path_dependent(&Forest { n_features: 3, trees: vec![broken] }).unwrap_err();
    assert!(err.to_string().contains("tree 0: node 1: child 0 is not after it"), "{err}");
}
