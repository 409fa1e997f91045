//! `POST /predict/batch`: up to 1,000 customers in one request, one answer per customer in
//! request order; a customer that fails validation gets its own `{index, error, message, details}`
//! and does not fail the others. Scoring runs on the blocking pool (in parallel with rayon) so a
//! large batch never stalls a worker's event loop.

use super::errors::ApiError;
use super::observe::Outcome;
use super::request::{self, resolve_lang};
use super::routes::{
    Origin, PredictBody, Verdict, audit, audit_line, json_ok, key_name, loaded, pinned, request_id,
    resolve_reference, respond, schema_of,
};
use super::state::{Loaded, State};
use crate::explain::{Answer, ExplainOptions, Lang, ModelRef, Prediction, Reason, Reference};
use crate::schema::{Applicant, FieldError};
use crate::shap::BLOCK_ROWS;
use actix_web::{HttpRequest, HttpResponse, web};
use rayon::prelude::*;
use serde::Serialize;
use std::sync::Arc;

const ENDPOINT: &str = "/predict/batch";

/// How a batch's customers are answered.
#[derive(Clone, Copy)]
struct Scoring {
    explain: bool,
    lang: Lang,
    reference: Option<Reference>,
    /// Denials answered without an explanation still get their reasons, for the audit record.
    with_audit_reasons: bool,
}

/// One customer's result, computed off the event loop.
enum Scored {
    Predicted { customer: Applicant, prediction: Prediction, audit_reasons: Vec<Reason> },
    Explained { customer: Applicant, answer: Answer },
    Invalid(Vec<FieldError>),
    Failed(ApiError),
}

#[derive(Serialize)]
struct BatchBody<'a> {
    model: &'a ModelRef,
    results: Vec<Item<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Item<'a> {
    Answer(PredictBody<'a>),
    Error(ItemError<'a>),
}

#[derive(Serialize)]
struct ItemError<'a> {
    index: usize,
    error: &'static str,
    message: String,
    details: &'a [FieldError],
}

pub async fn predict_batch(req: HttpRequest, payload: web::Payload, state: web::Data<State>) -> HttpResponse {
    respond(batch_inner(&req, payload, &state).await)
}

async fn batch_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &State,
) -> Result<HttpResponse, ApiError> {
    let query_lang = request::query_lang(req.query_string())?;
    let body = request::read_json(req, payload, state.body_limit).await?;
    let model = pinned(req, state);
    let parsed = request::parse_batch(&body, schema_of(&model))?;
    drop(body);
    let loaded = loaded(model)?;
    let lang = resolve_lang(parsed.lang, query_lang, req);
    let explain = parsed.include_explanation;
    let compared = resolve_reference(&loaded, parsed.reference)?;
    let with_audit_reasons = state.audit.is_some();
    let worker = Arc::clone(&loaded);
    let scoring = Scoring { explain, lang, reference: parsed.reference, with_audit_reasons };
    let scored = web::block(move || score_all(&worker, parsed.items, scoring))
        .await
        .map_err(|e| ApiError::internal(format!("batch scoring stopped: {e}")))?;

    if state.audit.is_some() {
        let (id, key) = (request_id(req), key_name(req));
        let origin = Origin { request_id: &id, endpoint: ENDPOINT, index: None, key: key.as_deref() };
        let lines = audit_lines(&scored, &loaded, origin, lang, compared);
        let answered =
            scored.iter().filter(|s| matches!(s, Scored::Predicted { .. } | Scored::Explained { .. }));
        audit(state, &loaded, &lines, answered.count() as u64)?;
    }
    let endpoint = super::metrics::endpoint_index(ENDPOINT);
    let results: Vec<Item> = scored.iter().enumerate().map(|(i, s)| item(i, s)).collect();
    for r in &results {
        if let Item::Answer(a) = r {
            loaded.metrics.record_decision(endpoint, a.approved, a.explanation.is_some());
        }
    }
    let outcome = Outcome { items: Some(results.len()), explanation: Some(explain), ..Outcome::default() };
    json_ok(&BatchBody { model: loaded.explainer.model_ref(), results }, outcome)
}

