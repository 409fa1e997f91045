//! Unit tests of the schema: the built-in file, TOML round trips, every bad file named by key
//! and line, and strict JSON validation of applicants (types, ranges, categories, nulls).

use super::*;
use serde_json::{Value, json};

/// The seed's example customer, defined once in examples/customer.json.
fn example() -> Value {
    let body: Value = serde_json::from_str(include_str!("../../examples/customer.json")).unwrap();
    body["customer"].clone()
}

fn index(name: &str) -> usize {
    builtin().field_index(name).unwrap()
}

#[test]
fn the_builtin_schema_is_the_chilean_table() {
    let s = builtin();
    let names: Vec<&str> = s.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 18);
    assert_eq!(names[..3], ["age", "gender", "region"]);
    assert_eq!(names[16..], ["approval_score", "approved"]);
    assert_eq!(s.n_fields(), 16);
    assert_eq!(s.label().name, "approved");
    assert_eq!(s.positive(), &Positive::Boolean(true));
    assert_eq!(s.score().unwrap().name, "approval_score");
    let protected: Vec<&str> = s.fields().filter(|c| c.protected).map(|c| c.name.as_str()).collect();
    assert_eq!(protected, ["age", "gender", "marital_status"]);
    let proxies: Vec<&str> = s.fields().filter(|c| c.proxy).map(|c| c.name.as_str()).collect();
    assert_eq!(proxies, ["region"]);
    let with = |r: Recourse| -> Vec<&str> {
        s.fields().filter(|c| c.recourse == r).map(|c| c.name.as_str()).collect()
    };
    assert_eq!(
        with(Recourse::Immutable),
        ["age", "gender", "region", "education_level", "marital_status", "housing_status", "dependents"]
    );
    assert_eq!(with(Recourse::Increase), ["income", "employment_years", "credit_history_months"]);
    assert_eq!(
        with(Recourse::Decrease),
        ["num_loans", "avg_monthly_payment", "delinquency_rate", "credit_inquiries"]
    );
    assert_eq!(with(Recourse::Context), ["regional_cpi", "regional_unemployment"]);
    assert!(matches!(s.field(index("education_level")).kind, Kind::Ordered(_)));
    assert_eq!(s.field(index("income")).unit, Some(Unit::Money("CLP".into())));
    assert_eq!(s.field(index("age")).kind, Kind::Integer { min: 18, max: 120 });
    assert_eq!(s.derived()[0].definition(), "avg_monthly_payment / max(income, 1)");
    assert_eq!(s.derived()[0].unit, Some(Unit::Percent));
    assert!(std::sync::Arc::ptr_eq(&s, &builtin()), "parsed once");
}

#[test]
fn schemas_round_trip_through_toml() {
    let s = builtin();
    let text = s.to_toml();
    assert_eq!(Schema::from_toml(&text).unwrap(), *s);
    // Every optional key, and spellings the writer must quote.
    let custom = r#"
name = "odd \"names\""
[[column]]
name = "client"
type = "text"
role = "id"
nullable = true
[[column]]
name = "ratio"
type = "number"
min = -2.5
nullable = true
unit = "percent"
exclude = true
recourse = "decrease"
[[column]]
name = "city"
type = "category"
categories = [{ canonical = "Ñuble", variants = ["Nuble region"] }, "São Paulo"]
nullable = true
label_es = "Ciudad"
label_en = "City"
proxy = true
[[column]]
name = "paid"
type = "boolean"
[[column]]
name = "outcome"
type = "integer"
min = 0
max = 1
role = "label"
positive = 1
[[derived]]
name = "r2"
kind = "ratio"
numerator = "ratio"
denominator = "ratio"
floor = 0.5
unit = { money = "EUR" }
exclude = true
"#;
    let parsed = Schema::from_toml(custom).unwrap();
    assert_eq!(parsed.field(0).kind, Kind::Number { min: -2.5, max: f64::INFINITY });
    assert_eq!(parsed.ids().count(), 1);
    assert_eq!(Schema::from_toml(&parsed.to_toml()).unwrap(), parsed);
}

