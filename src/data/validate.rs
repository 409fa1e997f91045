//! What the Parquet and CSV readers share: finding the schema's columns among a file's columns
//! (by name; missing ones named, repeated ones refused), reading one cell as a column's value
//! or as the label, and turning one row of cells into a validated applicant, with every problem
//! located at "<file> row N" and named by column.

use super::{ApplicantTable, IdColumn};
use crate::error::{Error, FieldError, Result};
use crate::schema::{Categories, Column, Kind, Positive, Schema};
use std::path::Path;
use std::sync::Arc;

/// Where each schema column sits among the file's columns; extra columns are ignored, and the
/// label, diagnostic and id columns are optional.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Columns {
    /// File column of each applicant field, in schema field order.
    pub fields: Vec<usize>,
    pub score: Option<usize>,
    pub label: Option<usize>,
    /// (name, file column) of each id column the file has.
    pub ids: Vec<(String, usize)>,
}

impl Columns {
    /// Finds the columns by exact name; every missing field column is reported at once. A
    /// column the schema reads that the file has twice is ambiguous and refused (which one would
    /// count is a guess); repeated columns the schema ignores are left alone.
    pub fn resolve<S: AsRef<str>>(path: &Path, schema: &Schema, names: &[S]) -> Result<Columns> {
        let find = |wanted: &str| names.iter().position(|n| n.as_ref() == wanted);
        let mut problems = Vec::new();
        for column in schema.columns() {
            let count = names.iter().filter(|n| n.as_ref() == column.name).count();
            if count > 1 {
                problems.push(FieldError::new(
                    column.name.as_str(),
                    format!("column appears {count} times; keep one"),
                ));
            }
        }
        let mut fields = Vec::with_capacity(schema.n_fields());
        for column in schema.fields() {
            match find(&column.name) {
                Some(i) => fields.push(i),
                None => problems.push(FieldError::new(
                    column.name.as_str(),
                    format!("column is missing (expected {})", expected(column)),
                )),
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid(path.display().to_string(), problems));
        }
        Ok(Columns {
            fields,
            score: schema.score().and_then(|c| find(&c.name)),
            label: find(&schema.label().name),
            ids: schema.ids().filter_map(|c| find(&c.name).map(|i| (c.name.clone(), i))).collect(),
        })
    }
}

/// What a column holds, for messages: `an integer in 18..=120`, `one of f, m`.
pub(super) fn expected(column: &Column) -> String {
    let text = match &column.kind {
        Kind::Number { min, max } => format!("a number in [{min}, {max}]"),
        Kind::Integer { min, max } => format!("an integer in {min}..={max}"),
        Kind::Category(c) | Kind::Ordered(c) => {
            let names: Vec<&str> = c.names().take(6).collect();
            let more = if c.len() > 6 { ", …" } else { "" };
            format!("one of {}{more}", names.join(", "))
        }
        Kind::Boolean => "true or false".to_string(),
        Kind::Text => "text".to_string(),
    };
    if column.nullable { format!("{text}, or empty") } else { text }
}

/// One row's cells as read: field values (categories as indices, NaN for missing), the label and
/// the score, with the cells that could not even be read recorded as errors. Reused row to row.
pub(super) struct RowCells {
    pub values: Vec<f64>,
    pub score: f64,
    pub approved: bool,
    pub ids: Vec<String>,
    pub errors: Vec<FieldError>,
}

