//! One answer for one customer — probability, decision, SHAP contributions per reported field,
//! reasons for a denial in Spanish or English, and warnings — the single place both
//! `credrisk explain` and `credrisk serve` get their answers from.

mod global;
mod reasons;
mod reference;

use crate::data::ApplicantTable;
use crate::error::{Error, Result};
use crate::features::RangeKind;
use crate::model::Model;
use crate::schema::{Applicant, Schema};
use crate::shap::TreeShap;
use reference::Comparison;
use serde::Serialize;
use std::sync::{Arc, OnceLock};

pub use global::{FieldImpact, GLOBAL_SHAP_FILE, GlobalShap, global_shap};
pub use reasons::{Lang, group_thousands, json_value_text, reason_text, value_text};
pub use reference::{
    APPROVED_FILE, CUTOFF_FILE, REFERENCE_ROWS, Reference, ReferenceSamples, load_sample, load_samples,
};

/// A protected attribute (or a proxy of one) carrying at least this share of Σ|φ| triggers a
/// fairness warning.
pub const MATERIAL_SHARE: f64 = 0.10;
/// ECOA/Reg B: "more than four [reasons] is not likely to be helpful".
pub const DEFAULT_TOP: usize = 4;

/// Which model answered: `run_id` as recorded in its MLmodel, the URI it was loaded from, and
/// the registered model's name and version when it came through the registry.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ModelRef {
    pub run_id: Option<String>,
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
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

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// A valid value outside the range training saw: the model extrapolates.
    OutOfTrainingRange,
    /// A category training never saw.
    UnseenCategory,
    /// A protected attribute carries a material share of the decision.
    ProtectedAttribute,
    /// An attribute that may stand in for a protected one carries a material share.
    ProxyAttribute,
}

impl WarningKind {
    pub const ALL: [WarningKind; 4] = [
        WarningKind::OutOfTrainingRange,
        WarningKind::UnseenCategory,
        WarningKind::ProtectedAttribute,
        WarningKind::ProxyAttribute,
    ];

    /// The name in JSON answers.
    pub fn name(self) -> &'static str {
        match self {
            WarningKind::OutOfTrainingRange => "out_of_training_range",
            WarningKind::UnseenCategory => "unseen_category",
            WarningKind::ProtectedAttribute => "protected_attribute",
            WarningKind::ProxyAttribute => "proxy_attribute",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub field: String,
    pub kind: WarningKind,
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
    /// What the applicant is compared with: `base_value` is its mean prediction (interventional)
    /// or the trees' cover-weighted mean (path).
    pub reference: Reference,
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
    /// The reference to compare with; None: the explainer's default.
    pub reference: Option<Reference>,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        ExplainOptions {
            lang: Lang::Es,
            top: DEFAULT_TOP,
            per_column: false,
            parallel: false,
            reference: None,
        }
    }
}

/// One thread's working memory for batch explanations.
pub struct Work {
    x: Vec<f64>,
    phi: Vec<f64>,
    scratch: crate::shap::Scratch,
    /// A block's encoded rows end to end, and their SHAP values (see `fields_shap_block`).
    block_x: Vec<f64>,
    block_phi: Vec<Vec<f64>>,
}

/// A loaded model with its TreeSHAP explainers, one per reference it can compare with, built
/// once and shared by every request.
pub struct Explainer {
    model: Arc<Model>,
    /// The default reference first.
    comparisons: Vec<Comparison>,
    model_ref: ModelRef,
}

impl Explainer {
    /// `background`: applicants for interventional SHAP (the `background` reference); None for
    /// path-dependent.
    pub fn new(
        model: Arc<Model>,
        model_ref: ModelRef,
        background: Option<&ApplicantTable>,
    ) -> Result<Explainer> {
        match background {
            Some(rows) => {
                let samples = vec![(Reference::Background, rows.clone())];
                Explainer::with_references(model, model_ref, samples, Reference::Background)
            }
            None => Explainer::with_references(model, model_ref, Vec::new(), Reference::Path),
        }
    }

    /// The path-dependent explainer and one interventional explainer per sample; `default` (the
    /// path or one of the samples) answers when a request names none.
    pub fn with_references(
        model: Arc<Model>,
        model_ref: ModelRef,
        samples: Vec<(Reference, ApplicantTable)>,
        default: Reference,
    ) -> Result<Explainer> {
        let path = Comparison {
            reference: Reference::Path,
            shap: OnceLock::new(),
            background: Vec::new(),
            stats: Vec::new(),
        };
        let mut comparisons = vec![path];
        for (reference, rows) in samples {
            comparisons.push(Comparison {
                reference,
                shap: OnceLock::new(),
                background: model.encoder.encode_rows(&rows),
                stats: model.encoder.sample_stats(&rows),
            });
        }
        let Some(at) = comparisons.iter().position(|c| c.reference == default) else {
            return Err(Error::Usage(format!(
                "the {} reference is not available for this model",
                default.name()
            )));
        };
        comparisons[..=at].rotate_right(1);
        // The default answers every request that names none: built now, its errors as they are.
        let built = comparisons[0].build(&model.forest)?;
        comparisons[0].shap = OnceLock::from(Ok(built));
        Ok(Explainer { model, comparisons, model_ref })
    }

