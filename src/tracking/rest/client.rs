//! The HTTP side of the MLflow REST API (spec §7): JSON calls with the headers the server
//! demands, bounded timeouts, a short retry on "busy" answers, and errors that name the server,
//! the call and MLflow's own `error_code: message`.

use super::super::uri::percent_encode_path;
use crate::error::{Error, Result};
use serde_json::Value;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

/// JSON answers larger than this are refused (a runs/search page is far smaller).
const MAX_JSON_BYTES: u64 = 64 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Waiting for an answer to one request (the server answers log calls in milliseconds).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Moving one artifact's bytes, either way.
const BODY_TIMEOUT: Duration = Duration::from_secs(600);
/// Waits before retrying a 429/502/503/504 answer.
const RETRY_WAITS: [Duration; 2] = [Duration::from_millis(500), Duration::from_millis(1500)];

/// A failed call: the HTTP status (none when the server was not reached) and MLflow's error.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }
}

#[derive(Clone)]
pub struct RestClient {
    pub base: String,
    agent: ureq::Agent,
}

impl RestClient {
    pub fn new(base: &str) -> RestClient {
        let loopback = is_loopback(base);
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(RESPONSE_TIMEOUT))
            .timeout_send_body(Some(BODY_TIMEOUT))
            .timeout_recv_body(Some(BODY_TIMEOUT))
            .user_agent(concat!("credrisk/", env!("CARGO_PKG_VERSION")));
        if loopback {
            // A proxy from the environment must not capture a local tracking server.
            config = config.proxy(None);
        }
        RestClient { base: base.trim_end_matches('/').to_string(), agent: config.build().into() }
    }

    /// POST `/api/2.0/<endpoint>` with a JSON body.
    pub fn post(&self, endpoint: &str, body: &Value) -> Result<Value> {
        self.try_post(endpoint, body).map_err(|e| self.error("POST", endpoint, &e))
    }

    /// GET `/api/2.0/<endpoint>?query`.
    pub fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        self.try_get(endpoint, query).map_err(|e| self.error("GET", endpoint, &e))
    }

    pub fn try_post(&self, endpoint: &str, body: &Value) -> std::result::Result<Value, ApiError> {
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let text = body.to_string();
        self.with_retries(|| {
            self.agent.post(&url).header("Content-Type", "application/json").send(text.as_str())
        })
    }

    /// DELETE `/api/2.0/<endpoint>` with a JSON body (how MLflow's client sends deletes).
    pub fn try_delete(&self, endpoint: &str, body: &Value) -> std::result::Result<Value, ApiError> {
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let text = body.to_string();
        self.with_retries(|| {
            self.agent
                .delete(&url)
                .force_send_body()
                .header("Content-Type", "application/json")
                .send(text.as_str())
        })
    }

    pub fn try_get(&self, endpoint: &str, query: &[(&str, &str)]) -> std::result::Result<Value, ApiError> {
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        self.with_retries(|| {
            let mut request = self.agent.get(&url);
            for (k, v) in query {
                request = request.query(*k, *v);
            }
            request.call()
        })
    }

    fn with_retries(
        &self,
        send: impl Fn() -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> std::result::Result<Value, ApiError> {
        let mut attempt = 0;
        loop {
            let result = send().map_err(transport_error).and_then(read_json);
            match result {
                Err(ApiError { status: Some(429 | 502 | 503 | 504), .. }) if attempt < RETRY_WAITS.len() => {
                    std::thread::sleep(RETRY_WAITS[attempt]);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// PUTs a local file to the artifact proxy: `/api/2.0/mlflow-artifacts/artifacts/<path>`.
    pub fn put_artifact(&self, artifact_path: &str, file: &Path) -> Result<()> {
        let endpoint =
            format!("mlflow-artifacts/artifacts/{}", percent_encode_path(artifact_path.as_bytes()));
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let body = File::open(file).map_err(|e| Error::io(file, e))?;
        let result = self
            .agent
            .put(&url)
            .header("Content-Type", "application/octet-stream")
            .send(body)
            .map_err(transport_error)
            .and_then(read_json);
        result.map(|_| ()).map_err(|e| self.error("PUT", &endpoint, &e))
    }

    /// GETs a small artifact from the proxy into memory (at most `limit` bytes).
    pub fn artifact_bytes(&self, artifact_path: &str, limit: u64) -> Result<Vec<u8>> {
        let endpoint =
            format!("mlflow-artifacts/artifacts/{}", percent_encode_path(artifact_path.as_bytes()));
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let fail = |e: ApiError| self.error("GET", &endpoint, &e);
        let mut response = self.agent.get(&url).call().map_err(|e| fail(transport_error(e)))?;
        if !response.status().is_success() {
            return Err(fail(read_json(response).err().unwrap_or_else(|| unexpected("no error body"))));
        }
        response.body_mut().with_config().limit(limit).read_to_vec().map_err(|e| fail(transport_error(e)))
    }

    /// GETs an artifact from the proxy into `dest` (which is created).
    pub fn download_artifact(&self, artifact_path: &str, dest: &Path) -> Result<()> {
        let endpoint =
            format!("mlflow-artifacts/artifacts/{}", percent_encode_path(artifact_path.as_bytes()));
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let fail = |e: ApiError| self.error("GET", &endpoint, &e);
        let mut response = self.agent.get(&url).call().map_err(|e| fail(transport_error(e)))?;
        if !response.status().is_success() {
            return Err(fail(read_json(response).err().unwrap_or_else(|| unexpected("no error body"))));
        }
        let mut out = File::create(dest).map_err(|e| Error::io(dest, e))?;
        let mut reader = response.body_mut().as_reader();
        std::io::copy(&mut reader, &mut out)
            .map_err(|e| Error::Tracking(format!("{url}: download failed: {e}")))?;
        out.sync_all().map_err(|e| Error::io(dest, e))
    }

    /// The library error for a failed call, naming the server and the call.
    pub fn error(&self, method: &str, endpoint: &str, e: &ApiError) -> Error {
        let call = format!("{method} /api/2.0/{endpoint}");
        match e.status {
            None if e.code == "TIMEOUT" => {
                Error::Tracking(format!("MLflow server {}: {call} timed out ({})", self.base, e.message))
            }
            None => Error::Tracking(format!(
                "MLflow server {} is unreachable ({call}: {}); is `mlflow server` running there?",
                self.base, e.message
            )),
            Some(status) => Error::Tracking(format!(
                "MLflow server {}: {call} failed with HTTP {status} {}: {}",
                self.base, e.code, e.message
            )),
        }
    }
}

fn is_loopback(base: &str) -> bool {
    let host = base.trim_start_matches("http://").split(['/', ':']).next().unwrap_or("");
    host == "localhost" || host.starts_with("127.") || base.contains("://[::1]")
}

fn unexpected(message: &str) -> ApiError {
    ApiError { status: None, code: "BAD_RESPONSE".into(), message: message.into() }
}

fn transport_error(e: ureq::Error) -> ApiError {
    let (code, message) = match &e {
        ureq::Error::Timeout(t) => ("TIMEOUT", format!("no answer in time: {t}")),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            ("UNREACHABLE", "connection refused".to_string())
        }
        ureq::Error::HostNotFound => ("UNREACHABLE", "host not found".to_string()),
        ureq::Error::ConnectionFailed => ("UNREACHABLE", "connection failed".to_string()),
        other => ("UNREACHABLE", other.to_string()),
    };
    ApiError { status: None, code: code.into(), message }
}

/// The JSON body of a 2xx answer, or MLflow's `{"error_code", "message"}` of any other.
fn read_json(mut response: ureq::http::Response<ureq::Body>) -> std::result::Result<Value, ApiError> {
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_JSON_BYTES)
        .lossy_utf8(true)
        .read_to_string()
        .map_err(transport_error)?;
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    if (200..300).contains(&status) {
        return match parsed {
            Some(v) => Ok(v),
            None if text.trim().is_empty() => Ok(Value::Object(Default::default())),
            None => {
                Err(ApiError { status: Some(status), ..unexpected(&format!("not JSON: {}", snippet(&text))) })
            }
        };
    }
    let field = |k: &str| parsed.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_string);
    Err(ApiError {
        status: Some(status),
        code: field("error_code").unwrap_or_else(|| "HTTP_ERROR".into()),
        message: field("message").unwrap_or_else(|| snippet(&text)),
    })
}

fn snippet(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    super::super::util::truncate_chars(&one_line, 300)
}

/// A metric value as MLflow's JSON expects it: numbers, and the strings "NaN", "Infinity" and
/// "-Infinity" (a bare NaN token is stored as 0.0, pitfall P11).
pub fn metric_value_json(value: f64) -> Value {
    if value.is_nan() {
        Value::from("NaN")
    } else if value == f64::INFINITY {
        Value::from("Infinity")
    } else if value == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        Value::from(value)
    }
}

