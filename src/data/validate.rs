//! What the Parquet and CSV readers share: finding the schema's columns among a file's columns,
//! and turning one row of cells into a validated applicant, with every problem located at
//! "<file> row N" and named by column.

use super::ApplicantTable;
use crate::error::{Error, Result};
use crate::schema::{self, Applicant, FieldError, FieldId, Kind, LABEL_COLUMN, N_FIELDS, SCORE_COLUMN};
use std::path::Path;

/// Where each schema column sits among the file's columns; extra columns are ignored and the two
/// label columns are optional.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Columns {
    pub fields: [usize; N_FIELDS],
    pub score: Option<usize>,
    pub label: Option<usize>,
}

impl Columns {
    /// Finds the columns by exact name; every missing customer column is reported at once. A
    /// column the schema reads that the file has twice is ambiguous and refused (which one would
    /// count is a guess); repeated columns the schema ignores are left alone.
    pub fn resolve<S: AsRef<str>>(path: &Path, names: &[S]) -> Result<Columns> {
        let find = |wanted: &str| names.iter().position(|n| n.as_ref() == wanted);
        let mut fields = [0; N_FIELDS];
        let mut problems = Vec::new();
        let wanted = FieldId::ALL.iter().map(|id| id.name()).chain([SCORE_COLUMN, LABEL_COLUMN]);
        for name in wanted {
            let count = names.iter().filter(|n| n.as_ref() == name).count();
            if count > 1 {
                problems.push(FieldError::new(name, format!("column appears {count} times; keep one")));
            }
        }
        for id in FieldId::ALL {
            match find(id.name()) {
                Some(i) => fields[id.index()] = i,
                None => problems.push(FieldError::new(id.name(), "column is missing")),
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid(path.display().to_string(), problems));
        }
        Ok(Columns { fields, score: find(SCORE_COLUMN), label: find(LABEL_COLUMN) })
    }
}

/// One row's cells as read: field values (categories as indices) and the labels, with the cells
/// that could not even be read recorded as errors.
pub(super) struct RowCells {
    pub values: [f64; N_FIELDS],
    pub score: f64,
    pub approved: bool,
    pub errors: Vec<FieldError>,
}

impl RowCells {
    pub fn new() -> RowCells {
        RowCells { values: [0.0; N_FIELDS], score: 0.0, approved: false, errors: Vec::new() }
    }

    pub fn set(&mut self, id: FieldId, value: Result<f64, FieldError>) {
        match value {
            Ok(v) => self.values[id.index()] = v,
            Err(e) => self.errors.push(e),
        }
    }
}

/// The index of a category cell, matched case- and accent-insensitively.
pub(super) fn category_value(id: FieldId, text: &str) -> Result<f64, FieldError> {
    match id.spec().kind {
        Kind::Category(values) => schema::match_category(values, text)
            .map(|i| i as f64)
            .ok_or_else(|| schema::unknown_category(id.name(), values, text)),
        _ => Err(FieldError::new(id.name(), "is not a category column")),
    }
}

pub(super) fn null_cell(column: &str) -> FieldError {
    FieldError::new(column, "is empty (null)")
}

/// Collects validated rows into a table.
pub(super) struct TableBuilder {
    location: String,
    table: ApplicantTable,
}

impl TableBuilder {
    pub fn new(path: &Path, columns: &Columns) -> TableBuilder {
        let table = ApplicantTable {
            applicants: Vec::new(),
            approval_score: columns.score.map(|_| Vec::new()),
            approved: columns.label.map(|_| Vec::new()),
        };
        TableBuilder { location: path.display().to_string(), table }
    }

