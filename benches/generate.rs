//! Benchmark of `credrisk generate` against the numpy/pyarrow peer (`../shared/peer/make_data.py`),
//! whole process, same machine, same run: alternating runs, median wall times and their ratio;
//! then one large run for throughput (rows/s) and peak RSS. Without the peer beside the project
//! (a clone on its own) it says so in one line and times credrisk alone.
//!
//! Builds nothing itself: run `cargo build --release` first, then `cargo bench --bench generate`.
//! Environment: BENCH_ROWS (250000), BENCH_RUNS (5), BENCH_BIG_ROWS (10000000; 0 skips it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    let n = times.len();
    if n % 2 == 1 { times[n / 2] } else { (times[n / 2 - 1] + times[n / 2]) / 2 }
}

/// Runs a command to completion and returns its wall time; a failure ends the benchmark.
fn timed(command: &mut Command) -> Duration {
    let start = Instant::now();
    let out = command.stdout(Stdio::null()).stderr(Stdio::piped()).output().expect("the command starts");
    let elapsed = start.elapsed();
    if !out.status.success() {
        eprintln!("{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
    elapsed
}

fn ours(binary: &Path, rows: u64, prefix: &Path) -> Command {
    let mut c = Command::new(binary);
    c.args(["generate", "--rows", &rows.to_string(), "--quiet", "--prefix"]).arg(prefix);
    c
}

fn peer(python: &Path, script: &Path, rows: u64, out: &Path) -> Command {
    let mut c = Command::new(python);
    c.arg(script).args(["--rows", &rows.to_string(), "--out"]).arg(out);
    c
}

/// Peak resident set size of a finished child, in kB, from `/usr/bin/time -v`.
fn peak_rss_with_time(command: &Command) -> Option<(Duration, u64)> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let mut c = Command::new(time);
    c.arg("-v").arg(command.get_program()).args(command.get_args());
    let start = Instant::now();
    let out = c.stdout(Stdio::null()).output().ok()?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        eprintln!("{c:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let kb = text.lines().find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))?;
    Some((elapsed, kb.trim().parse().ok()?))
}

/// Fallback without /usr/bin/time: poll the child's high-water mark (VmHWM) in /proc.
fn peak_rss_polling(mut command: Command) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = command.stdout(Stdio::null()).spawn().expect("the command starts");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
            if let Some(kb) = hwm.and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()) {
                peak = peak.max(kb);
            }
        }
        if let Some(status) = child.try_wait().expect("waiting works") {
            assert!(status.success(), "{command:?} failed");
            return (start.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let root = root();
    let binary = root.join("target/release/credrisk");
    let python = root.join(".venv/bin/python");
    let script = root.join("../shared/peer/make_data.py");
    if !binary.exists() {
        eprintln!("missing release binary (cargo build --release): {}", binary.display());
        std::process::exit(1);
    }
    let with_peer = script.exists() && python.exists();
    if !with_peer {
        println!("peer: {} or {} is absent; timing credrisk alone", script.display(), python.display());
    }
    let rows = env_u64("BENCH_ROWS", 250_000);
    let runs = env_u64("BENCH_RUNS", 5).max(1);
    let big_rows = env_u64("BENCH_BIG_ROWS", 10_000_000);
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let prefix = scratch.path().join("ours");
    let peer_out = scratch.path().join("peer.parquet");

    println!("generate {rows} rows, {runs} alternating runs each (whole process wall time)");
    let (mut ours_times, mut peer_times) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ours_times.push(timed(&mut ours(&binary, rows, &prefix)));
        if with_peer {
            peer_times.push(timed(&mut peer(&python, &script, rows, &peer_out)));
        }
    }
    let ours_median = median(ours_times.clone());
    let ms = |d: &Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
    println!(
        "  credrisk generate  median {:>8} ms   runs {:?}",
        ms(&ours_median),
        ours_times.iter().map(ms).collect::<Vec<_>>()
    );
    if with_peer {
        let peer_median = median(peer_times.clone());
        println!(
            "  peer make_data.py  median {:>8} ms   runs {:?}",
            ms(&peer_median),
            peer_times.iter().map(ms).collect::<Vec<_>>()
        );
        println!("  ratio peer / credrisk = {:.2}x", peer_median.as_secs_f64() / ours_median.as_secs_f64());
    }

    if big_rows > 0 {
        let big_prefix = scratch.path().join("big");
        let command = ours(&binary, big_rows, &big_prefix);
        let (elapsed, peak_kb) = peak_rss_with_time(&command).unwrap_or_else(|| peak_rss_polling(command));
        let size = std::fs::metadata(scratch.path().join("big.parquet")).map(|m| m.len()).unwrap_or(0);
        println!(
            "generate {big_rows} rows: {:.2} s, {:.2} M rows/s, peak RSS {:.0} MB, parquet {:.0} MB",
            elapsed.as_secs_f64(),
            big_rows as f64 / elapsed.as_secs_f64() / 1e6,
            peak_kb as f64 / 1024.0,
            size as f64 / 1e6
        );
    }
}
