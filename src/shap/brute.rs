//! Test oracle: Shapley values by enumerating all 2^M coalitions, straight from the definition,
//! for the two value functions. Deliberately naive and independent of the fast code.

use crate::forest::{Forest, Tree};

/// φ_i = Σ_{S ⊆ M∖{i}} |S|! (M − |S| − 1)! / M! · (v(S ∪ {i}) − v(S)), coalitions as bit masks.
pub(crate) fn shapley(m: usize, v: impl Fn(u32) -> f64) -> Vec<f64> {
    assert!(m <= 16, "brute force is for small M");
    let values: Vec<f64> = (0..1u32 << m).map(&v).collect();
    let factorial = |k: usize| (1..=k).map(|i| i as f64).product::<f64>();
    (0..m)
        .map(|i| {
            let mut phi = 0.0;
            for s in 0..1u32 << m {
                if s & (1 << i) != 0 {
                    continue;
                }
                let size = s.count_ones() as usize;
                let weight = factorial(size) * factorial(m - size - 1) / factorial(m);
                phi += weight * (values[(s | 1 << i) as usize] - values[s as usize]);
            }
            phi
        })
        .collect()
}

/// Path-dependent value of coalition `s`: follow x on features in S, otherwise average both
/// children weighted by cover(child) / cover(node); the forest mean of that.
pub(crate) fn path_value(forest: &Forest, x: &[f64], s: u32) -> f64 {
    let sum: f64 = forest.trees.iter().map(|tree| conditional(tree, 0, x, s)).sum();
    sum / forest.trees.len() as f64
}

fn conditional(tree: &Tree, i: usize, x: &[f64], s: u32) -> f64 {
    let node = &tree.nodes[i];
    if node.is_leaf() {
        return node.value;
    }
    if s & (1 << node.feature) != 0 {
        return conditional(tree, node.child(x), x, s);
    }
    let (l, r) = (node.left as usize, node.right as usize);
    tree.nodes[l].cover / node.cover * conditional(tree, l, x, s)
        + tree.nodes[r].cover / node.cover * conditional(tree, r, x, s)
}

/// Interventional value of coalition `s`: mean over background rows z of f(x_S, z_¬S).
pub(crate) fn interventional_value(forest: &Forest, x: &[f64], background: &[Vec<f64>], s: u32) -> f64 {
    let sum: f64 = background
        .iter()
        .map(|z| {
            let hybrid: Vec<f64> =
                (0..x.len()).map(|j| if s & (1 << j) != 0 { x[j] } else { z[j] }).collect();
            forest.predict(&hybrid)
        })
        .sum();
    sum / background.len() as f64
}
