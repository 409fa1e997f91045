//! Reading an applicant Parquet file: every needed column's Arrow type checked against its kind
//! up front (all wrong types at once), then every value validated row by row, nulls only in
//! nullable columns; a corrupt footer or page is an error, never a panic.

use super::super::ApplicantTable;
use super::super::validate::{
    Columns, LabelReader, RowCells, RowSink, TableBuilder, expected, missing, null_cell, text_value,
};
use super::ROW_GROUP_ROWS;
use crate::error::{Error, FieldError, Result};
use crate::schema::{Column, Kind, Role, Schema};
use arrow::array::{Array, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Float64Type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaData;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Whether a reader accepts Arrow type `t` for a column.
fn accepts(column: &Column, t: &DataType) -> bool {
    match (&column.kind, &column.role) {
        (_, Role::Id) => is_text(t) || t.is_integer() || t.is_floating(),
        (Kind::Integer { .. }, _) => t.is_integer(),
        (Kind::Number { .. }, _) => t.is_floating() || t.is_integer(),
        (Kind::Category(_) | Kind::Ordered(_), _) => is_text(t),
        (Kind::Boolean, _) => t == &DataType::Boolean,
        (Kind::Text, _) => is_text(t),
    }
}

fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

/// Checks every needed column's Arrow type; all wrong types are reported at once.
pub(in crate::data) fn check_types(
    path: &Path,
    arrow: &arrow::datatypes::Schema,
    schema: &Schema,
    columns: &Columns,
) -> Result<()> {
    let mut errors = Vec::new();
    let mut check = |column: &Column, index: usize| {
        let got = arrow.field(index).data_type();
        if !accepts(column, got) {
            let message = format!(
                "column has Arrow type {got}, expected {} ({})",
                super::arrow_type(column),
                expected(column)
            );
            errors.push(FieldError::new(column.name.as_str(), message));
        }
    };
    for (column, &index) in schema.fields().zip(&columns.fields) {
        check(column, index);
    }
    if let (Some(column), Some(index)) = (schema.score(), columns.score) {
        check(column, index);
    }
    if let Some(index) = columns.label {
        check(schema.label(), index);
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::invalid(path.display().to_string(), errors)) }
}

/// Reads and validates an applicant Parquet file (extra columns ignored, labels optional).
pub fn read_parquet(path: &Path, schema: &Arc<Schema>) -> Result<ApplicantTable> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // The length of the file opened, not of whatever the path names a moment later.
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::bad_file(path, format!("not a readable Parquet file ({e})")))?;
    check_chunk_ranges(path, builder.metadata(), file_len)?;
    let arrow = builder.schema().clone();
    let names: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
    let columns = Columns::resolve(path, schema, &names)?;
    check_types(path, &arrow, schema, &columns)?;
    let wanted = columns.fields.iter().copied().chain(columns.score).chain(columns.label);
    let wanted = wanted.chain(columns.ids.iter().map(|(_, i)| *i));
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    // The footer's row count is only a hint: a corrupt one must not reserve gigabytes.
    let total_rows = builder.metadata().file_metadata().num_rows().clamp(0, 1 << 22) as usize;
    let reader = builder
        .with_projection(mask)
        .with_batch_size(ROW_GROUP_ROWS)
        .build()
        .map_err(|e| Error::bad_file(path, format!("not a readable Parquet file ({e})")))?;
    let mut table = TableBuilder::new(path, schema, &columns);
    table.reserve(total_rows);
    let mut cells = RowCells::new(schema);
    let mut offset = 0;
    for batch in reader {
        let batch = batch.map_err(|e| Error::bad_file(path, format!("corrupt Parquet data ({e})")))?;
        read_batch(schema, &batch, offset, &mut cells, &mut table)?;
        offset += batch.num_rows();
    }
    table.finish(path)
}

/// Every column chunk must lie inside the file: a corrupt footer with negative or oversized
/// offsets would otherwise make the Parquet decoder panic instead of returning an error.
pub(in crate::data) fn check_chunk_ranges(
    path: &Path,
    metadata: &ParquetMetaData,
    file_len: u64,
) -> Result<()> {
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

/// A projected column as typed values: numbers as f64, text as utf8, booleans.
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

    /// Any cell as text (for id columns).
    fn texts(batch: &RecordBatch, name: &str) -> Result<StringArray> {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| Error::Internal(format!("projected column {name} is missing")))?;
        let text = arrow::compute::cast(column, &DataType::Utf8)
            .map_err(|e| Error::Internal(format!("casting {name} to text: {e}")))?;
        Ok(text.as_string::<i32>().clone())
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Cells::Numbers(a) => a.is_null(row),
            Cells::Text(a) => a.is_null(row),
            Cells::Flags(a) => a.is_null(row),
        }
    }

    /// The field's stored value at `row` (categories matched to their index, NaN if missing).
    #[inline]
    fn value(&self, column: &Column, row: usize) -> Result<f64, FieldError> {
        if self.is_null(row) {
            return missing(column);
        }
        match self {
            Cells::Numbers(a) => Ok(a.value(row)),
            Cells::Text(a) => text_value(column, a.value(row)),
            Cells::Flags(a) => Ok(f64::from(u8::from(a.value(row)))),
        }
    }
}

pub(in crate::data) fn read_batch(
    schema: &Schema,
    batch: &RecordBatch,
    offset: usize,
    cells: &mut RowCells,
    table: &mut impl RowSink,
) -> Result<()> {
    let fields: Vec<Cells> = schema.fields().map(|c| Cells::of(batch, &c.name)).collect::<Result<_>>()?;
    let present = |name: &str| batch.schema().index_of(name).is_ok();
    let score = match schema.score() {
        Some(c) if present(&c.name) => Some(Cells::of(batch, &c.name)?),
        _ => None,
    };
    let labels = LabelReader::new(schema);
    let label = if present(labels.name()) { Some(Cells::of(batch, labels.name())?) } else { None };
    let ids: Vec<StringArray> = schema
        .ids()
        .filter(|c| present(&c.name))
        .map(|c| Cells::texts(batch, &c.name))
        .collect::<Result<_>>()?;
    for row in 0..batch.num_rows() {
        for (i, (column, cells_of)) in schema.fields().zip(&fields).enumerate() {
            cells.set(i, cells_of.value(column, row));
        }
        if let (Some(Cells::Numbers(scores)), Some(c)) = (&score, schema.score()) {
            if scores.is_null(row) {
                cells.errors.push(null_cell(&c.name));
            } else {
                cells.score = scores.value(row);
            }
        }
        if let Some(column) = &label {
            let read = if column.is_null(row) {
                Err(null_cell(labels.name()))
            } else {
                match column {
                    Cells::Flags(a) => labels.bool_cell(a.value(row)),
                    Cells::Text(a) => labels.text_cell(a.value(row)),
                    Cells::Numbers(a) => labels.integer_cell(a.value(row) as i64),
                }
            };
            match read {
                Ok(a) => cells.approved = a,
                Err(e) => cells.errors.push(e),
            }
        }
        cells.ids.extend(
            ids.iter().map(|a| if a.is_null(row) { String::new() } else { a.value(row).to_string() }),
        );
        table.push(offset + row, cells)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
