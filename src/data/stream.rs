//! Reading applicants a batch at a time (Parquet row groups, CSV chunks, an Arrow IPC stream)
//! with the same per-value validation as `read_table`, in bounded memory; a bad row either stops
//! the read (naming row and field) or is kept as a row with its problems, for `score`.

use super::csv::{Records, row_cells};
use super::parquet::{check_chunk_ranges, check_types, read_batch};
use super::validate::{Columns, LabelReader, RowCells, RowSink, TableBuilder};
use super::{ApplicantTable, Format, IdColumn};
use crate::error::{Error, FieldError, Result};
use crate::schema::Schema;
use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per batch: one Parquet row group of the generator, and the reading batch size.
pub const BATCH_ROWS: usize = super::parquet::ROW_GROUP_ROWS;
/// Bytes of CSV text read at a time (about 25,000 applicant rows).
const CSV_CHUNK_BYTES: usize = 4 << 20;

/// What happens to a row that breaks the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Stop with an error naming the row and the field.
    Fail,
    /// Keep the row, with its problems, and go on.
    Skip,
}

/// Where applicants come from.
pub enum Source {
    /// A Parquet or CSV file.
    File(PathBuf, Format),
    /// An Arrow IPC stream (e.g. stdin), named `name` in messages.
    ArrowStream { name: String, reader: Box<dyn Read + Send> },
}

/// One batch of input rows: the valid ones as a table, and for every row (valid or not) its
/// id cells and its problems.
#[derive(Debug)]
pub struct RowBatch {
    /// 0-based index in the input of the batch's first row.
    pub first_row: usize,
    /// The valid rows, in input order.
    pub table: ApplicantTable,
    /// Every row's id cells (the schema's id columns the input has).
    pub ids: Vec<IdColumn>,
    /// Per input row: None when valid, else its problems (field order).
    pub problems: Vec<Option<Vec<FieldError>>>,
}

impl RowBatch {
    /// Rows in the batch, valid or not.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads a source a batch at a time; an iterator of batches.
pub struct BatchReader {
    schema: Arc<Schema>,
    location: PathBuf,
    on_error: OnError,
    input: Input,
    next_row: usize,
    total_rows: Option<u64>,
    id_names: Vec<String>,
    done: bool,
}

type ArrowBatches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

enum Input {
    /// Record batches, and the columns to keep of each (None: already projected).
    Arrow(ArrowBatches, Option<Vec<usize>>),
    Csv(Box<CsvChunks>),
}

impl BatchReader {
    /// Opens `source` and checks its columns (names and types) against `schema` before any row.
    pub fn open(source: Source, schema: &Arc<Schema>, on_error: OnError) -> Result<BatchReader> {
        let (location, input, total_rows, id_names) = match source {
            Source::File(path, Format::Parquet) => {
                let (batches, rows, ids) = open_parquet(&path, schema)?;
                (path, Input::Arrow(batches, None), Some(rows), ids)
            }
            Source::File(path, Format::Csv) => {
                let chunks = CsvChunks::open(&path, schema)?;
                let ids = chunks.columns.ids.iter().map(|(n, _)| n.clone()).collect();
                (path, Input::Csv(Box::new(chunks)), None, ids)
            }
            Source::ArrowStream { name, reader } => {
                let location = PathBuf::from(name);
                let stream = arrow::ipc::reader::StreamReader::try_new(reader, None)
                    .map_err(|e| Error::bad_file(&location, format!("not an Arrow IPC stream ({e})")))?;
                let (projection, ids) = resolve_arrow(&location, schema, &stream.schema())?;
                (location, Input::Arrow(Box::new(stream), Some(projection)), None, ids)
            }
        };
        Ok(BatchReader {
            schema: Arc::clone(schema),
            location,
            on_error,
            input,
            next_row: 0,
            total_rows,
            id_names,
            done: false,
        })
    }

    /// The number of rows, when the source says so up front (Parquet).
    pub fn total_rows(&self) -> Option<u64> {
        self.total_rows
    }

    /// The schema's id columns the input has, in schema order.
    pub fn id_names(&self) -> &[String] {
        &self.id_names
    }

