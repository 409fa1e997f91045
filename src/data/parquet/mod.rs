//! Applicant tables as Parquet: the Arrow schema and encodings derived from the applicant schema,
//! a writer that encodes row groups on any thread and appends them in order into a temp file
//! renamed on commit, and (in `read`) a reader that checks every column's type and every value.

mod read;

pub use read::read_parquet;
pub(super) use read::{check_chunk_ranges, check_types, read_batch};

use super::generate::Row;
use super::{ApplicantTable, commit_output, create_output};
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::schema::{Column, Kind, Positive, Role, Schema};
use arrow::array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int8Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Field, Int8Type, SchemaRef};
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowRowGroupWriterFactory, ArrowWriterOptions, compute_leaves,
};
use parquet::arrow::{ArrowWriter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per Parquet row group (and per record batch when reading).
pub const ROW_GROUP_ROWS: usize = super::generate::CHUNK_ROWS;

/// The Arrow type of a column: int32 (int64 when its range needs it), float64, utf8 or bool.
pub fn arrow_type(column: &Column) -> DataType {
    match &column.kind {
        Kind::Integer { min, max } if *min >= i64::from(i32::MIN) && *max <= i64::from(i32::MAX) => {
            DataType::Int32
        }
        Kind::Integer { .. } => DataType::Int64,
        Kind::Number { .. } => DataType::Float64,
        Kind::Category(_) | Kind::Ordered(_) | Kind::Text => DataType::Utf8,
        Kind::Boolean => DataType::Boolean,
    }
}

/// Which of a schema's optional columns a file has.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub score: bool,
    pub label: bool,
    /// The id columns present, by name.
    pub ids: Vec<String>,
}

impl Layout {
    pub(crate) fn of(table: &ApplicantTable) -> Layout {
        Layout {
            score: table.score.is_some(),
            label: table.approved.is_some(),
            ids: table.ids.iter().map(|c| c.name.clone()).collect(),
        }
    }

    /// The schema's columns this file holds, in table order.
    pub(crate) fn columns<'s>(&'s self, schema: &'s Schema) -> impl Iterator<Item = &'s Column> + 's {
        schema.columns().iter().filter(move |c| match c.role {
            Role::Feature => true,
            Role::Label(_) => self.label,
            Role::Diagnostic => self.score,
            Role::Id => self.ids.contains(&c.name),
        })
    }
}

/// A file's Arrow schema: the schema's columns it holds, in table order.
pub fn arrow_schema(schema: &Schema, layout: &Layout) -> SchemaRef {
    schema_with(schema, layout, Categories::Utf8)
}

/// How category columns are held in memory. The file is the same either way (a Parquet
/// dictionary of UTF-8 strings); dictionary arrays only spare building a string per row.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Categories {
    Utf8,
    /// Int8 keys: only the generator uses this, and its columns have at most 16 categories.
    Dictionary,
}

fn schema_with(schema: &Schema, layout: &Layout, categories: Categories) -> SchemaRef {
    let fields: Vec<Field> = layout
        .columns(schema)
        .map(|c| {
            let data_type = match (&c.kind, categories, &c.role) {
                (Kind::Category(_) | Kind::Ordered(_), Categories::Dictionary, Role::Feature) => {
                    DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8))
                }
                _ => arrow_type(c),
            };
            Field::new(c.name.as_str(), data_type, c.nullable)
        })
        .collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// Encodings chosen for writing speed at a size close to pyarrow's defaults, by kind: integers
/// delta-bit-packed (already dense, so left uncompressed); real numbers have nearly one distinct
/// value per row, so a dictionary would be built and then abandoned for every page: plain with
/// Snappy; categories as dictionaries, without min/max statistics (no reader uses them for
/// names, and each costs a string comparison per value).
fn writer_properties(schema: &Schema) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    for column in schema.columns() {
        let path = || ColumnPath::from(column.name.as_str());
        builder = match column.kind {
            Kind::Integer { .. } => builder
                .set_column_dictionary_enabled(path(), false)
                .set_column_encoding(path(), Encoding::DELTA_BINARY_PACKED),
            Kind::Number { .. } => builder
                .set_column_dictionary_enabled(path(), false)
                .set_column_compression(path(), Compression::SNAPPY),
            Kind::Category(_) | Kind::Ordered(_) | Kind::Text => {
                builder.set_column_statistics_enabled(path(), EnabledStatistics::None)
            }
            Kind::Boolean => builder,
        };
    }
    builder.build()
}

