//! Encoder tests: the built-in schema's encoding (one-hot, rank, pass-through, ratio), training
//! statistics, warnings, exclusions, missing values and the saved form.

use super::*;
use crate::schema::{Applicant, CHILE_TOML, builtin};
use serde_json::{Value, json};

fn applicant(schema: &Schema, income: Value, payment: f64, region: &str, education: &str) -> Applicant {
    // The seed's example customer (examples/customer.json) with these four fields changed.
    let mut body: Value = serde_json::from_str(include_str!("../../examples/customer.json")).unwrap();
    let c = &mut body["customer"];
    (c["income"], c["avg_monthly_payment"]) = (income, json!(payment));
    (c["region"], c["education_level"]) = (json!(region), json!(education));
    schema.parse_applicant(c).unwrap()
}

fn table_of(schema: Arc<Schema>) -> ApplicantTable {
    let rows = [
        applicant(&schema, json!(800_000.0), 200_000.0, "Maule", "media"),
        applicant(&schema, json!(400_000.0), 0.0, "Metropolitana", "postgrado"),
        applicant(&schema, json!(1_000_000.0), 100_000.0, "Maule", "basica"),
    ];
    ApplicantTable::from_applicants(schema, &rows, Some(vec![true, false, true]))
}

fn table() -> ApplicantTable {
    table_of(builtin())
}

fn position(enc: &Encoder, name: &str) -> usize {
    enc.groups().iter().position(|&g| enc.schema().group_name(g) == name).unwrap()
}

#[test]
fn encodes_one_hot_rank_numeric_and_debt_to_income() {
    let enc = Encoder::fit(&table()).unwrap();
    let names = enc.feature_names();
    assert_eq!(names.len(), 11 + 1 + 2 + 16 + 5 + 4 + 1);
    assert_eq!(names[0], "age");
    assert_eq!(names[1], "gender=f");
    assert_eq!(names[3], "region=Arica y Parinacota");
    assert_eq!(names.last().unwrap(), "debt_to_income");
    let x = enc.encode(table().row(0));
    let col = |n: &str| x[names.iter().position(|c| c == n).unwrap()];
    assert_eq!(col("region=Maule"), 1.0);
    assert_eq!(col("region=Metropolitana"), 0.0);
    assert_eq!(col("education_level"), 1.0);
    assert_eq!(col("income"), 800_000.0);
    assert_eq!(col("debt_to_income"), 0.25);
    let region = position(&enc, "region");
    assert_eq!(enc.column_groups().iter().filter(|&&g| g == region).count(), 16);
    assert_eq!(enc.encode_rows(&table())[..names.len()], x[..]);
    assert_eq!(enc.encode_columns(&table())[names.len() - 1], [0.25, 0.0, 0.1]);
}

#[test]
fn reference_values_come_from_approved_rows() {
    let enc = Encoder::fit(&table()).unwrap();
    let income = enc.stats(position(&enc, "income"));
    assert_eq!((income.min, income.max, income.median), (400_000.0, 1_000_000.0, 800_000.0));
    assert_eq!(income.median_approved, 900_000.0);
    let region = enc.stats(position(&enc, "region"));
    assert_eq!(region.category_counts[8], 2);
    assert_eq!(region.category_approval[8], 1.0);
    assert_eq!(region.category_approval[6], 0.0);
}

#[test]
fn warns_outside_training_ranges_and_for_unseen_categories() {
    let enc = Encoder::fit(&table()).unwrap();
    let w = enc.warnings(applicant(&builtin(), json!(3_000_000.0), 0.0, "Aysén", "media").values());
    let schema = builtin();
    let fields: Vec<(&str, RangeKind)> = w.iter().map(|w| (schema.group_name(w.group), w.kind)).collect();
    assert_eq!(fields, [("region", RangeKind::UnseenCategory), ("income", RangeKind::OutOfTrainingRange)]);
    assert_eq!((w[1].min, w[1].max), (400_000.0, 1_000_000.0));
}