/// MLflow's JSON metric value back to f64 (the inverse of [`metric_value_json`]).
pub fn metric_value_from_json(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

/// `[{"key":…, "value":…}]` with string values (pitfall P10).
pub fn key_values_json(pairs: &[(String, String)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_floats_are_json_strings() {
        assert_eq!(metric_value_json(f64::NAN), Value::from("NaN"));
        assert_eq!(metric_value_json(f64::INFINITY), Value::from("Infinity"));
        assert_eq!(metric_value_json(f64::NEG_INFINITY), Value::from("-Infinity"));
        assert_eq!(metric_value_json(0.25).to_string(), "0.25");
        for v in [0.25, f64::INFINITY, f64::NEG_INFINITY, -3.0] {
            assert_eq!(metric_value_from_json(&metric_value_json(v)), Some(v));
        }
        assert!(metric_value_from_json(&metric_value_json(f64::NAN)).unwrap().is_nan());
    }

    #[test]
    fn params_are_sent_as_strings() {
        let json = key_values_json(&[("n_trees".into(), "50".into())]);
        assert_eq!(json.to_string(), r#"[{"key":"n_trees","value":"50"}]"#);
    }

    #[test]
    fn a_closed_port_is_a_clear_error_naming_the_server() {
        // Bind then drop a listener: the port is free and nothing answers there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = RestClient::new(&format!("http://127.0.0.1:{port}"));
        let err = client.get("mlflow/experiments/get-by-name", &[("experiment_name", "x")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")) && text.contains("unreachable"), "{text}");
        assert!(text.contains("experiments/get-by-name"), "{text}");
    }

    #[test]
    fn loopback_hosts_bypass_proxies() {
        assert!(is_loopback("http://127.0.0.1:5000"));
        assert!(is_loopback("http://localhost"));
        assert!(!is_loopback("http://mlflow.internal:5000"));
    }
}
