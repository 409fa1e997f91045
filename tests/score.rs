//! End-to-end tests of `credrisk score`: the same bits as `credrisk explain`, Parquet and CSV as
//! pyarrow and pandas read them, Arrow IPC on stdin/stdout, bad rows failing or kept, the output
//! written atomically, `/predict` over HTTP giving the same bits, and the model loaded by the
//! real MLflow (`mlflow.pyfunc`).

mod serve_support;

use serve_support::common::{self, ok_in, python_ok, run_in};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A small trained model (registered as credrisk-model@champion) and 3,000 applicants to score.
fn workdir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        ok_in(d, &["generate", "--rows", "8000", "--seed", "5", "--prefix", "train", "--quiet"]);
        ok_in(d, &["generate", "--rows", "3000", "--seed", "6", "--prefix", "apps", "--csv", "--quiet"]);
        let out = ok_in(
            d,
            &["train", "--data", "train.parquet", "--n-estimators", "40", "--max-depth", "10", "--quiet"],
        );
        let _ = out;
        let run = std::fs::read_to_string(d.join("outputs/model/MLmodel"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("run_id: '").map(|r| r.trim_end_matches('\'').to_string()))
            .expect("MLmodel names its run");
        ok_in(d, &["register", "--run", &run, "--name", "credrisk-model", "--alias", "champion"]);
        tmp
    })
    .path()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `credrisk score --model outputs/model ARGS` in the work directory.
fn score(args: &[&str]) -> std::process::Output {
    let mut all = vec!["score", "--model", "outputs/model", "--quiet"];
    all.extend_from_slice(args);
    run_in(workdir(), &all)
}

