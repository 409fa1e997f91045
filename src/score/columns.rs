//! The output table of `score`: which columns it has (ids or row number, probability, approved,
//! SHAP per field and base value, reasons, error) and one batch of them computed on every core.

use super::{Extras, reason_options};
use crate::data::stream::{OnError, RowBatch};
use crate::error::{Error, FieldError, Result};
use crate::explain::{Explainer, Reference};
use crate::monitor::Scorer;
use crate::shap::BLOCK_ROWS;
use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use rayon::prelude::*;
use std::sync::Arc;

/// The name of the row-number column written when the input has none of the schema's id columns.
pub const ROW_COLUMN: &str = "row";
/// The prefix of the SHAP columns: `shap_<field>`.
pub const SHAP_PREFIX: &str = "shap_";
/// The output schema's metadata key naming the reference of the SHAP values and reasons.
pub const REFERENCE_KEY: &str = "credrisk.reference";
/// Separates the reasons of one denial in the `reasons` column.
pub const REASON_SEPARATOR: &str = " | ";

/// The output layout of one run, fixed before the first row, and the forest made ready to score.
pub struct Columns<'m> {
    ids: Vec<String>,
    fields: Vec<String>,
    extras: Extras,
    on_error: OnError,
    threshold: f64,
    base_value: f64,
    reference: Reference,
    scorer: Scorer<'m>,
}

/// How many of a batch's rows were approved and how many were invalid.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub approved: u64,
    pub invalid: u64,
}

/// One valid row's results.
struct Scored {
    probability: f64,
    /// Per-field SHAP values (empty unless explained).
    shap: Vec<f64>,
    reasons: Option<String>,
}

