//! Reader tests: round trips, optional labels and extra columns, every kind of bad file or value
//! named by column and row, nullable columns, category labels, and damage that must not panic.

use super::super::{table_batch, write_table};
use super::*;
use crate::data::chile::REGIONS;
use crate::data::generate::generate_table;
use crate::schema::builtin;
use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::Field;
use parquet::arrow::ArrowWriter;
use std::io::Write;

fn write_batch(path: &Path, batch: &RecordBatch) {
    let mut writer = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// The generator's batch with one column replaced (or removed when `array` is None).
fn with_column(name: &str, array: Option<ArrayRef>) -> RecordBatch {
    let table = generate_table(50, 1).unwrap();
    let batch = table_batch(&table).unwrap();
    let schema = batch.schema();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if field.name() != name {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        } else if let Some(a) = &array {
            fields.push(Field::new(name, a.data_type().clone(), true));
            columns.push(a.clone());
        }
    }
    RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap()
}

fn read_with(batch: &RecordBatch, schema: &Arc<Schema>) -> Result<ApplicantTable> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    write_batch(&path, batch);
    read_parquet(&path, schema)
}

fn read_error(batch: &RecordBatch) -> String {
    let err = read_with(batch, &builtin()).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    err.to_string()
}

#[test]
fn a_written_table_reads_back_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let table = generate_table(3_000, 9).unwrap();
    write_table(&path, &table).unwrap();
    assert_eq!(read_parquet(&path, &builtin()).unwrap(), table);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
}

#[test]
fn labels_are_optional_and_extra_columns_ignored() {
    let mut table = generate_table(20, 2).unwrap();
    table.score = None;
    table.approved = None;
    let batch = table_batch(&table).unwrap();
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.insert(0, Field::new("customer_id", DataType::Int64, false));
    let mut columns = batch.columns().to_vec();
    columns.insert(0, Arc::new(Int64Array::from_iter_values(0..20)));
    let batch = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
    assert_eq!(read_with(&batch, &builtin()).unwrap(), table);
}

#[test]
fn a_missing_column_is_named() {
    let err = read_error(&with_column("credit_inquiries", None));
    assert!(
        err.ends_with("t.parquet: credit_inquiries: column is missing (expected an integer in 0..=1000)"),
        "{err}"
    );
}

/// Arrow and Parquet allow two columns of one name; the reader used to take the first.
#[test]
fn a_repeated_column_is_refused() {
    let batch = with_column("income", None);
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    for _ in 0..2 {
        fields.push(Field::new("income", DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from(vec![500_000.0; 50])));
    }
    let batch = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
    let err = read_error(&batch);
    assert!(err.ends_with("t.parquet: income: column appears 2 times; keep one"), "{err}");
}

#[test]
fn a_wrong_type_is_named_with_the_expected_one() {
    let ages: ArrayRef = Arc::new(StringArray::from_iter_values((0..50).map(|_| "40")));
    let err = read_error(&with_column("age", Some(ages)));
    assert!(
        err.ends_with("age: column has Arrow type Utf8, expected Int32 (an integer in 18..=120)"),
        "{err}"
    );
}

#[test]
fn an_unknown_category_names_column_and_row() {
    let mut regions: Vec<&str> = (0..50).map(|i| REGIONS[i % 16]).collect();
    regions[16] = "Lima";
    regions[3] = "valparaiso"; // accent- and case-insensitive: accepted
    let err = read_error(&with_column("region", Some(Arc::new(StringArray::from(regions)))));
    assert!(err.contains("t.parquet row 17: region: unknown category \"Lima\""), "{err}");
}

#[test]
fn out_of_range_and_null_values_name_column_and_row() {
    let mut rates: Vec<Option<f64>> = vec![Some(0.1); 50];
    rates[4] = Some(1.5);
    let err = read_error(&with_column("delinquency_rate", Some(Arc::new(Float64Array::from(rates.clone())))));
    assert!(err.contains("row 5: delinquency_rate: must be between 0 and 1, got 1.5"), "{err}");
    rates[4] = Some(0.0);
    rates[9] = None;
    let err = read_error(&with_column("delinquency_rate", Some(Arc::new(Float64Array::from(rates)))));
    assert!(err.contains("row 10: delinquency_rate: is empty (null)"), "{err}");
}

