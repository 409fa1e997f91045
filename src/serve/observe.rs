//! The middleware every request passes through: gives it a request id (the client's own when it is
//! sane), times it, returns the id as `X-Request-Id`, counts it in the metrics and writes its one
//! structured log line (endpoint, status, latency, decision, probability, explanation, the model
//! that answered and the API key's name). It pins the model answering now to the request, so the
//! answer, its audit record, its log line and its metrics all name the same model even when a
//! watched alias swaps it mid-request.

use super::auth::KeyName;
use super::metrics::{ENDPOINTS, endpoint_index};
use super::state::{Loaded, State};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest client request id we keep (longer ones are replaced by our own).
pub const MAX_REQUEST_ID: usize = 128;

/// The request's id, for handlers (the audit record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The model a request was pinned to when it arrived (None: none was loaded yet).
#[derive(Clone)]
pub struct Pinned(pub Option<Arc<Loaded>>);

/// What a decision endpoint tells the log line about its answer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Outcome {
    pub decision: Option<&'static str>,
    pub probability: Option<f64>,
    pub explanation: Option<bool>,
    /// Customers in a batch.
    pub items: Option<usize>,
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let state = req.app_data::<web::Data<State>>().cloned();
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let pinned = state.as_ref().and_then(|s| s.model());
    req.extensions_mut().insert(Pinned(pinned.clone()));
    let endpoint = endpoint_index(req.path());
    let method = req.method().clone();
    // Known endpoints log their label; only unknown paths (client-chosen) are copied, shortened.
    let path: Cow<'static, str> = match ENDPOINTS.get(endpoint) {
        Some(label) if *label == req.path() => Cow::Borrowed(label),
        _ => Cow::Owned(req.path().chars().take(200).collect()),
    };

    let mut res = next.call(req).await?;
    let key = res.request().extensions().get::<KeyName>().map(|k| k.0.clone());

    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let status = res.status().as_u16();
    let latency = start.elapsed();
    let outcome = res.response().extensions().get::<Outcome>().copied().unwrap_or_default();
    let model = pinned.as_ref().map(|m| m.explainer.model_ref());
    if let Some(state) = &state {
        pinned.as_ref().map_or(&state.metrics, |m| &m.metrics).record_request(endpoint, status, latency);
        if state.draining() {
            // nginx and other proxies must not send another request on this connection.
            res.response_mut().head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
        }
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        endpoint = ENDPOINTS[endpoint],
        status,
        latency_ms = latency.as_secs_f64() * 1e3,
        decision = outcome.decision,
        probability = outcome.probability,
        explanation = outcome.explanation,
        items = outcome.items.map(|n| n as u64),
        model_name = model.and_then(|m| m.name.as_deref()),
        model_version = model.and_then(|m| m.version),
        model_run_id = model.and_then(|m| m.run_id.as_deref()),
        key = key.as_deref(),
        "request"
    );
    Ok(res)
}

/// 1..=128 characters of `[A-Za-z0-9._:-]`: safe in a header, a log line and a file.
pub fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A random UUID (version 4) in its usual text form.
pub fn new_request_id() -> String {
    let mut bits: u128 = rand::random();
    bits = (bits & !(0xf << 76)) | (0x4 << 76); // version 4
    bits = (bits & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_version_4_uuids_and_differ() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(groups[2].starts_with('4'), "{a}");
        assert!(matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'), "{a}");
        assert!(is_sane_request_id(&a));
    }

    #[test]
    fn only_sane_client_ids_are_kept() {
        assert!(is_sane_request_id("abc-123_x.y:z"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("has space"));
        assert!(!is_sane_request_id("quote\"d"));
        assert!(!is_sane_request_id("ñ"));
        assert!(!is_sane_request_id(&"a".repeat(MAX_REQUEST_ID + 1)));
        assert!(is_sane_request_id(&"a".repeat(MAX_REQUEST_ID)));
    }
}
