//! The rows behind a report as CSV: each row's group in every grouping, its probability, the
//! decision and the label, so an auditor (or an independent tool) can recompute any number.

use super::{FairnessConfig, groupings};
use crate::data::ApplicantTable;
use crate::data::csv::cell;
use crate::error::{Error, Result};
use crate::fsutil::AtomicFile;
use std::io::Write;
use std::path::Path;

/// Writes `path` atomically: a header `GROUPING…,probability,decision,label`, then one line per
/// row; probabilities in the shortest form that parses back to the same f64, decision and label
/// as 0/1 (label empty without labels).
pub fn write_rows_csv(
    path: &Path,
    table: &ApplicantTable,
    probabilities: &[f64],
    threshold: f64,
    config: &FairnessConfig,
) -> Result<()> {
    let groups = groupings(table, config)?;
    let mut file = AtomicFile::create(path)?;
    let io = |e| Error::io(path, e);
    let mut header: Vec<String> = groups.iter().map(|(by, _)| cell(&by.name).into_owned()).collect();
    header.extend(["probability", "decision", "label"].map(String::from));
    writeln!(file.writer(), "{}", header.join(",")).map_err(io)?;
    for (i, &p) in probabilities.iter().enumerate() {
        let w = file.writer();
        for (_, g) in &groups {
            write!(w, "{},", cell(&g.labels[g.index[i] as usize])).map_err(io)?;
        }
        let label = table.approved.as_ref().map_or(String::new(), |y| u8::from(y[i]).to_string());
        writeln!(w, "{p},{},{label}", u8::from(p >= threshold)).map_err(io)?;
    }
    file.commit()
}
