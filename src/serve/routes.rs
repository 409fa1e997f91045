//! The handlers: `POST /predict`, `POST /explain`, `GET /model`, `GET /openapi.json`,
//! `GET /metrics`, and the JSON 404/405 answers. Each handler validates, asks the shared
//! explainer, records the decision (metrics, audit) and answers JSON; every failure is an
//! [`ApiError`]. `POST /predict/batch` lives in `batch.rs`, the health checks in `health.rs`.

use super::audit::{Record, now_rfc3339};
pub use super::auth::key_name;
use super::errors::ApiError;
use super::metrics;
use super::observe::{Outcome, Pinned, RequestId};
use super::request::{self, resolve_lang};
use super::state::{Loaded, State};
use crate::explain::{Answer, Contribution, Lang, ModelRef, Prediction, Reason, Reference, Warning};
use crate::schema::{Applicant, FieldError, Schema};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Serialize;
use std::sync::Arc;

/// The body of a `/predict` answer (and, with `index`, of a batch item).
#[derive(Debug, Serialize)]
pub struct PredictBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub approved: bool,
    pub probability: f64,
    pub threshold: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a ModelRef>,
    pub warnings: &'a [Warning],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<ExplanationBody<'a>>,
}

/// `explanation` inside a `/predict` answer: the explanation part of an [`Answer`].
#[derive(Debug, Serialize)]
pub struct ExplanationBody<'a> {
    pub base_value: f64,
    pub margin: f64,
    pub output_space: &'static str,
    pub method: &'static str,
    pub reference: Reference,
    pub contributions: &'a [Contribution],
    pub reasons: &'a [Reason],
    pub additivity_error: f64,
}

impl<'a> PredictBody<'a> {
    pub fn from_prediction(p: &'a Prediction, model: Option<&'a ModelRef>, index: Option<usize>) -> Self {
        PredictBody {
            index,
            approved: p.approved,
            probability: p.probability,
            threshold: p.threshold,
            model,
            warnings: &p.warnings,
            explanation: None,
        }
    }

    pub fn from_answer(a: &'a Answer, model: Option<&'a ModelRef>, index: Option<usize>) -> Self {
        PredictBody {
            index,
            approved: a.approved,
            probability: a.probability,
            threshold: a.threshold,
            model,
            warnings: &a.warnings,
            explanation: Some(ExplanationBody {
                base_value: a.base_value,
                margin: a.margin,
                output_space: a.output_space,
                method: a.method,
                reference: a.reference,
                contributions: &a.contributions,
                reasons: &a.reasons,
                additivity_error: a.additivity_error,
            }),
        }
    }
}

/// An error or a handler's answer, as the response.
pub fn respond(result: Result<HttpResponse, ApiError>) -> HttpResponse {
    result.unwrap_or_else(|e| e.response())
}

/// A JSON 200 carrying the log line's view of the decision.
pub fn json_ok<T: Serialize>(body: &T, outcome: Outcome) -> Result<HttpResponse, ApiError> {
    let bytes =
        serde_json::to_vec(body).map_err(|e| ApiError::internal(format!("serializing the answer: {e}")))?;
    let mut response = HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(bytes);
    response.extensions_mut().insert(outcome);
    Ok(response)
}

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default()
}

/// Writes a request's records (already JSON lines) as one unit before the answer leaves; when
/// they cannot all be written none is kept and the answer is withheld. Counted for `loaded`, the
/// model that gave the decisions.
pub fn audit(state: &State, loaded: &Loaded, lines: &[u8], records: u64) -> Result<(), ApiError> {
    let Some(log) = &state.audit else { return Ok(()) };
    if let Err(e) = log.append(lines) {
        tracing::error!(path = %log.path().display(), error = %e, records, "audit log write failed");
        loaded.metrics.record_audit_failure();
        return Err(ApiError::audit_unavailable());
    }
    loaded.metrics.record_audit(records);
    Ok(())
}

pub fn decision(approved: bool) -> &'static str {
    if approved { "approved" } else { "denied" }
}

pub fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::Es => "es",
        Lang::En => "en",
    }
}

/// The model this request was pinned to when it arrived (see `observe`), so its answer, audit
/// record, log line and metrics name one model even when a watched alias swaps it meanwhile.
pub fn pinned(req: &HttpRequest, state: &State) -> Option<Arc<Loaded>> {
    match req.extensions().get::<Pinned>() {
        Some(Pinned(model)) => model.clone(),
        None => state.model(),
    }
}

/// The pinned model, or 503 while it loads.
pub fn loaded(model: Option<Arc<Loaded>>) -> Result<Arc<Loaded>, ApiError> {
    model.ok_or_else(ApiError::model_unavailable)
}

/// The model's applicant schema (None while it loads): what requests are checked against.
pub fn schema_of(model: &Option<Arc<Loaded>>) -> Option<&Schema> {
    model.as_ref().map(|m| &**m.explainer.schema())
}

