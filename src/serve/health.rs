//! Liveness and readiness. `GET /health/live` answers 200 while the process runs;
//! `GET /health/ready` (and `GET /health`, kept for compatibility) answers 200 only when every
//! readiness condition holds, else 503 naming each one that fails — so a load balancer stops
//! sending decisions to a service that could not give them.

use super::errors::ApiError;
use super::state::State;
use crate::schema::FieldError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

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

/// `GET /health/ready` and `GET /health`: the model summary when ready, with the watched
/// registry's status (reachable or not, within the grace period).
pub async fn ready(state: web::Data<State>) -> HttpResponse {
    let failing = not_ready(&state);
    match state.model() {
        Some(model) if failing.is_empty() => match &state.registry {
            None => json(HttpResponse::Ok(), model.health_json.clone()),
            Some(registry) => {
                let mut body: serde_json::Value =
                    serde_json::from_slice(&model.health_json).unwrap_or_default();
                let status = registry.snapshot();
                body["registry"] = serde_json::json!({
                    "reachable": status.reachable,
                    "seconds_since_success": status.seconds_since_success,
                    "error": status.last_error,
                });
                json(HttpResponse::Ok(), web::Bytes::from(body.to_string()))
            }
        },
        _ => not_ready_error(&failing).response(),
    }
}

fn json(mut builder: actix_web::HttpResponseBuilder, body: web::Bytes) -> HttpResponse {
    builder.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json"))).body(body)
}
