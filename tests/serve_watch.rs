//! `serve --watch` on the file store: a replica following `models:/credrisk-model@champion` swaps
//! to the version the alias moves to (moved with `credrisk register --alias`) while a bounded load
//! runs, with no non-2xx answer and every answer naming the version that gave it; a corrupt
//! version is refused and logged, and the one before keeps serving.

mod serve_support;

use serde_json::{Value, json};
use serve_support::common;
use serve_support::{Fixture, Server, get, post};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const NAME: &str = "credrisk-model";

/// Trains another model on the fixture's data into the same tracking store; its run id.
fn train_run(fixture: &Fixture, outputs: &str, trees: &str, seed: &str, extra: &[&str]) -> String {
    let dir = fixture.dir.path();
    let out = dir.join(outputs);
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let args = [
        "train",
        "--data",
        &p(&fixture.data),
        "--outputs",
        &p(&out),
        "--tracking-uri",
        &p(&dir.join("mlruns")),
        "--n-estimators",
        trees,
        "--seed",
        seed,
        "--quiet",
    ];
    common::ok_in(dir, &[&args[..], extra].concat());
    run_id_of(&out.join("model"))
}

fn run_id_of(model_dir: &Path) -> String {
    let text = std::fs::read_to_string(model_dir.join("MLmodel")).expect("MLmodel");
    let line = text.lines().find(|l| l.starts_with("run_id:")).expect("run_id in MLmodel");
    line["run_id:".len()..].trim().trim_matches('\'').to_string()
}

