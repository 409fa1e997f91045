//! The hand-written random forest: bagged CART trees for binary classification.

mod bins;
pub mod dump;
mod fit;
mod grow;
mod importance;
mod linfa_impl;
mod oob;
mod params;
mod split;
mod tally;
mod tree;
mod workspace;

pub use fit::{FittedForest, fit, fit_with_histogram_mode};
pub use grow::HistogramMode;
pub use oob::{OobScore, roc_auc};
pub use params::{ForestParams, MaxFeatures};
pub use tree::{Forest, Node, Tree};

#[cfg(test)]
mod fit_tests;
#[cfg(test)]
mod testdata;

#[cfg(test)]
pub(crate) use tree::tests::spec_tree;
