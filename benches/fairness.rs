//! Benchmark of `credrisk fairness` against Fairlearn's `MetricFrame(..., n_boot=...)` on the same
//! predictions: 250k rows, 200 bootstrap replicates, one grouping (region, 16 groups), the same
//! six rates per group (selection rate, mean probability, observed rate, TPR, FPR, precision).
//!
//! credrisk is timed whole process (read the Parquet, predict with the forest, group, bootstrap,
//! print JSON), median of BENCH_RUNS; Fairlearn is timed once around the `MetricFrame`
//! constructor only (the CSV is read before the clock starts). The machine's load average is
//! printed before and after: other work on the machine slows both sides.
//!
//! Builds nothing itself: run `cargo build --release` first, then `cargo bench --bench fairness`.
//! Environment: BENCH_ROWS (250000), BENCH_BOOT (200), BENCH_RUNS (3), CREDRISK_PYTHON (the venv
//! with fairlearn 0.15.0; default .venv/bin/python).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "unknown".into(), |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn run(command: &mut Command) -> Duration {
    let start = Instant::now();
    let out = command.stdout(Stdio::null()).stderr(Stdio::piped()).output().expect("the command starts");
    let elapsed = start.elapsed();
    // credrisk fairness exits 1 on an alert, which is expected here.
    if !matches!(out.status.code(), Some(0 | 1)) {
        eprintln!("{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
    elapsed
}

const FAIRLEARN: &str = r#"
import sys, time
import numpy as np, pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate, false_positive_rate
from sklearn.metrics import precision_score
rows = pd.read_csv(sys.argv[1], keep_default_na=False, dtype={"region": str})
n_boot = int(sys.argv[2])
def observed_rate(y_true, y_pred): return float(np.mean(y_true))
def mean_probability(y_true, y_pred, probability): return float(np.mean(probability))
def precision(y_true, y_pred): return precision_score(y_true, y_pred, zero_division=np.nan)
metrics = {"selection_rate": selection_rate, "mean_probability": mean_probability,
           "observed_rate": observed_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
           "precision": precision}
start = time.perf_counter()
mf = MetricFrame(metrics=metrics, y_true=rows["label"].to_numpy(), y_pred=rows["decision"].to_numpy(),
                 sensitive_features=rows["region"], sample_params={"mean_probability": {"probability": rows["probability"].to_numpy()}},
                 n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=42)
mf.difference_ci(); mf.ratio_ci(); mf.difference_ci(method="to_overall")
print(time.perf_counter() - start)
"#;

fn main() {
    let rows = env_u64("BENCH_ROWS", 250_000);
    let boot = env_u64("BENCH_BOOT", 200);
    let runs = env_u64("BENCH_RUNS", 3).max(1);
    let binary = root().join("target/release/credrisk");
    assert!(binary.exists(), "{} is missing: run cargo build --release first", binary.display());
    let python =
        std::env::var_os("CREDRISK_PYTHON").map_or_else(|| root().join(".venv/bin/python"), PathBuf::from);
    let dir = tempfile::tempdir().expect("a temp dir");
    let d = dir.path();
    let setup = |args: &[&str]| {
        let status = Command::new(&binary).current_dir(d).args(args).stdout(Stdio::null()).status().unwrap();
        assert!(status.success(), "credrisk {args:?} failed");
    };
    println!("load average before: {}", load_average());
    setup(&["generate", "--rows", "60000", "--seed", "3", "--prefix", "train", "--quiet"]);
    setup(&["generate", "--rows", &rows.to_string(), "--seed", "4", "--prefix", "batch", "--quiet"]);
    setup(&[
        "train",
        "--data",
        "train.parquet",
        "--n-estimators",
        "50",
        "--quiet",
        "--no-tracking",
        "--outputs",
        "out",
    ]);
    let boot_arg = boot.to_string();
    let fairness = |extra: &[&str]| {
        let mut c = Command::new(&binary);
        c.current_dir(d)
            .args(["fairness", "--model", "out/model", "--data", "batch.parquet", "--by", "region", "--json"])
            .args(["--n-boot", &boot_arg])
            .args(extra);
        c
    };
    run(&mut fairness(&["--rows", "rows.csv"]));
    let mut times: Vec<Duration> = (0..runs).map(|_| run(&mut fairness(&[]))).collect();
    times.sort();
    let ours = times[times.len() / 2];
    println!(
        "credrisk fairness: {rows} rows, {boot} replicates, --by region: median {:.2} s of {runs}",
        ours.as_secs_f64()
    );
    println!("load average between: {}", load_average());
    if !python.exists() {
        println!("{} is missing: Fairlearn not timed (run scripts/setup-python.sh)", python.display());
        return;
    }
    let out = Command::new(&python)
        .arg("-c")
        .arg(FAIRLEARN)
        .arg(d.join("rows.csv"))
        .arg(&boot_arg)
        .output()
        .expect("python runs");
    assert!(out.status.success(), "fairlearn failed: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("seconds");
    println!("Fairlearn MetricFrame(n_boot={boot}) on the same predictions: {theirs:.2} s");
    println!("ratio: credrisk is {:.1}x faster", theirs / ours.as_secs_f64());
    println!("load average after: {}", load_average());
}
