//! Applicant tables: the seeded generator, Parquet/CSV reading and writing (temp + rename), and the
//! dataset summary.

use crate::schema::Applicant;

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