    /// Validates row `index` (0-based) and appends it, or names every problem in it.
    pub fn push(&mut self, index: usize, mut cells: RowCells) -> Result<()> {
        let score_unread = cells.errors.iter().any(|e| e.field == SCORE_COLUMN);
        if self.table.approval_score.is_some() && !score_unread && !cells.score.is_finite() {
            cells.errors.push(FieldError::new(SCORE_COLUMN, format!("must be finite, got {}", cells.score)));
        }
        let applicant = match Applicant::from_values(cells.values) {
            Ok(a) if cells.errors.is_empty() => a,
            Ok(_) => return Err(self.row_error(index, cells.errors)),
            Err(range_errors) => {
                // A cell that could not be read already has its error; its placeholder value
                // would only add a second, misleading one.
                let unread = |e: &FieldError| cells.errors.iter().any(|c| c.field == e.field);
                let extra: Vec<FieldError> = range_errors.into_iter().filter(|e| !unread(e)).collect();
                cells.errors.extend(extra);
                return Err(self.row_error(index, cells.errors));
            }
        };
        self.table.applicants.push(applicant);
        if let Some(scores) = &mut self.table.approval_score {
            scores.push(cells.score);
        }
        if let Some(labels) = &mut self.table.approved {
            labels.push(cells.approved);
        }
        Ok(())
    }

    fn row_error(&self, index: usize, mut errors: Vec<FieldError>) -> Error {
        errors.sort_by_key(|e| column_order(&e.field));
        Error::invalid(format!("{} row {}", self.location, index + 1), errors)
    }

    pub fn reserve(&mut self, rows: usize) {
        self.table.applicants.reserve(rows);
        if let Some(s) = &mut self.table.approval_score {
            s.reserve(rows);
        }
        if let Some(l) = &mut self.table.approved {
            l.reserve(rows);
        }
    }

    /// The table; a file without a single applicant is an error.
    pub fn finish(self, path: &Path) -> Result<ApplicantTable> {
        if self.table.is_empty() {
            return Err(Error::bad_file(path, "contains no applicants (no data rows)"));
        }
        Ok(self.table)
    }
}

/// Errors are listed in table column order.
fn column_order(name: &str) -> usize {
    match FieldId::by_name(name) {
        Some(id) => id.index(),
        None if name == SCORE_COLUMN => N_FIELDS,
        None => N_FIELDS + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        let mut names: Vec<String> = FieldId::ALL.iter().map(|f| f.name().to_string()).collect();
        names.reverse();
        names.push("extra".into());
        names
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let columns = Columns::resolve(Path::new("x.csv"), &names()).unwrap();
        assert_eq!(columns.fields[0], N_FIELDS - 1);
        assert_eq!(columns.fields[N_FIELDS - 1], 0);
        assert_eq!((columns.score, columns.label), (None, None));
    }

    #[test]
    fn every_missing_column_is_named() {
        let mut names = names();
        names.retain(|n| n != "income" && n != "region");
        let err = Columns::resolve(Path::new("x.csv"), &names).unwrap_err().to_string();
        assert_eq!(err, "x.csv: region: column is missing; income: column is missing");
    }

    /// Before, the first of two `income` columns was read silently.
    #[test]
    fn a_repeated_column_is_refused() {
        let mut names = names();
        names.push("income".into());
        names.push("approved".into());
        names.push("approved".into());
        names.push("extra".into()); // repeated but unread: harmless
        let err = Columns::resolve(Path::new("x.csv"), &names).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "x.csv: income: column appears 2 times; keep one; approved: column appears 2 times; keep one"
        );
    }

    #[test]
    fn a_bad_row_names_its_row_and_every_bad_column_once() {
        let columns = Columns::resolve(Path::new("f.parquet"), &names()).unwrap();
        let mut builder = TableBuilder::new(Path::new("f.parquet"), &columns);
        let mut cells = RowCells::new();
        cells.values[FieldId::Age.index()] = 10.0;
        cells.set(FieldId::Region, category_value(FieldId::Region, "Lima"));
        let err = builder.push(16, cells).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("f.parquet row 17: age: must be between 18 and 120, got 10; region: unknown"),
            "{text}"
        );
        assert_eq!(text.matches("region").count(), 1, "{text}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn categories_match_without_case_or_accents() {
        assert_eq!(category_value(FieldId::Region, "VALPARAISO"), Ok(5.0));
        assert_eq!(category_value(FieldId::Gender, " m "), Ok(1.0));
        assert!(category_value(FieldId::Gender, "x").is_err());
    }

    #[test]
    fn an_empty_table_is_an_error() {
        let columns = Columns::resolve(Path::new("e.csv"), &names()).unwrap();
        let err = TableBuilder::new(Path::new("e.csv"), &columns).finish(Path::new("e.csv")).unwrap_err();
        assert!(err.to_string().contains("no applicants"), "{err}");
    }
}
