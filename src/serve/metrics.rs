//! Prometheus metrics kept in lock-free counters and rendered as the text exposition format
//! (version 0.0.4): requests by endpoint and status, a latency histogram per endpoint, decisions
//! by outcome, whether the model is loaded and which one.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The endpoint labels; anything else (404s) is counted as `other`, so a scanner cannot grow the
/// label set.
pub const ENDPOINTS: [&str; 12] = [
    "/predict",
    "/explain",
    "/predict/batch",
    "/health",
    "/health/live",
    "/health/ready",
    "/model",
    "/openapi.json",
    "/metrics",
    "/recourse",
    "/",
    "other",
];
/// Latency histogram upper bounds, in seconds.
pub const BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
const STATUS_BASE: usize = 100;
const N_STATUS: usize = 500;

/// Index of a request path in [`ENDPOINTS`].
pub fn endpoint_index(path: &str) -> usize {
    ENDPOINTS.iter().position(|e| *e == path).unwrap_or(ENDPOINTS.len() - 1)
}

/// What the model gauge says about the loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelLabels {
    pub run_id: String,
    pub uri: String,
    pub method: String,
    pub n_trees: usize,
}

pub struct Metrics {
    /// [endpoint][status − 100].
    requests: Vec<AtomicU64>,
    /// [endpoint][bucket], non-cumulative; the last slot is +Inf.
    latency: Vec<AtomicU64>,
    latency_sum_ns: Vec<AtomicU64>,
    /// [endpoint][0 approved, 1 denied].
    decisions: Vec<AtomicU64>,
    explanations: Vec<AtomicU64>,
    audit_records: AtomicU64,
    audit_failures: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        let e = ENDPOINTS.len();
        Metrics {
            requests: zeros(e * N_STATUS),
            latency: zeros(e * (BUCKETS.len() + 1)),
            latency_sum_ns: zeros(e),
            decisions: zeros(e * 2),
            explanations: zeros(e),
            audit_records: AtomicU64::new(0),
            audit_failures: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn record_request(&self, endpoint: usize, status: u16, latency: Duration) {
        let status = (status as usize).clamp(STATUS_BASE, STATUS_BASE + N_STATUS - 1) - STATUS_BASE;
        self.requests[endpoint * N_STATUS + status].fetch_add(1, Relaxed);
        let seconds = latency.as_secs_f64();
        let bucket = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
        self.latency[endpoint * (BUCKETS.len() + 1) + bucket].fetch_add(1, Relaxed);
        self.latency_sum_ns[endpoint].fetch_add(latency.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
    }

    pub fn record_decision(&self, endpoint: usize, approved: bool, explained: bool) {
        self.decisions[endpoint * 2 + usize::from(!approved)].fetch_add(1, Relaxed);
        if explained {
            self.explanations[endpoint].fetch_add(1, Relaxed);
        }
    }

    pub fn record_audit(&self, records: u64) {
        self.audit_records.fetch_add(records, Relaxed);
    }

    /// A request whose records could not be written (its decisions were withheld).
    pub fn record_audit_failure(&self) {
        self.audit_failures.fetch_add(1, Relaxed);
    }

    /// The exposition text; `model` is None while loading.
    pub fn render(&self, model: Option<&ModelLabels>, dropped_log_lines: u64) -> String {
        let mut out = String::with_capacity(8192);
        self.render_requests(&mut out);
        self.render_latency(&mut out);
        self.render_decisions(&mut out);
        out += "# HELP credrisk_audit_records_total Decision records written to the audit log.\n";
        out += "# TYPE credrisk_audit_records_total counter\n";
        let _ = writeln!(out, "credrisk_audit_records_total {}", self.audit_records.load(Relaxed));
        out += "# HELP credrisk_audit_write_failures_total Requests refused because their records could not be written.\n";
        out += "# TYPE credrisk_audit_write_failures_total counter\n";
        let _ = writeln!(out, "credrisk_audit_write_failures_total {}", self.audit_failures.load(Relaxed));
        out += "# HELP credrisk_log_lines_dropped_total Request log lines dropped because the log writer fell behind.\n";
        out += "# TYPE credrisk_log_lines_dropped_total counter\n";
        let _ = writeln!(out, "credrisk_log_lines_dropped_total {dropped_log_lines}");
        render_model(&mut out, model);
        out
    }

    fn render_requests(&self, out: &mut String) {
        *out += "# HELP credrisk_http_requests_total HTTP requests answered, by endpoint and status.\n";
        *out += "# TYPE credrisk_http_requests_total counter\n";
        for (e, name) in ENDPOINTS.iter().enumerate() {
            for s in 0..N_STATUS {
                let n = self.requests[e * N_STATUS + s].load(Relaxed);
                if n > 0 {
                    let status = s + STATUS_BASE;
                    let _ = writeln!(
                        out,
                        "credrisk_http_requests_total{{endpoint=\"{name}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
    }

    fn render_latency(&self, out: &mut String) {
        *out += "# HELP credrisk_http_request_duration_seconds Time from request to response, by endpoint.\n";
        *out += "# TYPE credrisk_http_request_duration_seconds histogram\n";
        let width = BUCKETS.len() + 1;
        for (e, name) in ENDPOINTS.iter().enumerate() {
            let counts: Vec<u64> = (0..width).map(|b| self.latency[e * width + b].load(Relaxed)).collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "credrisk_http_request_duration_seconds_bucket{{endpoint=\"{name}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "credrisk_http_request_duration_seconds_bucket{{endpoint=\"{name}\",le=\"+Inf\"}} {total}"
            );
            let sum = self.latency_sum_ns[e].load(Relaxed) as f64 / 1e9;
            let _ = writeln!(out, "credrisk_http_request_duration_seconds_sum{{endpoint=\"{name}\"}} {sum}");
            let _ =
                writeln!(out, "credrisk_http_request_duration_seconds_count{{endpoint=\"{name}\"}} {total}");
        }
    }

    fn render_decisions(&self, out: &mut String) {
        *out += "# HELP credrisk_decisions_total Credit decisions given, by endpoint and outcome.\n";
        *out += "# TYPE credrisk_decisions_total counter\n";
        for (e, name) in ENDPOINTS.iter().enumerate().take(3) {
            for (i, outcome) in ["approved", "denied"].iter().enumerate() {
                let n = self.decisions[e * 2 + i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "credrisk_decisions_total{{endpoint=\"{name}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        *out +=
            "# HELP credrisk_explanations_total Decisions answered with a SHAP explanation, by endpoint.\n";
        *out += "# TYPE credrisk_explanations_total counter\n";
        for (e, name) in ENDPOINTS.iter().enumerate().take(3) {
            let _ = writeln!(
                out,
                "credrisk_explanations_total{{endpoint=\"{name}\"}} {}",
                self.explanations[e].load(Relaxed)
            );
        }
    }
}

fn render_model(out: &mut String, model: Option<&ModelLabels>) {
    *out += "# HELP credrisk_model_loaded 1 once the model is loaded and answering, 0 while loading.\n";
    *out += "# TYPE credrisk_model_loaded gauge\n";
    let _ = writeln!(out, "credrisk_model_loaded {}", u8::from(model.is_some()));
    if let Some(m) = model {
        *out += "# HELP credrisk_model_info The model answering requests (value always 1).\n";
        *out += "# TYPE credrisk_model_info gauge\n";
        let _ = writeln!(
            out,
            "credrisk_model_info{{run_id=\"{}\",uri=\"{}\",method=\"{}\",trees=\"{}\"}} 1",
            escape_label(&m.run_id),
            escape_label(&m.uri),
            escape_label(&m.method),
            m.n_trees
        );
    }
}

/// Label values escape backslash, double quote and line feed.
pub fn escape_label(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    }

    #[test]
    fn counts_requests_by_endpoint_and_status() {
        let m = Metrics::default();
        let predict = endpoint_index("/predict");
        m.record_request(predict, 200, Duration::from_micros(300));
        m.record_request(predict, 200, Duration::from_micros(300));
        m.record_request(predict, 422, Duration::from_micros(50));
        m.record_request(endpoint_index("/nope"), 404, Duration::from_micros(10));
        let text = m.render(None, 0);
        assert!(text.contains("credrisk_http_requests_total{endpoint=\"/predict\",status=\"200\"} 2\n"));
        assert!(text.contains("credrisk_http_requests_total{endpoint=\"/predict\",status=\"422\"} 1\n"));
        assert!(text.contains("credrisk_http_requests_total{endpoint=\"other\",status=\"404\"} 1\n"));
        assert!(text.contains("credrisk_model_loaded 0\n"));
    }

    #[test]
    fn the_histogram_is_cumulative_and_its_count_matches() {
        let m = Metrics::default();
        let e = endpoint_index("/explain");
        for us in [50, 200, 200, 800, 3_000, 9_000_000] {
            m.record_request(e, 200, Duration::from_micros(us));
        }
        let text = m.render(None, 0);
        let value = |prefix: &str| line(&text, prefix).rsplit(' ').next().unwrap().parse::<f64>().unwrap();
        let b = "credrisk_http_request_duration_seconds_bucket{endpoint=\"/explain\",le=";
        assert_eq!(value(&format!("{b}\"0.0001\"}}")), 1.0);
        assert_eq!(value(&format!("{b}\"0.00025\"}}")), 3.0);
        assert_eq!(value(&format!("{b}\"0.001\"}}")), 4.0);
        assert_eq!(value(&format!("{b}\"0.005\"}}")), 5.0);
        assert_eq!(value(&format!("{b}\"2.5\"}}")), 5.0);
        assert_eq!(value(&format!("{b}\"+Inf\"}}")), 6.0);
        assert_eq!(value("credrisk_http_request_duration_seconds_count{endpoint=\"/explain\"}"), 6.0);
        let sum = value("credrisk_http_request_duration_seconds_sum{endpoint=\"/explain\"}");
        assert!((sum - 9.00425).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn decisions_and_model_info() {
        let m = Metrics::default();
        m.record_decision(0, true, false);
        m.record_decision(0, false, true);
        m.record_decision(2, false, false);
        let model = ModelLabels {
            run_id: "abc".into(),
            uri: "x\"y\\z".into(),
            method: "tree_path_dependent".into(),
            n_trees: 3,
        };
        let text = m.render(Some(&model), 7);
        assert!(text.contains("credrisk_decisions_total{endpoint=\"/predict\",outcome=\"approved\"} 1\n"));
        assert!(text.contains("credrisk_decisions_total{endpoint=\"/predict\",outcome=\"denied\"} 1\n"));
        assert!(
            text.contains("credrisk_decisions_total{endpoint=\"/predict/batch\",outcome=\"denied\"} 1\n")
        );
        assert!(text.contains("credrisk_explanations_total{endpoint=\"/predict\"} 1\n"));
        assert!(text.contains(
            "credrisk_model_info{run_id=\"abc\",uri=\"x\\\"y\\\\z\",method=\"tree_path_dependent\",trees=\"3\"} 1\n"
        ));
        assert!(text.contains("credrisk_log_lines_dropped_total 7\n"));
    }
}