    fn next_batch(&mut self) -> Result<Option<RowBatch>> {
        let first_row = self.next_row;
        let mut sink = BatchSink::new(&self.location, &self.schema, self.on_error, &self.id_names);
        let mut cells = RowCells::new(&self.schema);
        match &mut self.input {
            Input::Arrow(batches, projection) => {
                let Some(batch) = batches.next() else { return Ok(None) };
                let batch =
                    batch.map_err(|e| Error::bad_file(&self.location, format!("corrupt data ({e})")))?;
                let batch = match projection {
                    Some(p) => batch.project(p).map_err(|e| Error::Internal(format!("projecting: {e}")))?,
                    None => batch,
                };
                read_batch(&self.schema, &batch, first_row, &mut cells, &mut sink)?;
            }
            Input::Csv(chunks) => {
                if !chunks.next_chunk(&self.schema, first_row, &mut cells, &mut sink)? {
                    return Ok(None);
                }
            }
        }
        let batch = sink.finish(first_row);
        self.next_row += batch.len();
        Ok(Some(batch))
    }
}

impl Iterator for BatchReader {
    type Item = Result<RowBatch>;

    fn next(&mut self) -> Option<Result<RowBatch>> {
        if self.done {
            return None;
        }
        let next = self.next_batch().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// The columns of an Arrow input to read (the schema's fields and id columns; the label and any
/// other column are left out, so a scoring file may hold anything else), after checking their
/// types; and the id columns present.
fn resolve_arrow(
    location: &Path,
    schema: &Schema,
    arrow: &arrow::datatypes::Schema,
) -> Result<(Vec<usize>, Vec<String>)> {
    let names: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
    let mut columns = Columns::resolve(location, schema, &names)?;
    columns.label = None;
    columns.score = None;
    check_types(location, arrow, schema, &columns)?;
    let keep = columns.fields.iter().copied().chain(columns.ids.iter().map(|(_, i)| *i)).collect();
    Ok((keep, columns.ids.into_iter().map(|(n, _)| n).collect()))
}

/// A Parquet file's batches, projected to the columns scoring reads, one row group at a time.
fn open_parquet(path: &Path, schema: &Arc<Schema>) -> Result<(ArrowBatches, u64, Vec<String>)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let unreadable = |e: parquet::errors::ParquetError| {
        Error::bad_file(path, format!("not a readable Parquet file ({e})"))
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(unreadable)?;
    check_chunk_ranges(path, builder.metadata(), file_len)?;
    let (keep, ids) = resolve_arrow(path, schema, builder.schema())?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let mask = ProjectionMask::roots(builder.parquet_schema(), keep);
    let reader = builder.with_projection(mask).with_batch_size(BATCH_ROWS).build().map_err(unreadable)?;
    Ok((Box::new(reader), rows, ids))
}

/// Collects one batch: every row's ids and problems, the valid rows in a table.
struct BatchSink {
    table: TableBuilder,
    on_error: OnError,
    ids: Vec<IdColumn>,
    problems: Vec<Option<Vec<FieldError>>>,
}

impl BatchSink {
    fn new(location: &Path, schema: &Arc<Schema>, on_error: OnError, id_names: &[String]) -> BatchSink {
        // The builder keeps no ids of its own: this sink keeps them for every row, valid or not.
        let columns = Columns { fields: Vec::new(), score: None, label: None, ids: Vec::new() };
        BatchSink {
            table: TableBuilder::new(location, schema, &columns),
            on_error,
            ids: id_names.iter().map(|n| IdColumn { name: n.clone(), values: Vec::new() }).collect(),
            problems: Vec::new(),
        }
    }

    fn finish(self, first_row: usize) -> RowBatch {
        RowBatch { first_row, table: self.table.into_table(), ids: self.ids, problems: self.problems }
    }
}

impl RowSink for BatchSink {
    fn push(&mut self, index: usize, cells: &mut RowCells) -> Result<()> {
        for (column, value) in self.ids.iter_mut().zip(cells.ids.iter()) {
            column.values.push(value.clone());
        }
        let pushed = self.table.push(index, cells);
        cells.ids.clear();
        match pushed {
            Ok(()) => self.problems.push(None),
            Err(Error::Invalid { errors, .. }) if self.on_error == OnError::Skip => {
                self.problems.push(Some(errors))
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// A CSV file read a few megabytes at a time, each chunk cut at the end of a record (a newline
/// outside quotes), so a quoted field may still hold newlines.
struct CsvChunks {
    path: PathBuf,
    file: File,
    /// Bytes read but not yet parsed (the start of an unfinished record).
    pending: Vec<u8>,
    /// Bytes of the file handed out before `pending` (for the byte offset of bad UTF-8).
    offset: usize,
    eof: bool,
    /// The records that followed the header in the first chunk.
    first: Option<String>,
    /// Bytes to read before cutting a chunk.
    chunk_bytes: usize,
    width: usize,
    columns: Columns,
}

impl CsvChunks {
    fn open(path: &Path, schema: &Schema) -> Result<CsvChunks> {
        CsvChunks::with_chunk(path, schema, CSV_CHUNK_BYTES)
    }

    fn with_chunk(path: &Path, schema: &Schema, chunk_bytes: usize) -> Result<CsvChunks> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut chunks = CsvChunks {
            path: path.to_path_buf(),
            file,
            pending: Vec::new(),
            offset: 0,
            eof: false,
            first: None,
            chunk_bytes,
            width: 0,
            columns: Columns { fields: Vec::new(), score: None, label: None, ids: Vec::new() },
        };
        let text = chunks.next_text()?.unwrap_or_default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut records = Records::new(text);
        let names = super::csv::header_names(path, &mut records)?;
        let mut columns = Columns::resolve(path, schema, &names)?;
        columns.label = None;
        columns.score = None;
        chunks.width = names.len();
        chunks.columns = columns;
        chunks.first = Some(text[records.position()..].to_string());
        Ok(chunks)
    }

    /// The next run of whole records (about `CSV_CHUNK_BYTES`) as text; None at the end.
    fn next_text(&mut self) -> Result<Option<String>> {
        loop {
            let cut = if self.eof {
                Some(self.pending.len()).filter(|&n| n > 0)
            } else if self.pending.len() >= self.chunk_bytes {
                record_boundary(&self.pending)
            } else {
                None
            };
            if let Some(cut) = cut {
                let rest = self.pending.split_off(cut);
                let bytes = std::mem::replace(&mut self.pending, rest);
                let start = self.offset;
                self.offset += bytes.len();
                return String::from_utf8(bytes).map(Some).map_err(|e| {
                    let at = start + e.utf8_error().valid_up_to();
                    Error::bad_file(&self.path, format!("is not UTF-8 text (byte {at})"))
                });
            }
            if self.eof {
                return Ok(None);
            }
            let len = self.pending.len();
            self.pending.resize(len + self.chunk_bytes, 0);
            let n = self.file.read(&mut self.pending[len..]).map_err(|e| Error::io(&self.path, e))?;
            self.pending.truncate(len + n);
            self.eof = n == 0;
        }
    }

    /// Reads the next chunk of records into `sink`; false at the end of the file.
    fn next_chunk(
        &mut self,
        schema: &Schema,
        first_row: usize,
        cells: &mut RowCells,
        sink: &mut impl RowSink,
    ) -> Result<bool> {
        let text = match self.first.take() {
            Some(text) => text,
            None => match self.next_text()? {
                Some(text) => text,
                None => return Ok(false),
            },
        };
        let mut records = Records::new(&text);
        let labels = LabelReader::new(schema);
        let mut row = first_row;
        while let Some(record) = records.next_record() {
            let record = record.map_err(|e| Error::bad_file(&self.path, format!("row {}: {e}", row + 1)))?;
            if record.len() == 1 && record[0].trim().is_empty() {
                continue; // blank line
            }
            if record.len() != self.width {
                return Err(Error::bad_file(
                    &self.path,
                    format!("row {} has {} fields, the header has {}", row + 1, record.len(), self.width),
                ));
            }
            row_cells(schema, &record, &self.columns, &labels, cells);
            sink.push(row, cells)?;
            row += 1;
        }
        Ok(true)
    }
}

/// The end of the last whole record in `bytes`: just after its last newline outside quotes (a
/// doubled quote inside a quoted field flips the state twice).
fn record_boundary(bytes: &[u8]) -> Option<usize> {
    let mut quoted = false;
    let mut last = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => last = Some(i + 1),
            _ => {}
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::generate_table;
    use crate::data::{read_table, write_table};
    use crate::schema::builtin;

    #[test]
    fn a_record_ends_at_a_newline_outside_quotes() {
        assert_eq!(record_boundary(b"a,b\nc,\"x\ny\"\nd"), Some(12));
        assert_eq!(record_boundary(b"a,\"x\ny"), None);
        assert_eq!(record_boundary(b"a,\"say \"\"hi\"\"\"\nb"), Some(15));
    }

    /// Reads every batch of `source`, the valid rows concatenated.
    fn all_rows(reader: BatchReader) -> (ApplicantTable, Vec<RowBatch>) {
        let batches: Vec<RowBatch> = reader.collect::<Result<_>>().unwrap();
        let schema = batches[0].table.schema().clone();
        let mut all = ApplicantTable::new(schema);
        for b in &batches {
            for row in b.table.rows() {
                all.push_checked(row);
            }
        }
        (all, batches)
    }

    #[test]
    fn csv_in_small_chunks_reads_what_read_table_reads() {
        let dir = tempfile::tempdir().unwrap();
        let schema = builtin();
        let table = generate_table(700, 3).unwrap();
        let path = dir.path().join("a.csv");
        write_table(&path, &table).unwrap();
        let whole = read_table(&path, &schema).unwrap();
        let chunks = CsvChunks::with_chunk(&path, &schema, 1000).unwrap();
        let reader = BatchReader {
            schema: Arc::clone(&schema),
            location: path.clone(),
            on_error: OnError::Fail,
            input: Input::Csv(Box::new(chunks)),
            next_row: 0,
            total_rows: None,
            id_names: Vec::new(),
            done: false,
        };
        let (all, batches) = all_rows(reader);
        assert!(batches.len() > 50, "{} batches", batches.len());
        assert!(crate::schema::same_values(all.values(), whole.values()));
        let firsts: Vec<usize> = batches.iter().map(|b| b.first_row).collect();
        let mut expected = 0;
        for (b, &first) in batches.iter().zip(&firsts) {
            assert_eq!(first, expected);
            expected += b.len();
        }
        assert_eq!(expected, 700);
    }

    #[test]
    fn parquet_batches_read_what_read_table_reads_and_bad_rows_are_kept_or_named() {
        let dir = tempfile::tempdir().unwrap();
        let schema = builtin();
        let path = dir.path().join("a.parquet");
        write_table(&path, &generate_table(BATCH_ROWS as u64 + 10, 4).unwrap()).unwrap();
        let whole = read_table(&path, &schema).unwrap();
        let source = || Source::File(path.clone(), Format::Parquet);
        let reader = BatchReader::open(source(), &schema, OnError::Fail).unwrap();
        assert_eq!(reader.total_rows(), Some(BATCH_ROWS as u64 + 10));
        let (all, batches) = all_rows(reader);
        assert_eq!(batches.len(), 2);
        assert!(crate::schema::same_values(all.values(), whole.values()));

        // A CSV with an impossible age in its 3rd data row.
        let csv = dir.path().join("bad.csv");
        write_table(&csv, &generate_table(5, 4).unwrap()).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let age = text.lines().next().unwrap().split(',').position(|c| c == "age").unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let mut cells: Vec<&str> = lines[3].split(',').collect();
        cells[age] = "200";
        lines[3] = cells.join(",");
        std::fs::write(&csv, lines.join("\n")).unwrap();
        let open =
            |on_error| BatchReader::open(Source::File(csv.clone(), Format::Csv), &schema, on_error).unwrap();
        let err = open(OnError::Fail).collect::<Result<Vec<_>>>().unwrap_err();
        assert!(err.to_string().contains("bad.csv row 3: age: must be between 18 and 120, got 200"), "{err}");
        let batches: Vec<RowBatch> = open(OnError::Skip).collect::<Result<_>>().unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].len(), 5);
        assert_eq!(batches[0].table.len(), 4);
        let problems: Vec<bool> = batches[0].problems.iter().map(Option::is_some).collect();
        assert_eq!(problems, [false, false, true, false, false]);
    }
}
