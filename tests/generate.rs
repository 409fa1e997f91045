//! End to end: `credrisk generate` and `credrisk describe` run as a user would, their files read
//! back by independent readers (pyarrow, Python's csv module, pandas, numpy, scikit-learn), the
//! population's distributions checked against the dataset contract, and bad input refused with
//! exit 2 and nothing left behind.

mod common;

use common::{ok_in, python_ok, run_in};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ROWS: u64 = 100_000;

/// A generated population (100k rows, CSV and JSON summary) in its own scratch directory:
/// generating takes a fraction of a second, so tests share nothing and clean up after themselves.
fn population() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    ok_in(
        dir.path(),
        &["generate", "--rows", &ROWS.to_string(), "--seed", "7", "--csv", "--summary-json", "--quiet"],
    );
    let prefix = dir.path().join("data/chilean_credit_data");
    (dir, prefix)
}

fn with_ext(prefix: &Path, ext: &str) -> String {
    format!("{}.{ext}", prefix.display())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{text}"))
}

const SCHEMA_CHECK: &str = r#"
import json, sys
import pyarrow.parquet as pq
import pyarrow.compute as pc
t = pq.read_table(sys.argv[1])
out = {"names": t.column_names, "types": [str(f.type) for f in t.schema], "rows": t.num_rows,
       "nullable_nulls": sum(c.null_count for c in t.columns), "categories": {}, "ranges": {}}
for name in ["gender", "region", "education_level", "marital_status", "housing_status"]:
    out["categories"][name] = sorted(pc.unique(t[name]).to_pylist())
for name in ["age", "dependents", "income", "employment_years", "credit_history_months", "num_loans",
             "avg_monthly_payment", "delinquency_rate", "credit_inquiries", "regional_cpi",
             "regional_unemployment", "approval_score"]:
    mm = pc.min_max(t[name])
    out["ranges"][name] = [mm["min"].as_py(), mm["max"].as_py()]
d = t.to_pandas()
out["employment_over_age"] = int((d.employment_years > d.age - 15).sum())
out["history_over_age"] = int((d.credit_history_months > (d.age - 18) * 12).sum())
out["payment_over_income"] = int((d.avg_monthly_payment > d.income).sum())
print(json.dumps(out))
"#;

#[test]
fn pyarrow_reads_the_contract_schema_categories_and_ranges() {
    let (_dir, prefix) = &population();
    let out = json(&python_ok(SCHEMA_CHECK, &[&with_ext(prefix, "parquet")]));
    let names: Vec<&str> = out["names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "age",
            "gender",
            "region",
            "education_level",
            "marital_status",
            "housing_status",
            "dependents",
            "income",
            "employment_years",
            "credit_history_months",
            "num_loans",
            "avg_monthly_payment",
            "delinquency_rate",
            "credit_inquiries",
            "regional_cpi",
            "regional_unemployment",
            "approval_score",
            "approved"
        ]
    );
    let types: Vec<&str> = out["types"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "int32", "string", "string", "string", "string", "string", "int32", "double", "double", "int32",
            "int32", "double", "double", "int32", "double", "double", "double", "bool"
        ]
    );
    assert_eq!(out["rows"], ROWS);
    assert_eq!(out["nullable_nulls"], 0);
    let cats = &out["categories"];
    assert_eq!(cats["gender"], serde_json::json!(["f", "m"]));
    assert_eq!(
        cats["education_level"],
        serde_json::json!(["basica", "media", "postgrado", "tecnica", "universitaria"])
    );
    assert_eq!(
        cats["marital_status"],
        serde_json::json!(["casado", "conviviente", "divorciado", "soltero", "viudo"])
    );
    assert_eq!(cats["housing_status"], serde_json::json!(["arriendo", "familiar", "hipotecada", "propia"]));
    let schema = credrisk::schema::builtin();
    let region = schema.field(schema.field_index("region").unwrap());
    let mut regions: Vec<String> = region.kind.categories().unwrap().names().map(String::from).collect();
    regions.sort();
    let got: Vec<String> =
        cats["region"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(got, regions, "all 16 regions, canonical UTF-8 spelling");

    let range = |name: &str| {
        let r = out["ranges"][name].as_array().unwrap();
        (r[0].as_f64().unwrap(), r[1].as_f64().unwrap())
    };
    let within = |name: &str, lo: f64, hi: f64| {
        let (min, max) = range(name);
        assert!(min >= lo && max <= hi, "{name}: [{min}, {max}] not within [{lo}, {hi}]");
    };
    within("age", 18.0, 80.0);
    within("dependents", 0.0, 8.0);
    within("income", 200_000.0, 4_000_000.0);
    within("employment_years", 0.0, 65.0);
    within("credit_history_months", 0.0, 744.0);
    within("num_loans", 0.0, 10.0);
    within("avg_monthly_payment", 0.0, 4_000_000.0);
    within("delinquency_rate", 0.0, 1.0);
    within("credit_inquiries", 0.0, 20.0);
    within("regional_cpi", 0.02, 0.05);
    within("regional_unemployment", 0.01, 0.30);
    // The clip bounds are reached: the income tails are clipped, not absent.
    assert_eq!(range("income"), (200_000.0, 4_000_000.0));
    assert!(range("age").0 == 18.0 && range("age").1 >= 75.0, "{:?}", range("age"));
    assert_eq!(out["employment_over_age"], 0);
    assert_eq!(out["history_over_age"], 0);
    assert_eq!(out["payment_over_income"], 0);
}

