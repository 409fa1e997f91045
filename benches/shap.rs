//! TreeSHAP speed, side by side with `shap.TreeExplainer` on the same forest in the same run.
//!
//! The forest is the peer's own: ../shared/peer/make_data.py (250k rows, seed 42) and
//! train_sklearn.py (Pipeline: one-hot + RandomForestClassifier, 100 trees, depth 12,
//! min_samples_leaf 20), exported with tests/oracles/sklearn_to_dump.py. shap explains the
//! sklearn forest itself, we explain the dump: exactly the same trees and rows (checked on row 0).
//! Data and forest are cached in target/shap-bench/ (delete it to regenerate). Without the peer
//! beside the project (a clone on its own) it says so in one line and times ours alone, on a
//! forest of the same shape that credrisk grows on its own 250k generated rows.
//!
//! Run: `cargo bench --bench shap`. Env: SHAP_BENCH_PEER_ROWS (rows shap explains in batch,
//! default 1000: its rows/s do not depend on the count), SHAP_BENCH_PEER_INTERVENTIONAL_ROWS
//! (default 40, at 200 background rows), SHAP_BENCH_SKIP_PEER=1 (time ours only),
//! SHAP_BENCH_PATH_ONLY=1 (skip the interventional timings), SHAP_BENCH_INTERVENTIONAL_ONLY=1 (only
//! those, beside shap's unless skipped), CREDRISK_PYTHON (the venv's python), CREDRISK_SHARED (where ../shared is, when the checkout is
//! not beside it); SHAP_BENCH_PROFILE=ROWS (no ratios: ROWS rows on one thread, path-dependent one
//! by one and in blocks, then interventional, to run under valgrind).

use credrisk::data::generate_table;
use credrisk::features::Encoder;
use credrisk::forest::dump::read_dump;
use credrisk::forest::{Forest, ForestParams, MaxFeatures, fit};
use credrisk::shap::{BLOCK_ROWS, Explanation, TreeShap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CALLS: usize = 200;
/// The pause before each of a series of lone requests (long enough for the pool's threads to
/// sleep).
const PAUSE: Duration = Duration::from_millis(20);
const BATCH_ROWS: usize = 10_000;
/// Interventional background sizes (the first rows of background.csv), to show how the cost per
/// row grows with the background; rows explained at each: ours 200,000 / size, shap
/// SHAP_BENCH_PEER_INTERVENTIONAL_ROWS · 200 / size (at least 8), so each side runs a few seconds.
const BACKGROUND_SIZES: [usize; 4] = [100, 200, 500, 1000];
const BACKGROUND_ROWS: usize = 1000;

/// The peer's own data and forest (../shared/peer: make_data.py, train_sklearn.py with its
/// defaults: 100 trees, depth 12, min_samples_leaf 20, seed 42), exported to a dump; the rows are
/// the peer's customer.json then the peer's 10,000-row sample, and 200 background rows, all
/// through the fitted preprocessing and cast to float32 as sklearn and shap do before routing.
const PREPARE_PY: &str = r#"
import json, os, subprocess, sys
import numpy as np, pandas as pd, joblib
out, shared, exporter = sys.argv[1], sys.argv[2], sys.argv[3]
peer = os.path.join(shared, "peer")
sys.path.insert(0, peer)
from schema import FEATURES
data, model = os.path.join(out, "applicants.parquet"), os.path.join(out, "model.joblib")
run = lambda *args: subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL)
run(os.path.join(peer, "make_data.py"), "--rows", "250000", "--seed", "42", "--out", data)
run(os.path.join(peer, "train_sklearn.py"), "--data", data, "--out", model)
run(exporter, model, "--out", os.path.join(out, "forest.json"))
pipeline = joblib.load(model)
pre = pipeline.named_steps["pre"]
names = list(pre.get_feature_names_out())
with open(os.path.join(peer, "customer.json")) as f:
    one = pd.DataFrame([json.load(f)["customer"]], columns=FEATURES)
table = pd.read_parquet(data, columns=FEATURES)
def write(name, frame):
    rows = np.asarray(pre.transform(frame), dtype=np.float32).astype(np.float64)
    with open(os.path.join(out, name), "w") as fh:
        fh.write(",".join(names) + "\n")
        fh.writelines(",".join(repr(float(v)) for v in r) + "\n" for r in rows)
