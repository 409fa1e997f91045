//! Where scored batches go: a Parquet, CSV or Arrow IPC file written to a temp file and renamed
//! into place only when every row is in, or an Arrow IPC stream on stdout.

use super::{Place, TableFormat};
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use arrow::ipc::writer::StreamWriter;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::io::{BufWriter, Stdout, Write};
use std::path::{Path, PathBuf};

/// An open output.
pub enum Sink {
    Parquet(ArrowWriter<AtomicFile>, PathBuf),
    Csv(AtomicFile, PathBuf),
    Arrow(StreamWriter<AtomicFile>, PathBuf),
    Stdout(StreamWriter<BufWriter<Stdout>>),
}

/// The temp file beside `path`, named by `path` on failure.
fn create(path: &Path) -> Result<AtomicFile> {
    AtomicFile::create(path).map_err(|e| match e {
        Error::Io { source, .. } => Error::io(path, source),
        other => other,
    })
}

impl Sink {
    pub fn create(place: &Place, schema: &SchemaRef) -> Result<Sink> {
        Ok(match place {
            Place::File(path, TableFormat::Parquet) => {
                // Snappy: cheap, and what pyarrow and Spark read by default. No dictionaries but
                // for text: a probability or SHAP value rarely repeats, so dictionary-encoding
                // the numbers cost the writer a hash table per column (a quarter of its time)
                // and fell back to plain pages anyway.
                let mut properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_dictionary_enabled(false)
                    .set_max_row_group_row_count(Some(crate::data::stream::BATCH_ROWS));
                for field in schema.fields().iter().filter(|f| f.data_type() == &DataType::Utf8) {
                    properties = properties.set_column_dictionary_enabled(field.name().as_str().into(), true);
                }
                let properties = properties.build();
                let writer = ArrowWriter::try_new(create(path)?, schema.clone(), Some(properties))
                    .map_err(|e| Error::Internal(format!("opening the Parquet writer: {e}")))?;
                Sink::Parquet(writer, path.clone())
            }
            Place::File(path, TableFormat::Csv) => {
                let mut file = create(path)?;
                let names: Vec<String> = schema.fields().iter().map(|f| csv_text(f.name())).collect();
                writeln!(file, "{}", names.join(",")).map_err(|e| Error::io(path, e))?;
                Sink::Csv(file, path.clone())
            }
            Place::File(path, TableFormat::Arrow) => {
                let writer = StreamWriter::try_new(create(path)?, schema).map_err(arrow_err(path))?;
                Sink::Arrow(writer, path.clone())
            }
            Place::Std => {
                let out = BufWriter::with_capacity(1 << 20, std::io::stdout());
                Sink::Stdout(StreamWriter::try_new(out, schema).map_err(arrow_err(Path::new("<stdout>")))?)
            }
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::Parquet(writer, path) => {
                writer.write(batch).map_err(|e| Error::io(path.as_path(), std::io::Error::other(e)))
            }
            Sink::Csv(file, path) => {
                let text = csv_rows(batch)?;
                file.write_all(&text).map_err(|e| Error::io(path.as_path(), e))
            }
            Sink::Arrow(writer, path) => {
                writer.write(batch).map_err(|e| Error::io(path.as_path(), std::io::Error::other(e)))
            }
            Sink::Stdout(writer) => writer.write(batch).and_then(|()| writer.flush()).map_err(stdout_err),
        }
    }

    /// Finishes the output: the file renamed into place, or the stream's end marker sent.
    pub fn commit(self) -> Result<()> {
        match self {
            Sink::Parquet(writer, path) => {
                let file = writer.into_inner().map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
                file.commit()
            }
            Sink::Csv(file, _) => file.commit(),
            Sink::Arrow(writer, path) => {
                let file = writer.into_inner().map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
                file.commit()
            }
            Sink::Stdout(mut writer) => {
                writer.finish().map_err(stdout_err)?;
                writer.into_inner().map_err(stdout_err)?.flush().map_err(|e| Error::io("<stdout>", e))
            }
        }
    }
}

fn arrow_err(path: &Path) -> impl Fn(arrow::error::ArrowError) -> Error + '_ {
    move |e| Error::io(path, std::io::Error::other(e))
}

fn stdout_err(e: arrow::error::ArrowError) -> Error {
    Error::io("<stdout>", std::io::Error::other(e))
}

/// A CSV field, quoted only when it has to be.
fn csv_text(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A batch as CSV lines: numbers in shortest round-trip form (read back to the same bits),
/// booleans as true/false, a null as an empty cell.
fn csv_rows(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(batch.num_rows() * 32 * batch.num_columns().max(1));
    for row in 0..batch.num_rows() {
        for (c, column) in batch.columns().iter().enumerate() {
            if c > 0 {
                out.push(b',');
            }
            if column.is_null(row) {
                continue;
            }
            let _ = match column.data_type() {
                DataType::Float64 => write!(out, "{}", column.as_primitive::<Float64Type>().value(row)),
                DataType::Int64 => write!(out, "{}", column.as_primitive::<Int64Type>().value(row)),
                DataType::Boolean => write!(out, "{}", column.as_boolean().value(row)),
                DataType::Utf8 => write!(out, "{}", csv_text(column.as_string::<i32>().value(row))),
                other => return Err(Error::Internal(format!("no CSV form for {other}"))),
            };
        }
        out.push(b'\n');
    }
    Ok(out)
}
