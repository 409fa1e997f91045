//! Applicant tables as Parquet: the exact Arrow schema of the dataset contract, a writer that
//! encodes row groups on any thread and appends them in order into a temp file renamed on commit,
//! and a reader that checks every column's type and every value against the schema.

use super::ApplicantTable;
use super::generate::Row;
use super::validate::{Columns, RowCells, TableBuilder, category_value, null_cell};
use super::{commit_output, create_output};
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::schema::{FIELDS, FieldError, FieldId, Kind, LABEL_COLUMN, SCORE_COLUMN};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int8Array, Int32Array,
    RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int8Type, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowRowGroupWriterFactory, ArrowWriterOptions, compute_leaves,
};
use parquet::arrow::{ArrowWriter, ProjectionMask, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per Parquet row group (and per record batch when reading).
pub const ROW_GROUP_ROWS: usize = super::generate::CHUNK_ROWS;

/// Columns with nearly one distinct value per row: a dictionary would be built and then
/// abandoned for every page, so they are written plain and compressed.
const HIGH_CARDINALITY: [&str; 3] = ["income", "avg_monthly_payment", SCORE_COLUMN];

/// The Arrow type of a schema field: int32, float64 or utf8.
pub fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Kind::Int { .. } => DataType::Int32,
        Kind::Float { .. } => DataType::Float64,
        Kind::Category(_) => DataType::Utf8,
    }
}

/// The dataset's Arrow schema: the 16 customer columns, then the labels if wanted.
pub fn arrow_schema(with_score: bool, with_label: bool) -> SchemaRef {
    schema_with(with_score, with_label, Categories::Utf8)
}

/// How category columns are held in memory. The file is the same either way (a Parquet
/// dictionary of UTF-8 strings); dictionary arrays only spare building a string per row.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Categories {
    Utf8,
    Dictionary,
}

fn schema_with(with_score: bool, with_label: bool, categories: Categories) -> SchemaRef {
    let type_of = |kind: Kind| match (kind, categories) {
        (Kind::Category(_), Categories::Dictionary) => {
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
        }
        _ => arrow_type(kind),
    };
    let mut fields: Vec<Field> = FIELDS.iter().map(|f| Field::new(f.name, type_of(f.kind), false)).collect();
    if with_score {
        fields.push(Field::new(SCORE_COLUMN, DataType::Float64, false));
    }
    if with_label {
        fields.push(Field::new(LABEL_COLUMN, DataType::Boolean, false));
    }
    Arc::new(Schema::new(fields))
}

/// Encodings chosen for writing speed at a size close to pyarrow's defaults: categories and
/// low-cardinality floats as dictionaries, integers delta-bit-packed (both already dense, so left
/// uncompressed), the three continuous columns plain with Snappy.
fn writer_properties() -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for column in HIGH_CARDINALITY {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_compression(ColumnPath::from(column), Compression::SNAPPY);
    }
    for field in &FIELDS {
        let column = || ColumnPath::from(field.name);
        builder = match field.kind {
            Kind::Int { .. } => builder
                .set_column_dictionary_enabled(column(), false)
                .set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED),
            // Min/max of category names help no reader and cost a string comparison per value.
            Kind::Category(_) => builder.set_column_statistics_enabled(column(), EnabledStatistics::None),
            Kind::Float { .. } => builder,
        };
    }
    builder.build()
}

/// A record batch of `rows` rows whose customer values come from `value(row, field)`.
fn batch_from(
    rows: usize,
    value: impl Fn(usize, FieldId) -> f64,
    score: Option<Float64Array>,
    approved: Option<BooleanArray>,
    categories: Categories,
) -> Result<RecordBatch> {
    let schema = schema_with(score.is_some(), approved.is_some(), categories);
    let mut columns: Vec<ArrayRef> = FieldId::ALL
        .iter()
        .map(|&id| -> ArrayRef {
            let column = (0..rows).map(|r| value(r, id));
            match (id.spec().kind, categories) {
                (Kind::Int { .. }, _) => Arc::new(Int32Array::from_iter_values(column.map(|v| v as i32))),
                (Kind::Float { .. }, _) => Arc::new(Float64Array::from_iter_values(column)),
                (Kind::Category(names), Categories::Utf8) => {
                    Arc::new(StringArray::from_iter_values(column.map(|v| names[v as usize])))
                }
                (Kind::Category(names), Categories::Dictionary) => {
                    let keys = Int8Array::from_iter_values(column.map(|v| v as i8));
                    let values = Arc::new(StringArray::from_iter_values(names.iter()));
                    Arc::new(DictionaryArray::<Int8Type>::new(keys, values))
                }
            }
        })
        .collect();
    columns.extend(score.map(|s| Arc::new(s) as ArrayRef));
    columns.extend(approved.map(|a| Arc::new(a) as ArrayRef));
    RecordBatch::try_new(schema, columns)
        .map_err(|e| Error::Internal(format!("building a record batch: {e}")))
}

