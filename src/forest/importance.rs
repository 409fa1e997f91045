//! Feature importances as scikit-learn's `feature_importances_`: the mean decrease in Gini
//! impurity, computed from each node's value and cover alone.

use super::tree::{Forest, Tree};

impl Tree {
    /// Per feature, the cover-weighted Gini decrease of the splits on it, divided by the root's
    /// cover and normalised to sum to 1 (all zeros for a single-leaf tree).
    pub fn feature_importances(&self, n_features: usize) -> Vec<f64> {
        let mut importances = vec![0.0; n_features];
        let weighted_gini = |i: usize| {
            let n = &self.nodes[i];
            n.cover * 2.0 * n.value * (1.0 - n.value)
        };
        for (i, node) in self.nodes.iter().enumerate() {
            if node.is_leaf() {
                continue;
            }
            let decrease =
                weighted_gini(i) - weighted_gini(node.left as usize) - weighted_gini(node.right as usize);
            importances[node.feature as usize] += decrease;
        }
        let root_cover = self.nodes.first().map_or(1.0, |n| n.cover);
        importances.iter_mut().for_each(|v| *v /= root_cover);
        normalise(&mut importances);
        importances
    }
}

impl Forest {
    /// Mean decrease in impurity per feature: the mean of the trees' normalised importances
    /// (single-leaf trees left out), normalised to sum to 1 (all zeros if no tree splits).
    pub fn feature_importances(&self) -> Vec<f64> {
        let splitting: Vec<Vec<f64>> = self
            .trees
            .iter()
            .filter(|t| t.nodes.len() > 1)
            .map(|t| t.feature_importances(self.n_features))
            .collect();
        let mut mean = vec![0.0; self.n_features];
        for tree in &splitting {
            mean.iter_mut().zip(tree).for_each(|(m, v)| *m += v / splitting.len() as f64);
        }
        normalise(&mut mean);
        mean
    }
}

fn normalise(values: &mut [f64]) {
    let sum: f64 = values.iter().sum();
    if sum > 0.0 {
        values.iter_mut().for_each(|v| *v /= sum);
    }
}

#[cfg(test)]
mod tests {
    use crate::forest::{Forest, Node, Tree, spec_tree};

    #[test]
    fn importances_of_the_spec_tree_by_hand() {
        // Gini·cover: root 10·2·.64·.36 = 4.608; node1 4·2·.4·.6 = 1.92; node2 6·2·.8·.2 = 1.92;
        // leaves 1·2·.1·.9 = .18, 3·2·.5·.5 = 1.5, 2·2·.6·.4 = .96, 4·2·.9·.1 = .72.
        // Feature 0: (4.608 - 1.92 - 1.92) + (1.92 - .96 - .72) = 1.008; feature 1: 1.92 - .18 - 1.5 = .24.
        let forest = Forest { n_features: 3, trees: vec![spec_tree()] };
        let got = forest.feature_importances();
        let want = [1.008 / 1.248, 0.24 / 1.248, 0.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn single_leaf_trees_do_not_count() {
        let stump = Tree { nodes: vec![Node::leaf(0.3, 5.0)] };
        let forest = Forest { n_features: 3, trees: vec![spec_tree(), stump.clone()] };
        let alone = Forest { n_features: 3, trees: vec![spec_tree()] };
        assert_eq!(forest.feature_importances(), alone.feature_importances());
        let none = Forest { n_features: 2, trees: vec![stump] };
        assert_eq!(none.feature_importances(), vec![0.0, 0.0]);
    }
}
