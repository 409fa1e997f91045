//! Issue #11's sizes, counts, nesting and interrupted writes, end to end: every count flag has an
//! upper bound checked before anything is created or allocated; files are checked (regular,
//! small enough) before they are read; nesting is bounded; Ctrl-C during `generate` leaves
//! nothing, and temp files of a killed writer are cleared by the next one.

mod common;

use common::{ok_in, run_in};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 2 with one `credrisk: error:` line containing `needle`.
fn refused(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("credrisk: error: ") && err.contains(needle), "{err}");
}

/// Every entry under `dir`, recursively.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        out.push(path.display().to_string());
        if path.is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}

/// A small model trained once per test that needs one.
fn model(dir: &Path) -> String {
    ok_in(dir, &["generate", "--rows", "2000", "--seed", "3", "--prefix", "d", "--quiet"]);
    ok_in(dir, &["train", "--data", "d.parquet", "--n-estimators", "5", "--no-tracking", "--quiet"]);
    dir.join("outputs/model").display().to_string()
}

#[test]
fn huge_counts_are_refused_before_anything_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for rows in ["1000000000000000", "18446744073709551615"] {
        let out = run_in(dir, &["generate", "--rows", rows, "--prefix", "big/d", "--quiet"]);
        refused(&out, "--rows must be 1..=1000000000");
    }
    assert!(walk(dir).is_empty(), "{:?}", walk(dir));

    ok_in(dir, &["generate", "--rows", "500", "--prefix", "d", "--quiet"]);
    for n in ["1000000000000", "18446744073709551615"] {
        let out = run_in(dir, &["train", "--data", "d.parquet", "--n-estimators", n, "--quiet"]);
        refused(&out, "n_estimators must be 1..=100000");
    }
    let out = run_in(dir, &["train", "--data", "d.parquet", "--max-depth", "100000", "--quiet"]);
    refused(&out, "max_depth must be 1..=1000");
    // No run was started (so none is left RUNNING) and no output was written.
    assert!(!dir.join("mlruns").exists() && !dir.join("outputs").exists(), "{:?}", walk(dir));
}

#[test]
fn customer_files_are_checked_before_they_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = model(dir);
    // A FIFO nobody writes to would block the reader forever.
    let fifo = dir.join("customer.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let started = Instant::now();
    let out = run_in(dir, &["explain", "--model", &model, "--customer", "customer.json"]);
    refused(&out, "customer.json: is not a regular file");
    let fifo_csv = dir.join("customers.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo_csv).status().unwrap().success());
    let out = run_in(dir, &["explain", "--model", &model, "--customer", "customers.csv"]);
    refused(&out, "customers.csv: is not a regular file");
    // A 2 GB sparse JSON file: refused by its size, not read.
    let big = std::fs::File::create(dir.join("big.json")).unwrap();
    big.set_len(2 << 30).unwrap();
    let out = run_in(dir, &["explain", "--model", &model, "--customer", "big.json"]);
    refused(&out, "is larger than 67108864 bytes (a larger portfolio belongs in a .parquet or .csv file)");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn a_deeply_nested_mlmodel_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = model(dir);
    let customer = common::example("customer.json");
    let customer = customer.to_str().unwrap();
    // 3,000 deep (4.5 MB): refused by its depth; 10,000 deep (50 MB): by its size, before reading.
    for (depth, error) in [(3_000, "nested more than 64 levels"), (10_000, "is larger than 16777216 bytes")] {
        let deep: String = (0..depth).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        std::fs::write(Path::new(&model).join("MLmodel"), format!("flavors:\n{deep}")).unwrap();
        let out = run_in(dir, &["explain", "--model", &model, "--customer", customer]);
        refused(&out, error);
    }
}

#[test]
fn explain_streams_its_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = model(dir);
    ok_in(dir, &["generate", "--rows", "10000", "--seed", "9", "--prefix", "many", "--csv", "--quiet"]);
    // Every customer is answered, across blocks (4096 per block), one JSON line each.
    let out = ok_in(dir, &["explain", "--model", &model, "--customer", "many.csv", "--format", "json"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 10_000);
    // A reader that stops early (`| head`) is no error.
    let mut child = common::credrisk()
        .current_dir(dir)
        .args(["explain", "--model", &model, "--customer", "many.csv", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// SIGINT halfway through a large `generate`: no temp file is left; a temp file of a writer that
/// is gone (killed with SIGKILL, which no program can answer) is removed by the next `generate`.
#[cfg(unix)]
#[test]
fn interrupted_generate_leaves_nothing_and_the_next_run_clears_what_a_killed_one_left() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let temps =
        |dir: &Path| -> Vec<String> { walk(dir).into_iter().filter(|p| p.ends_with(".tmp")).collect() };
    for (signal, code) in [("INT", 130), ("TERM", 143), ("KILL", -1)] {
        let child = common::credrisk()
            .current_dir(dir)
            .args(["generate", "--rows", "20000000", "--prefix", "out/d", "--csv", "--quiet"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the temp files exist (bounded), then signal.
        let started = Instant::now();
        while temps(dir).len() < 2 && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(temps(dir).len(), 2, "the writer's temp files: {:?}", walk(dir));
        let pid = child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args([&format!("-{signal}"), &pid])
                .status()
                .unwrap()
                .success()
        );
        let out = child.wait_with_output().unwrap();
        if code > 0 {
            assert_eq!(
                out.status.code(),
                Some(code),
                "SIGTERM/SIGINT exit as the signal would: {}",
                stderr(&out)
            );
            assert!(temps(dir).is_empty(), "SIG{signal} left {:?}", temps(dir));
        } else {
            assert_eq!(temps(dir).len(), 2, "SIGKILL cannot be answered: the files stay");
        }
    }
    // The next run removes the dead writer's temp files before writing its own.
    ok_in(dir, &["generate", "--rows", "100", "--prefix", "out/d", "--csv", "--quiet"]);
    assert!(temps(dir).is_empty(), "{:?}", temps(dir));
    assert!(dir.join("out/d.parquet").is_file() && dir.join("out/d.csv").is_file());
}
