//! `POST /recourse`: what would it take for this customer to be approved. The body is an
//! `/explain` body plus `max_changes` (1..=3); invalid customers get the same 422 as `/explain`.
//! The decision is audited like `/predict`'s (a denial with its reasons).

use super::errors::ApiError;
use super::metrics;
use super::request::{self, resolve_lang};
use super::routes::{
    Origin, audit, audit_prediction, json_ok, key_name, loaded, outcome, pinned, request_id, respond,
    schema_of,
};
use super::state::State;
use crate::explain::ModelRef;
use crate::recourse::{Plan, RecourseOptions};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use std::sync::Arc;

/// The answer: the plan and the model that made it.
#[derive(Serialize)]
struct RecourseBody<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    model: &'a ModelRef,
}

pub async fn recourse(req: HttpRequest, payload: web::Payload, state: web::Data<State>) -> HttpResponse {
    respond(recourse_inner(&req, payload, &state).await)
}

async fn recourse_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &State,
) -> Result<HttpResponse, ApiError> {
    let query_lang = request::query_lang(req.query_string())?;
    let body = request::read_json(req, payload, state.body_limit).await?;
    let model = pinned(req, state);
    let parsed = request::parse_recourse(&body, schema_of(&model))?;
    let pinned_model = loaded(model)?;
    let loaded = &*pinned_model;
    let lang = resolve_lang(parsed.lang, query_lang, req);
    let options = RecourseOptions { max_changes: parsed.max_changes, lang, ..RecourseOptions::default() };
    // A search of tens of milliseconds: off the async worker, which serves other connections.
    let (job, customer) = (Arc::clone(&pinned_model), parsed.customer.clone());
    let plan = web::block(move || job.planner.plan(&customer, options)).await.map_err(ApiError::internal)?;
    if state.audit.is_some() {
        let p = loaded.explainer.predict(&parsed.customer, lang);
        let mut lines = Vec::new();
        let (id, key) = (request_id(req), key_name(req));
        let origin = Origin { request_id: &id, endpoint: "/recourse", index: None, key: key.as_deref() };
        audit_prediction(&mut lines, &origin, &pinned_model, &parsed.customer, &p, lang, None).await?;
        audit(state, loaded, &lines, 1)?;
    }
    let outcome = outcome(plan.approved, plan.probability, false);
    let response = json_ok(&RecourseBody { plan: &plan, model: loaded.explainer.model_ref() }, outcome)?;
    loaded.metrics.record_decision(metrics::endpoint_index("/recourse"), plan.approved, false);
    Ok(response)
}