impl<'m> Columns<'m> {
    pub fn new(explainer: &'m Explainer, ids: &[String], extras: Extras, on_error: OnError) -> Columns<'m> {
        Columns {
            ids: ids.to_vec(),
            fields: explainer.field_names(),
            extras,
            on_error,
            threshold: explainer.model().threshold,
            base_value: explainer.base_value(),
            reference: explainer.default_reference(),
            scorer: Scorer::new(explainer.model()),
        }
    }

    /// The Arrow schema of the output.
    pub fn schema(&self) -> SchemaRef {
        let skip = self.on_error == OnError::Skip;
        let mut fields = Vec::new();
        if self.ids.is_empty() {
            fields.push(Field::new(ROW_COLUMN, DataType::Int64, false));
        }
        fields.extend(self.ids.iter().map(|n| Field::new(n.as_str(), DataType::Utf8, false)));
        fields.push(Field::new("probability", DataType::Float64, skip));
        fields.push(Field::new("approved", DataType::Boolean, skip));
        if self.extras.explain {
            fields.push(Field::new("base_value", DataType::Float64, skip));
            for name in &self.fields {
                fields.push(Field::new(format!("{SHAP_PREFIX}{name}"), DataType::Float64, skip));
            }
        }
        if self.extras.reasons.is_some() {
            fields.push(Field::new("reasons", DataType::Utf8, true));
        }
        if skip {
            fields.push(Field::new("error", DataType::Utf8, true));
        }
        let schema = ArrowSchema::new(fields);
        if !(self.extras.explain || self.extras.reasons.is_some()) {
            return Arc::new(schema);
        }
        // Which reference the SHAP values and reasons compare with travels with the file.
        let about = [(REFERENCE_KEY.to_string(), self.reference.name().to_string())];
        Arc::new(schema.with_metadata(about.into_iter().collect::<std::collections::HashMap<_, _>>()))
    }

    /// Scores the valid rows of `batch` in parallel (row order kept) and lays out every row.
    pub fn score(&self, explainer: &Explainer, batch: &RowBatch) -> Result<(RecordBatch, Counts)> {
        let table = &batch.table;
        let shap = self.extras.explain || self.extras.reasons.is_some();
        let options = reason_options(self.extras);
        let k = self.fields.len();
        if !shap {
            let probabilities = self.scorer.score(table);
            let scored: Vec<Scored> = probabilities
                .into_iter()
                .map(|probability| Scored { probability, shap: Vec::new(), reasons: None })
                .collect();
            return self.layout(batch, &scored);
        }
        // Blocks of rows (TreeSHAP runs a block in the vector lanes, same bits as row by row).
        let stride = table.stride().max(1);
        let blocks: Vec<Vec<Scored>> = table
            .values()
            .par_chunks(stride * BLOCK_ROWS)
            .map_init(
                || (explainer.work(), vec![0.0; k * BLOCK_ROWS]),
                |(work, per_field), block| -> Result<Vec<Scored>> {
                    let rows: Vec<&[f64]> = block.chunks(stride).collect();
                    let per_field = &mut per_field[..rows.len() * k];
                    let probabilities = explainer.fields_shap_block(&rows, work, per_field)?;
                    let scored = rows.iter().zip(probabilities).zip(per_field.chunks_exact(k));
                    Ok(scored
                        .map(|((row, probability), per_field)| {
                            let reasons = match self.extras.reasons {
                                Some(_) if probability < self.threshold => {
                                    let applicant = crate::schema::Applicant::from_checked(row);
                                    let reasons = explainer.reasons_of(&applicant, per_field, options);
                                    let texts: Vec<&str> = reasons.iter().map(|r| r.text.as_str()).collect();
                                    Some(texts.join(REASON_SEPARATOR))
                                }
                                _ => None,
                            };
                            let shap = if self.extras.explain { per_field.to_vec() } else { Vec::new() };
                            Scored { probability, shap, reasons }
                        })
                        .collect())
                },
            )
            .collect::<Result<_>>()?;
        let scored: Vec<Scored> = blocks.into_iter().flatten().collect();
        self.layout(batch, &scored)
    }

    /// Every input row in order: a valid row's results, an invalid row's nulls and error.
    fn layout(&self, batch: &RowBatch, scored: &[Scored]) -> Result<(RecordBatch, Counts)> {
        let n = batch.len();
        // For each input row, its results (None: it was invalid).
        let mut next = scored.iter();
        let rows: Vec<Option<&Scored>> =
            batch.problems.iter().map(|p| if p.is_none() { next.next() } else { None }).collect();
        let mut columns: Vec<ArrayRef> = Vec::new();
        if self.ids.is_empty() {
            let first = batch.first_row as i64;
            columns.push(Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| first + i + 1))));
        }
        for id in &batch.ids {
            columns.push(Arc::new(StringArray::from_iter_values(id.values.iter())));
        }
        let probability = |r: &Option<&Scored>| r.map(|s| s.probability);
        columns.push(Arc::new(rows.iter().map(probability).collect::<Float64Array>()));
        let approved: BooleanArray =
            rows.iter().map(|r| probability(r).map(|p| p >= self.threshold)).collect();
        let counts = Counts {
            approved: approved.true_count() as u64,
            invalid: batch.problems.iter().filter(|p| p.is_some()).count() as u64,
        };
        columns.push(Arc::new(approved));
        if self.extras.explain {
            let base = rows.iter().map(|r| r.map(|_| self.base_value));
            columns.push(Arc::new(base.collect::<Float64Array>()));
            for f in 0..self.fields.len() {
                let values = rows.iter().map(|r| r.map(|s| s.shap[f]));
                columns.push(Arc::new(values.collect::<Float64Array>()));
            }
        }
        if self.extras.reasons.is_some() {
            let reasons = rows.iter().map(|r| r.and_then(|s| s.reasons.as_deref()));
            columns.push(Arc::new(reasons.collect::<StringArray>()));
        }
        if self.on_error == OnError::Skip {
            let errors = batch.problems.iter().map(|p| p.as_deref().map(describe));
            columns.push(Arc::new(errors.collect::<StringArray>()));
        }
        let batch = RecordBatch::try_new(self.schema(), columns)
            .map_err(|e| Error::Internal(format!("laying out scores: {e}")))?;
        Ok((batch, counts))
    }
}

/// A row's problems as one line: `age: must be …; region: unknown …`.
fn describe(errors: &[FieldError]) -> String {
    errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}