/// One customer's explanation, computed off the async worker together with the concurrent
/// requests' (see `combine`); `reference` must be one the model has (`resolve_reference`).
pub async fn explained(
    loaded: &Arc<Loaded>,
    customer: &Applicant,
    lang: Lang,
    reference: Option<Reference>,
) -> Result<Answer, ApiError> {
    let (job, customer) = (Arc::clone(loaded), customer.clone());
    web::block(move || job.combiner.explain(&job, customer, lang, reference))
        .await
        .map_err(ApiError::internal)?
}

/// The reference a request asked for (None: the model's default) with its TreeSHAP method, or a
/// 422 naming `reference` when the loaded model keeps no such sample.
pub fn resolve_reference(
    loaded: &Loaded,
    reference: Option<Reference>,
) -> Result<(Reference, &'static str), ApiError> {
    loaded.explainer.resolve(reference).ok_or_else(|| {
        let have: Vec<&str> = loaded.explainer.references().iter().map(|r| r.name()).collect();
        let wanted = reference.map_or("", Reference::name);
        let message = format!("{wanted:?} is not available for this model (available: {})", have.join(", "));
        ApiError::validation(vec![FieldError::new("reference", message)])
    })
}

/// Where a decision was asked for: the request, the endpoint, the item of a batch.
#[derive(Clone, Copy)]
pub struct Origin<'a> {
    pub request_id: &'a str,
    pub endpoint: &'a str,
    pub index: Option<usize>,
    /// The API key's name (never the key).
    pub key: Option<&'a str>,
}

/// What the audit record of one decision says about it.
pub struct Verdict<'a> {
    approved: bool,
    probability: f64,
    threshold: f64,
    reasons: &'a [Reason],
    warnings: &'a [Warning],
    /// The reference the reasons compare with, and its TreeSHAP method.
    compared: (Reference, &'static str),
}

impl<'a> Verdict<'a> {
    pub fn of_answer(a: &'a Answer) -> Verdict<'a> {
        let (approved, probability, threshold) = (a.approved, a.probability, a.threshold);
        let compared = (a.reference, a.method);
        Verdict { approved, probability, threshold, reasons: &a.reasons, warnings: &a.warnings, compared }
    }

    /// A prediction, with the reasons of a denial when they were computed for the record.
    pub fn of_prediction(
        p: &'a Prediction,
        reasons: &'a [Reason],
        compared: (Reference, &'static str),
    ) -> Verdict<'a> {
        let (approved, probability, threshold) = (p.approved, p.probability, p.threshold);
        Verdict { approved, probability, threshold, reasons, warnings: &p.warnings, compared }
    }
}

/// One audit line for one decision.
pub fn audit_line(
    out: &mut Vec<u8>,
    origin: &Origin,
    loaded: &Loaded,
    customer: &Applicant,
    verdict: Verdict,
    lang: Lang,
) {
    Record {
        time: now_rfc3339(),
        request_id: origin.request_id,
        endpoint: origin.endpoint,
        index: origin.index,
        key: origin.key,
        model: loaded.explainer.model_ref(),
        method: verdict.compared.1,
        reference: verdict.compared.0,
        customer: loaded.explainer.schema().applicant_json(customer.values()),
        decision: decision(verdict.approved),
        approved: verdict.approved,
        probability: verdict.probability,
        threshold: verdict.threshold,
        reasons: verdict.reasons,
        warnings: verdict.warnings,
        lang: lang_code(lang),
    }
    .write_line(out);
}

pub async fn predict(req: HttpRequest, payload: web::Payload, state: web::Data<State>) -> HttpResponse {
    respond(predict_inner(&req, payload, &state).await)
}

async fn predict_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &State,
) -> Result<HttpResponse, ApiError> {
    let query_lang = request::query_lang(req.query_string())?;
    let body = request::read_json(req, payload, state.body_limit).await?;
    let model = pinned(req, state);
    let parsed = request::parse_predict(&body, schema_of(&model))?;
    let pinned_model = loaded(model)?;
    let loaded = &*pinned_model;
    let lang = resolve_lang(parsed.lang, query_lang, req);
    let endpoint = metrics::endpoint_index("/predict");
    let model = loaded.explainer.model_ref();
    let (id, key) = (request_id(req), key_name(req));
    let origin = Origin { request_id: &id, endpoint: "/predict", index: None, key: key.as_deref() };
    // A reference the model lacks is refused whether or not this answer needs it.
    resolve_reference(loaded, parsed.reference)?;
    let mut lines = Vec::new();
    let (response, approved, probability) = if parsed.include_explanation {
        let answer = explained(&pinned_model, &parsed.customer, lang, parsed.reference).await?;
        if state.audit.is_some() {
            audit_line(&mut lines, &origin, loaded, &parsed.customer, Verdict::of_answer(&answer), lang);
        }
        let outcome = outcome(answer.approved, answer.probability, true);
        let body = PredictBody::from_answer(&answer, Some(model), None);
        (json_ok(&body, outcome)?, answer.approved, answer.probability)
    } else {
        let p = loaded.explainer.predict(&parsed.customer, lang);
        if state.audit.is_some() {
            let customer = &parsed.customer;
            audit_prediction(&mut lines, &origin, &pinned_model, customer, &p, lang, parsed.reference)
                .await?;
        }
        let body = PredictBody::from_prediction(&p, Some(model), None);
        (json_ok(&body, outcome(p.approved, p.probability, false))?, p.approved, p.probability)
    };
    audit(state, loaded, &lines, 1)?;
    if !approved {
        let customer = loaded.explainer.schema().applicant_json(parsed.customer.values());
        state.queue.record(customer, probability, "/predict");
    }
    loaded.metrics.record_decision(endpoint, approved, parsed.include_explanation);
    Ok(response)
}