const CSV_CHECK: &str = r#"
import csv, json, math, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[2]).to_pylist()
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    reader = csv.reader(f)
    header = next(reader)
    rows = list(reader)
mismatches = 0
for record, expected in zip(rows, t):
    for name, text in zip(header, record):
        want = expected[name]
        if isinstance(want, bool):
            ok = text == ("true" if want else "false")
        elif isinstance(want, int):
            ok = text == str(want)
        elif isinstance(want, float):
            ok = float(text) == want
        else:
            ok = text == want
        mismatches += not ok
print(json.dumps({"header": header, "rows": len(rows), "widths": sorted({len(r) for r in rows}),
                  "mismatches": mismatches}))
"#;

#[test]
fn pythons_csv_module_reads_the_same_table_as_pyarrow() {
    let (_dir, prefix) = &population();
    let out = json(&python_ok(CSV_CHECK, &[&with_ext(prefix, "csv"), &with_ext(prefix, "parquet")]));
    assert_eq!(out["rows"], ROWS);
    assert_eq!(out["widths"], serde_json::json!([18]));
    assert_eq!(out["header"][0], "age");
    assert_eq!(out["header"][17], "approved");
    assert_eq!(out["mismatches"], 0, "every CSV cell equals the Parquet value");
}

const SUMMARY_ORACLE: &str = r#"
import json, sys
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
d = pd.read_parquet(sys.argv[1])
p = 1.0 / (1.0 + np.exp(-d.approval_score.to_numpy()))
out = {"rows": len(d), "approval_rate": float(d.approved.mean()),
       "oracle_auc": float(roc_auc_score(d.approved, p)),
       "income": dict(zip(["p5", "p25", "p50", "p75", "p95"],
                          map(float, np.percentile(d.income, [5, 25, 50, 75, 95])))),
       "income_mean": float(d.income.mean())}
for key, column in [("by_region", "region"), ("by_gender", "gender"), ("by_education", "education_level")]:
    g = d.groupby(column)
    out[key] = {name: {"rows": int(len(rows)), "approval_rate": float(rows.approved.mean()),
                       "mean_income": float(rows.income.mean())} for name, rows in g}
print(json.dumps(out))
"#;

fn close(a: &Value, b: &Value, what: &str) {
    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: ours {a}, oracle {b}");
}