/// The issue's "bad input": each names the key and the line where it is.
#[test]
fn bad_schema_files_name_the_key_and_the_line() {
    let label = "\n[[column]]\nname = \"y\"\ntype = \"boolean\"\nrole = \"label\"\npositive = true\n";
    let cases = [
        (
            "name = \"t\"\n[[column]]\nname = \"a\"\ntype = \"text2\"\n",
            4,
            "key `type`: unknown type \"text2\"",
        ),
        (
            "name = \"t\"\n[[column]]\nname = \"a\"\ntype = \"boolean\"\n[[column]]\nname = \"a\"\ntype = \"boolean\"\n",
            6,
            "column \"a\", key `name`: column \"a\" is declared twice",
        ),
        (
            "name = \"t\"\n[[column]]\nname = \"c\"\ntype = \"category\"\ncategories = []\n",
            5,
            "key `categories`: the category list is empty",
        ),
        (
            "name = \"t\"\n[[column]]\nname = \"n\"\ntype = \"number\"\nmin = 5\nmax = 1\n",
            5,
            "key `min`: min 5 is greater than max 1",
        ),
        ("name = \"t\"\n[[column]]\nname = \"n\"\ntype = \"number\"\n", 2, "key `role`: no label column"),
        ("name = \"t\"\n[[column]]\nname = \"n\"\ntpye = \"number\"\n", 4, "unknown field `tpye`"),
        (
            "name = \"t\"\n[[column]]\nname = \"n\"\ntype = \"number\"\nunit = \"furlongs\"\n",
            5,
            "key `unit`: unknown unit",
        ),
        (
            "name = \"t\"\n[[column]]\nname = \"y\"\ntype = \"category\"\ncategories = [\"a\", \"b\"]\nrole = \"label\"\npositive = \"c\"\n",
            7,
            "key `positive`: positive \"c\" is not one of the label's categories",
        ),
        (
            "name = \"t\"\n[[column]]\nname = \"n\"\ntype = \"integer\"\nmin = 1.5\n",
            5,
            "an integer column's bound must be an integer",
        ),
        (
            "name = \"t\"\n[[column]]\nname = \"n\"\ntype = \"number\"\nrecourse = \"sideways\"\n",
            5,
            "unknown recourse \"sideways\"",
        ),
        (
            "name = \"t\"\n[[derived]]\nname = \"d\"\nkind = \"ratio\"\nnumerator = \"zz\"\ndenominator = \"n\"\nfloor = 1\n",
            5,
            "derived \"d\", key `numerator`: \"zz\" is not a feature column",
        ),
        ("name = \"t\"\nname = \"u\"\n", 2, "duplicate key"),
    ];
    for (text, line, expected) in cases {
        let text = if expected.contains("no label")
            || expected.contains("duplicate key")
            || expected.contains("positive")
        {
            text.to_string()
        } else {
            format!("{text}{label}")
        };
        let err = Schema::from_toml(&text).unwrap_err();
        assert_eq!(err.line, Some(line), "{expected}: {err}");
        assert!(err.to_string().starts_with(&format!("line {line}: ")), "{err}");
        assert!(err.message.contains(expected), "{expected:?} not in {err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
}

#[test]
fn exclusions_keep_fields_but_drop_inputs() {
    let s = builtin().with_excluded(&["gender", "marital_status"]).unwrap();
    assert_eq!(s.n_fields(), 16, "still accepted");
    assert!(s.field(index("gender")).exclude);
    assert!(!s.is_input(Group::Field(index("gender"))));
    let err = builtin().with_excluded(&["income"]).unwrap_err();
    assert!(err.contains("debt_to_income"), "{err}");
    assert!(builtin().with_excluded(&["income", "debt_to_income"]).is_ok());
    assert!(builtin().with_excluded(&["approved"]).unwrap_err().contains("only feature columns"));
    assert!(builtin().with_excluded(&["salary"]).unwrap_err().contains("no such feature"));
}

#[test]
fn parses_the_seed_example_and_round_trips() {
    let s = builtin();
    let a = s.parse_applicant(&example()).unwrap();
    assert_eq!(a.get(index("age")), 45.0);
    assert_eq!(
        s.field(index("region")).value_of(a.get(index("region"))),
        FieldValue::Category("Metropolitana")
    );
    assert_eq!(a.get(index("income")), 800000.0);
    assert_eq!(s.parse_applicant(&s.applicant_json(a.values())).unwrap(), a);
    assert_eq!(s.applicant_json(a.values())["education_level"], json!("media"));
}

#[test]
fn categories_match_case_accent_and_decomposition_insensitively() {
    let s = builtin();
    for (spelling, canonical) in
        [("BIOBIO", "Biobío"), ("Valparai\u{301}so", "Valparaíso"), (" ñuble ", "Ñuble")]
    {
        let mut v = example();
        v["region"] = json!(spelling);
        let a = s.parse_applicant(&v).unwrap();
        assert_eq!(
            s.field(index("region")).value_of(a.get(index("region"))),
            FieldValue::Category(canonical)
        );
    }
}

#[test]
fn types_are_strict_and_every_error_is_reported() {
    let mut v = example();
    v["income"] = json!(false);
    v["age"] = json!(17);
    v["gender"] = json!(0);
    v["delinquency_rate"] = json!(1.5);
    v["dependents"] = json!(1.5);
    v["region"] = json!("Lima");
    v["housing_status"] = json!(null);
    v.as_object_mut().unwrap().remove("num_loans");
    v["nickname"] = json!("x");
    let errors = builtin().parse_applicant(&v).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "age",
            "gender",
            "region",
            "housing_status",
            "dependents",
            "income",
            "num_loans",
            "delinquency_rate",
            "nickname"
        ]
    );
    assert!(errors[2].message.contains("Valparaíso"), "{}", errors[2].message);
    assert_eq!(errors[3].message, "must be a string, got null");
    assert_eq!(errors[5].message, "must be a number, got a boolean");
    let mut integral = example();
    integral["age"] = json!(45.0);
    assert_eq!(builtin().parse_applicant(&integral).unwrap().get(0), 45.0);
    assert_eq!(builtin().parse_applicant(&json!([1])).unwrap_err()[0].field, "customer");
}