/// Nulls are missing values in a nullable column (NaN in the table), and round-trip as nulls.
#[test]
fn a_nullable_column_takes_nulls() {
    let text = crate::schema::CHILE_TOML
        .replace(
            "name = \"housing_status\"\ntype = \"category\"",
            "name = \"housing_status\"\ntype = \"category\"\nnullable = true",
        )
        .replace(
            "name = \"income\"\ntype = \"number\"",
            "name = \"income\"\ntype = \"number\"\nnullable = true",
        );
    let schema = Arc::new(Schema::from_toml(&text).unwrap());
    let mut incomes: Vec<Option<f64>> = vec![Some(500_000.0); 50];
    incomes[3] = None;
    let mut housing: Vec<Option<&str>> = vec![Some("propia"); 50];
    housing[7] = None;
    let batch = with_column("income", Some(Arc::new(Float64Array::from(incomes))));
    let batch = {
        let i = batch.schema().index_of("housing_status").unwrap();
        let mut columns = batch.columns().to_vec();
        columns[i] = Arc::new(StringArray::from(housing));
        let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[i] = Field::new("housing_status", DataType::Utf8, true);
        RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap()
    };
    let table = read_with(&batch, &schema).unwrap();
    let (income, housing) =
        (schema.field_index("income").unwrap(), schema.field_index("housing_status").unwrap());
    assert!(table.row(3)[income].is_nan() && table.row(7)[housing].is_nan());
    assert_eq!(table.row(4)[income], 500_000.0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nulls.parquet");
    write_table(&path, &table).unwrap();
    assert_eq!(read_parquet(&path, &schema).unwrap(), table, "nulls survive a round trip");
    let err = read_parquet(&path, &builtin()).unwrap_err().to_string();
    assert!(err.contains("row 4: income: is empty (null)"), "the built-in schema has no gaps: {err}");
}

/// A label written as text (German credit: good/bad) is read as its positive class.
#[test]
fn a_text_label_is_read_as_the_positive_class() {
    let text = "name = \"g\"\n[[column]]\nname = \"amount\"\ntype = \"integer\"\nmin = 0\n\
                [[column]]\nname = \"creditability\"\ntype = \"category\"\ncategories = [\"bad\", \"good\"]\n\
                role = \"label\"\npositive = \"good\"\n";
    let schema = Arc::new(Schema::from_toml(text).unwrap());
    let fields = vec![
        Field::new("amount", DataType::Int64, false),
        Field::new("creditability", DataType::Utf8, false),
    ];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1169, 5951, 2096])),
        Arc::new(StringArray::from(vec!["good", "bad", "GOOD"])),
    ];
    let batch = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
    let table = read_with(&batch, &schema).unwrap();
    assert_eq!(table.approved, Some(vec![true, false, true]));
    assert_eq!(table.values(), [1169.0, 5951.0, 2096.0]);
}

#[test]
fn empty_truncated_and_corrupt_files_are_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    write_table(&good, &generate_table(2_000, 4).unwrap()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cases: [(&str, Vec<u8>); 3] = [
        ("empty", Vec::new()),
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("garbage", b"PAR1 this is not parquet at all PAR1".to_vec()),
    ];
    for (name, content) in cases {
        let path = dir.path().join(format!("{name}.parquet"));
        File::create(&path).unwrap().write_all(&content).unwrap();
        let err = read_parquet(&path, &builtin()).unwrap_err();
        assert!(matches!(err, Error::BadFile { .. }), "{name}: {err}");
        assert!(err.to_string().contains(&format!("{name}.parquet")), "{err}");
    }
    // Damage the data pages but keep the footer: the error comes while decoding.
    let mut damaged = bytes.clone();
    for b in &mut damaged[8..bytes.len() / 2] {
        *b = 0xA5;
    }
    let path = dir.path().join("damaged.parquet");
    std::fs::write(&path, &damaged).unwrap();
    let err = read_parquet(&path, &builtin()).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
}

/// Random damage to the footer (where offsets and sizes live) and to the data: every read
/// ends in a value or an error, never a panic.
#[test]
fn damaged_files_never_panic_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    write_table(&good, &generate_table(500, 1).unwrap()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let path = dir.path().join("damaged.parquet");
    let schema = builtin();
    let mut state = 12345u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for i in 0..1000 {
        let mut damaged = bytes.clone();
        for _ in 0..1 + next() % 8 {
            let from_end = next() % 3000.min(bytes.len());
            let pos = if i % 2 == 0 { bytes.len() - 1 - from_end } else { next() % bytes.len() };
            damaged[pos] = next() as u8;
        }
        std::fs::write(&path, &damaged).unwrap();
        let outcome = std::panic::catch_unwind(|| read_parquet(&path, &schema).map(|t| t.len()));
        assert!(outcome.is_ok(), "iteration {i}: the reader panicked");
    }
}

#[test]
fn a_file_without_rows_is_an_error() {
    let table = generate_table(1, 1).unwrap();
    let batch = table_batch(&table).unwrap().slice(0, 0);
    let err = read_error(&batch);
    assert!(err.contains("no applicants"), "{err}");
}
