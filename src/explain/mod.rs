//! One answer for one customer — probability, decision, SHAP contributions per reported field,
//! reasons for a denial in Spanish or English, and warnings — the single place both
//! `credrisk explain` and `credrisk serve` get their answers from.

mod reasons;

use crate::error::Result;
use crate::features::Group;
use crate::model::Model;
use crate::schema::Applicant;
use crate::shap::{Method, TreeShap};
use serde::Serialize;
use std::sync::Arc;

pub use reasons::{Lang, reason_text};

/// A protected attribute carrying at least this share of Σ|φ| triggers a fairness warning.
pub const MATERIAL_SHARE: f64 = 0.10;
/// ECOA/Reg B: "more than four [reasons] is not likely to be helpful".
pub const DEFAULT_TOP: usize = 4;

/// Which model answered: `run_id` as recorded in its MLmodel, and the URI it was loaded from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRef {
    pub run_id: Option<String>,
    pub uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub feature: String,
    pub value: serde_json::Value,
    pub shap: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub feature: String,
    pub value: serde_json::Value,
    pub shap: f64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub field: String,
    /// `out_of_training_range`, `unseen_category` or `protected_attribute`.
    pub kind: &'static str,
    pub message: String,
}

/// The decision alone (what `/predict` answers without an explanation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub approved: bool,
    pub probability: f64,
    pub threshold: f64,
    pub model: ModelRef,
    pub warnings: Vec<Warning>,
}

/// The full explanation of one decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub approved: bool,
    pub probability: f64,
    pub threshold: f64,
    /// probability − threshold: how far the decision is from flipping.
    pub margin: f64,
    pub base_value: f64,
    pub output_space: &'static str,
    pub method: &'static str,
    pub contributions: Vec<Contribution>,
    pub reasons: Vec<Reason>,
    /// |base_value + Σ shap − probability|.
    pub additivity_error: f64,
    pub model: ModelRef,
    pub warnings: Vec<Warning>,
}

/// Options of one explanation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExplainOptions {
    pub lang: Lang,
    pub top: usize,
    /// One contribution per encoded column instead of per field.
    pub per_column: bool,
    /// Split the TreeSHAP work over two threads (same values): for a lone request.
    pub parallel: bool,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        ExplainOptions { lang: Lang::Es, top: DEFAULT_TOP, per_column: false, parallel: false }
    }
}

/// A loaded model with its TreeSHAP explainer, built once and shared by every request.
pub struct Explainer {
    model: Arc<Model>,
    shap: TreeShap,
    model_ref: ModelRef,
    column_groups: Vec<usize>,
}

impl Explainer {
    /// `background`: applicants for interventional SHAP; None for path-dependent.
    pub fn new(
        model: Arc<Model>,
        model_ref: ModelRef,
        background: Option<&[Applicant]>,
    ) -> Result<Explainer> {
        let shap = match background {
            Some(rows) => TreeShap::interventional(&model.forest, &model.encoder.encode_rows(rows))?,
            None => TreeShap::path_dependent(&model.forest)?,
        };
        let column_groups = model.encoder.column_groups();
        Ok(Explainer { model, shap, model_ref, column_groups })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn model_ref(&self) -> &ModelRef {
        &self.model_ref
    }

    pub fn method(&self) -> &'static str {
        match self.shap.method() {
            Method::PathDependent => "tree_path_dependent",
            Method::Interventional => "interventional",
        }
    }

    pub fn predict(&self, a: &Applicant) -> Prediction {
        let probability = self.model.probability(a);
        let threshold = self.model.threshold;
        Prediction {
            approved: probability >= threshold,
            probability,
            threshold,
            model: self.model_ref.clone(),
            warnings: self.range_warnings(a),
        }
    }

