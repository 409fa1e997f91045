//! Applicant tables: the seeded generator, Parquet/CSV reading and writing (temp + rename), and the
//! dataset summary.

mod chile;
pub mod csv;
pub mod generate;
pub mod parquet;
pub mod pipeline;
pub mod summary;
mod validate;

use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::schema::Applicant;
use std::path::Path;

pub use generate::{CHUNK_ROWS, Row, generate_rows, generate_table};
pub use pipeline::{GenerateConfig, Generated, generate_files};
pub use summary::{Summary, summarize};

/// A table of applicants as read from a file; the label columns are present only when the file
/// has them (a customer file for `explain` need not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplicantTable {
    pub applicants: Vec<Applicant>,
    pub approval_score: Option<Vec<f64>>,
    pub approved: Option<Vec<bool>>,
}

impl ApplicantTable {
    pub fn len(&self) -> usize {
        self.applicants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.applicants.is_empty()
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

/// Reads an applicant file (.parquet or .csv), validating every value against the schema: a
/// missing column, a wrong type, an unknown category, an impossible value, an empty or corrupt
/// file is an error naming the column and row. Extra columns are ignored; the label columns are
/// read when present. Used for training data and for `explain`'s customer files alike.
pub fn read_table(path: &Path) -> Result<ApplicantTable> {
    match Format::of(path)? {
        Format::Parquet => parquet::read_parquet(path),
        Format::Csv => csv::read_csv(path),
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
        let err = read_table(Path::new("customers.xlsx")).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains(".parquet or .csv"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read_table(Path::new("/nonexistent/x.parquet")).unwrap_err();
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
