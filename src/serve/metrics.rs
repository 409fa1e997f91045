//! Prometheus metrics kept in lock-free counters and rendered as the text exposition format
//! (version 0.0.4): requests by endpoint and status, a latency histogram per endpoint, decisions
//! by outcome and audit records — each series labelled with the model (name, version, run id)
//! that answered — then whether a model is loaded and which one, the registry's status, and
//! whether the service is draining.

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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelLabels {
    /// The registered model's name and version ("" when not loaded through the registry).
    pub name: String,
    pub version: String,
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
    /// Single-customer explanations' TreeSHAP batches (see `combine`) and the requests they held.
    explain_batches: AtomicU64,
    explain_batched: AtomicU64,
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
            explain_batches: AtomicU64::new(0),
            explain_batched: AtomicU64::new(0),
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

    /// One TreeSHAP batch of `requests` single-customer explanations.
    pub fn record_batch(&self, requests: usize) {
        self.explain_batches.fetch_add(1, Relaxed);
        self.explain_batched.fetch_add(requests as u64, Relaxed);
    }

    /// The explanation batches so far and the requests they answered.
    #[cfg(test)]
    pub fn explain_batches(&self) -> (u64, u64) {
        (self.explain_batches.load(Relaxed), self.explain_batched.load(Relaxed))
    }

    pub fn record_audit(&self, records: u64) {
        self.audit_records.fetch_add(records, Relaxed);
    }

    /// A request whose records could not be written (its decisions were withheld).
    pub fn record_audit_failure(&self) {
        self.audit_failures.fetch_add(1, Relaxed);
    }

    /// Whether anything was counted (a set with nothing is left out of the exposition).
    fn is_empty(&self) -> bool {
        self.requests.iter().all(|n| n.load(Relaxed) == 0)
    }
}

/// One per-model counter of [`Metrics`].
type Counter = fn(&Metrics) -> &AtomicU64;

/// What is true of the whole process, beside the per-model counters.
#[derive(Debug, Clone, Default)]
pub struct ProcessStatus<'a> {
    /// The model answering now, and when it was loaded (seconds since the epoch).
    pub current: Option<(&'a ModelLabels, f64)>,
    pub dropped_log_lines: u64,
    pub draining: bool,
    /// The registry of a watched alias (None: the model is fixed).
    pub registry: Option<super::watch::RegistryStatus>,
}

/// The exposition text: each family's HELP and TYPE once, then its series for every model in
/// `sets` (None: requests answered before any model was loaded).
pub fn render(sets: &[(Option<&ModelLabels>, &Metrics)], process: &ProcessStatus) -> String {
    let mut out = String::with_capacity(8192);
    let labelled: Vec<(String, &Metrics)> = sets
        .iter()
        .filter(|(labels, m)| labels.is_some() || !m.is_empty())
        .map(|(labels, m)| (model_labels(*labels), *m))
        .collect();
    // Decisions need a model: the set of requests answered before one was loaded has none.
    let models: Vec<(String, &Metrics)> =
        sets.iter().filter(|(labels, _)| labels.is_some()).map(|(l, m)| (model_labels(*l), *m)).collect();
    out += "# HELP credrisk_http_requests_total HTTP requests answered, by endpoint, status and model.\n";
    out += "# TYPE credrisk_http_requests_total counter\n";
    for (l, m) in &labelled {
        m.render_requests(&mut out, l);
    }
    out += "# HELP credrisk_http_request_duration_seconds Time from request to response, by endpoint and model.\n";
    out += "# TYPE credrisk_http_request_duration_seconds histogram\n";
    for (l, m) in &labelled {
        m.render_latency(&mut out, l);
    }
    out += "# HELP credrisk_decisions_total Credit decisions given, by endpoint, outcome and model.\n";
    out += "# TYPE credrisk_decisions_total counter\n";
    for (l, m) in &models {
        m.render_decisions(&mut out, l);
    }
    out += "# HELP credrisk_explanations_total Decisions answered with a SHAP explanation, by endpoint and model.\n";
    out += "# TYPE credrisk_explanations_total counter\n";
    for (l, m) in &models {
        m.render_explanations(&mut out, l);
    }
    let counters: [(&str, &str, Counter); 4] = [
        ("credrisk_audit_records_total", "Decision records written to the audit log", |m| &m.audit_records),
        (
            "credrisk_audit_write_failures_total",
            "Requests refused because their records could not be written",
            |m| &m.audit_failures,
        ),
        (
            "credrisk_explain_batches_total",
            "TreeSHAP batches of single-customer explanations (/explain, /predict, /recourse audits): \
             concurrent requests computed together",
            |m| &m.explain_batches,
        ),
        ("credrisk_explain_batched_requests_total", "Explanations those batches computed", |m| {
            &m.explain_batched
        }),
    ];
    for (name, help, counter) in counters {
        let _ = writeln!(out, "# HELP {name} {help}, by model.\n# TYPE {name} counter");
        for (l, m) in &models {
            let _ = writeln!(out, "{name}{{{l}}} {}", counter(m).load(Relaxed));
        }
    }
    out += "# HELP credrisk_log_lines_dropped_total Request log lines dropped because the log writer fell behind.\n";
    out += "# TYPE credrisk_log_lines_dropped_total counter\n";
    let _ = writeln!(out, "credrisk_log_lines_dropped_total {}", process.dropped_log_lines);
    render_model(&mut out, process.current);
    out += "# HELP credrisk_draining 1 after SIGTERM: not ready, finishing the requests it holds.\n";
    out += "# TYPE credrisk_draining gauge\n";
    let _ = writeln!(out, "credrisk_draining {}", u8::from(process.draining));
    if let Some(registry) = &process.registry {
        registry.render(&mut out);
    }
    out
}

