//! Applicant tables as CSV (RFC 4180, UTF-8, header = column names, canonical category spellings,
//! booleans as `true`/`false`): formatting chunks on any thread, and a reader that validates every
//! value like the Parquet reader.

use super::ApplicantTable;
use super::generate::Row;
use super::validate::{Columns, RowCells, TableBuilder, category_value, null_cell};
use super::{commit_output, create_output, write_output};
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::schema::{FieldError, FieldId, Kind, LABEL_COLUMN, SCORE_COLUMN};
use std::borrow::Cow;
use std::io::Write;
use std::path::Path;

/// The header line of a table with the given label columns.
fn header(with_score: bool, with_label: bool) -> String {
    let mut names: Vec<&str> = FieldId::ALL.iter().map(|id| id.name()).collect();
    if with_score {
        names.push(SCORE_COLUMN);
    }
    if with_label {
        names.push(LABEL_COLUMN);
    }
    let mut line = names.join(",");
    line.push('\n');
    line
}

/// A field quoted only when it has to be.
fn push_text(out: &mut Vec<u8>, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// One customer value: integers without a decimal point, floats in shortest round-trip form.
fn push_value(out: &mut Vec<u8>, id: FieldId, value: f64) {
    match id.spec().kind {
        Kind::Int { .. } => {
            let _ = write!(out, "{}", value as i64);
        }
        Kind::Float { .. } => {
            let _ = write!(out, "{value}");
        }
        Kind::Category(names) => push_text(out, names[value as usize]),
    }
}

fn push_row(out: &mut Vec<u8>, value: impl Fn(FieldId) -> f64, score: Option<f64>, approved: Option<bool>) {
    for (i, &id) in FieldId::ALL.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_value(out, id, value(id));
    }
    if let Some(s) = score {
        let _ = write!(out, ",{s}");
    }
    if let Some(a) = approved {
        out.extend_from_slice(if a { b",true" } else { b",false" });
    }
    out.push(b'\n');
}

/// Generated rows as CSV lines (no header).
pub fn format_rows(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 160);
    for row in rows {
        push_row(&mut out, |id| row.get(id), Some(row.approval_score), Some(row.approved));
    }
    out
}

/// The streaming CSV output of the generator: header now, chunks in order, rename on commit.
pub struct CsvFile {
    file: AtomicFile,
}

impl CsvFile {
    pub fn create(path: &Path) -> Result<CsvFile> {
        let mut file = create_output(path)?;
        let head = header(true, true);
        file.write_all(head.as_bytes()).map_err(|e| Error::io(path, e))?;
        Ok(CsvFile { file })
    }

    pub fn append(&mut self, lines: &[u8]) -> Result<()> {
        self.file.write_all(lines).map_err(|e| Error::io(self.file.temp_path(), e))
    }

    pub fn commit(self) -> Result<()> {
        commit_output(self.file)
    }
}