    /// The default reference's explainer, built at construction.
    fn default_shap(&self) -> &TreeShap {
        match self.comparisons[0].shap.get() {
            Some(Ok(shap)) => shap,
            _ => unreachable!("Explainer::with_references builds the default explainer"),
        }
    }

    /// The references this explainer can compare with, the default first.
    pub fn references(&self) -> Vec<Reference> {
        self.comparisons.iter().map(|c| c.reference).collect()
    }

    /// The reference answers use when a request names none.
    pub fn default_reference(&self) -> Reference {
        self.comparisons[0].reference
    }

    /// The reference `reference` resolves to (None: the default) and its TreeSHAP method, or
    /// None when this explainer cannot compare with it.
    pub fn resolve(&self, reference: Option<Reference>) -> Option<(Reference, &'static str)> {
        self.comparison(reference).ok().map(|c| (c.reference, c.method()))
    }

    /// The comparison for `reference` (None: the default), or a usage error naming what is there.
    fn comparison(&self, reference: Option<Reference>) -> Result<&Comparison> {
        let Some(wanted) = reference else { return Ok(&self.comparisons[0]) };
        self.comparisons.iter().find(|c| c.reference == wanted).ok_or_else(|| {
            let have: Vec<&str> = self.comparisons.iter().map(|c| c.reference.name()).collect();
            Error::Usage(format!(
                "reference {:?} is not available for this model (available: {})",
                wanted.name(),
                have.join(", ")
            ))
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model itself, for what else is built over it (recourse).
    pub fn shared_model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The schema of the model's applicants.
    pub fn schema(&self) -> &Arc<Schema> {
        self.model.schema()
    }

    pub fn model_ref(&self) -> &ModelRef {
        &self.model_ref
    }

    /// The default reference's TreeSHAP method, as answers name it.
    pub fn method(&self) -> &'static str {
        self.comparisons[0].method()
    }

    /// The decision alone; warnings in `lang`.
    pub fn predict(&self, a: &Applicant, lang: Lang) -> Prediction {
        let probability = self.model.probability(a);
        let threshold = self.model.threshold;
        Prediction {
            approved: probability >= threshold,
            probability,
            threshold,
            model: self.model_ref.clone(),
            warnings: self.range_warnings(a, lang),
        }
    }

    pub fn explain(&self, a: &Applicant, options: ExplainOptions) -> Result<Answer> {
        let x = self.model.encoder.encode(a.values());
        let comparison = self.comparison(options.reference)?;
        let e = comparison.shap(&self.model.forest)?.explain_with(&x, options.parallel)?;
        Ok(self.answer(a, &x, e, options, comparison))
    }

    /// [`Explainer::explain`] for several applicants at once, each with its language and all
    /// with `options` otherwise: TreeSHAP runs them as one batch (a path-dependent batch goes in
    /// blocks of rows in the vector lanes), with the same values as one by one.
    pub fn explain_many(
        &self,
        applicants: &[(&Applicant, Lang)],
        options: ExplainOptions,
    ) -> Result<Vec<Answer>> {
        let encoder = &self.model.encoder;
        let rows: Vec<Vec<f64>> = applicants.iter().map(|(a, _)| encoder.encode(a.values())).collect();
        let comparison = self.comparison(options.reference)?;
        let explanations = comparison.shap(&self.model.forest)?.explain_rows(&rows.concat())?;
        Ok(applicants
            .iter()
            .zip(&rows)
            .zip(explanations)
            .map(|((&(a, lang), x), e)| self.answer(a, x, e, ExplainOptions { lang, ..options }, comparison))
            .collect())
    }

    /// The answer for applicant `a`, encoded as `x`, from its TreeSHAP explanation `e`.
    fn answer(
        &self,
        a: &Applicant,
        x: &[f64],
        e: crate::shap::Explanation,
        options: ExplainOptions,
        comparison: &Comparison,
    ) -> Answer {
        let encoder = &self.model.encoder;
        let schema = encoder.schema();
        let mut per_group = vec![0.0; encoder.groups().len()];
        for (phi, &g) in e.values.iter().zip(encoder.column_groups()) {
            per_group[g] += phi;
        }
        // (position in the encoder's groups, Σφ), largest |φ| first.
        let mut by_field: Vec<(usize, f64)> = per_group.into_iter().enumerate().collect();
        by_field.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));

        let probability = e.prediction;
        let threshold = self.model.threshold;
        let approved = probability >= threshold;
        let mut warnings = self.range_warnings(a, options.lang);
        warnings.extend(self.fairness_warnings(&by_field, options.lang));
        let reasons = if approved { Vec::new() } else { self.reasons(a, &by_field, options, comparison) };
        let contributions = if options.per_column {
            self.per_column(x, &e.values)
        } else {
            by_field
                .iter()
                .map(|&(p, shap)| {
                    let g = encoder.groups()[p];
                    Contribution {
                        feature: schema.group_name(g).into(),
                        value: schema.group_value(g, a.values()).to_json(),
                        shap,
                    }
                })
                .collect()
        };
        let sum: f64 = e.values.iter().sum();
        Answer {
            approved,
            probability,
            threshold,
            margin: probability - threshold,
            base_value: e.base_value,
            output_space: "probability",
            method: comparison.method(),
            reference: comparison.reference,
            contributions,
            reasons,
            additivity_error: (e.base_value + sum - probability).abs(),
            model: self.model_ref.clone(),
            warnings,
        }
    }

