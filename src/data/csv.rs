//! Applicant tables as CSV (RFC 4180, UTF-8, header = column names, canonical category spellings,
//! booleans as `true`/`false`): formatting chunks on any thread, and a reader that validates every
//! value like the Parquet reader.

use super::generate::Row;
use super::parquet::Layout;
use super::validate::{Columns, LabelReader, RowCells, TableBuilder, null_cell, number, text_value};
use super::{ApplicantTable, commit_output, create_output, write_output};
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use crate::schema::{Column, Kind, Role, Schema};
use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// The header line of a file with `layout`'s columns.
fn header(schema: &Schema, layout: &Layout) -> String {
    let names: Vec<&str> = layout.columns(schema).map(|c| c.name.as_str()).collect();
    let mut line = names.join(",");
    line.push('\n');
    line
}

/// A CSV field (RFC 4180): quoted only when it holds a comma, a quote or a line break, quotes
/// doubled. Every CSV credrisk writes quotes its fields here.
pub fn cell(text: &str) -> Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(text)
    }
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(cell(text).as_bytes());
}

/// One field value: integers without a decimal point, floats in shortest round-trip form,
/// categories in canonical spelling, booleans as true/false, a missing value as an empty cell.
fn push_value(out: &mut Vec<u8>, column: &Column, value: f64) {
    if value.is_nan() {
        return;
    }
    match &column.kind {
        Kind::Integer { .. } => {
            let _ = write!(out, "{}", value as i64);
        }
        Kind::Number { .. } | Kind::Text => {
            let _ = write!(out, "{value}");
        }
        Kind::Category(c) | Kind::Ordered(c) => push_text(out, c.name(value as usize)),
        Kind::Boolean => out.extend_from_slice(if value != 0.0 { b"true" } else { b"false" }),
    }
}

/// One row in table order: fields from `value(field)`, then the optional columns `layout` holds.
fn push_row(
    out: &mut Vec<u8>,
    schema: &Schema,
    layout: &Layout,
    value: impl Fn(usize) -> f64,
    score: Option<f64>,
    label: Option<&str>,
    ids: &[&str],
) {
    let mut field = 0;
    let mut id = 0;
    for (i, column) in layout.columns(schema).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match &column.role {
            Role::Feature => {
                push_value(out, column, value(field));
                field += 1;
            }
            Role::Diagnostic => {
                let _ = write!(out, "{}", score.unwrap_or(f64::NAN));
            }
            Role::Label(_) => out.extend_from_slice(label.unwrap_or_default().as_bytes()),
            Role::Id => {
                push_text(out, ids.get(id).copied().unwrap_or_default());
                id += 1;
            }
        }
    }
    out.push(b'\n');
}

/// Generated rows as CSV lines of the built-in schema (no header).
pub fn format_rows(schema: &Schema, rows: &[Row]) -> Vec<u8> {
    let layout = Layout { score: true, label: true, ids: Vec::new() };
    let mut out = Vec::with_capacity(rows.len() * 160);
    for row in rows {
        let label = if row.approved { "true" } else { "false" };
        push_row(&mut out, schema, &layout, |f| row.field(f), Some(row.approval_score), Some(label), &[]);
    }
    out
}

/// The streaming CSV output of the generator: header now, chunks in order, rename on commit.
pub struct CsvFile {
    file: AtomicFile,
}

