//! Exact TreeSHAP for our forests, in probability space: path-dependent (the trees' covers,
//! no data) and interventional (a background set). `base_value + Σ values = prediction`.
//!
//! Build a [`TreeShap`] once from a forest (cheap to share across threads), then explain rows one
//! at a time ([`TreeShap::explain`], or [`TreeShap::explain_into`] with reusable [`Scratch`] and
//! no allocation) or in parallel batches ([`TreeShap::explain_rows`], deterministic whatever the
//! thread count). Values are per encoded column; summing one-hot columns per field is the
//! `explain` module's job.

mod interventional;
mod isa;
mod path;
mod quadrature;

#[cfg(test)]
mod brute;
#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::forest::{Forest, Tree};
use interventional::{InterventionalForest, InterventionalScratch};
use path::{PathForest, PathScratch};
use rayon::prelude::*;
use std::sync::Arc;

/// Rows a path-dependent batch explains at once, in the vector lanes (a batch of fewer runs as
/// one block with lanes to spare).
pub const BLOCK_ROWS: usize = path::BLOCK;

/// Fewest rows an interventional block takes; fewer go one by one (`walk/block.rs`): on the
/// bench forest a block of 16 runs about as fast as its rows alone, one of 64 ~1.3×, one of
/// 256 ~1.7× (one thread, 200 background rows, a Zen 3); on a Zen 4 one of 500 ~1.1× one of
/// 256, and one of 64 as fast whether blocks hold up to 256 or 512 rows.
const INTERVENTIONAL_BLOCK_MIN: usize = 16;

/// Which value function the Shapley values are of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// E[f(x) | x_S] estimated by the trees' covers (Lundberg et al. 2018, Algorithm 2).
    PathDependent,
    /// Mean over background rows z of f(x_S, z_¬S) (shap's "interventional").
    Interventional,
}

impl Method {
    /// The name used in answers and files ("path_dependent", "interventional").
    pub fn name(self) -> &'static str {
        match self {
            Method::PathDependent => "path_dependent",
            Method::Interventional => "interventional",
        }
    }
}

/// The SHAP values of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// E[f]: the cover-weighted mean (path-dependent) or the background's mean prediction.
    pub base_value: f64,
    /// One value per encoded column, in the forest's feature order.
    pub values: Vec<f64>,
    /// f(x): the forest's probability of class 1.
    pub prediction: f64,
}

impl Explanation {
    /// |base_value + Σ values − prediction| (≤ 1e-12 in practice).
    pub fn additivity_error(&self) -> f64 {
        (self.base_value + self.values.iter().sum::<f64>() - self.prediction).abs()
    }
}

#[derive(Debug, Clone)]
enum Engine {
    Path(Arc<PathForest>),
    Interventional(InterventionalForest),
}

/// A TreeSHAP explainer for one forest (and background). `Send + Sync`.
#[derive(Debug, Clone)]
pub struct TreeShap {
    engine: Engine,
    n_features: usize,
}

/// Reusable working memory for [`TreeShap::explain_into`]: one per thread.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    path: PathScratch,
    interventional: InterventionalScratch,
}

impl TreeShap {
    /// Path-dependent explainer.
    pub fn path_dependent(forest: &Forest) -> Result<TreeShap> {
        check_forest(forest)?;
        Ok(TreeShap {
            engine: Engine::Path(Arc::new(PathForest::new(forest)?)),
            n_features: forest.n_features,
        })
    }

    /// Interventional explainer; `background` is row-major, `forest.n_features` values per row.
    pub fn interventional(forest: &Forest, background: &[f64]) -> Result<TreeShap> {
        check_forest(forest)?;
        let engine = Engine::Interventional(InterventionalForest::new(forest, background)?);
        Ok(TreeShap { engine, n_features: forest.n_features })
    }

    /// Either method; `background` is required by (and only allowed with) `Interventional`.
    pub fn new(forest: &Forest, method: Method, background: Option<&[f64]>) -> Result<TreeShap> {
        match (method, background) {
            (Method::PathDependent, None) => TreeShap::path_dependent(forest),
            (Method::Interventional, Some(rows)) => TreeShap::interventional(forest, rows),
            (Method::PathDependent, Some(_)) => {
                Err(Error::Usage("path-dependent TreeSHAP uses the trees' covers, not a background".into()))
            }
            (Method::Interventional, None) => {
                Err(Error::Usage("interventional TreeSHAP needs background rows".into()))
            }
        }
    }

    pub fn method(&self) -> Method {
        match self.engine {
            Engine::Path(_) => Method::PathDependent,
            Engine::Interventional(_) => Method::Interventional,
        }
    }