/// A nullable field takes `null` (stored as NaN, answered as null); a required one does not.
#[test]
fn nullable_fields_take_null_and_nothing_else_does() {
    let text = CHILE_TOML.replace(
        "name = \"income\"\ntype = \"number\"",
        "name = \"income\"\ntype = \"number\"\nnullable = true",
    );
    let s = Schema::from_toml(&text).unwrap();
    let i = s.field_index("income").unwrap();
    assert!(s.field(i).nullable);
    let mut v = example();
    v["income"] = json!(null);
    let a = s.parse_applicant(&v).unwrap();
    assert!(a.get(i).is_nan());
    assert_eq!(s.applicant_json(a.values())["income"], json!(null));
    assert_eq!(
        s.group_value(Group::Derived(0), a.values()),
        FieldValue::Missing,
        "a ratio of a missing value"
    );
    assert_eq!(a, s.parse_applicant(&v).unwrap(), "missing equals missing");
    v["income"] = json!("800000");
    assert_eq!(s.parse_applicant(&v).unwrap_err()[0].message, "must be a number or null, got a string");
    let mut required = example();
    required["income"] = json!(null);
    assert_eq!(builtin().parse_applicant(&required).unwrap_err()[0].message, "must be a number, got null");
    assert!(builtin().check_values(&[f64::NAN; 16]).is_err());
}

/// One request's customer is validated in microseconds (the HTTP path runs this per request).
#[test]
fn validating_one_customer_takes_microseconds() {
    let s = builtin();
    let v = example();
    let n = 2_000;
    let started = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(s.parse_applicant(std::hint::black_box(&v)).unwrap());
    }
    let each = started.elapsed() / n;
    eprintln!("validating one customer: {each:?}");
    // About 1 µs on the development VM; the bound leaves room for a busy machine and debug builds.
    assert!(each < std::time::Duration::from_micros(100), "{each:?} per customer");
}
