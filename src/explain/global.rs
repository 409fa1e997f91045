//! The model's global SHAP picture over a table: mean |φ| per reported field, the signed mean
//! over the customers the model denies, and the per-row values behind them (for beeswarm and
//! dependence plots), on every row or a seeded sample. It serialises as `global_shap.json` in a
//! model directory (missing values as `null`), usually [`GlobalShap::thinned`] first.

use super::Explainer;
use crate::data::ApplicantTable;
use crate::error::{Error, Result};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Rows explained per parallel task: one TreeSHAP block (rows in the vector lanes). The samples
/// are small (150 rows in `train`, 500 in the report), and 512 rows a task left them on one core.
const CHUNK: usize = crate::shap::BLOCK_ROWS;

/// One reported field's place in the global picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldImpact {
    pub field: String,
    /// Mean over the explained rows of |φ| (probability points).
    pub mean_abs: f64,
    /// Mean of φ over the explained rows the model denies (NaN-free: 0 when none is denied).
    pub mean_denied: f64,
}

/// The file `train` writes the picture of its test split to, in the model directory.
pub const GLOBAL_SHAP_FILE: &str = "global_shap.json";

/// The global SHAP picture of one model over one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalShap {
    /// The reported fields in the explainer's order (see [`Explainer::field_names`]).
    pub field_names: Vec<String>,
    /// The fields, largest mean |φ| first (ties by name, so the order is reproducible).
    pub ranking: Vec<FieldImpact>,
    pub base_value: f64,
    /// Rows of the table.
    pub rows_in_table: usize,
    /// Rows the ranking and `denied` are over (all rows unless sampled).
    pub explained: usize,
    /// The positions in the table of the rows whose per-row values are kept, ascending: the
    /// explained rows, or a sample of them after [`GlobalShap::thinned`].
    pub rows: Vec<usize>,
    /// How many explained rows the model denies.
    pub denied: usize,
    /// Row-major, one row per kept row: each field's raw value (category index for a
    /// category, NaN when missing), to colour a beeswarm or draw a dependence plot.
    #[serde(with = "nan_as_null")]
    pub values: Vec<f64>,
    /// Row-major, one row per kept row: each field's φ.
    pub phi: Vec<f64>,
    /// Each kept row's P(positive class).
    pub probability: Vec<f64>,
}

/// `values` holds NaN for missing values, which JSON has no number for.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|v| (!v.is_nan()).then_some(*v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let values: Vec<Option<f64>> = Vec::deserialize(d)?;
        Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }
}

impl GlobalShap {
    pub fn n_fields(&self) -> usize {
        self.field_names.len()
    }

    /// Whether the picture is of a sample rather than of every row.
    pub fn sampled(&self) -> bool {
        self.explained < self.rows_in_table
    }

    /// The same picture keeping the per-row values of at most `max_rows` kept rows (a seeded
    /// sample, in table order): the ranking stays that of every explained row. What a beeswarm
    /// needs without a file of every row.
    pub fn thinned(&self, max_rows: usize, seed: u64) -> GlobalShap {
        if self.rows.len() <= max_rows {
            return self.clone();
        }
        let mut keep = sample(&mut ChaCha8Rng::seed_from_u64(seed), self.rows.len(), max_rows).into_vec();
        keep.sort_unstable();
        let k = self.n_fields();
        let per_row = |v: &[f64]| keep.iter().flat_map(|&i| v[i * k..(i + 1) * k].iter().copied()).collect();
        GlobalShap {
            rows: keep.iter().map(|&i| self.rows[i]).collect(),
            values: per_row(&self.values),
            phi: per_row(&self.phi),
            probability: keep.iter().map(|&i| self.probability[i]).collect(),
            ..self.clone()
        }
    }

    /// The 1-based rank of `field` by mean |φ|, if it is reported.
    pub fn rank_of(&self, field: &str) -> Option<usize> {
        self.ranking.iter().position(|f| f.field == field).map(|p| p + 1)
    }
}