write("rows.csv", pd.concat([one, table.sample(9_999, random_state=0)]))
write("background.csv", table.sample(1000, random_state=1))
"#;

/// Rewrites background.csv with `BACKGROUND_ROWS` rows (a cache from before it had that many),
/// the same way PREPARE_PY does, without retraining.
const BACKGROUND_PY: &str = r#"
import os, sys
import numpy as np, pandas as pd, joblib
out, shared, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, os.path.join(shared, "peer"))
from schema import FEATURES
pre = joblib.load(os.path.join(out, "model.joblib")).named_steps["pre"]
table = pd.read_parquet(os.path.join(out, "applicants.parquet"), columns=FEATURES)
rows = np.asarray(pre.transform(table.sample(size, random_state=1)), dtype=np.float32).astype(np.float64)
with open(os.path.join(out, "background.csv"), "w") as fh:
    fh.write(",".join(pre.get_feature_names_out()) + "\n")
    fh.writelines(",".join(repr(float(v)) for v in r) + "\n" for r in rows)
"#;

/// Times shap on the sklearn model, mirroring ../shared/peer/bench_inprocess.py.
const PEER_PY: &str = r#"
import json, os, statistics, sys, time, warnings
import numpy as np, joblib, shap
warnings.simplefilter("ignore")
out, batch_rows, inter_rows, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pause = float(sys.argv[5]) / 1e3
rf = joblib.load(os.path.join(out, "model.joblib")).named_steps["rf"]
def load(name):
    return np.loadtxt(os.path.join(out, name), delimiter=",", skiprows=1)
X, bg = load("rows.csv"), load("background.csv")
explainer = shap.TreeExplainer(rf)
one = X[:1]
for _ in range(20):
    explainer.shap_values(one)
def median_ms(pause):
    # As the Rust side's median_ms: median wall and CPU ms of `calls` calls, each `pause` after
    # the one before.
    wall, cpu = [], []
    for _ in range(calls):
        if pause:
            time.sleep(pause)
        t0, c0 = time.perf_counter(), time.thread_time()
        explainer.shap_values(one)
        wall.append(time.perf_counter() - t0); cpu.append(time.thread_time() - c0)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3
