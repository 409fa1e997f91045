//! API keys end to end: `credrisk keys add` prints a key once and stores only its salted hash;
//! `serve --api-keys` answers 401 (the same answer for a missing, malformed or wrong key) on
//! everything but the health checks and `/metrics`, 200 with a valid key, and the audit record
//! and log line name the key's name, never the key. Binding beyond loopback without keys is
//! refused before anything binds.

mod serve_support;

use serde_json::{Value, json};
use serve_support::common::{self, run_in};
use serve_support::{Fixture, Server, get, post};
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `credrisk keys add NAME --file FILE` in `dir`: the key it printed.
fn add_key(dir: &Path, name: &str, file: &Path) -> String {
    let out = common::ok_in(dir, &["keys", "add", name, "--file", file.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.trim().to_string();
    assert!(key.starts_with("crk_") && key.len() == 68 && stdout.lines().count() == 1, "{stdout:?}");
    key
}

fn audit_records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("an audit line is JSON")).collect()
}

#[test]
fn keys_guard_every_endpoint_but_health_and_metrics_and_the_audit_names_the_key() {
    let fixture = Fixture::train();
    let dir = fixture.dir.path();
    let keys = dir.join("keys");
    let app = add_key(dir, "scoring-app", &keys);
    let analyst = add_key(dir, "analyst", &keys);
    assert_ne!(app, analyst);
    let file = std::fs::read_to_string(&keys).unwrap();
    assert_eq!(file.lines().count(), 2, "{file}");
    assert!(!file.contains(&app[4..]) && !file.contains(&analyst[4..]), "the key file holds a key");

    // A name twice, a bad name and a broken key file are refused with one line and exit 2.
    let again = run_in(dir, &["keys", "add", "analyst", "--file", keys.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a key named"));
    let bad = run_in(dir, &["keys", "add", "no spaces", "--file", keys.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), file, "a refused add changed the file");
    let broken = dir.join("broken-keys");
    std::fs::write(&broken, "scoring-app:nothex:00\n").unwrap();
    let stderr = refused_at_start(&["--model", fixture.model(), "--api-keys", broken.to_str().unwrap()]);
    assert!(stderr.contains("line 1"), "{stderr}");

    let audit = dir.join("audit.jsonl");
    let mut server = Server::start(
        fixture.model(),
        &["--api-keys", keys.to_str().unwrap(), "--audit-log", audit.to_str().unwrap()],
    );
    let body = json!({"customer": common::seed_customer()}).to_string();

    // Open: what load balancers and scrapers call.
    for path in ["/health/live", "/health/ready", "/health", "/metrics"] {
        assert_eq!(get(&server, path).status, 200, "{path}");
    }
    // Guarded: one answer whatever is wrong with the key, and nothing recorded.
    let mut wrong = app.clone();
    wrong.replace_range(10..11, if &app[10..11] == "0" { "1" } else { "0" });
    let attempts: [&[(&str, &str)]; 6] = [
        &[],
        &[("Authorization", "Bearer")],
        &[("Authorization", &format!("Bearer {wrong}"))],
        &[("Authorization", &format!("Basic {app}"))],
        &[("Authorization", &app)],
        &[("Authorization", "Bearer crk_")],
    ];
    let mut answers = Vec::new();
    for headers in attempts {
        let reply = post(&server, "/predict", &body, headers);
        assert_eq!(reply.status, 401, "{headers:?}: {}", reply.body);
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        answers.push(reply.json());
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "401 answers differ: {answers:?}");
    assert_eq!(answers[0]["error"], "unauthorized");
    assert_eq!(answers[0]["details"], json!([]));
    for path in ["/model", "/openapi.json", "/", "/review"] {
        assert_eq!(get(&server, path).status, 401, "{path}");
    }
    assert!(audit_records(&audit).is_empty(), "a refused request was audited");

    // A valid key (the scheme is case-insensitive): answered, and the record names the key.
    let reply = post(
        &server,
        "/predict",
        &body,
        &[("Authorization", &format!("bearer {app}")), ("X-Request-Id", "with-app-key")],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = post(
        &server,
        "/explain",
        &body,
        &[("Authorization", &format!("Bearer {analyst}")), ("X-Request-Id", "with-analyst-key")],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let records = audit_records(&audit);
    let named: Vec<(&str, &str)> =
        records.iter().map(|r| (r["request_id"].as_str().unwrap(), r["key"].as_str().unwrap())).collect();
    assert_eq!(named, [("with-app-key", "scoring-app"), ("with-analyst-key", "analyst")]);
    let line = server.request_log("with-app-key");
    assert_eq!((line["status"].as_u64(), line["key"].as_str()), (Some(200), Some("scoring-app")));
    let line = server.request_log("with-analyst-key");
    assert_eq!(line["key"], "analyst");

    // The keys appear nowhere: not in the log, not in the audit log, not in /metrics.
    let metrics = get(&server, "/metrics").body;
    assert!(metrics.contains("status=\"401\""), "401s are counted");
    let audit_text = std::fs::read_to_string(&audit).unwrap();
    for key in [&app, &analyst, &wrong] {
        let secret = &key[4..];
        for (what, text) in
            [("log", server.log_text()), ("audit log", audit_text.clone()), ("metrics", metrics.clone())]
        {
            assert!(!text.contains(secret), "a key is in the {what}");
        }
    }
}

#[test]
fn binding_beyond_loopback_without_keys_is_refused() {
    let fixture = Fixture::train();
    for host in ["0.0.0.0", "::"] {
        let stderr = refused_at_start(&["--model", fixture.model(), "--host", host]);
        assert!(stderr.contains("--api-keys") && stderr.contains("--insecure-no-auth"), "{host}: {stderr}");
    }
}

/// Starts `credrisk serve --port 0 ARGS`, which must exit 2 within 30 s (else the guard kills
/// it) with one line on stderr: that line.
fn refused_at_start(args: &[&str]) -> String {
    struct Guard(std::process::Child);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = common::credrisk()
        .args(["serve", "--port", "0"])
        .args(args)
        .env_remove("MODEL_URI")
        .env_remove("MLFLOW_TRACKING_URI")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("credrisk serve starts");
    let mut guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "credrisk serve {args:?} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    guard.0.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr.trim().to_string()
}