    /// Working memory for [`Explainer::field_shap_into`], one per thread.
    pub fn work(&self) -> Work {
        let n = self.model.encoder.n_features();
        Work {
            x: vec![0.0; n],
            phi: vec![0.0; n],
            scratch: self.default_shap().scratch(),
            block_x: Vec::new(),
            block_phi: Vec::new(),
        }
    }

    /// The expected value of the model's output under the default reference (SHAP's base value).
    pub fn base_value(&self) -> f64 {
        self.default_shap().base_value()
    }

    /// The reported fields (one SHAP value each), in the order of [`Explainer::field_shap_into`].
    pub fn field_names(&self) -> Vec<String> {
        let encoder = &self.model.encoder;
        encoder.groups().iter().map(|&g| encoder.schema().group_name(g).to_string()).collect()
    }

    /// P(approved) of one applicant's field values, and its SHAP values summed per reported
    /// field into `per_field` (in [`Explainer::field_names`] order), against the default reference:
    /// the same arithmetic, and so the same bits, as [`Explainer::explain`], without allocating.
    pub fn field_shap_into(&self, values: &[f64], work: &mut Work, per_field: &mut [f64]) -> Result<f64> {
        let encoder = &self.model.encoder;
        encoder.encode_into(values, &mut work.x);
        let probability = self.default_shap().explain_into(&work.x, &mut work.scratch, &mut work.phi)?;
        per_field.fill(0.0);
        for (phi, &g) in work.phi.iter().zip(encoder.column_groups()) {
            per_field[g] += phi;
        }
        Ok(probability)
    }

    /// [`Explainer::field_shap_into`] for up to [`crate::shap::BLOCK_ROWS`] applicants at once
    /// (`per_field` holds a row of fields per applicant): TreeSHAP runs them as one block, in
    /// the vector lanes, with the same bits as one by one. Their probabilities.
    pub fn fields_shap_block(
        &self,
        rows: &[&[f64]],
        work: &mut Work,
        per_field: &mut [f64],
    ) -> Result<Vec<f64>> {
        let encoder = &self.model.encoder;
        let (n, k) = (encoder.n_features(), encoder.groups().len());
        work.block_x.resize(rows.len() * n, 0.0);
        for (values, x) in rows.iter().zip(work.block_x.chunks_exact_mut(n)) {
            encoder.encode_into(values, x);
        }
        work.block_phi.resize_with(rows.len(), || vec![0.0; n]);
        let Work { block_x, block_phi, scratch, .. } = work;
        let block_phi = &mut block_phi[..rows.len()];
        block_phi.iter_mut().for_each(|phi| phi.fill(0.0));
        let probabilities = self.default_shap().explain_block_into(block_x, scratch, block_phi)?;
        for (phi, fields) in block_phi.iter().zip(per_field.chunks_exact_mut(k)) {
            fields.fill(0.0);
            for (phi, &g) in phi.iter().zip(encoder.column_groups()) {
                fields[g] += phi;
            }
        }
        Ok(probabilities)
    }