res = {}
res["one_row_ms"], res["one_row_cpu_ms"] = median_ms(0)
res["one_row_paused_ms"], _ = median_ms(pause)
t0, c0 = time.perf_counter(), time.process_time()
phi = explainer.shap_values(X[:batch_rows])
res["batch_rows"] = batch_rows
res["batch_rows_per_s"] = batch_rows / (time.perf_counter() - t0)
res["batch_rows_per_cpu_s"] = batch_rows / (time.process_time() - c0)
res["row0_class1"] = np.asarray(phi)[0, :, 1].tolist()
res["expected_value"] = float(np.asarray(explainer.expected_value).reshape(-1)[1])
for size in (100, 200, 500, 1000):
    masker = shap.maskers.Independent(bg[:size], max_samples=size)
    inter = shap.TreeExplainer(rf, data=masker, feature_perturbation="interventional")
    n = max(8, inter_rows * 200 // size)
    t0, c0 = time.perf_counter(), time.process_time()
    inter.shap_values(X[:n], check_additivity=False)
    res[f"interventional_{size}"] = [n, n / (time.perf_counter() - t0), n / (time.process_time() - c0)]
print(json.dumps(res))
"#;

fn python() -> PathBuf {
    std::env::var_os("CREDRISK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

fn run_python(script: &str, args: &[String]) -> String {
    let out =
        Command::new(python()).arg("-c").arg(script).args(args).output().expect("the venv's python runs");
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The steering material beside the project (`../shared`), or `CREDRISK_SHARED` (a worktree
/// elsewhere).
fn shared(root: &Path) -> PathBuf {
    std::env::var_os("CREDRISK_SHARED").map(PathBuf::from).unwrap_or_else(|| root.join("../shared"))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Row-major values of a CSV with a header line.
fn read_csv(path: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(path).expect("bench CSV");
    text.lines()
        .skip(1)
        .flat_map(|line| line.split(',').map(|v| v.parse::<f64>().expect("a number")))
        .collect()
}

fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split(' ').next().map(String::from))
        .unwrap_or_default()
}

/// The peer's forest and rows (see PREPARE_PY), cached in `dir`.
fn peer_forest(root: &Path, dir: &Path) -> (Forest, Vec<f64>, Vec<f64>) {
    if !dir.join("background.csv").exists() {
        std::fs::create_dir_all(dir).expect("bench dir");
        eprintln!("shap bench: generating the peer's 250k rows and training its forest (once) ...");
        let exporter = root.join("tests/oracles/sklearn_to_dump.py");
        let args =
            [dir.display().to_string(), shared(root).display().to_string(), exporter.display().to_string()];
        run_python(PREPARE_PY, &args);
    }
    let dump = read_dump(dir.join("forest.json")).expect("the bench forest dump reads");
    let n = dump.forest.n_features;
    if read_csv(&dir.join("background.csv")).len() != BACKGROUND_ROWS * n {
        eprintln!("shap bench: sampling {BACKGROUND_ROWS} background rows (once) ...");
        let args =
            [dir.display().to_string(), shared(root).display().to_string(), BACKGROUND_ROWS.to_string()];
        run_python(BACKGROUND_PY, &args);
    }
    (dump.forest, read_csv(&dir.join("rows.csv")), read_csv(&dir.join("background.csv")))
}

/// Without the peer: credrisk's forest of the same shape (100 trees, depth 12, leaf 20, sqrt) on
/// its own 250k rows (seed 42), and rows and background drawn with another seed.
fn own_forest() -> (Forest, Vec<f64>, Vec<f64>) {
    let table = generate_table(250_000, 42).expect("generate");
    let encoder = Encoder::fit(&table).expect("encoder");
    let params = ForestParams {
        n_estimators: 100,
        max_depth: Some(12),
        min_samples_leaf: 20,
        max_features: MaxFeatures::Sqrt,
        bootstrap: true,
        seed: 42,
        oob_score: false,
    };
    let labels = table.approved.as_ref().expect("labels");
    let forest = fit(&params, &encoder.encode_columns(&table), labels, &|_| {}).expect("fit").forest;
    let sample = generate_table((BATCH_ROWS + BACKGROUND_ROWS) as u64, 7).expect("generate");
    let mut rows = encoder.encode_rows(&sample);
    let background = rows.split_off(BATCH_ROWS * encoder.n_features());
    (forest, rows, background)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/shap-bench");
    let with_peer = shared(root).join("peer/make_data.py").exists();
    let (forest, rows, background) = if with_peer {
        peer_forest(root, &dir)
    } else {
        println!(
            "peer: {} is absent; timing ours alone on credrisk's own forest",
            shared(root).join("peer").display()
        );
        own_forest()
    };
    let forest = &forest;
    let n = forest.n_features;
    assert_eq!(rows.len(), BATCH_ROWS * n);
    assert_eq!(background.len(), BACKGROUND_ROWS * n);
    let leaves: usize = forest.trees.iter().map(|t| t.n_leaves()).sum();
    let depth = forest.trees.iter().map(|t| t.depth()).max().unwrap_or(0);
    println!(
        "forest: {} trees, max depth {depth}, {:.0} leaves per tree, {n} features; {} threads",
        forest.trees.len(),
        leaves as f64 / forest.trees.len() as f64,
        rayon::current_num_threads()
    );

    if let Some(rows_to_profile) = std::env::var("SHAP_BENCH_PROFILE").ok().and_then(|v| v.parse().ok()) {
        profile(forest, &rows, &background[..200 * n], rows_to_profile);
        return;
    }
    // The peer first, alone on the machine.
    let peer = (with_peer && std::env::var_os("SHAP_BENCH_SKIP_PEER").is_none()).then(|| time_peer(&dir));
    if std::env::var_os("SHAP_BENCH_INTERVENTIONAL_ONLY").is_some() {
        interventional(forest, &rows, &background, peer.as_ref());
        return;
    }

    let build = Instant::now();
    let path = TreeShap::path_dependent(forest).expect("path explainer");
    let build_ms = build.elapsed().as_secs_f64() * 1e3;
    let one = &rows[..n];
    if let Some(peer) = &peer {
        check_against_peer(&path.explain(one).expect("row 0"), peer, forest.predict(one));
    }
    let load_one = load1();
    let mut scratch = path.scratch();
    let mut values = vec![0.0; n];
    let (one_ms, one_cpu_ms) = median_ms(Duration::ZERO, || {
        path.explain_into(one, &mut scratch, &mut values).expect("explain");
    });
    // The kernel's own pace: the fastest of many calls on one thread is the least disturbed on a
    // shared machine. Blocks of four are how a batch runs its rows (interleaved on a thread).
    let internal: usize = forest.trees.iter().map(|t| t.nodes.len() - t.n_leaves()).sum();
    let fastest_one = min_ms(|| {
        path.explain_into(one, &mut scratch, &mut values).expect("explain");
    });
    let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let fastest_block = min_ms(|| {
        std::hint::black_box(single.install(|| path.explain_rows(&rows[..BLOCK_ROWS * n]).expect("block")));
    }) / BLOCK_ROWS as f64;
    let load_batch = load1();
    let (batch_rps, batch_cpu_rps) =
        best_rows_per_s(3, BATCH_ROWS, || path.explain_rows(&rows).expect("batch"));
    // Its CPU time is not reported: the process clock leaves out the pool thread's share while
    // that thread still runs (it spins a while before sleeping), so it would flatter the ratio.
    let (lone_ms, _) = median_ms(Duration::ZERO, || {
        std::hint::black_box(path.explain_with(one, true).expect("explain"));
    });
    let (paused_ms, _) = median_ms(PAUSE, || {
        std::hint::black_box(path.explain_with(one, true).expect("explain"));
    });
    let (paused_one_ms, _) = median_ms(PAUSE, || {
        std::hint::black_box(path.explain_with(one, false).expect("explain"));
    });

    let peer_num = |key: &str| peer.as_ref().and_then(|p| p[key].as_f64()).unwrap_or(f64::NAN);
    // shap's side of a line with the ratios (wall, and CPU when ours is known), or nothing
    // when shap was not timed.
    let vs = |shap: String, ratio: f64, cpu_ratio: Option<f64>, goal: &str| match (&peer, cpu_ratio) {
        (Some(_), Some(cpu_ratio)) => format!(" | shap {shap} | {ratio:.1}x ({cpu_ratio:.1}x){goal}"),
        (Some(_), None) => format!(" | shap {shap} | {ratio:.1}x wall{goal}"),
        (None, _) => String::new(),
    };
    println!("path-dependent explainer built in {build_ms:.1} ms; ratios: wall (CPU time)");
    let (shap_ms, shap_cpu_ms) = (peer_num("one_row_ms"), peer_num("one_row_cpu_ms"));
    println!(
        "one row, path-dependent, median of {CALLS}: ours {one_ms:.3} ms (CPU {one_cpu_ms:.3}){} [load1 {load_one}]",
        vs(
            format!("{shap_ms:.3} ms (CPU {shap_cpu_ms:.3})"),
            shap_ms / one_ms,
            Some(shap_cpu_ms / one_cpu_ms),
            ", goal >= 40x (#20)"
        )
    );
    println!(
        "kernel, one thread, fastest of {CALLS}: one row {fastest_one:.3} ms = {:.1} ns per internal node \
         ({internal} internal nodes); in a batch's blocks of {BLOCK_ROWS} {fastest_block:.3} ms a row = {:.1} ns per node [load1 {load_one}]",
        fastest_one * 1e6 / internal as f64,
        fastest_block * 1e6 / internal as f64
    );
    let (shap_rps, shap_cpu_rps) = (peer_num("batch_rows_per_s"), peer_num("batch_rows_per_cpu_s"));
    println!(
        "batch, path-dependent: ours {batch_rps:.0} rows/s (per CPU-s {batch_cpu_rps:.0}; {BATCH_ROWS} rows, best of 3){} \
         [load1 {load_batch}]",
        vs(
            format!("{shap_rps:.1} rows/s (per CPU-s {shap_cpu_rps:.1}; {} rows)", peer_num("batch_rows")),
            batch_rps / shap_rps,
            Some(batch_cpu_rps / shap_cpu_rps),
            ", goal >= 90x, 45x per CPU-s (#20)"
        )
    );
    println!(
        "one row, path-dependent, a lone request on two threads (serve's explain_with), median of {CALLS}: ours \
         {lone_ms:.3} ms{}",
        vs(format!("{shap_ms:.3} ms one row"), shap_ms / lone_ms, None, "")
    );
    let shap_paused_ms = peer_num("one_row_paused_ms");
    println!(
        "one row, path-dependent, a lone request on two threads {} ms after the last (requests spaced \
         apart: this thread and the pool's asleep in between), median of {CALLS}: ours {paused_ms:.3} ms, \
         one thread after the same pause {paused_one_ms:.3} ms{}",
        PAUSE.as_millis(),
        vs(format!("{shap_paused_ms:.3} ms after the same pause"), shap_paused_ms / paused_ms, None, "")
    );
    if std::env::var_os("SHAP_BENCH_PATH_ONLY").is_none() {
        interventional(forest, &rows, &background, peer.as_ref());
    }
}

/// Times ours at each of `BACKGROUND_SIZES` and prints a line per size, beside shap's numbers
/// from `peer` when it was timed.
fn interventional(forest: &Forest, rows: &[f64], background: &[f64], peer: Option<&serde_json::Value>) {
    let n = forest.n_features;
    let interventional: Vec<_> = BACKGROUND_SIZES
        .iter()
        .map(|&size| {
            let build = Instant::now();
            let inter =
                TreeShap::interventional(forest, &background[..size * n]).expect("interventional explainer");
            let build_ms = build.elapsed().as_secs_f64() * 1e3;
            let count = 200_000 / size;
            let load = load1();
            let (rps, cpu_rps) =
                best_rows_per_s(1, count, || inter.explain_rows(&rows[..count * n]).expect("batch"));
            (size, count, rps, cpu_rps, load, build_ms)
        })
        .collect();
    let mut first = None;
    for (size, count, rps, cpu_rps, load, build_ms) in interventional {
        let peer_at =
            |k: usize| peer.and_then(|p| p[format!("interventional_{size}")][k].as_f64()).unwrap_or(f64::NAN);
        let (base_size, base_cpu_rps) = *first.get_or_insert((size, cpu_rps));
        let vs = match peer {
            Some(_) => format!(
                " | shap {:.2} rows/s (per CPU-s {:.2}; {} rows) | {:.1}x ({:.1}x)",
                peer_at(1),
                peer_at(2),
                peer_at(0),
                rps / peer_at(1),
                cpu_rps / peer_at(2)
            ),
            None => String::new(),
        };
        println!(
            "interventional, {size} background rows (built in {build_ms:.1} ms): ours {rps:.1} rows/s (per CPU-s \
             {cpu_rps:.1}; {count} rows; CPU per row {:.2}x the {base_size}-row one){vs} [load1 {load}]",
            base_cpu_rps / cpu_rps,
        );
    }
}

/// One thread, for `valgrind --tool=callgrind` (instruction and cache counts per node, whatever
/// the load): `rows` path-dependent explanations one by one, then in blocks of `BLOCK_ROWS`, then
/// `rows` interventional ones. Wall time only: rustix's CPU clock (its vDSO lookup) crashes under
/// valgrind.
fn profile(forest: &credrisk::forest::Forest, rows: &[f64], background: &[f64], rows_to_profile: usize) {
    let n = forest.n_features;
    let internal: usize = forest.trees.iter().map(|t| t.nodes.len() - t.n_leaves()).sum();
    let rows = &rows[..rows.len().min(rows_to_profile * n)];
    println!("profile: {} rows, {internal} internal nodes", rows.len() / n);
    let path = TreeShap::path_dependent(forest).expect("path explainer");
    let inter = TreeShap::interventional(forest, background).expect("interventional explainer");
    let report = |what: &str, start: Instant, sum: f64| {
        let ms = start.elapsed().as_secs_f64() * 1e3 / (rows.len() / n) as f64;
        println!("{what}: {sum} ({ms:.3} ms a row)");
    };
    let mut values = vec![0.0; n];
    for shap in [&path, &inter] {
        let mut scratch = shap.scratch();
        let (start, mut sum) = (Instant::now(), 0.0);
        for x in rows.chunks(n) {
            sum += shap.explain_into(x, &mut scratch, &mut values).expect("explain");
        }
        report(&format!("{:?}", shap.method()), start, sum);
        if shap.method() == credrisk::shap::Method::PathDependent {
            let mut values = vec![vec![0.0; n]; BLOCK_ROWS];
            let (start, mut sum) = (Instant::now(), 0.0);
            for block in rows.chunks(BLOCK_ROWS * n) {
                let values = &mut values[..block.len() / n];
                for prediction in shap.explain_block_into(block, &mut scratch, values).expect("block") {
                    sum += prediction;
                }
            }
            report("PathDependent in blocks", start, sum);
        }
    }
}

/// Runs shap's timings (one row, batch, interventional) on the cached sklearn model.
fn time_peer(dir: &Path) -> serde_json::Value {
    let batch = env_usize("SHAP_BENCH_PEER_ROWS", 1000);
    let interventional = env_usize("SHAP_BENCH_PEER_INTERVENTIONAL_ROWS", 40);
    eprintln!("shap bench: timing shap ({batch} batch rows, {interventional} interventional rows) ...");
    let args = [
        dir.display().to_string(),
        batch.to_string(),
        interventional.to_string(),
        CALLS.to_string(),
        PAUSE.as_millis().to_string(),
    ];
    serde_json::from_str(&run_python(PEER_PY, &args)).expect("peer JSON")
}

/// Our row 0 against shap's: the benchmark is only meaningful if both compute the same thing.
fn check_against_peer(ours: &Explanation, peer: &serde_json::Value, prediction: f64) {
    let theirs: Vec<f64> =
        peer["row0_class1"].as_array().expect("row0").iter().filter_map(|v| v.as_f64()).collect();
    let worst = ours.values.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let base_gap = (ours.base_value - peer["expected_value"].as_f64().unwrap_or(f64::NAN)).abs();
    println!(
        "check: row 0 max |ours − shap| = {worst:.2e}, base value gap {base_gap:.2e}, additivity {:.2e}",
        ours.additivity_error()
    );
    assert!(worst <= 1e-9 && base_gap <= 1e-9, "ours and shap disagree on the bench forest");
    assert!((ours.prediction - prediction).abs() <= 1e-12);
}

/// CPU time of the calling thread, from the clock (the per-thread schedstat file is only brought
/// up to date when the thread is switched out, so a 1 ms call on an idle core read as 0).
fn thread_cpu_s() -> f64 {
    cpu_s(rustix::time::ClockId::ThreadCPUTime)
}

/// CPU time of all of this process's threads.
fn process_cpu_s() -> f64 {
    cpu_s(rustix::time::ClockId::ProcessCPUTime)
}

fn cpu_s(clock: rustix::time::ClockId) -> f64 {
    let t = rustix::time::clock_gettime(clock);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Median wall and median CPU time in ms of `CALLS` calls of `f`, after 20 warm-up calls, each
/// call `pause` after the one before (not timed).
fn median_ms(pause: Duration, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..20 {
        f();
    }
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..CALLS)
        .map(|_| {
            std::thread::sleep(pause);
            let (t0, c0) = (Instant::now(), thread_cpu_s());
            f();
            (t0.elapsed().as_secs_f64() * 1e3, (thread_cpu_s() - c0) * 1e3)
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[CALLS / 2], cpu[CALLS / 2])
}

/// The fastest of `CALLS` calls of `f`, in ms, after 20 warm-up calls.
fn min_ms(mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    (0..CALLS)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// Rows per wall second (best of `repeats`) and rows per CPU second (of that run).
fn best_rows_per_s<T>(repeats: usize, rows: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    let (wall, cpu) = (0..repeats)
        .map(|_| {
            let (t0, c0) = (Instant::now(), process_cpu_s());
            std::hint::black_box(f());
            (t0.elapsed().as_secs_f64(), process_cpu_s() - c0)
        })
        .fold((f64::INFINITY, f64::NAN), |best, run| if run.0 < best.0 { run } else { best });
    (rows as f64 / wall, rows as f64 / cpu)
}
