//! Applicant tables: the seeded generator, Parquet/CSV reading and writing (temp + rename), and the
//! dataset summary.

mod chile;
pub mod csv;
pub mod generate;
pub mod parquet;
pub mod pipeline;
mod profile;
pub mod scenario;
pub mod stream;
pub mod summary;
mod validate;

use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::schema::{Applicant, Schema, same_values};
use std::path::Path;
use std::sync::Arc;

pub use generate::{CHUNK_ROWS, Row, generate_rows, generate_table};
pub use pipeline::{GenerateConfig, Generated, generate_files};
pub use profile::{ColumnCheck, TableCheck, check_table, infer_schema};
pub use scenario::Scenario;
pub use summary::{Summary, summarize};

/// An id column's values as read (text), carried through to batch outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct IdColumn {
    pub name: String,
    pub values: Vec<String>,
}

/// A table of applicants as read from a file, in its schema's field order: the values row-major
/// in one flat buffer (a row is a slice, so a million rows cost no per-row allocation). The
/// label, the diagnostic score and id columns are present only when the file has them (a
/// customer file for `explain` need not).
#[derive(Debug, Clone)]
pub struct ApplicantTable {
    schema: Arc<Schema>,
    values: Vec<f64>,
    /// The diagnostic column (the generator's `approval_score`), when present.
    pub score: Option<Vec<f64>>,
    /// The label as the positive class: true where the label column holds the schema's
    /// positive value (`approved` = true, `creditability` = good).
    pub approved: Option<Vec<bool>>,
    pub ids: Vec<IdColumn>,
}

impl PartialEq for ApplicantTable {
    fn eq(&self, other: &ApplicantTable) -> bool {
        self.schema == other.schema
            && same_values(&self.values, &other.values)
            && self.score.as_deref().map(|s| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                == other.score.as_deref().map(|s| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            && self.approved == other.approved
            && self.ids == other.ids
    }
}

impl ApplicantTable {
    /// An empty table of `schema`'s applicants.
    pub fn new(schema: Arc<Schema>) -> ApplicantTable {
        ApplicantTable { schema, values: Vec::new(), score: None, approved: None, ids: Vec::new() }
    }

    /// A table of already validated applicants (labels optional).
    pub fn from_applicants(
        schema: Arc<Schema>,
        applicants: &[Applicant],
        approved: Option<Vec<bool>>,
    ) -> ApplicantTable {
        let mut table = ApplicantTable::new(schema);
        table.values.reserve(applicants.len() * table.stride());
        for a in applicants {
            table.values.extend_from_slice(a.values());
        }
        table.approved = approved;
        table
    }

    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Values per row: the schema's number of fields.
    pub fn stride(&self) -> usize {
        self.schema.n_fields()
    }

    pub fn len(&self) -> usize {
        self.values.len() / self.stride()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Row `i`'s field values.
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        let n = self.stride();
        &self.values[i * n..(i + 1) * n]
    }

    pub fn rows(&self) -> std::slice::ChunksExact<'_, f64> {
        self.values.chunks_exact(self.stride())
    }

    /// Every row's values, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Row `i` as an applicant of its own.
    pub fn applicant(&self, i: usize) -> Applicant {
        Applicant::from_checked(self.row(i))
    }

    /// Field `field`'s values down the rows.
    pub fn column(&self, field: usize) -> impl ExactSizeIterator<Item = f64> + '_ {
        self.rows().map(move |r| r[field])
    }

    /// Appends a row already checked against the schema (readers and the generator check).
    pub(crate) fn push_checked(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.stride());
        self.values.extend_from_slice(row);
    }

    pub(crate) fn reserve(&mut self, rows: usize) {
        self.values.reserve(rows * self.stride());
    }

    /// The rows at `idx` (in that order), with their labels, scores and ids.
    pub fn subset(&self, idx: &[usize]) -> ApplicantTable {
        let mut out = ApplicantTable::new(Arc::clone(&self.schema));
        out.reserve(idx.len());
        for &i in idx {
            out.values.extend_from_slice(self.row(i));
        }
        out.score = self.score.as_ref().map(|s| idx.iter().map(|&i| s[i]).collect());
        out.approved = self.approved.as_ref().map(|s| idx.iter().map(|&i| s[i]).collect());
        out.ids = self
            .ids
            .iter()
            .map(|c| IdColumn {
                name: c.name.clone(),
                values: idx.iter().map(|&i| c.values[i].clone()).collect(),
            })
            .collect();
        out
    }
}

/// The file formats an applicant table can be read from and written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv,
}

impl Format {
    /// The format named by the file's extension (`.parquet`/`.pq`, `.csv`), case-insensitively.
    pub fn of(path: &Path) -> Result<Format> {
        let extension = path.extension().map(|e| e.to_string_lossy().to_lowercase());
        match extension.as_deref() {
            Some("parquet" | "pq") => Ok(Format::Parquet),
            Some("csv") => Ok(Format::Csv),
            _ => Err(Error::Usage(format!(
                "{}: unknown file type; applicant files end in .parquet or .csv",
                path.display()
            ))),
        }
    }
}

/// Reads an applicant file (.parquet or .csv), validating every value against `schema`: a
/// missing or repeated column, a wrong type, an unknown category, an impossible value, a null
/// outside a nullable column, an empty or corrupt file is an error naming the column and row.
/// Extra columns are ignored; the label, diagnostic and id columns are read when present. Used
/// for training data and for `explain`'s customer files alike.
pub fn read_table(path: &Path, schema: &Arc<Schema>) -> Result<ApplicantTable> {
    let format = Format::of(path)?;
    // A FIFO or a device would block the reader or never end.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::bad_file(path, "is not a regular file"));
    }
    match format {
        Format::Parquet => parquet::read_parquet(path, schema),
        Format::Csv => csv::read_csv(path, schema),
    }
}

/// Writes a table (labels only if it has them) as .parquet or .csv, by extension, atomically.
pub fn write_table(path: &Path, table: &ApplicantTable) -> Result<()> {
    match Format::of(path)? {
        Format::Parquet => parquet::write_table(path, table),
        Format::Csv => csv::write_table(path, table),
    }
}

/// Opens the temp file for `path`; a failure names `path` itself, not the temp file.
fn create_output(path: &Path) -> Result<AtomicFile> {
    AtomicFile::create(path).map_err(|e| match e {
        Error::Io { source, .. } => Error::io(path, source),
        other => other,
    })
}

/// Renames the temp file into place, removing it if that fails.
fn commit_output(file: AtomicFile) -> Result<()> {
    let temp = file.temp_path().to_path_buf();
    file.commit().inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Writes `bytes` to `path` atomically (temp + rename), leaving nothing behind on failure.
fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = create_output(path)?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    commit_output(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_follows_the_extension() {
        assert_eq!(Format::of(Path::new("a/b.PARQUET")).unwrap(), Format::Parquet);
        assert_eq!(Format::of(Path::new("b.csv")).unwrap(), Format::Csv);
        let err = read_table(Path::new("customers.xlsx"), &crate::schema::builtin()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains(".parquet or .csv"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read_table(Path::new("/nonexistent/x.parquet"), &crate::schema::builtin()).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/x.parquet"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn a_failed_rename_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("occupied");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), b"x").unwrap();
        assert!(write_output(&target, b"data").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
