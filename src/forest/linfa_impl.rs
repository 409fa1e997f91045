//! linfa integration: the forest's parameters are a linfa `Fit`, the fitted forest a linfa
//! `Predict` of class-1 probabilities, so it composes with linfa's datasets and tooling.

use super::fit::{FittedForest, fit as fit_forest};
use super::params::ForestParams;
use super::tree::Forest;
use crate::Error;
use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, Data, Ix2};
use rayon::prelude::*;

impl From<linfa::Error> for Error {
    fn from(e: linfa::Error) -> Error {
        Error::Usage(format!("linfa: {e}"))
    }
}

/// Fits on a linfa dataset of `f64` records and `bool` targets (linfa-trees' label type for a
/// binary problem), e.g. `linfa::Dataset<f64, bool, Ix1>`.
impl<D, T> Fit<ArrayBase<D, Ix2>, T, Error> for ForestParams
where
    D: Data<Elem = f64>,
    T: AsSingleTargets<Elem = bool>,
{
    type Object = FittedForest;

    fn fit(&self, dataset: &DatasetBase<ArrayBase<D, Ix2>, T>) -> crate::Result<FittedForest> {
        let columns: Vec<Vec<f64>> = dataset.records.columns().into_iter().map(|c| c.to_vec()).collect();
        let y: Vec<bool> = dataset.as_single_targets().to_vec();
        fit_forest(self, &columns, &y, &|_| {})
    }
}

/// Class-1 probabilities, one per record row. Records with the wrong number of columns get NaN
/// (the trait cannot return an error; use `Forest::predict` to get one).
impl<D> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for Forest
where
    D: Data<Elem = f64> + Sync,
{
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        if x.ncols() != self.n_features || x.nrows() != y.len() {
            y.fill(f64::NAN);
            return;
        }
        let predictions: Vec<f64> = (0..x.nrows())
            .into_par_iter()
            .map(|i| {
                let row = x.row(i);
                match row.as_slice() {
                    Some(values) => self.predict(values),
                    None => self.predict(&row.to_vec()),
                }
            })
            .collect();
        y.assign(&Array1::from(predictions));
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

impl<D> PredictInplace<ArrayBase<D, Ix2>, Array1<f64>> for FittedForest
where
    D: Data<Elem = f64> + Sync,
{
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<f64>) {
        self.forest.predict_inplace(x, y);
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::MaxFeatures;
    use crate::forest::testdata::{Synthetic, logistic};
    use linfa::Dataset;
    use linfa::traits::Predict;
    use ndarray::Array2;

    fn dataset(data: &Synthetic) -> Dataset<f64, bool, ndarray::Ix1> {
        let n = data.n_rows();
        let records = Array2::from_shape_fn((n, data.columns.len()), |(i, f)| data.columns[f][i]);
        Dataset::new(records, Array1::from(data.y.clone()))
    }

    fn accuracy(predicted: impl Iterator<Item = bool>, truth: &[bool]) -> f64 {
        let correct = predicted.zip(truth).filter(|(p, t)| p == *t).count();
        correct as f64 / truth.len() as f64
    }

    /// The independent baseline of the issue: one of our trees (no bootstrap, every feature) against
    /// linfa-trees' `DecisionTree` with the same depth, on the same rows.
    #[test]
    fn one_tree_is_as_accurate_as_linfa_trees_decision_tree() {
        let data = logistic(20_000, 11);
        let (train, test) = (data.slice(0..15_000), data.slice(15_000..20_000));
        let (train_set, test_set) = (dataset(&train), dataset(&test));
        for depth in [4, 8] {
            let baseline =
                linfa_trees::DecisionTree::params().max_depth(Some(depth)).fit(&train_set).unwrap();
            let theirs: Array1<bool> = baseline.predict(&test_set);
            let params = ForestParams {
                n_estimators: 1,
                max_depth: Some(depth),
                min_samples_leaf: 1,
                max_features: MaxFeatures::All,
                bootstrap: false,
                ..ForestParams::default()
            };
            let ours: FittedForest = params.fit(&train_set).unwrap();
            let probabilities: Array1<f64> = ours.predict(&test_set);
            let (ours_acc, theirs_acc) = (
                accuracy(probabilities.iter().map(|&p| p > 0.5), &test.y),
                accuracy(theirs.iter().copied(), &test.y),
            );
            eprintln!("depth {depth}: test accuracy ours {ours_acc:.4}, linfa-trees {theirs_acc:.4}");
            assert!(ours_acc >= theirs_acc - 0.01, "depth {depth}: ours {ours_acc} vs linfa {theirs_acc}");
            assert!(theirs_acc > 0.6, "the baseline learned something: {theirs_acc}");
        }
    }

    #[test]
    fn linfa_predict_equals_the_forest_row_by_row_and_rejects_wrong_shapes() {
        let data = logistic(2_000, 12);
        let set = dataset(&data);
        let fitted: FittedForest =
            ForestParams { n_estimators: 5, max_depth: Some(6), ..ForestParams::default() }
                .fit(&set)
                .unwrap();
        let p: Array1<f64> = fitted.predict(set.records());
        for i in (0..data.n_rows()).step_by(97) {
            assert_eq!(p[i], fitted.forest.predict(&data.row(i)));
        }
        // A column-major (non-contiguous rows) view predicts the same.
        let transposed = set.records().t().to_owned();
        let view = transposed.t();
        let p_t: Array1<f64> = Predict::predict(&fitted.forest, &view);
        assert_eq!(p, p_t);
        let wrong: Array1<f64> = fitted.predict(&Array2::<f64>::zeros((3, 4)));
        assert!(wrong.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn a_single_class_dataset_is_an_error_not_a_panic() {
        let set = Dataset::new(Array2::<f64>::zeros((4, 2)), Array1::from(vec![true; 4]));
        let err = Fit::<_, _, Error>::fit(&ForestParams::default(), &set).unwrap_err();
        assert!(err.to_string().contains("both classes"), "{err}");
    }
}