    pub fn explain(&self, a: &Applicant, options: ExplainOptions) -> Result<Answer> {
        let x = self.model.encoder.encode(a);
        let e = self.shap.explain_with(&x, options.parallel)?;
        let groups = Group::all();
        let mut per_group = vec![0.0; groups.len()];
        for (phi, &g) in e.values.iter().zip(&self.column_groups) {
            per_group[g] += phi;
        }
        let mut by_field: Vec<(Group, f64)> = groups.iter().copied().zip(per_group).collect();
        by_field.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));

        let probability = e.prediction;
        let threshold = self.model.threshold;
        let approved = probability >= threshold;
        let mut warnings = self.range_warnings(a);
        warnings.extend(fairness_warnings(&by_field, options.lang));
        let reasons = if approved { Vec::new() } else { self.reasons(a, &by_field, options) };
        let contributions = if options.per_column {
            self.per_column(&x, &e.values)
        } else {
            by_field
                .iter()
                .map(|&(g, shap)| Contribution {
                    feature: g.name().into(),
                    value: g.value(a).to_json(),
                    shap,
                })
                .collect()
        };
        let sum: f64 = e.values.iter().sum();
        Ok(Answer {
            approved,
            probability,
            threshold,
            margin: probability - threshold,
            base_value: e.base_value,
            output_space: "probability",
            method: self.method(),
            contributions,
            reasons,
            additivity_error: (e.base_value + sum - probability).abs(),
            model: self.model_ref.clone(),
            warnings,
        })
    }

    fn per_column(&self, x: &[f64], phi: &[f64]) -> Vec<Contribution> {
        let names = self.model.encoder.feature_names();
        let mut out: Vec<Contribution> = names
            .iter()
            .zip(x)
            .zip(phi)
            .map(|((n, &v), &shap)| Contribution { feature: n.clone(), value: v.into(), shap })
            .collect();
        out.sort_by(|a, b| b.shap.abs().total_cmp(&a.shap.abs()));
        out
    }

    /// The fields that pushed the probability down most, never a protected attribute.
    fn reasons(&self, a: &Applicant, by_field: &[(Group, f64)], options: ExplainOptions) -> Vec<Reason> {
        let mut negative: Vec<(Group, f64)> =
            by_field.iter().copied().filter(|(g, s)| *s < 0.0 && !g.is_protected()).collect();
        negative.sort_by(|a, b| a.1.total_cmp(&b.1));
        negative
            .into_iter()
            .take(options.top)
            .map(|(g, shap)| Reason {
                feature: g.name().into(),
                value: g.value(a).to_json(),
                shap,
                text: reason_text(g, a, self.model.encoder.stats_of(g), options.lang),
            })
            .collect()
    }

    fn range_warnings(&self, a: &Applicant) -> Vec<Warning> {
        self.model
            .encoder
            .warnings(a)
            .into_iter()
            .map(|w| Warning {
                kind: if w.message.contains("never seen") {
                    "unseen_category"
                } else {
                    "out_of_training_range"
                },
                field: w.field,
                message: w.message,
            })
            .collect()
    }
}

/// A protected attribute that carries a material share of the decision is flagged for human
/// review instead of being cited as a reason.
fn fairness_warnings(by_field: &[(Group, f64)], lang: Lang) -> Vec<Warning> {
    let total: f64 = by_field.iter().map(|(_, s)| s.abs()).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    by_field
        .iter()
        .filter(|(g, s)| g.is_protected() && s.abs() / total >= MATERIAL_SHARE)
        .map(|&(g, s)| {
            let share = 100.0 * s.abs() / total;
            let message = match lang {
                Lang::Es => format!(
                    "El atributo protegido «{}» explica el {share:.0}% de esta decisión: requiere revisión humana.",
                    g.label(true)
                ),
                Lang::En => format!(
                    "Protected attribute '{}' carries {share:.0}% of this decision: refer for human review.",
                    g.label(false)
                ),
            };
            Warning { field: g.name().into(), kind: "protected_attribute", message }
        })
        .collect()
}