/// `credrisk register --run RUN --alias champion`: the version it created.
fn promote(fixture: &Fixture, run_id: &str) -> u64 {
    let mlruns = fixture.dir.path().join("mlruns");
    let out = common::ok_in(
        fixture.dir.path(),
        &[
            "register",
            "--run",
            run_id,
            "--name",
            NAME,
            "--alias",
            "champion",
            "--tracking-uri",
            mlruns.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let version = text.split(" version ").nth(1).and_then(|t| t.split_whitespace().next()).expect("version");
    version.parse().unwrap_or_else(|_| panic!("{text}"))
}

/// The model directory of `run_id` inside the file store.
fn run_model_dir(mlruns: &Path, run_id: &str) -> PathBuf {
    for experiment in std::fs::read_dir(mlruns).unwrap().flatten() {
        let dir = experiment.path().join(run_id).join("artifacts/model");
        if dir.is_dir() {
            return dir;
        }
    }
    panic!("run {run_id} not in {}", mlruns.display())
}

/// One answer: its status (0: none) and the version that gave it.
type Seen = (u16, Option<u64>);

/// Clients posting `/predict` in a loop until stopped (at most `limit`): every (status, version)
/// in the order answered.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Seen>>>,
}

impl Load {
    fn start(server: &Server, clients: usize, limit: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let body = json!({"customer": common::seed_customer()}).to_string();
        let threads = (0..clients)
            .map(|_| {
                let (stop, url, body) = (Arc::clone(&stop), server.url("/predict"), body.clone());
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(10)))
                        .build()
                        .into();
                    let started = Instant::now();
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
                        let sent = agent.post(&url).header("Content-Type", "application/json").send(&body);
                        match sent {
                            Ok(mut r) => {
                                let status = r.status().as_u16();
                                let answer: Value =
                                    serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default())
                                        .unwrap_or(Value::Null);
                                seen.push((status, answer["model"]["version"].as_u64()));
                            }
                            Err(_) => seen.push((0, None)),
                        }
                    }
                    seen
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// What each client saw, in its order.
    fn finish(mut self) -> Vec<Vec<Seen>> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.drain(..).map(|t| t.join().expect("load thread")).collect()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Waits (bounded) until `/model` names `version`.
fn wait_for_version(server: &Server, version: u64, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let model = get(server, "/model").json();
        if model["version"] == version {
            return model;
        }
        assert!(Instant::now() < deadline, "still {model} after {limit:?}:\n{}", server.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_watched_alias_swaps_under_load_and_a_corrupt_version_is_refused() {
    let fixture = Fixture::train();
    let mlruns = fixture.dir.path().join("mlruns");
    let run1 = fixture.run_id();
    let run2 = train_run(&fixture, "out2", "12", "7", &[]);
    let run3 = train_run(&fixture, "out3", "5", "8", &[]);
    assert_eq!(promote(&fixture, &run1), 1);

    let mut server = Server::spawn(&[
        "--model",
        &format!("models:/{NAME}@champion"),
        "--tracking-uri",
        mlruns.to_str().unwrap(),
        "--watch",
        "1s",
    ]);
    server.wait_ready();
    let first = get(&server, "/model").json();
    assert_eq!((first["name"].as_str(), first["version"].as_u64()), (Some(NAME), Some(1)), "{first}");
    assert_eq!(first["run_id"], run1.as_str());
    assert_eq!(first["uri"], format!("models:/{NAME}@champion"));
    let ready = get(&server, "/health/ready").json();
    assert_eq!(ready["registry"]["reachable"], true, "{ready}");

    // Move the alias under load: every answer 200, first v1 then v2, never back.
    let load = Load::start(&server, 2, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(promote(&fixture, &run2), 2);
    let moved = Instant::now();
    let second = wait_for_version(&server, 2, Duration::from_secs(10));
    let switch = moved.elapsed();
    std::thread::sleep(Duration::from_millis(800));
    let per_client = load.finish();
    let seen: Vec<Seen> = per_client.iter().flatten().copied().collect();
    assert_eq!(second["run_id"], run2.as_str());
    assert!(switch < Duration::from_secs(5), "the swap took {switch:?} with a 1 s watch");
    let failed: Vec<_> = seen.iter().filter(|(status, _)| !(200..300).contains(status)).collect();
    assert!(failed.is_empty(), "non-2xx under load: {failed:?} of {}", seen.len());
    let versions: Vec<u64> = seen.iter().map(|(_, v)| v.expect("every answer names its version")).collect();
    assert!(versions.contains(&1) && versions.contains(&2), "{} answers: {versions:?}", versions.len());
    // A client never sees the old model after the new one answered it.
    for client in &per_client {
        let order: Vec<Option<u64>> = client.iter().map(|(_, v)| *v).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    }
    let swapped = server.wait_for_log(|v| v["message"] == "model swapped", Duration::from_secs(5));
    let model = swapped["model"].as_str().unwrap();
    assert!(model.contains("model_version=\"2\"") && model.contains(&run2), "{swapped}");
    assert!(swapped["previous"].as_str().unwrap().contains(&run1), "{swapped}");

    // Each version's answers are counted under its own labels; the swap is counted.
    let metrics = get(&server, "/metrics").body;
    for (version, run) in [(1, &run1), (2, &run2)] {
        let labels = format!("model_name=\"{NAME}\",model_version=\"{version}\",model_run_id=\"{run}\"");
        let series =
            format!("credrisk_decisions_total{{endpoint=\"/predict\",outcome=\"approved\",{labels}}}");
        let counted: u64 = metrics
            .lines()
            .find(|l| l.starts_with(&series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"));
        let answered = versions.iter().filter(|v| **v == version).count() as u64;
        assert!(counted >= answered, "v{version}: {counted} counted, {answered} answered");
    }
    assert!(metrics.contains("credrisk_model_swaps_total 1\n"), "{metrics}");
    assert!(metrics.contains(&format!("credrisk_model_info{{model_name=\"{NAME}\",model_version=\"2\"")));

    // A corrupt v3: refused and logged, v2 keeps answering, v3 is not retried every poll.
    let payload = run_model_dir(&mlruns, &run3).join("model.crm");
    let mut bytes = std::fs::read(&payload).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&payload, bytes).unwrap();
    assert_eq!(promote(&fixture, &run3), 3);
    let refused = server.wait_for_log(
        |v| v["message"] == "new version refused; the current model keeps serving",
        Duration::from_secs(10),
    );
    assert_eq!(refused["refused_version"], 3, "{refused}");
    assert!(refused["model"].as_str().unwrap().contains("model_version=\"2\""), "{refused}");
    std::thread::sleep(Duration::from_millis(2500));
    let refusals = server.log_json().iter().filter(|v| v["refused_version"] == 3).count();
    assert_eq!(refusals, 1, "a refused version is tried again while the alias stays on it");
    let reply = post(&server, "/predict", &json!({"customer": common::seed_customer()}).to_string(), &[]);
    assert_eq!((reply.status, reply.json()["model"]["version"].as_u64()), (200, Some(2)));
    let metrics = get(&server, "/metrics").body;
    assert!(metrics.contains("credrisk_model_refused_total 1\n"), "{metrics}");
    assert_eq!(get(&server, "/health/ready").status, 200);

    // Back to run 1 (a rollback is one more alias move).
    assert_eq!(promote(&fixture, &run1), 4);
    let back = wait_for_version(&server, 4, Duration::from_secs(10));
    assert_eq!(back["run_id"], run1.as_str());

    // A model that asks for other applicant fields would break clients mid-rollout: refused.
    let other = train_run(&fixture, "out5", "5", "9", &["--exclude", "regional_cpi"]);
    assert_eq!(promote(&fixture, &other), 5);
    let refused = server.wait_for_log(|v| v["refused_version"] == 5, Duration::from_secs(10));
    assert!(refused["error"].as_str().unwrap().contains("other applicant fields"), "{refused}");
    let model = get(&server, "/model").json();
    assert_eq!((model["version"].as_u64(), model["run_id"].as_str()), (Some(4), Some(run1.as_str())));
}