/// Explains `table` (every row when it has at most `max_rows`, else a sample of `max_rows`
/// drawn with `seed`) and summarises it. The result does not depend on the thread count.
pub fn global_shap(
    explainer: &Explainer,
    table: &ApplicantTable,
    max_rows: usize,
    seed: u64,
) -> Result<GlobalShap> {
    if table.is_empty() || max_rows == 0 {
        return Err(Error::Usage("a global SHAP picture needs at least one row".into()));
    }
    let rows: Vec<usize> = if table.len() <= max_rows {
        (0..table.len()).collect()
    } else {
        let mut idx = sample(&mut ChaCha8Rng::seed_from_u64(seed), table.len(), max_rows).into_vec();
        idx.sort_unstable();
        idx
    };
    let field_names = explainer.field_names();
    let k = field_names.len();
    let schema = explainer.schema();
    let groups = explainer.model().encoder.groups();
    let threshold = explainer.model().threshold;

    let mut values = vec![0.0; rows.len() * k];
    let mut phi = vec![0.0; rows.len() * k];
    let mut probability = vec![0.0; rows.len()];
    rows.par_chunks(CHUNK)
        .zip(values.par_chunks_mut(CHUNK * k))
        .zip(phi.par_chunks_mut(CHUNK * k))
        .zip(probability.par_chunks_mut(CHUNK))
        .try_for_each_init(
            || explainer.work(),
            |work, (((idx, vals), phis), probs)| -> Result<()> {
                let rows: Vec<&[f64]> = idx.iter().map(|&r| table.row(r)).collect();
                probs.copy_from_slice(&explainer.fields_shap_block(&rows, work, phis)?);
                for (row, vals) in rows.iter().zip(vals.chunks_exact_mut(k)) {
                    for (v, &g) in vals.iter_mut().zip(groups) {
                        *v = schema.group_raw(g, row);
                    }
                }
                Ok(())
            },
        )?;

    // Sums in row order on one thread: the same bits whatever the thread count.
    let mut sum_abs = vec![0.0; k];
    let mut sum_denied = vec![0.0; k];
    let mut denied = 0;
    for (p, row_phi) in probability.iter().zip(phi.chunks_exact(k)) {
        let is_denied = *p < threshold;
        denied += usize::from(is_denied);
        for (f, &v) in row_phi.iter().enumerate() {
            sum_abs[f] += v.abs();
            if is_denied {
                sum_denied[f] += v;
            }
        }
    }
    let n = rows.len() as f64;
    let mut ranking: Vec<FieldImpact> = field_names
        .iter()
        .enumerate()
        .map(|(f, name)| FieldImpact {
            field: name.clone(),
            mean_abs: sum_abs[f] / n,
            mean_denied: if denied == 0 { 0.0 } else { sum_denied[f] / denied as f64 },
        })
        .collect();
    ranking.sort_by(|a, b| b.mean_abs.total_cmp(&a.mean_abs).then_with(|| a.field.cmp(&b.field)));
    Ok(GlobalShap {
        field_names,
        ranking,
        base_value: explainer.base_value(),
        rows_in_table: table.len(),
        explained: rows.len(),
        rows,
        denied,
        values,
        phi,
        probability,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::generate_table;
    use crate::explain::{ExplainOptions, ModelRef};
    use crate::features::Encoder;
    use crate::forest::{ForestParams, MaxFeatures};
    use crate::model::{Model, ModelInfo};
    use std::sync::Arc;

    fn explainer() -> Explainer {
        let table = generate_table(3000, 11).unwrap();
        let encoder = Encoder::fit(&table).unwrap();
        let params = ForestParams {
            n_estimators: 12,
            max_depth: Some(6),
            min_samples_leaf: 10,
            max_features: MaxFeatures::Sqrt,
            seed: 5,
            ..ForestParams::default()
        };
        let columns = encoder.encode_columns(&table);
        let fitted =
            crate::forest::fit(&params, &columns, table.approved.as_deref().unwrap(), &|_| {}).unwrap();
        let model = Model { encoder, forest: fitted.forest, threshold: 0.5, info: ModelInfo::default() };
        Explainer::new(Arc::new(model), ModelRef { uri: "test".into(), ..ModelRef::default() }, None).unwrap()
    }

    #[test]
    fn means_are_those_of_the_per_customer_explanations() {
        let ex = explainer();
        let table = generate_table(700, 12).unwrap();
        let g = global_shap(&ex, &table, 10_000, 1).unwrap();
        assert!(!g.sampled());
        let k = g.n_fields();
        let (mut abs, mut denied_sum, mut denied) = (vec![0.0; k], vec![0.0; k], 0usize);
        for i in 0..table.len() {
            let answer = ex.explain(&table.applicant(i), ExplainOptions::default()).unwrap();
            assert_eq!(answer.probability.to_bits(), g.probability[i].to_bits());
            denied += usize::from(!answer.approved);
            for c in &answer.contributions {
                let f = g.field_names.iter().position(|n| *n == c.feature).unwrap();
                assert!((g.phi[i * k + f] - c.shap).abs() < 1e-15);
                abs[f] += c.shap.abs();
                if !answer.approved {
                    denied_sum[f] += c.shap;
                }
            }
        }
        assert_eq!(g.denied, denied);
        assert!(denied > 50 && denied < 650, "both decisions occur: {denied}");
        for impact in &g.ranking {
            let f = g.field_names.iter().position(|n| *n == impact.field).unwrap();
            assert!((impact.mean_abs - abs[f] / 700.0).abs() < 1e-12);
            assert!((impact.mean_denied - denied_sum[f] / denied as f64).abs() < 1e-12);
        }
        assert!(g.ranking.windows(2).all(|w| w[0].mean_abs >= w[1].mean_abs));
        assert_eq!(g.rank_of(&g.ranking[0].field), Some(1));
    }

    #[test]
    fn a_sample_is_seeded_and_the_result_ignores_the_thread_count() {
        let ex = explainer();
        let table = generate_table(2000, 13).unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let a = one.install(|| global_shap(&ex, &table, 600, 9).unwrap());
        let b = global_shap(&ex, &table, 600, 9).unwrap();
        assert!(a.sampled() && a.rows.len() == 600);
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.ranking, b.ranking);
        assert_ne!(global_shap(&ex, &table, 600, 10).unwrap().rows, a.rows);
        assert!(global_shap(&ex, &table, 0, 9).is_err());
    }

    #[test]
    fn thinned_keeps_the_ranking_and_round_trips_through_json_with_missing_values() {
        let ex = explainer();
        let table = generate_table(900, 14).unwrap();
        let mut g = global_shap(&ex, &table, 10_000, 1).unwrap();
        g.values[3] = f64::NAN;
        let thin = g.thinned(200, 5);
        assert_eq!((thin.rows.len(), thin.explained, thin.ranking.clone()), (200, 900, g.ranking.clone()));
        let k = g.n_fields();
        let at = g.rows.iter().position(|r| *r == thin.rows[17]).unwrap();
        assert_eq!(thin.phi[17 * k..18 * k], g.phi[at * k..(at + 1) * k]);
        assert_eq!(thin.probability[17], g.probability[at]);
        let json = serde_json::to_string(&g).unwrap();
        let back: GlobalShap = serde_json::from_str(&json).unwrap();
        assert!(back.values[3].is_nan());
        assert_eq!((&back.rows, back.explained, back.denied), (&g.rows, g.explained, g.denied));
        // serde_json reads a float back to within an ulp (its exact parser is a feature we skip).
        let close =
            |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15);
        assert!(close(&back.phi, &g.phi) && close(&back.probability, &g.probability));
        let means = |g: &GlobalShap| g.ranking.iter().map(|f| f.mean_abs).collect::<Vec<_>>();
        assert!(close(&means(&back), &means(&g)));
    }
}