fn check_summary_against_oracle(ours: &Value, oracle: &Value) {
    assert_eq!(ours["rows"], oracle["rows"]);
    close(&ours["approval_rate"], &oracle["approval_rate"], "approval rate");
    close(&ours["oracle_auc"], &oracle["oracle_auc"], "oracle AUC (sklearn roc_auc_score)");
    for q in ["p5", "p25", "p50", "p75", "p95"] {
        close(&ours["income"][q], &oracle["income"][q], q);
    }
    close(&ours["income"]["mean"], &oracle["income_mean"], "income mean");
    for key in ["by_region", "by_gender", "by_education"] {
        for group in ours[key].as_array().unwrap() {
            let name = group["name"].as_str().unwrap();
            let want = &oracle[key][name];
            assert_eq!(group["rows"], want["rows"], "{key} {name}");
            close(&group["approval_rate"], &want["approval_rate"], &format!("{key} {name} approval"));
            close(&group["mean_income"], &want["mean_income"], &format!("{key} {name} income"));
        }
    }
}

#[test]
fn the_summary_matches_pandas_numpy_and_sklearn() {
    let (dir, prefix) = &population();
    let dir = dir.path();
    let oracle = json(&python_ok(SUMMARY_ORACLE, &[&with_ext(prefix, "parquet")]));
    let written = json(&std::fs::read_to_string(with_ext(prefix, "summary.json")).unwrap());
    check_summary_against_oracle(&written, &oracle);
    // describe gives the same summary from either file.
    for ext in ["parquet", "csv"] {
        let out = ok_in(dir, &["describe", "--json", &with_ext(prefix, ext)]);
        let described = json(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(described, written, "describe {ext}");
    }
    let table = ok_in(dir, &["describe", &with_ext(prefix, "parquet")]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("applicants      100,000") && text.contains("  Valparaíso"), "{text}");
}

const DISTRIBUTIONS: &str = r#"
import json, sys
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
d = pd.read_parquet(sys.argv[1])
p = 1.0 / (1.0 + np.exp(-d.approval_score.to_numpy()))
edu = ["basica", "media", "tecnica", "universitaria", "postgrado"]
bins = pd.cut(d.delinquency_rate, [-1, 0, 0.05, 0.15, 1.0])
income_q = pd.qcut(d.income, 4, labels=False)
age_marital = d.groupby(pd.cut(d.age, [17, 25, 45, 65, 80])).marital_status.value_counts(normalize=True)
out = {
  "region_share": d.region.value_counts(normalize=True).to_dict(),
  "approval_rate": float(d.approved.mean()),
  "auc": float(roc_auc_score(d.approved, p)),
  "approval_by_education": [float(d.approved[d.education_level == e].mean()) for e in edu],
  "approval_by_delinquency": [float(x) for x in d.groupby(bins, observed=False).approved.mean()],
  "approval_by_income_quartile": [float(x) for x in d.groupby(income_q).approved.mean()],
  "income_median_by_education": [float(d.income[d.education_level == e].median()) for e in edu],
  "delinquent_share": float((d.delinquency_rate > 0).mean()),
  "delinquency_p99": float(d.delinquency_rate.quantile(0.99)),
  "delinquency_median_if_late": float(d.delinquency_rate[d.delinquency_rate > 0].median()),
  "soltero_young": float(age_marital.loc[pd.Interval(17, 25)].get("soltero", 0)),
  "soltero_mid": float(age_marital.loc[pd.Interval(45, 65)].get("soltero", 0)),
  "viudo_old": float(age_marital.loc[pd.Interval(65, 80)].get("viudo", 0)),
  "viudo_young": float(age_marital.loc[pd.Interval(17, 25)].get("viudo", 0)),
  "age_25_55": float(d.age.between(25, 55).mean()),
  "payment_income_corr": float(np.corrcoef(np.log(d.income[d.num_loans > 0]),
                                           np.log(d.avg_monthly_payment[d.num_loans > 0]))[0, 1]),
  "payment_by_loans": [float(d.avg_monthly_payment[d.num_loans == k].median()) for k in range(4)],
  "unemployment_mean": float(d.regional_unemployment.mean()),
  "cpi_mean": float(d.regional_cpi.mean()),
}
print(json.dumps(out))
"#;

#[test]
fn the_population_looks_like_chile_and_the_label_is_learnable_but_not_trivial() {
    let (_dir, prefix) = &population();
    let d = json(&python_ok(DISTRIBUTIONS, &[&with_ext(prefix, "parquet")]));
    let f = |v: &Value| v.as_f64().unwrap();
    let list = |key: &str| d[key].as_array().unwrap().iter().map(f).collect::<Vec<f64>>();

    // Census shares (2017, thousands): each region within 15% (relative) or 0.4 points of its share.
    let census: [(&str, f64); 16] = [
        ("Arica y Parinacota", 226.0),
        ("Tarapacá", 331.0),
        ("Antofagasta", 608.0),
        ("Atacama", 286.0),
        ("Coquimbo", 758.0),
        ("Valparaíso", 1816.0),
        ("Metropolitana", 7113.0),
        ("O'Higgins", 915.0),
        ("Maule", 1045.0),
        ("Ñuble", 481.0),
        ("Biobío", 1557.0),
        ("Araucanía", 957.0),
        ("Los Ríos", 385.0),
        ("Los Lagos", 829.0),
        ("Aysén", 103.0),
        ("Magallanes", 167.0),
    ];
    let total: f64 = census.iter().map(|(_, p)| p).sum();
    for (name, pop) in census {
        let share = f(&d["region_share"][name]);
        let want = pop / total;
        assert!((share - want).abs() < (0.15 * want).max(0.004), "{name}: {share} vs census {want}");
    }
    let metro = f(&d["region_share"]["Metropolitana"]);
    assert!((0.38..=0.42).contains(&metro), "Metropolitana share {metro}");

    let rate = f(&d["approval_rate"]);
    assert!((0.40..=0.70).contains(&rate), "approval rate {rate}");
    let auc = f(&d["auc"]);
    assert!((0.78..=0.90).contains(&auc), "oracle AUC {auc}");

    let by_edu = list("approval_by_education");
    assert!(by_edu.windows(2).all(|w| w[0] < w[1]), "approval rises with education: {by_edu:?}");
    let by_late = list("approval_by_delinquency");
    assert!(by_late.windows(2).all(|w| w[0] > w[1]), "approval falls with delinquency: {by_late:?}");
    let by_income = list("approval_by_income_quartile");
    assert!(by_income.windows(2).all(|w| w[0] < w[1]), "approval rises with income: {by_income:?}");
    let income_by_edu = list("income_median_by_education");
    assert!(income_by_edu.windows(2).all(|w| w[0] < w[1]), "income rises with education: {income_by_edu:?}");

    // Delinquency: most never late, a heavy right tail among those who were.
    let late = f(&d["delinquent_share"]);
    assert!((0.10..=0.35).contains(&late), "delinquent share {late}");
    let (median_late, p99) = (f(&d["delinquency_median_if_late"]), f(&d["delinquency_p99"]));
    assert!(median_late < 0.15 && p99 > 3.0 * median_late, "median {median_late}, p99 {p99}");

    // Marital status depends on age.
    assert!(f(&d["soltero_young"]) > 0.6 && f(&d["soltero_mid"]) < 0.35, "{d}");
    assert!(f(&d["viudo_old"]) > 0.1 && f(&d["viudo_young"]) < 0.01, "{d}");
    assert!(f(&d["age_25_55"]) > 0.6, "ages skew to 25–55: {}", d["age_25_55"]);

    // Payments scale with income and with the number of loans.
    assert!(f(&d["payment_income_corr"]) > 0.6, "{}", d["payment_income_corr"]);
    let by_loans = list("payment_by_loans");
    assert!(by_loans[0] == 0.0 && by_loans.windows(2).all(|w| w[0] < w[1]), "{by_loans:?}");

    let unemployment = f(&d["unemployment_mean"]);
    assert!((0.080..=0.092).contains(&unemployment), "unemployment mean {unemployment}");
    let cpi = f(&d["cpi_mean"]);
    assert!((0.032..=0.036).contains(&cpi), "cpi mean {cpi}");
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        walk(dir).iter().map(|p| p.strip_prefix(dir).unwrap().display().to_string()).collect();
    names.sort();
    names
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn same_seed_same_bytes_whatever_the_threads_and_another_seed_differs() {
    let dir = tempfile::tempdir().unwrap();
    let run = |threads: &str, seed: &str, prefix: &str| {
        let out = common::credrisk()
            .current_dir(dir.path())
            .env("RAYON_NUM_THREADS", threads)
            .args(["generate", "--rows", "140000", "--seed", seed, "--prefix", prefix, "--csv", "--quiet"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "--quiet prints nothing");
        let read = |ext: &str| std::fs::read(dir.path().join(format!("{prefix}.{ext}"))).unwrap();
        (read("parquet"), read("csv"))
    };
    let one = run("1", "5", "one");
    let two = run("2", "5", "two");
    assert!(one.0 == two.0, "Parquet bytes differ between 1 and 2 threads");
    assert!(one.1 == two.1, "CSV bytes differ between 1 and 2 threads");
    let other = run("2", "6", "other");
    assert!(one.0 != other.0, "another seed gives another population");
}

/// A directory this process cannot write in (a read-only one when running as root).
fn unwritable_dir(scratch: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch.join("locked");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(dir.join("probe"), b"x").is_err() {
        return dir;
    }
    // Root ignores permissions; sysfs is read-only for everybody.
    let _ = std::fs::remove_file(dir.join("probe"));
    PathBuf::from("/sys")
}

#[test]
fn bad_input_exits_2_with_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), b"not a directory").unwrap();
    let locked = unwritable_dir(dir.path());
    let before = files_in(dir.path());
    let locked_prefix = locked.join("credrisk_test_data").display().to_string();
    // (arguments, what the message names, whether it is our one-line error rather than clap's usage)
    let cases: Vec<(Vec<&str>, &str, bool)> = vec![
        (vec!["generate", "--rows", "0"], "--rows", false),
        (vec!["generate", "--rows", "-5"], "-5", false),
        (vec!["generate", "--rows", "many"], "--rows", false),
        (vec!["generate", "--seed", "abc", "--rows", "10"], "--seed", false),
        (vec!["generate", "--rows", "10", "--prefix", "plain.txt/data"], "plain.txt", true),
        (vec!["generate", "--rows", "10", "--prefix", "out/"], "--prefix", true),
        (vec!["generate", "--rows", "10", "--prefix", &locked_prefix], "credrisk_test_data", true),
        (vec!["describe", "missing.parquet"], "missing.parquet", true),
        (vec!["describe", "plain.txt"], ".parquet or .csv", true),
    ];
    for (args, mentions, ours) in cases {
        let out = run_in(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(mentions), "{args:?} should mention {mentions}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
        if ours {
            assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: one line expected:\n{stderr}");
        }
        assert_eq!(files_in(dir.path()), before, "{args:?} left something behind");
    }
    assert!(!locked.join("credrisk_test_data.parquet").exists());
}

#[test]
fn describe_refuses_corrupt_and_invalid_files_naming_the_problem() {
    let (_dir, prefix) = &population();
    let scratch = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(with_ext(prefix, "parquet")).unwrap();
    std::fs::write(scratch.path().join("truncated.parquet"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(scratch.path().join("empty.parquet"), b"").unwrap();
    let csv = std::fs::read_to_string(with_ext(prefix, "csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().take(30).map(str::to_string).collect();
    lines[17] = lines[17].replacen(",f,", ",x,", 1).replacen(",m,", ",x,", 1);
    std::fs::write(scratch.path().join("bad.csv"), lines.join("\n")).unwrap();
    let cases = [
        ("truncated.parquet", "truncated.parquet"),
        ("empty.parquet", "empty.parquet"),
        ("bad.csv", "bad.csv row 17: gender: unknown category \"x\""),
    ];
    for (file, mentions) in cases {
        let out = run_in(scratch.path(), &["describe", file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(mentions), "{file}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn generate_creates_the_prefix_directory_and_prints_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok_in(dir.path(), &["generate", "--rows", "3000", "--prefix", "a/b/applicants"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("a/b/applicants.parquet"), "{stdout}");
    assert!(stdout.contains("applicants      3,000") && stdout.contains("oracle AUC"), "{stdout}");
    assert!(out.stderr.is_empty(), "no progress bar when stderr is not a terminal");
    assert_eq!(files_in(dir.path()), ["a", "a/b", "a/b/applicants.parquet"]);
}