    pub fn base_value(&self) -> f64 {
        match &self.engine {
            Engine::Path(p) => p.base_value(),
            Engine::Interventional(i) => i.base_value(),
        }
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of background rows (0 for path-dependent).
    pub fn n_background(&self) -> usize {
        match &self.engine {
            Engine::Path(_) => 0,
            Engine::Interventional(i) => i.n_background(),
        }
    }

    /// Working memory sized for this explainer.
    pub fn scratch(&self) -> Scratch {
        match &self.engine {
            Engine::Path(p) => Scratch { path: p.scratch(), ..Scratch::default() },
            Engine::Interventional(i) => Scratch { interventional: i.scratch(), ..Scratch::default() },
        }
    }

    /// The forest's prediction for `x`, computed on the explainer's own layout.
    pub fn predict(&self, x: &[f64]) -> Result<f64> {
        self.check_row(x)?;
        Ok(self.predict_unchecked(x))
    }

    fn predict_unchecked(&self, x: &[f64]) -> f64 {
        match &self.engine {
            Engine::Path(p) => p.predict(x),
            Engine::Interventional(i) => i.predict(x),
        }
    }

    /// Explains one row.
    pub fn explain(&self, x: &[f64]) -> Result<Explanation> {
        self.explain_with(x, false)
    }

    /// [`TreeShap::explain`]; `parallel` puts a path-dependent forest's two halves on two
    /// threads (rayon), for one request on an otherwise idle machine. The values are the same bits.
    pub fn explain_with(&self, x: &[f64], parallel: bool) -> Result<Explanation> {
        let mut values = vec![0.0; self.n_features];
        let prediction = self.explain_into_with(x, &mut self.scratch(), &mut values, parallel)?;
        Ok(Explanation { base_value: self.base_value(), values, prediction })
    }

    /// Writes the SHAP values of `x` into `values` (length `n_features`) and returns f(x).
    /// Allocates nothing once `scratch` has been sized by [`TreeShap::scratch`] or a first call.
    pub fn explain_into(&self, x: &[f64], scratch: &mut Scratch, values: &mut [f64]) -> Result<f64> {
        self.explain_into_with(x, scratch, values, false)
    }

    /// [`TreeShap::explain_into`] for up to [`BLOCK_ROWS`] rows laid end to end in `rows`, into
    /// `values` (one vector of `n_features` per row): a path-dependent block runs the rows in the
    /// vector lanes, with the same bits as one by one. Their predictions.
    pub fn explain_block_into(
        &self,
        rows: &[f64],
        scratch: &mut Scratch,
        values: &mut [Vec<f64>],
    ) -> Result<Vec<f64>> {
        let n = self.n_features;
        if !rows.len().is_multiple_of(n) || rows.len() / n != values.len() || values.len() > BLOCK_ROWS {
            return Err(Error::Internal(format!(
                "a block of {} values for {} rows of {n} features (at most {BLOCK_ROWS})",
                rows.len(),
                values.len()
            )));
        }
        if let Some(v) = values.iter().find(|v| v.len() != n) {
            return Err(Error::Internal(format!("{} values for {n} features", v.len())));
        }
        self.explain_chunk_into(rows, scratch, values).map_err(|(i, e)| Error::Usage(format!("row {i}: {e}")))
    }

    fn explain_into_with(
        &self,
        x: &[f64],
        scratch: &mut Scratch,
        values: &mut [f64],
        parallel: bool,
    ) -> Result<f64> {
        self.check_row(x)?;
        if values.len() != self.n_features {
            return Err(Error::Internal(format!(
                "SHAP output has room for {} values, the forest has {} features",
                values.len(),
                self.n_features
            )));
        }
        values.fill(0.0);
        match &self.engine {
            Engine::Path(p) if parallel => p.shap_parallel(x, &mut scratch.path, values),
            Engine::Path(p) => p.shap_into(x, &mut scratch.path, values),
            Engine::Interventional(i) => i.shap_into(x, &mut scratch.interventional, values),
        }
        Ok(self.predict_unchecked(x))
    }

    /// Explains row-major `rows` (`n_features` values each) in parallel; the result, in row
    /// order, does not depend on the thread count, and each row's values are exactly those of
    /// [`TreeShap::explain`].
    pub fn explain_rows(&self, rows: &[f64]) -> Result<Vec<Explanation>> {
        let n = self.n_features;
        if !rows.len().is_multiple_of(n) {
            return Err(Error::Usage(format!(
                "{} values do not make whole rows of {n} features",
                rows.len()
            )));
        }
        let base_value = self.base_value();
        // Path-dependent rows go in blocks, in the vector lanes (see `PathForest::shap_block`).
        let per_chunk = match self.engine {
            Engine::Path(_) => path::BLOCK,
            // Whole blocks, but never fewer chunks than threads.
            Engine::Interventional(_) => {
                interventional::BLOCK_ROWS.min((rows.len() / n).div_ceil(rayon::current_num_threads())).max(1)
            }
        };
        let chunks: Vec<Vec<Explanation>> = rows
            .par_chunks(per_chunk * n)
            .enumerate()
            .map_init(
                || self.scratch(),
                |scratch, (c, chunk)| {
                    let r = c * per_chunk;
                    let mut values = vec![vec![0.0; n]; chunk.len() / n];
                    let predictions = self
                        .explain_chunk_into(chunk, scratch, &mut values)
                        .map_err(|(i, e)| Error::Usage(format!("row {}: {e}", r + i)))?;
                    Ok(values
                        .into_iter()
                        .zip(predictions)
                        .map(|(values, prediction)| Explanation { base_value, values, prediction })
                        .collect())
                },
            )
            .collect::<Result<_>>()?;
        Ok(chunks.into_iter().flatten().collect())
    }

    /// One block of a batch's rows into `values` (one vector each); their predictions, or the
    /// position of the first bad row and why.
    fn explain_chunk_into(
        &self,
        chunk: &[f64],
        scratch: &mut Scratch,
        values: &mut [Vec<f64>],
    ) -> std::result::Result<Vec<f64>, (usize, Error)> {
        let rows: Vec<&[f64]> = chunk.chunks(self.n_features).collect();
        for (i, x) in rows.iter().enumerate() {
            self.check_row(x).map_err(|e| (i, e))?;
        }
        let p = match &self.engine {
            Engine::Path(p) => p,
            Engine::Interventional(_) if rows.len() < INTERVENTIONAL_BLOCK_MIN => {
                return self.rows_alone(&rows, scratch, values, 0);
            }
            Engine::Interventional(i) => {
                let mut phi: Vec<&mut [f64]> = values.iter_mut().map(Vec::as_mut_slice).collect();
                phi.iter_mut().for_each(|v| v.fill(0.0));
                i.shap_block(&rows, &mut scratch.interventional, &mut phi);
                return Ok(rows.iter().map(|x| self.predict_unchecked(x)).collect());
            }
        };
        // Blocks where they pay (a block of 16 costs about 8 rows alone, one of 8 about 5).
        let mut start = 0;
        while start < rows.len() {
            let take = match rows.len() - start {
                left @ 12.. => left.min(BLOCK_ROWS),
                left @ 5.. => left.min(8),
                _ => {
                    self.rows_alone(&rows[start..], scratch, &mut values[start..], start)?;
                    break;
                }
            };
            let mut phi: Vec<&mut [f64]> =
                values[start..start + take].iter_mut().map(Vec::as_mut_slice).collect();
            p.shap_block(&rows[start..start + take], &mut scratch.path, &mut phi);
            start += take;
        }
        Ok(rows.iter().map(|x| self.predict_unchecked(x)).collect())
    }

    /// Rows explained one by one (`first`: the position of the first in its chunk, for errors).
    fn rows_alone(
        &self,
        rows: &[&[f64]],
        scratch: &mut Scratch,
        values: &mut [Vec<f64>],
        first: usize,
    ) -> std::result::Result<Vec<f64>, (usize, Error)> {
        rows.iter()
            .zip(values)
            .enumerate()
            .map(|(i, (x, v))| self.explain_into(x, scratch, v).map_err(|e| (first + i, e)))
            .collect()
    }

    fn check_row(&self, x: &[f64]) -> Result<()> {
        if x.len() != self.n_features {
            return Err(Error::Usage(format!(
                "a row of {} values given to a forest of {} features",
                x.len(),
                self.n_features
            )));
        }
        // NaN is a missing value, routed by each node's default side; infinities are not inputs.
        if let Some(i) = x.iter().position(|v| v.is_infinite()) {
            return Err(Error::Usage(format!("feature {i} is {}: inputs must be finite or missing", x[i])));
        }
        Ok(())
    }
}

fn check_forest(forest: &Forest) -> Result<()> {
    if forest.n_features == 0 || forest.trees.is_empty() {
        return Err(Error::Internal(format!(
            "cannot explain a forest of {} trees over {} features",
            forest.trees.len(),
            forest.n_features
        )));
    }
    Ok(())
}

/// The structural facts the explainers rely on (the dump reader checks the same for files;
/// this guards forests built in memory): children after their parent and in range, features in
/// range, finite values, positive covers.
fn check_tree(tree: &Tree, n_features: usize) -> std::result::Result<(), String> {
    let n = tree.nodes.len();
    if n == 0 {
        return Err("no nodes".into());
    }
    for (i, node) in tree.nodes.iter().enumerate() {
        if !(node.cover.is_finite() && node.cover > 0.0) {
            return Err(format!("node {i}: cover {} is not > 0", node.cover));
        }
        if !node.value.is_finite() {
            return Err(format!("node {i}: value {} is not finite", node.value));
        }
        if node.is_leaf() != (node.right == crate::forest::Node::LEAF) {
            return Err(format!("node {i} has exactly one child"));
        }
        if node.is_leaf() {
            continue;
        }
        if node.feature as usize >= n_features {
            return Err(format!("node {i}: feature {} is not below {n_features}", node.feature));
        }
        for c in [node.left as usize, node.right as usize] {
            if c <= i || c >= n {
                return Err(format!("node {i}: child {c} is not after it and below {n}"));
            }
        }
    }
    Ok(())
}
