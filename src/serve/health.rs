//! Liveness and readiness. `GET /health/live` answers 200 while the process runs;
//! `GET /health/ready` (and `GET /health`, kept for compatibility) answers 200 only when every
//! readiness condition holds, else 503 naming each one that fails — so a load balancer stops
//! sending decisions to a service that could not give them.

use super::errors::ApiError;
use super::state::State;
use crate::schema::FieldError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::Serialize;

/// Why the service cannot give decisions now. Each is one readiness check; later ones (the
/// registry poll, draining after SIGTERM) are new variants.
#[derive(Debug, Clone, PartialEq)]
pub enum NotReady {
    /// The model is still being read (the service binds first; see `serve`).
    ModelLoading,
    /// Decisions could not be recorded in the audit log, with why.
    AuditUnwritable(String),
    /// The watched alias's registry has been unreachable past the grace period, with why.
    RegistryUnreachable(String),
    /// SIGTERM arrived: finishing the requests it holds, taking no new ones.
    Draining,
}

impl NotReady {
    /// The check's name (the `field` of its detail in the 503).
    pub fn check(&self) -> &'static str {
        match self {
            NotReady::ModelLoading => "model",
            NotReady::AuditUnwritable(_) => "audit_log",
            NotReady::RegistryUnreachable(_) => "registry",
            NotReady::Draining => "shutdown",
        }
    }

    /// The error code a decision request gets for the same cause.
    pub fn error_code(&self) -> &'static str {
        match self {
            NotReady::ModelLoading => "model_unavailable",
            NotReady::AuditUnwritable(_) => "audit_unavailable",
            // Decisions are still given from the model in hand; only readiness reports these.
            NotReady::RegistryUnreachable(_) | NotReady::Draining => "not_ready",
        }
    }

    pub fn message(&self) -> String {
        match self {
            NotReady::ModelLoading => "is still loading".into(),
            NotReady::AuditUnwritable(why) => format!("cannot be written: {why}"),
            NotReady::RegistryUnreachable(why) => why.clone(),
            NotReady::Draining => "draining after SIGTERM".into(),
        }
    }
}

/// Every readiness check that fails now (empty: ready).
pub fn not_ready(state: &State) -> Vec<NotReady> {
    let mut failing = Vec::new();
    if state.draining() {
        failing.push(NotReady::Draining);
    }
    if state.model().is_none() {
        failing.push(NotReady::ModelLoading);
    }
    if let Some(Err(why)) = state.audit.as_ref().map(|log| log.check()) {
        failing.push(NotReady::AuditUnwritable(why));
    }
    if let Some(why) = state.registry.as_ref().and_then(|r| r.not_ready()) {
        failing.push(NotReady::RegistryUnreachable(why));
    }
    failing
}

/// The 503 for failing checks: the first one's code, every one in `details`.
pub fn not_ready_error(failing: &[NotReady]) -> ApiError {
    let code = failing.first().map_or("internal", NotReady::error_code);
    ApiError::not_ready(code, failing.iter().map(|c| FieldError::new(c.check(), c.message())).collect())
}

/// `GET /health/live`.
pub async fn live() -> HttpResponse {
    json(HttpResponse::Ok(), web::Bytes::from_static(b"{\"status\":\"ok\"}"))
}

/// The answer of a ready replica.
#[derive(Serialize)]
struct Ready<'a> {
    status: &'static str,
    model: &'a serde_json::Value,
    /// Only when following an alias.
    #[serde(skip_serializing_if = "Option::is_none")]
    registry: Option<RegistryHealth>,
}

#[derive(Serialize)]
struct RegistryHealth {
    reachable: bool,
    seconds_since_success: Option<f64>,
    error: Option<String>,
}

/// `GET /health/ready` and `GET /health`: the model summary when ready, with the watched
/// registry's status (reachable or not, within the grace period).
pub async fn ready(state: web::Data<State>) -> HttpResponse {
    let failing = not_ready(&state);
    match state.model() {
        Some(model) if failing.is_empty() => {
            let registry = state.registry.as_ref().map(|r| r.snapshot()).map(|s| RegistryHealth {
                reachable: s.reachable,
                seconds_since_success: s.seconds_since_success,
                error: s.last_error,
            });
            let body = Ready { status: "ok", model: &model.summary, registry };
            json(HttpResponse::Ok(), web::Bytes::from(serde_json::to_vec(&body).unwrap_or_default()))
        }
        _ => not_ready_error(&failing).response(),
    }
}

fn json(mut builder: actix_web::HttpResponseBuilder, body: web::Bytes) -> HttpResponse {
    builder.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json"))).body(body)
}