/// One column of `rows` values of an applicant field, from `value(row)` (stored values). A
/// column without missing values is built without a validity buffer, as fast as before schemas.
fn field_array(
    column: &Column,
    rows: usize,
    value: impl Fn(usize) -> f64,
    categories: Categories,
) -> ArrayRef {
    let any_missing = column.nullable && (0..rows).any(|r| value(r).is_nan());
    let present = |r: usize| Some(value(r)).filter(|v| !v.is_nan());
    let wide = arrow_type(column) == DataType::Int64;
    match (&column.kind, categories, any_missing) {
        (Kind::Integer { .. }, _, _) if wide => {
            Arc::new((0..rows).map(|r| present(r).map(|v| v as i64)).collect::<Int64Array>())
        }
        (Kind::Integer { .. }, _, true) => {
            Arc::new((0..rows).map(|r| present(r).map(|v| v as i32)).collect::<Int32Array>())
        }
        (Kind::Integer { .. }, _, false) => {
            Arc::new(Int32Array::from_iter_values((0..rows).map(|r| value(r) as i32)))
        }
        (Kind::Number { .. }, _, true) => Arc::new((0..rows).map(present).collect::<Float64Array>()),
        (Kind::Number { .. }, _, false) => Arc::new(Float64Array::from_iter_values((0..rows).map(value))),
        (Kind::Boolean, _, _) => {
            Arc::new((0..rows).map(|r| present(r).map(|v| v != 0.0)).collect::<BooleanArray>())
        }
        (Kind::Category(c) | Kind::Ordered(c), Categories::Utf8, true) => {
            Arc::new((0..rows).map(|r| present(r).map(|v| c.name(v as usize))).collect::<StringArray>())
        }
        (Kind::Category(c) | Kind::Ordered(c), Categories::Utf8, false) => {
            Arc::new(StringArray::from_iter_values((0..rows).map(|r| c.name(value(r) as usize))))
        }
        (Kind::Category(c) | Kind::Ordered(c), Categories::Dictionary, missing) => {
            let keys = if missing {
                (0..rows).map(|r| present(r).map(|v| v as i8)).collect()
            } else {
                Int8Array::from_iter_values((0..rows).map(|r| value(r) as i8))
            };
            let values = Arc::new(StringArray::from_iter_values(c.names()));
            Arc::new(DictionaryArray::<Int8Type>::new(keys, values))
        }
        (Kind::Text, _, _) => Arc::new(StringArray::from_iter_values((0..rows).map(|_| ""))),
    }
}

/// A label value as written to a file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelValue {
    Boolean(bool),
    Text(String),
    Integer(i64),
}

impl std::fmt::Display for LabelValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelValue::Boolean(b) => write!(f, "{b}"),
            LabelValue::Text(t) => f.write_str(t),
            LabelValue::Integer(i) => write!(f, "{i}"),
        }
    }
}

/// The label's values for the negative and the positive class. Only a label whose negative
/// value is known can be written: a boolean, two categories, or the integers 0 and 1.
pub(crate) fn label_values(schema: &Schema) -> Result<[LabelValue; 2]> {
    let label = schema.label();
    let cannot = || {
        Error::Usage(format!(
            "cannot write the label column {:?}: with more than two values, only the positive one is known",
            label.name
        ))
    };
    Ok(match (&label.kind, schema.positive()) {
        (Kind::Boolean, Positive::Boolean(p)) => [LabelValue::Boolean(!p), LabelValue::Boolean(*p)],
        (Kind::Category(c) | Kind::Ordered(c), Positive::Category(p)) if c.len() == 2 => {
            let other = c.names().find(|n| n != p).ok_or_else(cannot)?;
            [LabelValue::Text(other.to_string()), LabelValue::Text(p.clone())]
        }
        (Kind::Integer { .. }, Positive::Integer(p)) if *p == 0 || *p == 1 => {
            [LabelValue::Integer(1 - p), LabelValue::Integer(*p)]
        }
        _ => return Err(cannot()),
    })
}

/// The label column for positive-class flags, in the label's own type.
fn label_array(schema: &Schema, approved: &[bool]) -> Result<ArrayRef> {
    let values = label_values(schema)?;
    let pick = |a: bool| &values[usize::from(a)];
    Ok(match &values[1] {
        LabelValue::Boolean(_) => Arc::new(BooleanArray::from_iter(
            approved.iter().map(|&a| Some(*pick(a) == LabelValue::Boolean(true))),
        )),
        LabelValue::Text(_) => {
            Arc::new(StringArray::from_iter_values(approved.iter().map(|&a| pick(a).to_string())))
        }
        LabelValue::Integer(_) => {
            let ints = approved.iter().map(|&a| if let LabelValue::Integer(i) = pick(a) { *i } else { 0 });
            if arrow_type(schema.label()) == DataType::Int64 {
                Arc::new(Int64Array::from_iter_values(ints))
            } else {
                Arc::new(Int32Array::from_iter_values(ints.map(|v| v as i32)))
            }
        }
    })
}

/// The columns of a batch besides the fields.
struct Extras<'a> {
    score: Option<&'a [f64]>,
    approved: Option<&'a [bool]>,
    ids: &'a [super::IdColumn],
}