impl RowCells {
    pub fn new(schema: &Schema) -> RowCells {
        RowCells {
            values: vec![0.0; schema.n_fields()],
            score: 0.0,
            approved: false,
            ids: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn set(&mut self, field: usize, value: Result<f64, FieldError>) {
        match value {
            Ok(v) => self.values[field] = v,
            Err(e) => {
                self.values[field] = f64::NAN;
                self.errors.push(e);
            }
        }
    }
}

pub(super) fn null_cell(column: &str) -> FieldError {
    FieldError::new(column, "is empty (null)")
}

/// An empty cell: missing in a nullable column, an error elsewhere.
pub(super) fn missing(column: &Column) -> Result<f64, FieldError> {
    if column.nullable { Ok(f64::NAN) } else { Err(null_cell(&column.name)) }
}

/// The index of a category cell, matched case- and accent-insensitively.
pub(super) fn category_value(
    column: &Column,
    categories: &Categories,
    text: &str,
) -> Result<f64, FieldError> {
    categories.find(text).map(|i| i as f64).ok_or_else(|| categories.unknown(&column.name, text))
}

/// A boolean written as text: true/false in any common capitalisation, or 1/0.
pub(super) fn flag(text: &str) -> Option<bool> {
    match text.trim() {
        "true" | "True" | "TRUE" | "1" => Some(true),
        "false" | "False" | "FALSE" | "0" => Some(false),
        _ => None,
    }
}

/// A number written as text; `nan` and `inf` are not numbers a table should hold.
pub(super) fn number(column: &str, text: &str) -> Result<f64, FieldError> {
    let t = text.trim();
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| FieldError::new(column, format!("must be a number, got {t:?}")))
}

/// A field cell written as text (a CSV cell; a Parquet string for a category column).
pub(super) fn text_value(column: &Column, text: &str) -> Result<f64, FieldError> {
    if text.trim().is_empty() {
        return missing(column);
    }
    match &column.kind {
        Kind::Category(c) | Kind::Ordered(c) => category_value(column, c, text),
        Kind::Boolean => flag(text).map(|b| f64::from(u8::from(b))).ok_or_else(|| {
            FieldError::new(column.name.as_str(), format!("must be true or false, got {:?}", text.trim()))
        }),
        Kind::Number { .. } | Kind::Integer { .. } | Kind::Text => number(&column.name, text),
    }
}

/// Reads label cells as the positive class, in whatever type the label column has.
pub(super) struct LabelReader<'a> {
    column: &'a Column,
    positive: &'a Positive,
}

impl<'a> LabelReader<'a> {
    pub fn new(schema: &'a Schema) -> LabelReader<'a> {
        LabelReader { column: schema.label(), positive: schema.positive() }
    }

    pub fn name(&self) -> &str {
        &self.column.name
    }

    fn wrong(&self, got: &str) -> FieldError {
        FieldError::new(
            self.column.name.as_str(),
            format!("must be {}, got {got}", super::validate::expected(self.column)),
        )
    }

    pub fn bool_cell(&self, b: bool) -> Result<bool, FieldError> {
        match self.positive {
            Positive::Boolean(p) => Ok(b == *p),
            _ => Err(self.wrong("a boolean")),
        }
    }

    pub fn integer_cell(&self, i: i64) -> Result<bool, FieldError> {
        match (&self.column.kind, self.positive) {
            (Kind::Integer { min, max }, Positive::Integer(p)) if (min..=max).contains(&&i) => Ok(i == *p),
            (Kind::Boolean, Positive::Boolean(p)) if i == 0 || i == 1 => Ok((i == 1) == *p),
            _ => Err(self.wrong(&i.to_string())),
        }
    }

    pub fn text_cell(&self, text: &str) -> Result<bool, FieldError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(null_cell(&self.column.name));
        }
        match (&self.column.kind, self.positive) {
            (Kind::Category(c) | Kind::Ordered(c), Positive::Category(p)) => match c.find(t) {
                Some(i) => Ok(c.name(i) == p),
                None => Err(c.unknown(&self.column.name, t)),
            },
            (Kind::Boolean, _) => match flag(t) {
                Some(b) => self.bool_cell(b),
                None => Err(self.wrong(&format!("{t:?}"))),
            },
            (Kind::Integer { .. }, _) => match t.parse::<i64>() {
                Ok(i) => self.integer_cell(i),
                Err(_) => Err(self.wrong(&format!("{t:?}"))),
            },
            _ => Err(self.wrong(&format!("{t:?}"))),
        }
    }
}

