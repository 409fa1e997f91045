//! Helpers for the `credrisk serve` end-to-end tests: a small model trained through the CLI in a
//! tempdir, the real binary started on 127.0.0.1 (port 0, the bound address read from its log)
//! and killed by a Drop guard, a blocking HTTP client and a raw-socket client for requests no
//! well-behaved client would send.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../common/mod.rs"]
pub mod common;

/// How long a server may take to bind and load a small model.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A trained model in its own tempdir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub model_dir: PathBuf,
    pub data: PathBuf,
}

impl Fixture {
    /// 5,000 generated rows, 20 trees, tracked in `dir/mlruns`.
    pub fn train() -> Fixture {
        Fixture::train_trees(20)
    }

    /// 5,000 generated rows, `trees` trees, tracked in `dir/mlruns`.
    pub fn train_trees(trees: usize) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = dir.path().join("data");
        let p = |p: &Path| p.to_str().expect("utf-8 path").to_string();
        common::ok_in(dir.path(), &["generate", "--rows", "5000", "--prefix", &p(&prefix)]);
        let data = dir.path().join("data.parquet");
        let outputs = dir.path().join("out");
        let mlruns = dir.path().join("mlruns");
        common::ok_in(
            dir.path(),
            &[
                "train",
                "--data",
                &p(&data),
                "--outputs",
                &p(&outputs),
                "--tracking-uri",
                &p(&mlruns),
                "--n-estimators",
                &trees.to_string(),
                "--quiet",
            ],
        );
        let model_dir = outputs.join("model");
        assert!(model_dir.join("model.crm").is_file(), "train wrote no model");
        Fixture { dir, model_dir, data }
    }

    pub fn model(&self) -> &str {
        self.model_dir.to_str().expect("utf-8 path")
    }

    /// The run id MLflow recorded in the model's MLmodel file.
    pub fn run_id(&self) -> String {
        let text = std::fs::read_to_string(self.model_dir.join("MLmodel")).expect("MLmodel");
        let line = text.lines().find(|l| l.starts_with("run_id:")).expect("run_id in MLmodel");
        line["run_id:".len()..].trim().trim_matches('\'').to_string()
    }
}

/// A running `credrisk serve`; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `credrisk serve --port 0 ARGS` and waits until it listens (not until it has loaded
    /// the model: see [`Server::wait_ready`]).
    pub fn spawn(args: &[&str]) -> Server {
        Server::spawn_with(args, |_| {})
    }

    /// [`Server::spawn`] with the command adjusted first (e.g. a lower open-file limit).
    pub fn spawn_with(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Server {
        let mut server = Server::launch(args, adjust);
        let listening = server.wait_for_log(|v| v["message"] == "listening", START_TIMEOUT);
        server.addr =
            listening["address"].as_str().expect("address in the listening line").parse().expect("address");
        assert!(server.addr.ip().is_loopback(), "must bind 127.0.0.1, bound {}", server.addr);
        server.base = format!("http://{}", server.addr);
        server
    }

    /// Starts `credrisk serve --port 0 ARGS` without waiting for anything (for servers that must
    /// refuse to start).
    pub fn launch(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Server {
        let mut command = common::credrisk();
        command
            .arg("serve")
            .args(["--host", "127.0.0.1", "--port", "0", "--workers", "2"])
            .args(args)
            .env_remove("MODEL_URI")
            .env_remove("BACKGROUND_DATA_PATH")
            .env_remove("MLFLOW_TRACKING_URI")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        adjust(&mut command);
        let mut child = command.spawn().expect("credrisk serve starts");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout = child.stdout.take().expect("stdout");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(format!("stderr: {line}"));
            }
        });
        Server { child, addr: "127.0.0.1:0".parse().unwrap(), base: String::new(), lines }
    }

    /// Starts the server on `model` and waits until `/health` answers 200.
    pub fn start(model: &str, extra: &[&str]) -> Server {
        let mut args = vec!["--model-uri", model];
        args.extend_from_slice(extra);
        let server = Server::spawn(&args);
        server.wait_ready();
        server
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if get(self, "/health").status == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "not ready in time; log:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every JSON line logged so far.
    pub fn log_json(&self) -> Vec<Value> {
        self.lines.lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    pub fn log_text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Every line the process wrote on stderr so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter_map(|l| l.strip_prefix("stderr: ")).map(str::to_string).collect()
    }

    /// Waits (bounded) for a log line matching `pred`.
    pub fn wait_for_log(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.log_json().into_iter().find(|v| pred(v)) {
                return v;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!("server exited ({status}) before the expected log line:\n{}", self.log_text());
            }
            assert!(Instant::now() < deadline, "log line not seen in time:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The request log line of `request_id`, waiting for the (asynchronous) log writer.
    pub fn request_log(&mut self, request_id: &str) -> Value {
        let id = request_id.to_string();
        self.wait_for_log(
            move |v| v["message"] == "request" && v["request_id"] == id.as_str(),
            Duration::from_secs(10),
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn reply(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.expect("HTTP exchange");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = response.body_mut().read_to_string().expect("UTF-8 body");
    Reply { status, headers, body }
}

pub fn get(server: &Server, path: &str) -> Reply {
    reply(agent().get(&server.url(path)).call())
}

/// POSTs a JSON text with `Content-Type: application/json` and extra headers.
pub fn post(server: &Server, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().post(&server.url(path)).header("Content-Type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    reply(request.send(body))
}

pub fn post_json(server: &Server, path: &str, body: &Value) -> Reply {
    post(server, path, &body.to_string(), &[])
}

/// Sends raw bytes and returns (status, body) of the answer; the server closes or answers
/// within 30 s. Status 0 when the connection ended without a status line.
pub fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may answer (413) and close before reading everything: a failed write is fine.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A raw POST with the given content type (None: no Content-Type header).
pub fn raw_post(addr: SocketAddr, path: &str, content_type: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        request += &format!("Content-Type: {ct}\r\n");
    }
    request += "\r\n";
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

pub use common::seed_customer;

/// A customer the model denies: low income, high delinquency, many inquiries.
pub fn risky_customer() -> Value {
    let mut c = seed_customer();
    c["income"] = 90_000.into();
    c["avg_monthly_payment"] = 80_000.into();
    c["delinquency_rate"] = 0.45.into();
    c["credit_inquiries"] = 9.into();
    c["credit_history_months"] = 4.into();
    c["employment_years"] = 0.into();
    c
}

/// A customer any sensible model approves: high income, no delinquency, long history.
pub fn safe_customer() -> Value {
    let mut c = seed_customer();
    c["income"] = 2_500_000.into();
    c["avg_monthly_payment"] = 100_000.into();
    c["delinquency_rate"] = 0.0.into();
    c["credit_history_months"] = 240.into();
    c["employment_years"] = 20.into();
    c["credit_inquiries"] = 0.into();
    c["num_loans"] = 1.into();
    c["education_level"] = "universitaria".into();
    c["housing_status"] = "propia".into();
    c
}
