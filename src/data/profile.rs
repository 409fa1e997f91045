//! Tables read cell by cell without stopping at the first problem: to draft a schema from what a
//! table holds (`schema infer`), and to check a table against a schema column by column, every
//! bad value counted (`schema check --data`).

use super::Format;
use super::csv::{Records, for_each_record, header_names, read_text};
use super::validate::{LabelReader, expected, missing, text_value};
use crate::error::{Error, Result};
use crate::schema::infer::{Draft, Profile, Seen, infer};
use crate::schema::{Column, Kind, Role, Schema};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

/// What a scan hands its cells to.
trait Sink {
    /// The file's column names, before any cell.
    fn header(&mut self, names: &[String]) -> Result<()>;
    /// One cell: its column, its row (0-based) and what it holds.
    fn cell(&mut self, column: usize, row: usize, cell: Seen<'_>);
}

/// Hands every cell of a CSV or Parquet file to `sink`; returns the number of rows.
fn scan(path: &Path, sink: &mut dyn Sink) -> Result<usize> {
    match Format::of(path)? {
        Format::Csv => {
            let text = read_text(path)?;
            let mut records = Records::new(&text);
            let names = header_names(path, &mut records)?;
            sink.header(&names)?;
            let mut rows = 0;
            for_each_record(path, &mut records, names.len(), |row, record| {
                for (i, text) in record.iter().enumerate() {
                    sink.cell(i, row, Seen::Cell(text));
                }
                rows = row + 1;
                Ok(())
            })?;
            Ok(rows)
        }
        Format::Parquet => scan_parquet(path, sink),
    }
}

fn scan_parquet(path: &Path, sink: &mut dyn Sink) -> Result<usize> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::bad_file(path, format!("not a readable Parquet file ({e})")))?;
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    sink.header(&names)?;
    let mut cell = |i: usize, row: usize, seen: Seen<'_>| sink.cell(i, row, seen);
    let reader =
        builder.build().map_err(|e| Error::bad_file(path, format!("not a readable Parquet file ({e})")))?;
    let mut offset = 0;
    for batch in reader {
        let batch = batch.map_err(|e| Error::bad_file(path, format!("corrupt Parquet data ({e})")))?;
        for (i, (field, column)) in batch.schema().fields().iter().zip(batch.columns()).enumerate() {
            let cast = |to: &DataType| {
                arrow::compute::cast(column, to).map_err(|e| {
                    Error::bad_file(
                        path,
                        format!(
                            "column {}: cannot read Arrow type {} ({e})",
                            field.name(),
                            field.data_type()
                        ),
                    )
                })
            };
            let t = column.data_type();
            if t == &DataType::Boolean {
                let a = column.as_boolean();
                (0..a.len()).for_each(|r| {
                    cell(i, offset + r, if a.is_null(r) { Seen::Null } else { Seen::Boolean(a.value(r)) })
                });
            } else if t.is_integer() {
                let a = cast(&DataType::Int64)?;
                let a = a.as_primitive::<Int64Type>();
                (0..a.len()).for_each(|r| {
                    cell(i, offset + r, if a.is_null(r) { Seen::Null } else { Seen::Integer(a.value(r)) })
                });
            } else if t.is_floating() {
                let a = cast(&DataType::Float64)?;
                let a = a.as_primitive::<Float64Type>();
                (0..a.len()).for_each(|r| {
                    cell(i, offset + r, if a.is_null(r) { Seen::Null } else { Seen::Number(a.value(r)) })
                });
            } else {
                let a = cast(&DataType::Utf8)?;
                let a = a.as_string::<i32>();
                (0..a.len()).for_each(|r| {
                    cell(i, offset + r, if a.is_null(r) { Seen::Null } else { Seen::Text(a.value(r)) })
                });
            }
        }
        offset += batch.num_rows();
    }
    Ok(offset)
}