/// Where a reader hands each row of cells: the whole-table reader stops at the first bad row,
/// `score`'s batch reader may keep going.
pub(super) trait RowSink {
    fn push(&mut self, index: usize, cells: &mut RowCells) -> Result<()>;
}

impl RowSink for TableBuilder {
    fn push(&mut self, index: usize, cells: &mut RowCells) -> Result<()> {
        TableBuilder::push(self, index, cells)
    }
}

/// Collects validated rows into a table.
pub(super) struct TableBuilder {
    location: String,
    schema: Arc<Schema>,
    table: ApplicantTable,
}

impl TableBuilder {
    pub fn new(path: &Path, schema: &Arc<Schema>, columns: &Columns) -> TableBuilder {
        let mut table = ApplicantTable::new(Arc::clone(schema));
        table.score = columns.score.map(|_| Vec::new());
        table.approved = columns.label.map(|_| Vec::new());
        table.ids =
            columns.ids.iter().map(|(name, _)| IdColumn { name: name.clone(), values: Vec::new() }).collect();
        TableBuilder { location: path.display().to_string(), schema: Arc::clone(schema), table }
    }

    /// Validates row `index` (0-based) and appends it, or names every problem in it. The cells
    /// are left ready for the next row.
    pub fn push(&mut self, index: usize, cells: &mut RowCells) -> Result<()> {
        let schema = &*self.schema;
        if let Some(name) = schema.score().map(|c| c.name.as_str()) {
            let unread = cells.errors.iter().any(|e| e.field == name);
            if self.table.score.is_some() && !unread && !cells.score.is_finite() {
                cells.errors.push(FieldError::new(name, format!("must be finite, got {}", cells.score)));
            }
        }
        for (field, &v) in schema.fields().zip(&cells.values) {
            // A cell that could not be read already has its error; its placeholder value would
            // only add a second, misleading one.
            if let Err(e) = field.check(v)
                && !cells.errors.iter().any(|c| c.field == e.field)
            {
                cells.errors.push(e);
            }
        }
        if !cells.errors.is_empty() {
            let errors = std::mem::take(&mut cells.errors);
            return Err(self.row_error(index, errors));
        }
        self.table.push_checked(&cells.values);
        if let Some(scores) = &mut self.table.score {
            scores.push(cells.score);
        }
        if let Some(labels) = &mut self.table.approved {
            labels.push(cells.approved);
        }
        for (column, value) in self.table.ids.iter_mut().zip(cells.ids.drain(..)) {
            column.values.push(value);
        }
        Ok(())
    }

    fn row_error(&self, index: usize, mut errors: Vec<FieldError>) -> Error {
        let schema = &self.schema;
        let order = |name: &str| schema.columns().iter().position(|c| c.name == name).unwrap_or(usize::MAX);
        errors.sort_by_key(|e| order(&e.field));
        Error::invalid(format!("{} row {}", self.location, index + 1), errors)
    }

    pub fn reserve(&mut self, rows: usize) {
        self.table.reserve(rows);
        if let Some(s) = &mut self.table.score {
            s.reserve(rows);
        }
        if let Some(l) = &mut self.table.approved {
            l.reserve(rows);
        }
    }

    /// The rows collected so far, empty or not (one batch of a stream).
    pub fn into_table(self) -> ApplicantTable {
        self.table
    }

