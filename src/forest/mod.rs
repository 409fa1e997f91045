//! The hand-written random forest: bagged CART trees for binary classification.

mod tree;

pub use tree::{Forest, Node, Tree};

#[cfg(test)]
pub(crate) use tree::tests::spec_tree;