pub async fn explain(req: HttpRequest, payload: web::Payload, state: web::Data<State>) -> HttpResponse {
    respond(explain_inner(&req, payload, &state).await)
}

async fn explain_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &State,
) -> Result<HttpResponse, ApiError> {
    let query_lang = request::query_lang(req.query_string())?;
    let body = request::read_json(req, payload, state.body_limit).await?;
    let model = pinned(req, state);
    let parsed = request::parse_explain(&body, schema_of(&model))?;
    let loaded = loaded(model)?;
    let lang = resolve_lang(parsed.lang, query_lang, req);
    resolve_reference(&loaded, parsed.reference)?;
    let answer = explained(&loaded, &parsed.customer, lang, parsed.reference).await?;
    let loaded = &*loaded;
    if state.audit.is_some() {
        let mut lines = Vec::new();
        let (id, key) = (request_id(req), key_name(req));
        let origin = Origin { request_id: &id, endpoint: "/explain", index: None, key: key.as_deref() };
        audit_line(&mut lines, &origin, loaded, &parsed.customer, Verdict::of_answer(&answer), lang);
        audit(state, loaded, &lines, 1)?;
    }
    let response = json_ok(&answer, outcome(answer.approved, answer.probability, true))?;
    // The page's own what-if requests are the analyst's experiments, not applications.
    if !answer.approved && !req.headers().contains_key(super::page::WHAT_IF_HEADER) {
        let customer = loaded.explainer.schema().applicant_json(parsed.customer.values());
        state.queue.record(customer, answer.probability, "/explain");
    }
    loaded.metrics.record_decision(metrics::endpoint_index("/explain"), answer.approved, true);
    Ok(response)
}

/// The audit line of a decision given without its explanation: a denial is still recorded with
/// its reasons, even when the client did not ask for them.
pub async fn audit_prediction(
    out: &mut Vec<u8>,
    origin: &Origin<'_>,
    loaded: &Arc<Loaded>,
    customer: &Applicant,
    p: &Prediction,
    lang: Lang,
    reference: Option<Reference>,
) -> Result<(), ApiError> {
    let compared = resolve_reference(loaded, reference)?;
    let reasons =
        if p.approved { Vec::new() } else { explained(loaded, customer, lang, reference).await?.reasons };
    audit_line(out, origin, loaded, customer, Verdict::of_prediction(p, &reasons, compared), lang);
    Ok(())
}

pub fn outcome(approved: bool, probability: f64, explained: bool) -> Outcome {
    Outcome {
        decision: Some(decision(approved)),
        probability: Some(probability),
        explanation: Some(explained),
        items: None,
    }
}

pub async fn model(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    respond(loaded(pinned(&req, &state)).map(|m| json_bytes(StatusCode::OK, m.model_json.clone())))
}

/// The document describes the loaded model's applicants, so it is there once the model is.
pub async fn openapi_json(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    respond(loaded(pinned(&req, &state)).map(|m| json_bytes(StatusCode::OK, m.openapi_json.clone())))
}

/// Every model served so far (its counters stay after a swap) and the process's status.
pub async fn metrics_text(state: web::Data<State>) -> HttpResponse {
    let current = state.model();
    let served = state.served();
    let mut sets: Vec<(Option<&metrics::ModelLabels>, &metrics::Metrics)> = vec![(None, &*state.metrics)];
    sets.extend(served.iter().map(|(labels, m)| (Some(labels), &**m)));
    let process = metrics::ProcessStatus {
        current: current.as_ref().map(|m| (&m.labels, m.loaded_at)),
        dropped_log_lines: state.log.map(|l| l.dropped()).unwrap_or(0),
        draining: state.draining(),
        registry: state.registry.as_ref().map(|r| r.snapshot()),
    };
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        ))
        .body(metrics::render(&sets, &process))
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found(req.path()).response()
}

pub async fn only_post(req: HttpRequest) -> HttpResponse {
    not_allowed(&req, "POST")
}

pub async fn only_get(req: HttpRequest) -> HttpResponse {
    not_allowed(&req, "GET")
}

fn not_allowed(req: &HttpRequest, allowed: &'static str) -> HttpResponse {
    let mut response = ApiError::method_not_allowed(req.method().as_str(), allowed).response();
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allowed));
    response
}

fn json_bytes(status: StatusCode, bytes: web::Bytes) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .body(bytes)
}