    /// The table; a file without a single applicant is an error.
    pub fn finish(self, path: &Path) -> Result<ApplicantTable> {
        if self.table.is_empty() {
            return Err(Error::bad_file(path, "contains no applicants (no data rows)"));
        }
        Ok(self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin;

    fn names() -> Vec<String> {
        let mut names: Vec<String> = builtin().fields().map(|f| f.name.clone()).collect();
        names.reverse();
        names.push("extra".into());
        names
    }

    fn field(name: &str) -> usize {
        builtin().field_index(name).unwrap()
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let columns = Columns::resolve(Path::new("x.csv"), &builtin(), &names()).unwrap();
        assert_eq!(columns.fields[0], 15);
        assert_eq!(columns.fields[15], 0);
        assert_eq!((columns.score, columns.label), (None, None));
    }

    #[test]
    fn every_missing_column_is_named_with_what_was_expected() {
        let mut names = names();
        names.retain(|n| n != "income" && n != "region");
        let err = Columns::resolve(Path::new("x.csv"), &builtin(), &names).unwrap_err().to_string();
        assert_eq!(
            err,
            "x.csv: region: column is missing (expected one of Arica y Parinacota, Tarapacá, Antofagasta, \
             Atacama, Coquimbo, Valparaíso, …); income: column is missing (expected a number in [0, 1000000000000])"
        );
    }

    /// Before, the first of two `income` columns was read silently.
    #[test]
    fn a_repeated_column_is_refused() {
        let mut names = names();
        names.extend(["income", "approved", "approved", "extra"].map(String::from));
        let err = Columns::resolve(Path::new("x.csv"), &builtin(), &names).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "x.csv: income: column appears 2 times; keep one; approved: column appears 2 times; keep one"
        );
    }

    #[test]
    fn a_bad_row_names_its_row_and_every_bad_column_once() {
        let schema = builtin();
        let columns = Columns::resolve(Path::new("f.parquet"), &schema, &names()).unwrap();
        let mut builder = TableBuilder::new(Path::new("f.parquet"), &schema, &columns);
        let mut cells = RowCells::new(&schema);
        cells.values = vec![1.0; 16];
        cells.values[field("age")] = 10.0;
        let region = field("region");
        cells.set(region, text_value(schema.field(region), "Lima"));
        let err = builder.push(16, &mut cells).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("f.parquet row 17: age: must be between 18 and 120, got 10; region: unknown"),
            "{text}"
        );
        assert_eq!(text.matches("region").count(), 1, "{text}");
        assert_eq!(err.exit_code(), 2);
        assert!(cells.errors.is_empty(), "ready for the next row");
    }

    #[test]
    fn cells_read_per_kind_and_nulls_only_where_nullable() {
        let schema = builtin();
        let col = |n: &str| schema.field(field(n));
        assert_eq!(text_value(col("region"), "VALPARAISO"), Ok(5.0));
        assert_eq!(text_value(col("gender"), " m "), Ok(1.0));
        assert!(text_value(col("gender"), "x").is_err());
        assert_eq!(text_value(col("income"), "nan").unwrap_err().message, "must be a number, got \"nan\"");
        assert_eq!(text_value(col("income"), "").unwrap_err().message, "is empty (null)");
        let mut nullable = col("income").clone();
        nullable.nullable = true;
        assert!(text_value(&nullable, " ").unwrap().is_nan());
        let label = LabelReader::new(&schema);
        assert_eq!(label.text_cell("TRUE"), Ok(true));
        assert_eq!(label.text_cell("0"), Ok(false));
        assert!(label.text_cell("yes").is_err());
        assert!(label.text_cell("").unwrap_err().message.contains("empty"));
    }

    #[test]
    fn a_category_label_is_compared_with_its_positive_value() {
        let text = "name = \"g\"\n[[column]]\nname = \"x\"\ntype = \"number\"\n[[column]]\nname = \"credit\"\n\
                    type = \"category\"\ncategories = [\"good\", \"bad\"]\nrole = \"label\"\npositive = \"good\"\n";
        let schema = Schema::from_toml(text).unwrap();
        let label = LabelReader::new(&schema);
        assert_eq!((label.text_cell("good"), label.text_cell("BAD")), (Ok(true), Ok(false)));
        assert!(label.text_cell("ok").unwrap_err().message.contains("unknown category"));
        assert!(label.bool_cell(true).is_err());
    }

    #[test]
    fn an_empty_table_is_an_error() {
        let schema = builtin();
        let columns = Columns::resolve(Path::new("e.csv"), &schema, &names()).unwrap();
        let err =
            TableBuilder::new(Path::new("e.csv"), &schema, &columns).finish(Path::new("e.csv")).unwrap_err();
        assert!(err.to_string().contains("no applicants"), "{err}");
    }
}