fn score_ok(args: &[&str]) {
    let out = score(args);
    assert!(out.status.success(), "score {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every row of `score --explain --reasons` equals `credrisk explain`'s answer for it, compared
/// as exact floats by Python (pyarrow reads the Parquet, json reads explain's JSON Lines); the
/// probability without --explain (the `/predict` arithmetic) is the same bits too.
#[test]
fn scores_are_explain_bit_for_bit() {
    let d = workdir();
    score_ok(&[
        "--data",
        "apps.parquet",
        "--out",
        "explained.parquet",
        "--explain",
        "--reasons",
        "--lang",
        "en",
    ]);
    score_ok(&["--data", "apps.parquet", "--out", "plain.parquet"]);
    let explained = ok_in(
        d,
        &[
            "explain",
            "--model",
            "outputs/model",
            "--customer",
            "apps.parquet",
            "--format",
            "json",
            "--lang",
            "en",
        ],
    );
    std::fs::write(d.join("explain.jsonl"), &explained.stdout).unwrap();
    let script = r#"
import json, sys, pyarrow.parquet as pq
d = sys.argv[1]
scored = pq.read_table(f"{d}/explained.parquet").to_pylist()
plain = pq.read_table(f"{d}/plain.parquet").to_pylist()
answers = [json.loads(l) for l in open(f"{d}/explain.jsonl")]
assert len(scored) == len(plain) == len(answers) == 3000, (len(scored), len(plain), len(answers))
denied = 0
for i, (s, q, a) in enumerate(zip(scored, plain, answers)):
    assert s["row"] == q["row"] == i + 1
    assert s["probability"] == q["probability"] == a["probability"], (i, s["probability"], a["probability"])
    assert s["approved"] == q["approved"] == a["approved"]
    assert s["base_value"] == a["base_value"]
    for c in a["contributions"]:
        assert s["shap_" + c["feature"]] == c["shap"], (i, c)
    assert len([k for k in s if k.startswith("shap_")]) == len(a["contributions"])
    expected = " | ".join(r["text"] for r in a["reasons"]) or None
    assert s["reasons"] == expected, (i, s["reasons"], expected)
    denied += not a["approved"]
print(denied)
"#;
    let denied: usize = python_ok(script, &[p(d)]).trim().parse().unwrap();
    assert!(denied > 100, "the file holds denials with reasons: {denied}");
}

/// `/predict` of the real server (127.0.0.1) answers what `credrisk score` writes and `credrisk
/// explain` says, bit for bit, on the same rows: 3,000 applicants whose numbers are full 17-digit
/// doubles (so the service must read JSON numbers exactly, as Parquet holds them), all through
/// `/predict/batch` (the last thousand with `include_explanation`), 300 one by one through
/// `/predict` with `include_explanation` (base value, SHAP per field, reasons). Python writes the Parquet file and the request bodies; they are sent
/// and the answers kept as bytes, and Python compares the exact floats.
#[test]
fn predict_over_http_is_score_and_explain_bit_for_bit() {
    let d = workdir();
    let make = r#"
import json, random, sys, pyarrow as pa, pyarrow.parquet as pq
d = sys.argv[1]
table = pq.read_table(f"{d}/apps.parquet").drop_columns(["approved", "approval_score"])
rng = random.Random(17)
columns = {}
for name in table.column_names:
    values = table.column(name).to_pylist()
    if pa.types.is_floating(table.schema.field(name).type):
        # A relative nudge of up to 1e-9, kept within the file's own range (so valid), makes each
        # value a full-precision double.
        present = [v for v in values if v is not None]
        lo, hi = min(present), max(present)
        values = [v if v is None or v == 0 else min(max(v * (1 + rng.uniform(-1e-9, 1e-9)), lo), hi)
                  for v in values]
    columns[name] = pa.array(values, type=table.schema.field(name).type)
precise = pa.table(columns)
pq.write_table(precise, f"{d}/precise.parquet")
rows = precise.to_pylist()
with open(f"{d}/requests.txt", "w") as out:
    for k in range(0, len(rows), 1000):
        # The last thousand explained too (TreeSHAP blocks of 16 on the server).
        explain = {"include_explanation": True, "lang": "en"} if k == 2000 else {}
        out.write(json.dumps({"customers": rows[k:k + 1000], **explain}) + "\n")
    for r in rows[:300]:
        out.write(json.dumps({"customer": r, "include_explanation": True, "lang": "en"}) + "\n")
print(sum(len(repr(v)) >= 17 for r in rows for v in r.values() if isinstance(v, float)))
"#;
    let long: usize = python_ok(make, &[p(d)]).trim().parse().unwrap();
    assert!(long > 3000, "full-precision doubles in the file: {long}");
    score_ok(&[
        "--data",
        "precise.parquet",
        "--out",
        "http_ref.parquet",
        "--explain",
        "--reasons",
        "--lang",
        "en",
    ]);
    let explained = ok_in(
        d,
        &[
            "explain",
            "--model",
            "outputs/model",
            "--customer",
            "precise.parquet",
            "--format",
            "json",
            "--lang",
            "en",
        ],
    );
    std::fs::write(d.join("http_explain.jsonl"), &explained.stdout).unwrap();
    let server = serve_support::Server::start(p(&d.join("outputs/model")), &[]);
    let requests = std::fs::read_to_string(d.join("requests.txt")).unwrap();
    let mut answers = String::new();
    for body in requests.lines() {
        let path = if body.starts_with("{\"customers\"") { "/predict/batch" } else { "/predict" };
        let reply = serve_support::post(&server, path, body, &[]);
        assert_eq!(reply.status, 200, "{}", reply.body);
        answers.push_str(reply.body.trim_end());
        answers.push('\n');
    }
    std::fs::write(d.join("http_answers.jsonl"), answers).unwrap();
    let script = r#"
import json, sys, pyarrow.parquet as pq
d = sys.argv[1]
rows = pq.read_table(f"{d}/precise.parquet").to_pylist()
scored = pq.read_table(f"{d}/http_ref.parquet").to_pylist()
explained = [json.loads(l) for l in open(f"{d}/http_explain.jsonl")]
answers = [json.loads(l) for l in open(f"{d}/http_answers.jsonl")]
batch = [r for a in answers[:3] for r in a["results"]]
singles = answers[3:]
assert len(rows) == len(scored) == len(explained) == len(batch) == 3000 and len(singles) == 300
for i, (s, e, b) in enumerate(zip(scored, explained, batch)):
    assert b["index"] == i % 1000 and b["probability"] == s["probability"] == e["probability"], (i, b, s)
    assert b["approved"] == s["approved"] == e["approved"], i
def same_explanation(i, one):
    s, e, x = scored[i], explained[i], one["explanation"]
    assert one["probability"] == s["probability"] and one["approved"] == s["approved"], (i, one)
    assert x["base_value"] == s["base_value"] == e["base_value"], i
    pairs = [(c["feature"], c["shap"]) for c in x["contributions"]]
    assert pairs == [(c["feature"], c["shap"]) for c in e["contributions"]], (i, pairs, e["contributions"])
    assert all(shap == s["shap_" + f] for f, shap in pairs), i
    # The service read every number exactly: it echoes each field's value as sent.
    for c in x["contributions"]:
        if c["feature"] in rows[i]:
            assert c["value"] == rows[i][c["feature"]], (i, c, rows[i][c["feature"]])
    assert (" | ".join(r["text"] for r in x["reasons"]) or None) == s["reasons"], i
for i, one in enumerate(singles):
    same_explanation(i, one)
for i in range(2000, 3000):
    same_explanation(i, batch[i])
assert all("explanation" not in b for b in batch[:2000])
print(sum(not one["approved"] for one in singles + batch[2000:]))
"#;
    let denied: usize = python_ok(script, &[p(d)]).trim().parse().unwrap();
    assert!(denied >= 40, "denials with reasons among the 1,300 explained: {denied}");
}

/// The Parquet output as pyarrow reads it (types, nullability, nulls of skipped rows) and the CSV
/// output as pandas reads it: the same values, floats to the bit.
#[test]
fn parquet_and_csv_outputs_read_back_exactly() {
    let d = workdir();
    // Two bad rows: an impossible age and an unknown region.
    let text = std::fs::read_to_string(d.join("apps.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let age = header.iter().position(|c| *c == "age").unwrap();
    let region = header.iter().position(|c| *c == "region").unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[5].split(',').map(String::from).collect();
    cells[age] = "7".into();
    lines[5] = cells.join(",");
    let mut cells: Vec<String> = lines[9].split(',').map(String::from).collect();
    cells[region] = "Lima".into();
    lines[9] = cells.join(",");
    std::fs::write(d.join("bad.csv"), lines.join("\n") + "\n").unwrap();
    score_ok(&["--data", "bad.csv", "--out", "skipped.parquet", "--on-error", "skip", "--explain"]);
    score_ok(&["--data", "bad.csv", "--out", "skipped.csv", "--on-error", "skip", "--explain"]);
    let script = r#"
import sys, json, math, pyarrow as pa, pyarrow.parquet as pq, pandas as pd
d = sys.argv[1]
t = pq.read_table(f"{d}/skipped.parquet")
types = {f.name: (str(f.type), f.nullable) for f in t.schema}
assert types["row"] == ("int64", False), types
assert types["probability"] == ("double", True) and types["approved"] == ("bool", True), types
assert types["error"] == ("string", True) and types["base_value"] == ("double", True), types
rows = t.to_pylist()
assert len(rows) == 3000
bad = [r for r in rows if r["error"] is not None]
assert [r["row"] for r in bad] == [5, 9], [r["row"] for r in bad]
assert bad[0]["error"].startswith("age: must be between 18 and 120, got 7"), bad[0]["error"]
assert bad[1]["error"].startswith("region: unknown"), bad[1]["error"]
assert all(r["probability"] is None and r["approved"] is None and r["shap_age"] is None for r in bad)
good = [r for r in rows if r["error"] is None]
assert all(0 <= r["probability"] <= 1 and isinstance(r["approved"], bool) for r in good)
c = pd.read_csv(f"{d}/skipped.csv", keep_default_na=True)
assert list(c.columns) == t.schema.names, (list(c.columns), t.schema.names)
for col in t.schema.names:
    if t.schema.field(col).type == pa.float64():
        a = t.column(col).to_pylist(); b = c[col].tolist()
        for x, y in zip(a, b):
            assert (x is None and math.isnan(y)) or x == y, (col, x, y)
assert c["row"].tolist() == t.column("row").to_pylist()
assert c["error"].fillna("").tolist() == [e or "" for e in t.column("error").to_pylist()]
print(len(good))
"#;
    assert_eq!(python_ok(script, &[p(d)]).trim(), "2998");
}

/// A bad row fails the run by default: exit 2, one line naming the row and the field, and no
/// output file (nor temp file) left behind.
#[test]
fn a_bad_row_fails_naming_row_and_field_and_leaves_no_file() {
    let d = workdir().join("fail");
    std::fs::create_dir_all(&d).unwrap();
    let text = std::fs::read_to_string(workdir().join("apps.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let income = header.iter().position(|c| *c == "income").unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[2500].split(',').map(String::from).collect();
    cells[income] = "-5".into();
    lines[2500] = cells.join(",");
    std::fs::write(d.join("bad.csv"), lines.join("\n") + "\n").unwrap();
    for out in ["out.parquet", "out.csv", "out.arrow"] {
        let o = score(&["--data", p(&d.join("bad.csv")), "--out", p(&d.join(out))]);
        assert_eq!(o.status.code(), Some(2), "{out}");
        let stderr = String::from_utf8(o.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("credrisk: error: "), "{stderr}");
        assert!(stderr.contains("bad.csv row 2500: income: "), "{stderr}");
    }
    let left: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("bad.csv")]);
    // Usage mistakes are one line and exit 2 too.
    for args in [
        vec!["--data", "apps.parquet", "--out", "x.txt"],
        vec!["--data", "missing.parquet", "--out", "x.parquet"],
        vec!["--data", "apps.parquet", "--out", "-", "--format", "csv"],
        vec!["--data", "apps.parquet", "--out", "apps.parquet"],
    ] {
        let o = score(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8(o.stderr).unwrap().lines().count(), 1, "{args:?}");
    }
}

/// Arrow IPC in on stdin and out on stdout, as pyarrow writes and reads it, equals the file run.
#[test]
fn arrow_streams_on_stdin_and_stdout() {
    let d = workdir();
    score_ok(&["--data", "apps.parquet", "--out", "ref.parquet", "--explain"]);
    let script = r#"
import sys, subprocess, pyarrow as pa, pyarrow.parquet as pq
d, binary = sys.argv[1], sys.argv[2]
t = pq.read_table(f"{d}/apps.parquet")
sink = pa.BufferOutputStream()
with pa.ipc.new_stream(sink, t.schema) as w:
    for b in t.to_batches(max_chunksize=700):
        w.write_batch(b)
done = subprocess.run([binary, "score", "--model", f"{d}/outputs/model", "--data", "-", "--out", "-", "--explain"],
                      input=sink.getvalue().to_pybytes(), capture_output=True, check=True)
got = pa.ipc.open_stream(done.stdout).read_all()
ref = pq.read_table(f"{d}/ref.parquet")
assert got.schema.equals(ref.schema), (got.schema, ref.schema)
assert got.to_pylist() == ref.to_pylist()
print(got.num_rows)
"#;
    assert_eq!(python_ok(script, &[p(d), env!("CARGO_BIN_EXE_credrisk")]).trim(), "3000");
}

fn mlflow_python(binary: Option<&str>) -> Command {
    let mut cmd = Command::new(common::python());
    cmd.current_dir(workdir())
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .env("MLFLOW_TRACKING_URI", format!("file://{}", workdir().join("mlruns").display()));
    match binary {
        Some(b) => cmd.env("CREDRISK_BIN", b),
        None => cmd.env_remove("CREDRISK_BIN").env("PATH", "/usr/bin:/bin"),
    };
    cmd
}

fn run_python(mut cmd: Command, script: &str) -> String {
    let out = cmd.arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The real MLflow loads the registered model by alias through the python_function flavor, with
/// no warning, reads its environment files (python_env.yaml, requirements.txt, conda.yaml) and
/// predicts what `credrisk score` writes, with and without SHAP columns; a missing column is
/// MLflow's schema error; a missing binary is one clear error.
#[test]
fn mlflow_pyfunc_predicts_what_score_writes() {
    score_ok(&["--data", "apps.parquet", "--out", "pyfunc_ref.parquet", "--explain", "--reasons"]);
    let against_approved = ["--explain", "--reasons", "--reference", "approved"];
    score_ok(
        &[&["--data", "apps.parquet", "--out", "pyfunc_approved.parquet"][..], &against_approved].concat(),
    );
    let script = r#"
import logging, mlflow, pandas as pd, pyarrow.parquet as pq
from pathlib import Path
from mlflow.utils.environment import _PythonEnv
from mlflow.utils.virtualenv import _get_python_env
logged = []
class Keep(logging.Handler):
    def emit(self, record):
        logged.append(f"{record.levelname}: {record.getMessage()}")
logging.getLogger("mlflow").addHandler(Keep(level=logging.WARNING))
df = pd.read_parquet("apps.parquet")
model = mlflow.pyfunc.load_model("models:/credrisk-model@champion")
# Loaded without MLflow's warnings (no Python version; requirements this venv does not meet).
assert logged == [], logged
# The environment files, as MLflow's own readers see them.
uri = "models:/credrisk-model@champion"
env = _get_python_env(Path(mlflow.artifacts.download_artifacts(uri)))
assert (env.python, env.build_dependencies, env.dependencies) == \
    ("3.11", ["pip", "setuptools", "wheel"], ["-r requirements.txt"]), env
assert open(mlflow.pyfunc.get_model_dependencies(uri)).read().split() == ["mlflow>=2.6", "pandas", "pyarrow"]
conda = _PythonEnv.get_dependencies_from_conda_yaml(mlflow.pyfunc.get_model_dependencies(uri, format="conda"))
assert conda["python"] == "3.11" and conda["dependencies"] == ["mlflow>=2.6", "pandas", "pyarrow"], conda
ref = pq.read_table("pyfunc_ref.parquet").to_pandas()
plain = model.predict(df)
assert list(plain.columns) == ["probability", "approved"], list(plain.columns)
assert plain["probability"].tolist() == ref["probability"].tolist()
assert plain["approved"].tolist() == ref["approved"].tolist()
full = model.predict(df, params={"explain": True, "reasons": True})
assert list(full.columns) == [c for c in ref.columns if c != "row"], list(full.columns)
for c in full.columns:
    assert full[c].tolist() == ref[c].tolist(), c
# The reference travels as a param (#20): the values against the approved applicants.
approved = model.predict(df, params={"explain": True, "reasons": True, "reference": "approved"})
ref = pq.read_table("pyfunc_approved.parquet").to_pandas()
assert approved["shap_income"].tolist() != full["shap_income"].tolist()
for c in approved.columns:
    assert approved[c].tolist() == ref[c].tolist(), c
try:
    model.predict(df.drop(columns=["age"]))
    raise SystemExit("a missing column was accepted")
except mlflow.exceptions.MlflowException as e:
    assert "Model is missing inputs ['age']" in str(e), str(e)
print(len(full))
"#;
    let out = run_python(mlflow_python(Some(env!("CARGO_BIN_EXE_credrisk"))), script);
    assert_eq!(out.trim(), "3000");
    let missing = r#"
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model("models:/credrisk-model@champion")
try:
    model.predict(pd.read_parquet("apps.parquet").head(3))
except RuntimeError as e:
    print(e)
"#;
    let out = run_python(mlflow_python(None), missing);
    assert!(
        out.starts_with("credrisk binary not found (credrisk is not on PATH): set CREDRISK_BIN"),
        "{out}"
    );
}

/// Java 17 for Spark: JAVA_HOME, or Debian's openjdk-17 package. Missing Java fails the test.
fn java_home() -> PathBuf {
    let home = std::env::var_os("JAVA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/jvm/java-17-openjdk-amd64"));
    assert!(
        home.join("bin/java").exists(),
        "Java 17 is missing ({}): apt-get install openjdk-17-jre-headless",
        home.display()
    );
    home
}

/// Spark in local[2]: a partitioned Parquet dataset of 200,000 applicants scored through
/// `mlflow.pyfunc.spark_udf` (by alias) and through `mapInArrow` piping batches to `credrisk
/// score`; both equal `credrisk score` on the same rows, bit for bit.
#[test]
fn spark_scores_like_credrisk_score() {
    let d = workdir();
    ok_in(d, &["generate", "--rows", "200000", "--seed", "9", "--prefix", "spark_apps", "--quiet"]);
    let mut cmd = mlflow_python(Some(env!("CARGO_BIN_EXE_credrisk")));
    cmd.env("JAVA_HOME", java_home())
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("PYSPARK_PYTHON", common::python())
        .arg(common::oracle("spark_score.py"))
        .args(["--data", "spark_apps.parquet", "--model", "models:/credrisk-model@champion"])
        .args([
            "--model-dir",
            "outputs/model",
            "--binary",
            env!("CARGO_BIN_EXE_credrisk"),
            "--work",
            "spark",
        ]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "spark failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(report["rows"], 200_000, "{report}");
    assert!(report["files"].as_u64().unwrap() >= 4, "a partitioned dataset: {report}");
    assert_eq!(report["spark_udf_equal"], 200_000, "{report}");
    assert_eq!(report["map_in_arrow_equal"], 200_000, "{report}");
}