impl CsvFile {
    pub fn create(path: &Path, schema: &Schema) -> Result<CsvFile> {
        let mut file = create_output(path)?;
        let head = header(schema, &Layout { score: true, label: true, ids: Vec::new() });
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
    let schema = table.schema();
    let layout = Layout::of(table);
    let labels = match &table.approved {
        Some(_) => Some(super::parquet::label_values(schema)?.map(|v| v.to_string())),
        None => None,
    };
    let mut out = header(schema, &layout).into_bytes();
    for (i, row) in table.rows().enumerate() {
        let score = table.score.as_ref().map(|s| s[i]);
        let label = table.approved.as_ref().zip(labels.as_ref()).map(|(a, l)| l[usize::from(a[i])].as_str());
        let ids: Vec<&str> = table.ids.iter().map(|c| c.values[i].as_str()).collect();
        push_row(&mut out, schema, &layout, |f| row[f], score, label, &ids);
    }
    write_output(path, &out)
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Splits RFC 4180 text into records of fields (quotes, doubled quotes, CRLF, embedded newlines).
pub(super) struct Records<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Records<'a> {
    pub(super) fn new(text: &'a str) -> Records<'a> {
        Records { text: text.strip_prefix('\u{feff}').unwrap_or(text), pos: 0 }
    }

    /// The byte offset in the text (after a BOM) where the next record starts.
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// The next record, `None` at the end; `Err` for an unterminated quote.
    pub(super) fn next_record(&mut self) -> Option<Result<Vec<Cow<'a, str>>, String>> {
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

/// The text of a CSV file, named on failure (not UTF-8 is the user's mistake: exit 2).
pub(super) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        Error::bad_file(path, format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
    })
}

/// The header's column names, trimmed; an empty file or a broken header is an error.
pub(super) fn header_names(path: &Path, records: &mut Records<'_>) -> Result<Vec<String>> {
    let bad = |message: String| Error::bad_file(path, message);
    let names = match records.next_record() {
        None => return Err(bad("is empty: expected a header line with the column names".into())),
        Some(header) => header.map_err(|e| bad(format!("header: {e}")))?,
    };
    Ok(names.iter().map(|n| n.trim().to_string()).collect())
}

/// The data records after the header, blank lines skipped, each as long as the header.
pub(super) fn for_each_record(
    path: &Path,
    records: &mut Records<'_>,
    width: usize,
    mut visit: impl FnMut(usize, &[Cow<'_, str>]) -> Result<()>,
) -> Result<()> {
    let bad = |message: String| Error::bad_file(path, message);
    let mut row = 0;
    while let Some(record) = records.next_record() {
        let record = record.map_err(|e| bad(format!("row {}: {e}", row + 1)))?;
        if record.len() == 1 && record[0].trim().is_empty() {
            continue; // blank line
        }
        if record.len() != width {
            return Err(bad(format!("row {} has {} fields, the header has {width}", row + 1, record.len())));
        }
        visit(row, &record)?;
        row += 1;
    }
    Ok(())
}

/// Reads and validates an applicant CSV file (extra columns ignored, labels optional).
pub fn read_csv(path: &Path, schema: &Arc<Schema>) -> Result<ApplicantTable> {
    let text = read_text(path)?;
    let mut records = Records::new(&text);
    let names = header_names(path, &mut records)?;
    let columns = Columns::resolve(path, schema, &names)?;
    let mut table = TableBuilder::new(path, schema, &columns);
    let mut cells = RowCells::new(schema);
    let labels = LabelReader::new(schema);
    for_each_record(path, &mut records, names.len(), |row, record| {
        row_cells(schema, record, &columns, &labels, &mut cells);
        table.push(row, &mut cells)
    })?;
    table.finish(path)
}

pub(super) fn row_cells(
    schema: &Schema,
    record: &[Cow<'_, str>],
    columns: &Columns,
    labels: &LabelReader,
    cells: &mut RowCells,
) {
    for (i, (column, &at)) in schema.fields().zip(&columns.fields).enumerate() {
        cells.set(i, text_value(column, &record[at]));
    }
    if let (Some(i), Some(column)) = (columns.score, schema.score()) {
        let read = if record[i].trim().is_empty() {
            Err(null_cell(&column.name))
        } else {
            number(&column.name, &record[i])
        };
        match read {
            Ok(s) => cells.score = s,
            Err(e) => cells.errors.push(e),
        }
    }
    if let Some(i) = columns.label {
        match labels.text_cell(&record[i]) {
            Ok(a) => cells.approved = a,
            Err(e) => cells.errors.push(e),
        }
    }
    cells.ids.extend(columns.ids.iter().map(|(_, i)| record[*i].to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::{generate_rows, generate_table};
    use crate::schema::builtin;

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
        assert_eq!(cell("[0.5, 1.5)"), "\"[0.5, 1.5)\"");
    }

    fn layout(labels: bool) -> Layout {
        Layout { score: labels, label: labels, ids: Vec::new() }
    }

    #[test]
    fn a_written_table_reads_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let table = generate_table(2_000, 3).unwrap();
        write_table(&path, &table).unwrap();
        assert_eq!(read_csv(&path, &builtin()).unwrap(), table);
    }

    #[test]
    fn generated_lines_match_the_table_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        write_table(&path, &generate_table(300, 8).unwrap()).unwrap();
        let expected = std::fs::read(&path).unwrap();
        let mut produced = header(&builtin(), &layout(true)).into_bytes();
        produced.extend(format_rows(&builtin(), &generate_rows(300, 8)));
        assert_eq!(produced, expected);
    }

    fn read_string(text: &str, schema: &Arc<Schema>) -> Result<ApplicantTable> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, text).unwrap();
        read_csv(&path, schema)
    }

    fn read_text(text: &str) -> Result<ApplicantTable> {
        read_string(text, &builtin())
    }

    fn customer_header() -> String {
        header(&builtin(), &layout(false))
    }

    const GOOD: &str = "45,f,valparaiso,MEDIA,casado,arriendo,2,800000,6,84,2,150000,0.05,1,0.034,0.09\n";

    #[test]
    fn a_customer_file_needs_no_labels_and_accepts_loose_spellings() {
        let table = read_text(&(customer_header() + GOOD)).unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table.approved, None);
        let region = builtin().field_index("region").unwrap();
        assert_eq!(table.row(0)[region], 5.0, "Valparaíso");
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

    /// Empty cells are missing values in nullable columns only; ids are carried as text.
    #[test]
    fn empty_cells_are_missing_values_only_where_nullable() {
        let gap = GOOD.replace(",800000,", ",,");
        let err = read_text(&(customer_header() + &gap)).unwrap_err().to_string();
        assert!(err.contains("row 1: income: is empty (null)"), "{err}");
        let text = crate::schema::CHILE_TOML
            .replace("name = \"income\"\ntype = \"number\"", "name = \"income\"\ntype = \"number\"\nnullable = true")
            .replace("[[column]]\nname = \"age\"", "[[column]]\nname = \"file_no\"\ntype = \"text\"\nrole = \"id\"\n\n[[column]]\nname = \"age\"");
        let schema = Arc::new(Schema::from_toml(&text).unwrap());
        let table = read_string(&format!("file_no,{}A-1,{gap}", customer_header()), &schema).unwrap();
        assert!(table.row(0)[schema.field_index("income").unwrap()].is_nan());
        assert_eq!(table.ids[0].values, ["A-1"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        write_table(&path, &table).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(
            written.lines().nth(1).unwrap().starts_with("A-1,45,f,Valparaíso,media,casado,arriendo,2,,6,"),
            "{written}"
        );
        assert_eq!(read_csv(&path, &schema).unwrap(), table);
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
        let err = read_csv(&path, &builtin()).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"));
        assert_eq!(err.exit_code(), 2);
    }
}