/// A record batch of `rows` rows holding `layout`'s columns; field values from `value(row, field)`.
fn batch_from(
    schema: &Schema,
    layout: &Layout,
    rows: usize,
    value: impl Fn(usize, usize) -> f64,
    extras: Extras,
    categories: Categories,
) -> Result<RecordBatch> {
    let Extras { score, approved, ids } = extras;
    let arrow = schema_with(schema, layout, categories);
    let mut field = 0;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow.fields().len());
    for column in layout.columns(schema) {
        columns.push(match &column.role {
            Role::Feature => {
                let f = field;
                field += 1;
                field_array(column, rows, |r| value(r, f), categories)
            }
            Role::Label(_) => label_array(schema, approved.unwrap_or_default())?,
            Role::Diagnostic => Arc::new(Float64Array::from(score.unwrap_or_default().to_vec())),
            Role::Id => {
                let values = ids
                    .iter()
                    .find(|c| c.name == column.name)
                    .map(|c| c.values.as_slice())
                    .unwrap_or_default();
                Arc::new(StringArray::from_iter_values(values))
            }
        });
    }
    RecordBatch::try_new(arrow, columns).map_err(|e| Error::Internal(format!("building a record batch: {e}")))
}

/// The generator's layout: every field, the latent score and the label.
fn generated_layout() -> Layout {
    Layout { score: true, label: true, ids: Vec::new() }
}

/// Generated rows (with both labels) as one record batch of the built-in schema.
fn generated_batch(schema: &Schema, rows: &[Row], categories: Categories) -> Result<RecordBatch> {
    let scores: Vec<f64> = rows.iter().map(|r| r.approval_score).collect();
    let approved: Vec<bool> = rows.iter().map(|r| r.approved).collect();
    let layout = generated_layout();
    let value = |r: usize, f: usize| rows[r].field(f);
    let extras = Extras { score: Some(&scores), approved: Some(&approved), ids: &[] };
    batch_from(schema, &layout, rows.len(), value, extras, categories)
}

/// A table (labels, scores and ids only if it has them) as one record batch.
pub fn table_batch(table: &ApplicantTable) -> Result<RecordBatch> {
    let layout = Layout::of(table);
    let value = |r: usize, f: usize| table.row(r)[f];
    let extras =
        Extras { score: table.score.as_deref(), approved: table.approved.as_deref(), ids: &table.ids };
    batch_from(table.schema(), &layout, table.len(), value, extras, Categories::Utf8)
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) }
}

/// Writes a whole table as `path` (temp + rename).
pub fn write_table(path: &Path, table: &ApplicantTable) -> Result<()> {
    let batch = table_batch(table)?;
    let file = create_output(path)?;
    let properties = writer_properties(table.schema());
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(properties)).map_err(|e| parquet_error(path, e))?;
    writer.write(&batch).map_err(|e| parquet_error(path, e))?;
    commit_output(writer.into_inner().map_err(|e| parquet_error(path, e))?)
}

/// The encoded column chunks of one row group, ready to be appended.
pub struct EncodedRowGroup(Vec<ArrowColumnChunk>);

/// Encodes row groups; shared by all threads while the file side appends.
pub struct RowGroupEncoder {
    factory: ArrowRowGroupWriterFactory,
    arrow: SchemaRef,
    schema: Arc<Schema>,
    path: PathBuf,
}

impl RowGroupEncoder {
    /// Encodes (and compresses) one chunk of generated rows as a row group.
    pub fn encode(&self, rows: &[Row]) -> Result<EncodedRowGroup> {
        let batch = generated_batch(&self.schema, rows, Categories::Dictionary)?;
        let fail = |e: parquet::errors::ParquetError| parquet_error(&self.path, e);
        // The row-group index only matters for encryption, which we do not use.
        let mut writers = self.factory.create_column_writers(0).map_err(fail)?;
        let mut writer_iter = writers.iter_mut();
        for (field, column) in self.arrow.fields().iter().zip(batch.columns()) {
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

/// Opens `path`'s temp file for the generator's table (the built-in schema, both label columns).
/// Row groups are encoded from dictionary arrays, while the file declares the contract's utf8
/// Arrow schema.
pub fn create_streaming(path: &Path, schema: Arc<Schema>) -> Result<(ParquetFile, RowGroupEncoder)> {
    let layout = generated_layout();
    let mut properties = writer_properties(&schema);
    add_encoded_arrow_schema_to_metadata(&arrow_schema(&schema, &layout), &mut properties);
    let options = ArrowWriterOptions::new().with_properties(properties).with_skip_arrow_metadata(true);
    let arrow = schema_with(&schema, &layout, Categories::Dictionary);
    let file = create_output(path)?;
    let writer = ArrowWriter::try_new_with_options(file, arrow.clone(), options)
        .map_err(|e| parquet_error(path, e))?;
    let (writer, factory) = writer.into_serialized_writer().map_err(|e| parquet_error(path, e))?;
    let path = path.to_path_buf();
    Ok((ParquetFile { writer, path: path.clone() }, RowGroupEncoder { factory, arrow, schema, path }))
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