/// Writes a whole table as CSV at `path` (temp + rename).
pub fn write_table(path: &Path, table: &ApplicantTable) -> Result<()> {
    let mut out = header(table.approval_score.is_some(), table.approved.is_some()).into_bytes();
    for (i, applicant) in table.applicants.iter().enumerate() {
        let score = table.approval_score.as_ref().map(|s| s[i]);
        let approved = table.approved.as_ref().map(|a| a[i]);
        push_row(&mut out, |id| applicant.get(id), score, approved);
    }
    write_output(path, &out)
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Splits RFC 4180 text into records of fields (quotes, doubled quotes, CRLF, embedded newlines).
struct Records<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Records<'a> {
    fn new(text: &'a str) -> Records<'a> {
        Records { text: text.strip_prefix('\u{feff}').unwrap_or(text), pos: 0 }
    }

    /// The next record, `None` at the end; `Err` for an unterminated quote.
    fn next_record(&mut self) -> Option<Result<Vec<Cow<'a, str>>, String>> {
        if self.pos >= self.text.len() {
            return None;
        }
        let mut fields = Vec::new();
        loop {
            let (field, end) = match self.field() {
                Ok(parsed) => parsed,
                Err(e) => return Some(Err(e)),
            };
            fields.push(field);
            match end {
                Some(b',') => continue,
                _ => return Some(Ok(fields)),
            }
        }
    }

    /// One field and the byte that ended it (`,`, newline, or `None` at the end of the text).
    fn field(&mut self) -> Result<(Cow<'a, str>, Option<u8>), String> {
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) == Some(&b'"') {
            let mut value = String::new();
            let mut i = self.pos + 1;
            loop {
                let Some(offset) = self.text[i..].find('"') else {
                    return Err("a quoted field is never closed".into());
                };
                value.push_str(&self.text[i..i + offset]);
                i += offset + 1;
                if bytes.get(i) == Some(&b'"') {
                    value.push('"');
                    i += 1;
                } else {
                    break;
                }
            }
            self.pos = i;
            let end = self.consume_terminator();
            return Ok((Cow::Owned(value), end));
        }
        let start = self.pos;
        let len = bytes[start..]
            .iter()
            .position(|&b| matches!(b, b',' | b'\n' | b'\r'))
            .unwrap_or(bytes.len() - start);
        self.pos = start + len;
        let end = self.consume_terminator();
        Ok((Cow::Borrowed(&self.text[start..start + len]), end))
    }

    fn consume_terminator(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        match bytes.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                Some(b',')
            }
            Some(b'\r') => {
                self.pos += if bytes.get(self.pos + 1) == Some(&b'\n') { 2 } else { 1 };
                Some(b'\n')
            }
            Some(b'\n') => {
                self.pos += 1;
                Some(b'\n')
            }
            // Text after a closing quote is tolerated up to the next separator.
            Some(_) => {
                let rest = &bytes[self.pos..];
                let skip = rest.iter().position(|&b| matches!(b, b',' | b'\n' | b'\r')).unwrap_or(rest.len());
                self.pos += skip;
                self.consume_terminator()
            }
            None => None,
        }
    }
}

fn number(column: &str, text: &str) -> Result<f64, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(null_cell(column));
    }
    text.parse::<f64>().map_err(|_| FieldError::new(column, format!("must be a number, got {text:?}")))
}

fn flag(text: &str) -> Result<bool, FieldError> {
    match text.trim() {
        "true" | "True" | "TRUE" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "0" => Ok(false),
        "" => Err(null_cell(LABEL_COLUMN)),
        other => Err(FieldError::new(LABEL_COLUMN, format!("must be true or false, got {other:?}"))),
    }
}

fn cell_value(id: FieldId, text: &str) -> Result<f64, FieldError> {
    match id.spec().kind {
        Kind::Category(_) if text.trim().is_empty() => Err(null_cell(id.name())),
        Kind::Category(_) => category_value(id, text),
        _ => number(id.name(), text),
    }
}

/// Reads and validates an applicant CSV file (extra columns ignored, labels optional).
pub fn read_csv(path: &Path) -> Result<ApplicantTable> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::bad_file(path, format!("is not UTF-8 text (byte {})", e.valid_up_to())))?;
    let mut records = Records::new(text);
    let bad = |message: String| Error::bad_file(path, message);
    let names = match records.next_record() {
        None => return Err(bad("is empty: expected a header line with the column names".into())),
        Some(header) => header.map_err(|e| bad(format!("header: {e}")))?,
    };
    let names: Vec<String> = names.iter().map(|n| n.trim().to_string()).collect();
    let columns = Columns::resolve(path, &names)?;
    let mut table = TableBuilder::new(path, &columns);
    let mut row = 0;
    while let Some(record) = records.next_record() {
        let record = record.map_err(|e| bad(format!("row {}: {e}", row + 1)))?;
        if record.len() == 1 && record[0].trim().is_empty() {
            continue; // blank line
        }
        if record.len() != names.len() {
            return Err(bad(format!(
                "row {} has {} fields, the header has {}",
                row + 1,
                record.len(),
                names.len()
            )));
        }
        table.push(row, row_cells(&record, &columns))?;
        row += 1;
    }
    table.finish(path)
}