/// Generated rows (with both labels) as one record batch.
fn generated_batch(rows: &[Row], categories: Categories) -> Result<RecordBatch> {
    batch_from(
        rows.len(),
        |r, id| rows[r].get(id),
        Some(rows.iter().map(|r| r.approval_score).collect()),
        Some(rows.iter().map(|r| Some(r.approved)).collect()),
        categories,
    )
}

/// A table (labels only if it has them) as one record batch.
pub fn table_batch(table: &ApplicantTable) -> Result<RecordBatch> {
    batch_from(
        table.len(),
        |r, id| table.applicants[r].get(id),
        table.approval_score.as_ref().map(|s| Float64Array::from(s.clone())),
        table.approved.as_ref().map(|a| BooleanArray::from(a.clone())),
        Categories::Utf8,
    )
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) }
}

/// Writes a whole table as `path` (temp + rename).
pub fn write_table(path: &Path, table: &ApplicantTable) -> Result<()> {
    let batch = table_batch(table)?;
    let file = create_output(path)?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(writer_properties()))
        .map_err(|e| parquet_error(path, e))?;
    writer.write(&batch).map_err(|e| parquet_error(path, e))?;
    commit_output(writer.into_inner().map_err(|e| parquet_error(path, e))?)
}

/// The encoded column chunks of one row group, ready to be appended.
pub struct EncodedRowGroup(Vec<ArrowColumnChunk>);

/// Encodes row groups; shared by all threads while the file side appends.
pub struct RowGroupEncoder {
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    path: PathBuf,
}

impl RowGroupEncoder {
    /// Encodes (and compresses) one chunk of generated rows as a row group.
    pub fn encode(&self, rows: &[Row]) -> Result<EncodedRowGroup> {
        let batch = generated_batch(rows, Categories::Dictionary)?;
        let fail = |e: parquet::errors::ParquetError| parquet_error(&self.path, e);
        // The row-group index only matters for encryption, which we do not use.
        let mut writers = self.factory.create_column_writers(0).map_err(fail)?;
        let mut writer_iter = writers.iter_mut();
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column).map_err(fail)? {
                let writer =
                    writer_iter.next().ok_or_else(|| Error::Internal("too few column writers".into()))?;
                writer.write(&leaf).map_err(fail)?;
            }
        }
        let chunks = writers.into_iter().map(|w| w.close()).collect::<Result<Vec<_>, _>>().map_err(fail)?;
        Ok(EncodedRowGroup(chunks))
    }
}

/// The file side of the streaming writer: appends encoded row groups in order.
pub struct ParquetFile {
    writer: SerializedFileWriter<AtomicFile>,
    path: PathBuf,
}

/// Opens `path`'s temp file for the generator's schema (both label columns). Row groups are
/// encoded from dictionary arrays, while the file declares the contract's utf8 Arrow schema.
pub fn create_streaming(path: &Path) -> Result<(ParquetFile, RowGroupEncoder)> {
    let mut properties = writer_properties();
    add_encoded_arrow_schema_to_metadata(&arrow_schema(true, true), &mut properties);
    let options = ArrowWriterOptions::new().with_properties(properties).with_skip_arrow_metadata(true);
    let schema = schema_with(true, true, Categories::Dictionary);
    let file = create_output(path)?;
    let writer = ArrowWriter::try_new_with_options(file, schema.clone(), options)
        .map_err(|e| parquet_error(path, e))?;
    let (writer, factory) = writer.into_serialized_writer().map_err(|e| parquet_error(path, e))?;
    let path = path.to_path_buf();
    Ok((ParquetFile { writer, path: path.clone() }, RowGroupEncoder { factory, schema, path }))
}

impl ParquetFile {
    pub fn append(&mut self, group: EncodedRowGroup) -> Result<()> {
        let fail = |e: parquet::errors::ParquetError| parquet_error(&self.path, e);
        let mut row_group = self.writer.next_row_group().map_err(fail)?;
        for chunk in group.0 {
            chunk.append_to_row_group(&mut row_group).map_err(fail)?;
        }
        row_group.close().map_err(fail)?;
        Ok(())
    }