/// Drafts a schema from a table: see [`crate::schema::infer`]. The schema is named `name`, or
/// after the file.
pub fn infer_schema(path: &Path, label: &str, positive: &str, name: Option<&str>) -> Result<Draft> {
    struct Profiles<'p> {
        path: &'p Path,
        profiles: Vec<Profile>,
    }
    impl Sink for Profiles<'_> {
        fn header(&mut self, names: &[String]) -> Result<()> {
            if let Some(n) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(n)) {
                return Err(Error::bad_file(
                    self.path,
                    format!("column {n:?} appears more than once; keep one"),
                ));
            }
            self.profiles = names.iter().map(Profile::new).collect();
            Ok(())
        }
        fn cell(&mut self, column: usize, _: usize, cell: Seen<'_>) {
            self.profiles[column].observe(cell);
        }
    }
    let mut sink = Profiles { path, profiles: Vec::new() };
    let rows = scan(path, &mut sink)?;
    let profiles = sink.profiles;
    if rows == 0 {
        return Err(Error::bad_file(path, "has no data rows to draft a schema from"));
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "table".into());
    infer(name.unwrap_or(&stem), &profiles, label, positive).map_err(Error::Usage)
}

/// How one schema column fared against a table.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnCheck {
    /// Present and every value valid.
    Matches,
    /// Not in the table; `required` unless the schema can do without it (diagnostic, id).
    Missing { required: bool, expected: String },
    /// In the table more than once.
    Repeated(usize),
    /// `count` values the schema rejects; the first at `row` (1-based) and why.
    Bad { count: u64, row: usize, message: String },
}

/// A table checked against a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCheck {
    pub rows: usize,
    /// One per schema column, in schema order.
    pub columns: Vec<(String, ColumnCheck)>,
    /// Table columns the schema does not use.
    pub extra: Vec<String>,
}

impl TableCheck {
    /// Whether the table can be read with the schema (missing optional columns are fine).
    pub fn matches(&self) -> bool {
        self.columns.iter().all(|(_, c)| match c {
            ColumnCheck::Matches => true,
            ColumnCheck::Missing { required, .. } => !required,
            ColumnCheck::Repeated(_) | ColumnCheck::Bad { .. } => false,
        })
    }
}

/// Checks every value of a table against `schema`, counting the bad ones per column.
pub fn check_table(path: &Path, schema: &Schema) -> Result<TableCheck> {
    struct Checks<'s> {
        schema: &'s Schema,
        labels: LabelReader<'s>,
        names: Vec<String>,
        /// Per file column: the schema column it feeds, if any.
        feeds: Vec<Option<usize>>,
        /// Per schema column: (bad values, first bad row, why).
        bad: Vec<Option<(u64, usize, String)>>,
    }
    impl Sink for Checks<'_> {
        fn header(&mut self, header: &[String]) -> Result<()> {
            self.names = header.to_vec();
            self.feeds =
                header.iter().map(|n| self.schema.columns().iter().position(|c| &c.name == n)).collect();
            Ok(())
        }
        fn cell(&mut self, column: usize, row: usize, cell: Seen<'_>) {
            let Some(c) = self.feeds[column] else { return };
            if let Err(message) = check_cell(&self.schema.columns()[c], &self.labels, cell) {
                let entry = self.bad[c].get_or_insert((0, row + 1, message));
                entry.0 += 1;
            }
        }
    }
    let mut sink = Checks {
        schema,
        labels: LabelReader::new(schema),
        names: Vec::new(),
        feeds: Vec::new(),
        bad: vec![None; schema.columns().len()],
    };
    let rows = scan(path, &mut sink)?;
    let Checks { names, mut bad, .. } = sink;
    let columns = schema
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let count = names.iter().filter(|n| **n == c.name).count();
            let check = match (count, bad[i].take()) {
                (0, _) => ColumnCheck::Missing {
                    required: matches!(c.role, Role::Feature | Role::Label(_)),
                    expected: expected(c),
                },
                (n, _) if n > 1 => ColumnCheck::Repeated(n),
                (_, Some((count, row, message))) => ColumnCheck::Bad { count, row, message },
                (_, None) => ColumnCheck::Matches,
            };
            (c.name.clone(), check)
        })
        .collect();
    let extra = names.iter().filter(|n| !schema.columns().iter().any(|c| &c.name == *n)).cloned().collect();
    Ok(TableCheck { rows, columns, extra })
}