#[test]
fn survives_a_round_trip_and_rejects_foreign_encodings() {
    let enc = Encoder::fit(&table()).unwrap();
    let text = serde_json::to_string(&enc.saved()).unwrap();
    let saved: SavedEncoder = serde_json::from_str(&text).unwrap();
    let back = Encoder::from_saved(builtin(), saved).unwrap();
    assert_eq!(back.encode(table().row(1)), enc.encode(table().row(1)));
    let tampered: SavedEncoder = serde_json::from_str(&text.replace("region=Maule", "region=Lima")).unwrap();
    assert!(Encoder::from_saved(builtin(), tampered).is_err());
    let other = Arc::new(builtin().with_excluded(&["gender"]).unwrap());
    let saved: SavedEncoder = serde_json::from_str(&text).unwrap();
    assert!(Encoder::from_saved(other, saved).is_err(), "another schema's encoding");
}

#[test]
fn zero_income_keeps_the_ratio_finite() {
    let enc = Encoder::fit(&table()).unwrap();
    let x = enc.encode(applicant(&builtin(), json!(0.0), 50_000.0, "Maule", "media").values());
    assert_eq!(*x.last().unwrap(), 50_000.0);
}

/// Excluded fields are accepted (validated, carried) but have no encoded column and no group.
#[test]
fn excluded_fields_are_not_encoded() {
    let schema = Arc::new(builtin().with_excluded(&["gender", "marital_status"]).unwrap());
    let enc = Encoder::fit(&table_of(schema.clone())).unwrap();
    assert_eq!(enc.n_features(), 40 - 2 - 5);
    assert!(enc.feature_names().iter().all(|n| !n.starts_with("gender") && !n.starts_with("marital_status")));
    assert_eq!(enc.groups().len(), 15);
    assert!(enc.groups().iter().all(|&g| schema.is_input(g)));
    let doc = enc.schema_json();
    let gender = doc["fields"].as_array().unwrap().iter().find(|f| f["name"] == "gender").unwrap().clone();
    assert_eq!(gender["excluded"], json!(true));
}

/// A missing value encodes as NaN (in every one-hot column of a category) and is left out of
/// the statistics and the warnings.
#[test]
fn missing_values_encode_as_nan() {
    let text = CHILE_TOML
        .replace(
            "name = \"income\"\ntype = \"number\"",
            "name = \"income\"\ntype = \"number\"\nnullable = true",
        )
        .replace(
            "name = \"region\"\ntype = \"category\"",
            "name = \"region\"\ntype = \"category\"\nnullable = true",
        );
    let schema = Arc::new(Schema::from_toml(&text).unwrap());
    let mut rows = vec![applicant(&schema, json!(null), 10.0, "Maule", "media")];
    let mut v = schema.applicant_json(rows[0].values());
    v["region"] = json!(null);
    v["income"] = json!(500_000.0);
    rows.push(schema.parse_applicant(&v).unwrap());
    let table = ApplicantTable::from_applicants(schema.clone(), &rows, Some(vec![true, false]));
    let enc = Encoder::fit(&table).unwrap();
    let x = enc.encode(table.row(0));
    let names = enc.feature_names();
    let col = |row: &[f64], n: &str| row[names.iter().position(|c| c == n).unwrap()];
    assert!(col(&x, "income").is_nan() && col(&x, "debt_to_income").is_nan());
    assert_eq!(col(&x, "region=Maule"), 1.0);
    let y = enc.encode(table.row(1));
    assert!(names.iter().filter(|n| n.starts_with("region=")).all(|n| col(&y, n).is_nan()));
    let income = enc.stats(position(&enc, "income"));
    assert_eq!((income.min, income.max), (500_000.0, 500_000.0));
    assert!(enc.warnings(table.row(0)).is_empty() && enc.warnings(table.row(1)).is_empty());
}