    /// Writes the footer and renames the temp file into place.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        commit_output(self.writer.into_inner().map_err(|e| parquet_error(&path, e))?)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The Arrow type a reader accepts for a column, and the name of the type it expects.
fn accepts(kind: Kind, data_type: &DataType) -> bool {
    match kind {
        Kind::Int { .. } => data_type.is_integer(),
        Kind::Float { .. } => data_type.is_floating() || data_type.is_integer(),
        Kind::Category(_) => is_text(data_type),
    }
}

fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

fn wrong_type(column: &str, expected: &DataType, got: &DataType) -> FieldError {
    FieldError::new(column, format!("column has Arrow type {got}, expected {expected}"))
}

/// Checks every needed column's Arrow type; all wrong types are reported at once.
fn check_types(path: &Path, schema: &Schema, columns: &Columns) -> Result<()> {
    let mut errors = Vec::new();
    for id in FieldId::ALL {
        let got = schema.field(columns.fields[id.index()]).data_type();
        if !accepts(id.spec().kind, got) {
            errors.push(wrong_type(id.name(), &arrow_type(id.spec().kind), got));
        }
    }
    if let Some(i) = columns.score {
        let got = schema.field(i).data_type();
        if !(got.is_floating() || got.is_integer()) {
            errors.push(wrong_type(SCORE_COLUMN, &DataType::Float64, got));
        }
    }
    if let Some(i) = columns.label {
        let got = schema.field(i).data_type();
        if got != &DataType::Boolean {
            errors.push(wrong_type(LABEL_COLUMN, &DataType::Boolean, got));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::invalid(path.display().to_string(), errors)) }
}

/// Reads and validates an applicant Parquet file (extra columns ignored, labels optional).
pub fn read_parquet(path: &Path) -> Result<ApplicantTable> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // The length of the file opened, not of whatever the path names a moment later.
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::bad_file(path, format!("not a readable Parquet file ({e})")))?;
    check_chunk_ranges(path, builder.metadata(), file_len)?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let columns = Columns::resolve(path, &names)?;
    check_types(path, &schema, &columns)?;
    let wanted = columns.fields.iter().copied().chain(columns.score).chain(columns.label);
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    // The footer's row count is only a hint: a corrupt one must not reserve gigabytes.
    let total_rows = builder.metadata().file_metadata().num_rows().clamp(0, 1 << 22) as usize;
    let reader = builder
        .with_projection(mask)
        .with_batch_size(ROW_GROUP_ROWS)
        .build()
        .map_err(|e| Error::bad_file(path, format!("not a readable Parquet file ({e})")))?;
    let mut table = TableBuilder::new(path, &columns);
    table.reserve(total_rows);
    let mut offset = 0;
    for batch in reader {
        let batch = batch.map_err(|e| Error::bad_file(path, format!("corrupt Parquet data ({e})")))?;
        read_batch(&batch, offset, &mut table)?;
        offset += batch.num_rows();
    }
    table.finish(path)
}