/// Why one cell does not fit its column, if it does not.
fn check_cell(column: &Column, labels: &LabelReader, cell: Seen<'_>) -> std::result::Result<(), String> {
    let label = matches!(column.role, Role::Label(_));
    let value = match (cell, &column.kind) {
        (_, _) if column.role == Role::Id => return Ok(()),
        (Seen::Null, _) if label => return Err("is empty (null)".into()),
        (Seen::Null, _) => missing(column),
        (Seen::Cell(t) | Seen::Text(t), _) if label => {
            return labels.text_cell(t).map(|_| ()).map_err(|e| e.message);
        }
        (Seen::Boolean(b), _) if label => return labels.bool_cell(b).map(|_| ()).map_err(|e| e.message),
        (Seen::Integer(i), _) if label => return labels.integer_cell(i).map(|_| ()).map_err(|e| e.message),
        (Seen::Cell(t), _) => text_value(column, t),
        (Seen::Text(t), Kind::Category(_) | Kind::Ordered(_)) => text_value(column, t),
        (Seen::Integer(i), Kind::Integer { .. } | Kind::Number { .. }) => Ok(i as f64),
        (Seen::Number(f), Kind::Number { .. }) => Ok(f),
        (Seen::Number(f), Kind::Integer { .. }) if f.fract() == 0.0 => Ok(f),
        (Seen::Boolean(b), Kind::Boolean) => Ok(f64::from(u8::from(b))),
        (seen, _) => return Err(format!("must be {}, got {}", expected(column), describe(seen))),
    };
    value.and_then(|v| column.check(v)).map_err(|e| e.message)
}

fn describe(seen: Seen<'_>) -> String {
    match seen {
        Seen::Null => "an empty cell".into(),
        Seen::Cell(t) | Seen::Text(t) => format!("the text {t:?}"),
        Seen::Integer(i) => format!("the integer {i}"),
        Seen::Number(f) => format!("the number {f}"),
        Seen::Boolean(b) => format!("the boolean {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::generate_table;
    use crate::schema::builtin;

    #[test]
    fn a_generated_table_matches_the_builtin_schema_and_drafts_a_similar_one() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["t.csv", "t.parquet"] {
            let path = dir.path().join(file);
            super::super::write_table(&path, &generate_table(400, 3).unwrap()).unwrap();
            let check = check_table(&path, &builtin()).unwrap();
            assert!(check.matches(), "{check:?}");
            assert_eq!(check.rows, 400);
            assert!(check.extra.is_empty());
            let draft = infer_schema(&path, "approved", "true", Some("drafted")).unwrap().schema;
            assert_eq!(
                draft.n_fields(),
                17,
                "{file}: the latent score is a feature until a person says otherwise"
            );
            assert_eq!(
                draft.field(draft.field_index("age").unwrap()).kind,
                Kind::Integer { min: 0, max: 100 }
            );
            let region = draft.field(draft.field_index("region").unwrap());
            assert_eq!(region.kind.categories().unwrap().len(), 16);
            assert_eq!(draft.label().kind, Kind::Boolean);
        }
    }

    #[test]
    fn every_bad_value_is_counted_with_the_first_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        super::super::write_table(&path, &generate_table(50, 3).unwrap()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines[0] = lines[0].replace("credit_inquiries", "inquiries");
        for i in [3, 9] {
            lines[i] = lines[i].replacen(",f,", ",x,", 1).replacen(",m,", ",x,", 1);
        }
        std::fs::write(&path, lines.join("\n")).unwrap();
        let check = check_table(&path, &builtin()).unwrap();
        assert!(!check.matches());
        let get = |name: &str| check.columns.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(get("age"), ColumnCheck::Matches);
        assert!(matches!(get("credit_inquiries"), ColumnCheck::Missing { required: true, .. }));
        match get("gender") {
            ColumnCheck::Bad { count: 2, row: 3, message } => {
                assert!(message.contains("unknown category \"x\""), "{message}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(check.extra, ["inquiries"]);
    }
}