/// `model_name="…",model_version="…",model_run_id="…"` (empty values: no model).
pub fn model_labels(labels: Option<&ModelLabels>) -> String {
    let (name, version, run_id) =
        labels.map_or(("", "", ""), |l| (&l.name[..], &l.version[..], &l.run_id[..]));
    format!(
        "model_name=\"{}\",model_version=\"{}\",model_run_id=\"{}\"",
        escape_label(name),
        escape_label(version),
        escape_label(run_id)
    )
}

impl Metrics {
    fn render_requests(&self, out: &mut String, labels: &str) {
        for (e, name) in ENDPOINTS.iter().enumerate() {
            for s in 0..N_STATUS {
                let n = self.requests[e * N_STATUS + s].load(Relaxed);
                if n > 0 {
                    let status = s + STATUS_BASE;
                    let _ = writeln!(
                        out,
                        "credrisk_http_requests_total{{endpoint=\"{name}\",status=\"{status}\",{labels}}} {n}"
                    );
                }
            }
        }
    }

    fn render_latency(&self, out: &mut String, labels: &str) {
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
                    "credrisk_http_request_duration_seconds_bucket{{endpoint=\"{name}\",{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "credrisk_http_request_duration_seconds_bucket{{endpoint=\"{name}\",{labels},le=\"+Inf\"}} {total}"
            );
            let sum = self.latency_sum_ns[e].load(Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "credrisk_http_request_duration_seconds_sum{{endpoint=\"{name}\",{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "credrisk_http_request_duration_seconds_count{{endpoint=\"{name}\",{labels}}} {total}"
            );
        }
    }

    fn render_decisions(&self, out: &mut String, labels: &str) {
        for (e, name) in DECISION_ENDPOINTS {
            for (i, outcome) in ["approved", "denied"].iter().enumerate() {
                let n = self.decisions[e * 2 + i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "credrisk_decisions_total{{endpoint=\"{name}\",outcome=\"{outcome}\",{labels}}} {n}"
                );
            }
        }
    }

    fn render_explanations(&self, out: &mut String, labels: &str) {
        for (e, name) in DECISION_ENDPOINTS {
            let n = self.explanations[e].load(Relaxed);
            let _ = writeln!(out, "credrisk_explanations_total{{endpoint=\"{name}\",{labels}}} {n}");
        }
    }
}

/// The endpoints that give decisions, with their index in [`ENDPOINTS`].
const DECISION_ENDPOINTS: [(usize, &str); 4] =
    [(0, "/predict"), (1, "/explain"), (2, "/predict/batch"), (9, "/recourse")];

fn render_model(out: &mut String, current: Option<(&ModelLabels, f64)>) {
    *out += "# HELP credrisk_model_loaded 1 once the model is loaded and answering, 0 while loading.\n";
    *out += "# TYPE credrisk_model_loaded gauge\n";
    let _ = writeln!(out, "credrisk_model_loaded {}", u8::from(current.is_some()));
    if let Some((m, loaded_at)) = current {
        let labels = model_labels(Some(m));
        *out += "# HELP credrisk_model_info The model answering requests (value always 1).\n";
        *out += "# TYPE credrisk_model_info gauge\n";
        let _ = writeln!(
            out,
            "credrisk_model_info{{{labels},uri=\"{}\",method=\"{}\",trees=\"{}\"}} 1",
            escape_label(&m.uri),
            escape_label(&m.method),
            m.n_trees
        );
        *out += "# HELP credrisk_model_loaded_timestamp_seconds When the answering model was loaded.\n";
        *out += "# TYPE credrisk_model_loaded_timestamp_seconds gauge\n";
        let _ = writeln!(out, "credrisk_model_loaded_timestamp_seconds{{{labels}}} {loaded_at:.3}");
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

    const NO_MODEL: &str = "model_name=\"\",model_version=\"\",model_run_id=\"\"";

    fn labels(version: &str, run_id: &str) -> ModelLabels {
        ModelLabels {
            name: "credrisk-model".into(),
            version: version.into(),
            run_id: run_id.into(),
            uri: "models:/credrisk-model@champion".into(),
            method: "tree_path_dependent".into(),
            n_trees: 3,
        }
    }

    #[test]
    fn counts_requests_by_endpoint_and_status() {
        let m = Metrics::default();
        let predict = endpoint_index("/predict");
        m.record_request(predict, 200, Duration::from_micros(300));
        m.record_request(predict, 200, Duration::from_micros(300));
        m.record_request(predict, 422, Duration::from_micros(50));
        m.record_request(endpoint_index("/nope"), 404, Duration::from_micros(10));
        let text = render(&[(None, &m)], &ProcessStatus::default());
        let requests = |endpoint: &str, status: u16| {
            format!("credrisk_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\",{NO_MODEL}}}")
        };
        assert!(text.contains(&format!("{} 2\n", requests("/predict", 200))), "{text}");
        assert!(text.contains(&format!("{} 1\n", requests("/predict", 422))));
        assert!(text.contains(&format!("{} 1\n", requests("other", 404))));
        assert!(text.contains("credrisk_model_loaded 0\n"));
        assert!(text.contains("credrisk_draining 0\n"));
        // Without a model there are no decisions, and a fixed model has no registry series.
        assert!(!text.contains("credrisk_decisions_total{") && !text.contains("credrisk_registry_up"));
    }

    #[test]
    fn the_histogram_is_cumulative_and_its_count_matches() {
        let m = Metrics::default();
        let e = endpoint_index("/explain");
        for us in [50, 200, 200, 800, 3_000, 9_000_000] {
            m.record_request(e, 200, Duration::from_micros(us));
        }
        let text = render(&[(None, &m)], &ProcessStatus::default());
        let value = |prefix: &str| line(&text, prefix).rsplit(' ').next().unwrap().parse::<f64>().unwrap();
        let b =
            format!("credrisk_http_request_duration_seconds_bucket{{endpoint=\"/explain\",{NO_MODEL},le=");
        assert_eq!(value(&format!("{b}\"0.0001\"}}")), 1.0);
        assert_eq!(value(&format!("{b}\"0.00025\"}}")), 3.0);
        assert_eq!(value(&format!("{b}\"0.001\"}}")), 4.0);
        assert_eq!(value(&format!("{b}\"0.005\"}}")), 5.0);
        assert_eq!(value(&format!("{b}\"2.5\"}}")), 5.0);
        assert_eq!(value(&format!("{b}\"+Inf\"}}")), 6.0);
        let count =
            format!("credrisk_http_request_duration_seconds_count{{endpoint=\"/explain\",{NO_MODEL}}}");
        assert_eq!(value(&count), 6.0);
        let sum =
            value(&format!("credrisk_http_request_duration_seconds_sum{{endpoint=\"/explain\",{NO_MODEL}}}"));
        assert!((sum - 9.00425).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn every_series_names_the_model_that_answered() {
        let (v1, v2) = (Metrics::default(), Metrics::default());
        v1.record_decision(0, true, false);
        v1.record_decision(0, false, true);
        v1.record_decision(2, false, false);
        v1.record_audit(3);
        v2.record_decision(9, true, false);
        v2.record_request(0, 200, Duration::from_micros(100));
        let (l1, mut l2) = (labels("1", "abc"), labels("2", "def"));
        l2.uri = "x\"y\\z".into();
        let process = ProcessStatus {
            current: Some((&l2, 1_700_000_000.5)),
            dropped_log_lines: 7,
            ..Default::default()
        };
        let text = render(&[(None, &Metrics::default()), (Some(&l1), &v1), (Some(&l2), &v2)], &process);
        let m1 = "model_name=\"credrisk-model\",model_version=\"1\",model_run_id=\"abc\"";
        let m2 = "model_name=\"credrisk-model\",model_version=\"2\",model_run_id=\"def\"";
        for expected in [
            format!("credrisk_decisions_total{{endpoint=\"/predict\",outcome=\"approved\",{m1}}} 1\n"),
            format!("credrisk_decisions_total{{endpoint=\"/predict\",outcome=\"denied\",{m1}}} 1\n"),
            format!("credrisk_decisions_total{{endpoint=\"/predict/batch\",outcome=\"denied\",{m1}}} 1\n"),
            format!("credrisk_decisions_total{{endpoint=\"/recourse\",outcome=\"approved\",{m2}}} 1\n"),
            format!("credrisk_explanations_total{{endpoint=\"/predict\",{m1}}} 1\n"),
            format!("credrisk_audit_records_total{{{m1}}} 3\n"),
            format!("credrisk_http_requests_total{{endpoint=\"/predict\",status=\"200\",{m2}}} 1\n"),
            format!(
                "credrisk_model_info{{{m2},uri=\"x\\\"y\\\\z\",method=\"tree_path_dependent\",trees=\"3\"}} 1\n"
            ),
            format!("credrisk_model_loaded_timestamp_seconds{{{m2}}} 1700000000.500\n"),
            "credrisk_log_lines_dropped_total 7\n".to_string(),
            "credrisk_model_loaded 1\n".to_string(),
        ] {
            assert!(text.contains(&expected), "{expected} not in\n{text}");
        }
        // The empty set of no-model requests is left out; each family's HELP appears once.
        assert!(!text.contains(&format!("{{endpoint=\"/predict\",status=\"200\",{NO_MODEL}}}")));
        assert_eq!(text.matches("# TYPE credrisk_decisions_total counter").count(), 1);
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