/// Every column chunk must lie inside the file: a corrupt footer with negative or oversized
/// offsets would otherwise make the Parquet decoder panic instead of returning an error.
fn check_chunk_ranges(path: &Path, metadata: &ParquetMetaData, file_len: u64) -> Result<()> {
    for (g, group) in metadata.row_groups().iter().enumerate() {
        for column in group.columns() {
            let start = column.dictionary_page_offset().unwrap_or(column.data_page_offset());
            let (start, len) = (start, column.compressed_size());
            let inside = start >= 0 && len >= 0 && (start as u64).saturating_add(len as u64) <= file_len;
            if !inside {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "corrupt Parquet footer (row group {g}, column {} lies outside the file)",
                        column.column_path()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A projected column as typed values: numbers as f64, text as utf8.
enum Cells {
    Numbers(Float64Array),
    Text(StringArray),
    Flags(BooleanArray),
}

impl Cells {
    fn of(batch: &RecordBatch, name: &str) -> Result<Cells> {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| Error::Internal(format!("projected column {name} is missing")))?;
        let cast = |to: &DataType| {
            arrow::compute::cast(column, to).map_err(|e| Error::Internal(format!("casting {name}: {e}")))
        };
        Ok(match column.data_type() {
            DataType::Boolean => Cells::Flags(column.as_boolean().clone()),
            t if is_text(t) => Cells::Text(cast(&DataType::Utf8)?.as_string::<i32>().clone()),
            _ => Cells::Numbers(cast(&DataType::Float64)?.as_primitive::<Float64Type>().clone()),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Cells::Numbers(a) => a.is_null(row),
            Cells::Text(a) => a.is_null(row),
            Cells::Flags(a) => a.is_null(row),
        }
    }

    /// The field's value at `row` (categories matched to their index).
    fn value(&self, id: FieldId, row: usize) -> Result<f64, FieldError> {
        if self.is_null(row) {
            return Err(null_cell(id.name()));
        }
        match self {
            Cells::Numbers(a) => Ok(a.value(row)),
            Cells::Text(a) => category_value(id, a.value(row)),
            Cells::Flags(_) => Err(FieldError::new(id.name(), "must not be a boolean")),
        }
    }
}

fn read_batch(batch: &RecordBatch, offset: usize, table: &mut TableBuilder) -> Result<()> {
    let fields: Vec<Cells> =
        FieldId::ALL.iter().map(|id| Cells::of(batch, id.name())).collect::<Result<_>>()?;
    let optional =
        |name: &str| batch.schema().index_of(name).is_ok().then(|| Cells::of(batch, name)).transpose();
    let score = optional(SCORE_COLUMN)?;
    let label = optional(LABEL_COLUMN)?;
    for row in 0..batch.num_rows() {
        let mut cells = RowCells::new();
        for (id, column) in FieldId::ALL.iter().zip(&fields) {
            cells.set(*id, column.value(*id, row));
        }
        if let Some(Cells::Numbers(scores)) = &score {
            if scores.is_null(row) {
                cells.errors.push(null_cell(SCORE_COLUMN));
            } else {
                cells.score = scores.value(row);
            }
        }
        if let Some(Cells::Flags(labels)) = &label {
            if labels.is_null(row) {
                cells.errors.push(null_cell(LABEL_COLUMN));
            } else {
                cells.approved = labels.value(row);
            }
        }
        table.push(offset + row, cells)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::generate_table;
    use crate::schema::REGIONS;
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
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn read_error(batch: &RecordBatch) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write_batch(&path, batch);
        let err = read_parquet(&path).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        err.to_string()
    }

    #[test]
    fn a_written_table_reads_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let table = generate_table(3_000, 9).unwrap();
        write_table(&path, &table).unwrap();
        assert_eq!(read_parquet(&path).unwrap(), table);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
    }

    #[test]
    fn labels_are_optional_and_extra_columns_ignored() {
        let mut table = generate_table(20, 2).unwrap();
        table.approval_score = None;
        table.approved = None;
        let batch = table_batch(&table).unwrap();
        let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.insert(0, Field::new("customer_id", DataType::Int64, false));
        let mut columns = batch.columns().to_vec();
        columns.insert(0, Arc::new(arrow::array::Int64Array::from_iter_values(0..20)));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.parquet");
        write_batch(&path, &batch);
        assert_eq!(read_parquet(&path).unwrap(), table);
    }

    #[test]
    fn a_missing_column_is_named() {
        let err = read_error(&with_column("credit_inquiries", None));
        assert!(err.ends_with("t.parquet: credit_inquiries: column is missing"), "{err}");
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
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let err = read_error(&batch);
        assert!(err.ends_with("t.parquet: income: column appears 2 times; keep one"), "{err}");
    }

    #[test]
    fn a_wrong_type_is_named_with_the_expected_one() {
        let ages: ArrayRef = Arc::new(StringArray::from_iter_values((0..50).map(|_| "40")));
        let err = read_error(&with_column("age", Some(ages)));
        assert!(err.ends_with("age: column has Arrow type Utf8, expected Int32"), "{err}");
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
        let err =
            read_error(&with_column("delinquency_rate", Some(Arc::new(Float64Array::from(rates.clone())))));
        assert!(err.contains("row 5: delinquency_rate: must be between 0 and 1, got 1.5"), "{err}");
        rates[4] = Some(0.0);
        rates[9] = None;
        let err = read_error(&with_column("delinquency_rate", Some(Arc::new(Float64Array::from(rates)))));
        assert!(err.contains("row 10: delinquency_rate: is empty (null)"), "{err}");
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
            let err = read_parquet(&path).unwrap_err();
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
        let err = read_parquet(&path).unwrap_err();
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
            let outcome = std::panic::catch_unwind(|| read_parquet(&path).map(|t| t.len()));
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
}