fn score_all(
    loaded: &Loaded,
    items: Vec<Result<Applicant, Vec<FieldError>>>,
    scoring: Scoring,
) -> Vec<Scored> {
    let Scoring { explain, lang, reference, with_audit_reasons } = scoring;
    let explainer = &loaded.explainer;
    let mut scored: Vec<Scored> = items
        .into_par_iter()
        .map(|item| match item {
            Err(details) => Scored::Invalid(details),
            Ok(customer) => {
                let prediction = explainer.predict(&customer, lang);
                Scored::Predicted { customer, prediction, audit_reasons: Vec::new() }
            }
        })
        .collect();
    // Explained: every customer when asked, else the denials an audit record needs reasons for;
    // in TreeSHAP blocks (rows in the vector lanes, the same values as one by one).
    let wanted: Vec<usize> = (0..scored.len())
        .filter(|&i| match &scored[i] {
            Scored::Predicted { prediction, .. } => explain || (with_audit_reasons && !prediction.approved),
            _ => false,
        })
        .collect();
    let options = ExplainOptions { reference, ..ExplainOptions::default() };
    let answers: Vec<Result<Vec<Answer>, ApiError>> = wanted
        .par_chunks(BLOCK_ROWS)
        .map(|chunk| {
            let applicants: Vec<(&Applicant, Lang)> = chunk
                .iter()
                .filter_map(|&i| match &scored[i] {
                    Scored::Predicted { customer, .. } => Some((customer, lang)),
                    _ => None,
                })
                .collect();
            explainer.explain_many(&applicants, options).map_err(ApiError::internal)
        })
        .collect();
    for (chunk, answers) in wanted.chunks(BLOCK_ROWS).zip(answers) {
        let answers = match answers {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e); chunk.len()],
        };
        for (&i, answer) in chunk.iter().zip(answers) {
            let Scored::Predicted { customer, audit_reasons, .. } = &mut scored[i] else { continue };
            scored[i] = match answer {
                Ok(answer) if explain => Scored::Explained { customer: customer.clone(), answer },
                Ok(answer) => {
                    *audit_reasons = answer.reasons;
                    continue;
                }
                Err(e) => Scored::Failed(e),
            };
        }
    }
    scored
}

fn item(index: usize, scored: &Scored) -> Item<'_> {
    match scored {
        Scored::Predicted { prediction, .. } => {
            Item::Answer(PredictBody::from_prediction(prediction, None, Some(index)))
        }
        Scored::Explained { answer, .. } => Item::Answer(PredictBody::from_answer(answer, None, Some(index))),
        Scored::Invalid(details) => Item::Error(ItemError {
            index,
            error: "validation",
            message: format!("customer {index} is invalid: {} field(s); see details", details.len()),
            details,
        }),
        Scored::Failed(e) => {
            Item::Error(ItemError { index, error: e.error, message: e.message.clone(), details: &[] })
        }
    }
}

fn audit_lines(
    scored: &[Scored],
    loaded: &Loaded,
    request: Origin,
    lang: Lang,
    compared: (Reference, &'static str),
) -> Vec<u8> {
    let mut lines = Vec::new();
    for (i, s) in scored.iter().enumerate() {
        let origin = Origin { index: Some(i), ..request };
        let (customer, verdict) = match s {
            Scored::Predicted { customer, prediction, audit_reasons } => {
                (customer, Verdict::of_prediction(prediction, audit_reasons, compared))
            }
            Scored::Explained { customer, answer } => (customer, Verdict::of_answer(answer)),
            Scored::Invalid(_) | Scored::Failed(_) => continue,
        };
        audit_line(&mut lines, &origin, loaded, customer, verdict, lang);
    }
    lines
}
