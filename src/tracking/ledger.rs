//! What one active run has logged so far, so both backends apply MLflow's rules the same way
//! before anything is written: valid keys, immutable params, truncated long values, and no
//! duplicate identical metric lines (pitfall P7).

use super::Metric;
use super::util::{MAX_PARAM_VALUE_LEN, MAX_TAG_VALUE_LEN, truncate_chars, validate_key};
use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub struct Ledger {
    params: HashMap<String, String>,
    metric_lines: HashSet<(String, i64, i64, u64)>,
}

impl Ledger {
    /// The params still to write (validated, truncated, without ones already logged with the
    /// same value). Logging a key again with a different value is an error, as in MLflow.
    pub fn new_params(&self, params: &[(String, String)]) -> Result<Vec<(String, String)>> {
        let mut fresh: Vec<(String, String)> = Vec::new();
        for (key, value) in params {
            validate_key("param", key)?;
            let value = truncate_chars(value, MAX_PARAM_VALUE_LEN);
            let earlier =
                self.params.get(key).or_else(|| fresh.iter().find(|(k, _)| k == key).map(|(_, v)| v));
            match earlier {
                Some(old) if *old == value => {}
                Some(old) => return Err(param_conflict(key, old, &value)),
                None => fresh.push((key.clone(), value)),
            }
        }
        Ok(fresh)
    }

    pub fn record_params(&mut self, params: &[(String, String)]) {
        self.params.extend(params.iter().cloned());
    }

    /// The tags to write (validated keys, values truncated to MLflow's limit).
    pub fn checked_tags(tags: &[(String, String)]) -> Result<Vec<(String, String)>> {
        tags.iter()
            .map(|(k, v)| {
                validate_key("tag", k)?;
                Ok((k.clone(), truncate_chars(v, MAX_TAG_VALUE_LEN)))
            })
            .collect()
    }

    /// The metrics to write: validated, without lines identical to ones already logged (or
    /// repeated within `metrics`).
    pub fn new_metrics(&self, metrics: &[Metric]) -> Result<Vec<Metric>> {
        let mut seen = HashSet::new();
        let mut fresh = Vec::new();
        for m in metrics {
            validate_key("metric", &m.key)?;
            if m.timestamp_ms < 0 {
                return Err(Error::Usage(format!(
                    "metric {:?}: negative timestamp {}",
                    m.key, m.timestamp_ms
                )));
            }
            let id = line_id(m);
            if !self.metric_lines.contains(&id) && seen.insert(id) {
                fresh.push(m.clone());
            }
        }
        Ok(fresh)
    }

    pub fn record_metrics(&mut self, metrics: &[Metric]) {
        self.metric_lines.extend(metrics.iter().map(line_id));
    }
}

pub fn param_conflict(key: &str, old: &str, new: &str) -> Error {
    Error::Tracking(format!(
        "param {key:?} was already logged with value {old:?}; params cannot change within a run \
         (new value {new:?})"
    ))
}

fn line_id(m: &Metric) -> (String, i64, i64, u64) {
    // All NaNs are one value for MLflow (it stores is_nan); normalise their bits.
    let bits = if m.value.is_nan() { f64::NAN.to_bits() } else { m.value.to_bits() };
    (m.key.clone(), m.timestamp_ms, m.step, bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn params_are_immutable_but_idempotent() {
        let mut ledger = Ledger::default();
        let fresh = ledger.new_params(&[p("a", "1"), p("b", "2"), p("a", "1")]).unwrap();
        assert_eq!(fresh, vec![p("a", "1"), p("b", "2")]);
        ledger.record_params(&fresh);
        assert!(ledger.new_params(&[p("a", "1")]).unwrap().is_empty());
        let err = ledger.new_params(&[p("a", "9")]).unwrap_err().to_string();
        assert!(err.contains("\"a\"") && err.contains("\"1\"") && err.contains("\"9\""), "{err}");
        assert!(ledger.new_params(&[p("c", "1"), p("c", "2")]).is_err());
        assert!(ledger.new_params(&[p("bad\tkey", "1")]).is_err());
    }

    #[test]
    fn identical_metric_lines_are_written_once() {
        let m = |v: f64, step| Metric { key: "auc".into(), value: v, step, timestamp_ms: 5 };
        let mut ledger = Ledger::default();
        let fresh = ledger.new_metrics(&[m(0.5, 0), m(0.5, 0), m(f64::NAN, 1), m(-f64::NAN, 1)]).unwrap();
        assert_eq!(fresh.len(), 2);
        ledger.record_metrics(&fresh);
        assert!(ledger.new_metrics(&[m(0.5, 0)]).unwrap().is_empty());
        assert_eq!(ledger.new_metrics(&[m(0.6, 0), m(0.5, 1)]).unwrap().len(), 2);
    }
}
