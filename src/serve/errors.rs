//! The service's one error shape: `{error, message, details: [{field, message}]}` with the HTTP
//! status each error code maps to. Every failure a client can cause ends here, never in a panic
//! or an HTML page.

use crate::schema::FieldError;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use serde::Serialize;

/// Every error code the service answers with (also the OpenAPI enum of `Error.error`).
pub const ERROR_CODES: &[&str] = &[
    "malformed_json",
    "validation",
    "payload_too_large",
    "request_timeout",
    "unsupported_media_type",
    "not_found",
    "method_not_allowed",
    "model_unavailable",
    "audit_unavailable",
    "internal",
    "unauthorized",
    "not_ready",
];

/// One error answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    pub details: Vec<FieldError>,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, error, message: message.into(), details: Vec::new() }
    }

    /// 400: the body is not JSON (or not UTF-8, or nested too deeply to parse).
    pub fn malformed_json(why: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the request body is not valid JSON: {why}"),
        )
    }

    /// 422: every offending field, named (`customer.income`, `lang`, `customers[3]`).
    pub fn validation(details: Vec<FieldError>) -> ApiError {
        let message = match details.len() {
            1 => format!("1 invalid field: {}", details[0]),
            n => format!("{n} invalid fields; see details"),
        };
        ApiError { details, ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message) }
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 408: the body did not arrive in time (a stalled or trickling client); the connection is
    /// closed with the answer.
    pub fn request_timeout(why: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", why.to_string())
    }

    pub fn unsupported_media_type(got: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type {got:?} is not supported: send application/json"),
        )
    }

    pub fn not_found(path: &str) -> ApiError {
        let shown: String = path.chars().take(200).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint at {shown:?}; see GET /openapi.json for the endpoints"),
        )
    }

    pub fn method_not_allowed(method: &str, allowed: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("method {method} is not allowed here; allowed: {allowed}"),
        )
    }

    pub fn model_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "model_unavailable",
            "the model is still loading; retry shortly",
        )
    }

    /// 401: no valid API key. The same answer whether the key is missing, malformed or unknown,
    /// so a caller learns nothing about the keys.
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid API key is required")
    }

    /// 503: the decision could not be recorded, so it is not given.
    pub fn audit_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "the decision could not be written to the audit log, so it is not given; retry later",
        )
    }

    /// 503 from a readiness check: `error` is the first failing check's code, `details` name
    /// every failing check (`model`, `audit_log`) with why.
    pub fn not_ready(error: &'static str, details: Vec<FieldError>) -> ApiError {
        let reasons: Vec<String> = details.iter().map(ToString::to_string).collect();
        let message = format!("not ready: {}", reasons.join("; "));
        ApiError { details, ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error, message) }
    }

    /// 500: a bug or an unexpected state, never a client's mistake.
    pub fn internal(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("internal error: {what}"))
    }

    /// The JSON response (503s also say when to retry).
    pub fn response(&self) -> HttpResponse {
        let body = serde_json::to_vec(self).unwrap_or_else(|_| b"{\"error\":\"internal\"}".to_vec());
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/json")));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still come: the connection cannot carry another request.
            response.force_close();
        }
        response.body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constructor_uses_a_listed_code_and_the_matching_status() {
        let cases = [
            (ApiError::malformed_json("x"), 400),
            (ApiError::validation(vec![FieldError::new("customer.age", "is required")]), 422),
            (ApiError::payload_too_large(10), 413),
            (ApiError::request_timeout("the request body did not arrive within 10 s"), 408),
            (ApiError::not_ready("audit_unavailable", vec![FieldError::new("audit_log", "full")]), 503),
            (ApiError::unsupported_media_type("text/plain"), 415),
            (ApiError::not_found("/x"), 404),
            (ApiError::method_not_allowed("GET", "POST"), 405),
            (ApiError::model_unavailable(), 503),
            (ApiError::audit_unavailable(), 503),
            (ApiError::unauthorized(), 401),
            (ApiError::internal("x"), 500),
        ];
        for (e, status) in cases {
            assert!(ERROR_CODES.contains(&e.error), "{}", e.error);
            assert_eq!(e.status.as_u16(), status, "{}", e.error);
        }
    }

    #[test]
    fn serializes_without_the_status_and_with_details() {
        let e = ApiError::validation(vec![FieldError::new("customer.age", "is required")]);
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "validation", "message": "1 invalid field: customer.age: is required",
                               "details": [{"field": "customer.age", "message": "is required"}]})
        );
    }
}