    /// The reasons for denying `a`, from its per-field SHAP values as [`Explainer::field_shap_into`]
    /// gives them against the default reference: the same reasons [`Explainer::explain`] gives.
    pub fn reasons_of(&self, a: &Applicant, per_field: &[f64], options: ExplainOptions) -> Vec<Reason> {
        let mut by_field: Vec<(usize, f64)> = per_field.iter().copied().enumerate().collect();
        by_field.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        self.reasons(a, &by_field, options, &self.comparisons[0])
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

    /// The fields that pushed the probability down most, never a protected attribute or a proxy.
    fn reasons(
        &self,
        a: &Applicant,
        by_field: &[(usize, f64)],
        options: ExplainOptions,
        comparison: &Comparison,
    ) -> Vec<Reason> {
        let encoder = &self.model.encoder;
        let schema = encoder.schema();
        let cited = |p: usize| {
            let g = encoder.groups()[p];
            !(schema.is_protected(g) || schema.is_proxy(g))
        };
        let mut negative: Vec<(usize, f64)> =
            by_field.iter().copied().filter(|&(p, s)| s < 0.0 && cited(p)).collect();
        negative.sort_by(|a, b| a.1.total_cmp(&b.1));
        negative
            .into_iter()
            .take(options.top)
            .map(|(p, shap)| {
                let g = encoder.groups()[p];
                Reason {
                    feature: schema.group_name(g).into(),
                    value: schema.group_value(g, a.values()).to_json(),
                    shap,
                    text: match comparison.reference {
                        Reference::Path => reason_text(schema, g, a.values(), encoder.stats(p), options.lang),
                        r => reasons::compared_text(
                            schema,
                            g,
                            a.values(),
                            &comparison.stats[p],
                            r,
                            options.lang,
                        ),
                    },
                }
            })
            .collect()
    }

    /// Values the model extrapolates on, told in the applicant's language and the field's unit.
    fn range_warnings(&self, a: &Applicant, lang: Lang) -> Vec<Warning> {
        let schema = self.model.encoder.schema();
        let es = lang == Lang::Es;
        self.model
            .encoder
            .warnings(a.values())
            .into_iter()
            .map(|w| {
                let label = schema.group_labels(w.group).get(es);
                let value = value_text(schema, w.group, a.values(), lang);
                let (kind, message) = match w.kind {
                    RangeKind::OutOfTrainingRange => {
                        let (min, max) = (
                            reasons::number_text(schema, w.group, w.min, lang),
                            reasons::number_text(schema, w.group, w.max, lang),
                        );
                        let message = if es {
                            format!("{label}: {value} está fuera del rango visto en el entrenamiento ({min} a {max}); el modelo extrapola.")
                        } else {
                            format!("{label}: {value} is outside the range seen in training ({min} to {max}); the model extrapolates.")
                        };
                        (WarningKind::OutOfTrainingRange, message)
                    }
                    RangeKind::UnseenCategory => {
                        let message = if es {
                            format!("{label}: la categoría «{value}» no aparece en el entrenamiento; el modelo extrapola.")
                        } else {
                            format!("{label}: the category “{value}” never appears in training; the model extrapolates.")
                        };
                        (WarningKind::UnseenCategory, message)
                    }
                };
                Warning { field: schema.group_name(w.group).to_string(), kind, message }
            })
            .collect()
    }

    /// A protected attribute (or a proxy of one) that carries a material share of the decision
    /// is flagged for human review instead of being cited as a reason.
    fn fairness_warnings(&self, by_field: &[(usize, f64)], lang: Lang) -> Vec<Warning> {
        let encoder = &self.model.encoder;
        let schema = encoder.schema();
        let total: f64 = by_field.iter().map(|(_, s)| s.abs()).sum();
        if total <= 0.0 {
            return Vec::new();
        }
        by_field
            .iter()
            .filter_map(|&(p, s)| {
                let g = encoder.groups()[p];
                let kind = if schema.is_protected(g) {
                    WarningKind::ProtectedAttribute
                } else if schema.is_proxy(g) {
                    WarningKind::ProxyAttribute
                } else {
                    return None;
                };
                if s.abs() / total < MATERIAL_SHARE {
                    return None;
                }
                let share = 100.0 * s.abs() / total;
                let label = schema.group_labels(g).get(lang == Lang::Es);
                let message = match (lang, kind) {
                    (Lang::Es, WarningKind::ProtectedAttribute) => format!(
                        "El atributo protegido «{label}» explica el {share:.0}% de esta decisión: requiere revisión humana."
                    ),
                    (Lang::Es, _) => format!(
                        "«{label}» puede actuar como proxy de un atributo protegido y explica el {share:.0}% de esta decisión: requiere revisión humana."
                    ),
                    (Lang::En, WarningKind::ProtectedAttribute) => format!(
                        "Protected attribute '{label}' carries {share:.0}% of this decision: refer for human review."
                    ),
                    (Lang::En, _) => format!(
                        "'{label}' may be a proxy for a protected attribute and carries {share:.0}% of this decision: refer for human review."
                    ),
                };
                Some(Warning { field: schema.group_name(g).into(), kind, message })
            })
            .collect()
    }
}