fn row_cells(record: &[Cow<'_, str>], columns: &Columns) -> RowCells {
    let mut cells = RowCells::new();
    for id in FieldId::ALL {
        cells.set(id, cell_value(id, &record[columns.fields[id.index()]]));
    }
    if let Some(i) = columns.score {
        match number(SCORE_COLUMN, &record[i]) {
            Ok(s) => cells.score = s,
            Err(e) => cells.errors.push(e),
        }
    }
    if let Some(i) = columns.label {
        match flag(&record[i]) {
            Ok(a) => cells.approved = a,
            Err(e) => cells.errors.push(e),
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::{generate_rows, generate_table};

    fn records(text: &str) -> Vec<Vec<String>> {
        let mut r = Records::new(text);
        std::iter::from_fn(|| r.next_record())
            .map(|rec| rec.unwrap().into_iter().map(|f| f.into_owned()).collect())
            .collect()
    }

    #[test]
    fn rfc4180_quoting_is_understood() {
        let parsed = records("a,b\r\n\"x, \"\"y\"\"\",2\n\"multi\nline\",\n");
        assert_eq!(parsed, [vec!["a", "b"], vec!["x, \"y\"", "2"], vec!["multi\nline", ""]]);
        let mut r = Records::new("\"open,1\n");
        assert!(r.next_record().unwrap().is_err());
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut out = Vec::new();
        push_text(&mut out, "O'Higgins");
        out.push(b'|');
        push_text(&mut out, "a,\"b\"");
        assert_eq!(String::from_utf8(out).unwrap(), "O'Higgins|\"a,\"\"b\"\"\"");
    }

    #[test]
    fn a_written_table_reads_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let table = generate_table(2_000, 3).unwrap();
        write_table(&path, &table).unwrap();
        assert_eq!(read_csv(&path).unwrap(), table);
    }

    #[test]
    fn generated_lines_match_the_table_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        write_table(&path, &generate_table(300, 8).unwrap()).unwrap();
        let expected = std::fs::read(&path).unwrap();
        let mut produced = header(true, true).into_bytes();
        produced.extend(format_rows(&generate_rows(300, 8)));
        assert_eq!(produced, expected);
    }

    fn read_text(text: &str) -> Result<ApplicantTable> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, text).unwrap();
        read_csv(&path)
    }

    fn customer_header() -> String {
        header(false, false)
    }

    const GOOD: &str = "45,f,valparaiso,MEDIA,casado,arriendo,2,800000,6,84,2,150000,0.05,1,0.034,0.09\n";

    #[test]
    fn a_customer_file_needs_no_labels_and_accepts_loose_spellings() {
        let table = read_text(&(customer_header() + GOOD)).unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table.approved, None);
        assert_eq!(table.applicants[0].category(FieldId::Region), "Valparaíso");
    }

    #[test]
    fn bad_cells_name_their_column_and_row() {
        let bad = GOOD.replace("arriendo", "castillo").replace(",2,800000", ",2,abc");
        let err = read_text(&(customer_header() + GOOD + &bad)).unwrap_err().to_string();
        assert!(err.contains("in.csv row 2: housing_status: unknown category \"castillo\""), "{err}");
        assert!(err.contains("income: must be a number, got \"abc\""), "{err}");
        let short = "45,f\n";
        let err = read_text(&(customer_header() + short)).unwrap_err().to_string();
        assert!(err.contains("row 1 has 2 fields, the header has 16"), "{err}");
    }

    #[test]
    fn empty_headerless_and_non_utf8_files_are_errors() {
        assert!(read_text("").unwrap_err().to_string().contains("is empty"));
        assert!(read_text(&customer_header()).unwrap_err().to_string().contains("no applicants"));
        let err = read_text("age,gender\n45,f\n").unwrap_err().to_string();
        assert!(err.contains("region: column is missing"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.csv");
        std::fs::write(&path, b"age\xff\n").unwrap();
        assert!(read_csv(&path).unwrap_err().to_string().contains("not UTF-8"));
    }
}
