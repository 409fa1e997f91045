//! The audit log: one JSON Lines decision record per answered decision (request id, time, model
//! run id, the customer as scored, decision, probability, reasons), appended with one `write` per
//! request under a mutex to a file opened with O_APPEND, before the answer is sent — what a lender
//! needs to explain a specific decision later (Ley 21.719 art. 8 bis, Reg B).

use crate::error::{Error, Result};
use crate::explain::{ModelRef, Reason, Warning};
use crate::tracking::civil_from_days;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

/// One decision record (one line of the log).
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub time: String,
    pub request_id: &'a str,
    pub endpoint: &'a str,
    /// Position in a `/predict/batch` request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub model: &'a ModelRef,
    pub method: &'a str,
    /// The customer as the model scored it (categories in canonical spelling).
    pub customer: serde_json::Value,
    pub decision: &'static str,
    pub approved: bool,
    pub probability: f64,
    pub threshold: f64,
    /// The reasons for a denial (empty when approved).
    pub reasons: &'a [Reason],
    pub warnings: &'a [Warning],
    pub lang: &'static str,
}

impl AuditLog {
    /// Opens (creating if needed, owner-only: it holds personal data) `path` for appending.
    pub fn open(path: &Path) -> Result<AuditLog> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|e| Error::io(path, e))?;
        Ok(AuditLog { path: path.to_path_buf(), file: Mutex::new(file) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends complete lines in one write (a batch's records stay together); the data is in the
    /// kernel when this returns.
    pub fn append(&self, lines: &[u8]) -> std::io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(lines)?;
        file.flush()
    }
}

impl Record<'_> {
    /// The record as one JSON line (with its `\n`), appended to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }
}

/// Now, as RFC 3339 UTC with milliseconds (`2025-11-27T09:07:36.123Z`).
pub fn now_rfc3339() -> String {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    rfc3339(ms)
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let s = ms_of_day / 1000;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", s / 3600, s / 60 % 60, s % 60, ms_of_day % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Days from the epoch counted by brute force, month by month, from the calendar's rules.
    fn brute_days(y: i64, m: u32, d: u32) -> i64 {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_len = |y: i64, m: u32| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut days = 0;
        for year in 1970..y {
            days += if leap(year) { 366 } else { 365 };
        }
        for month in 1..m {
            days += month_len(y, month);
        }
        days + i64::from(d) - 1
    }

    #[test]
    fn dates_match_a_brute_force_calendar() {
        for (y, m, d) in
            [(1970, 1, 1), (2000, 2, 29), (2000, 3, 1), (2024, 12, 31), (2100, 3, 1), (2025, 11, 27)]
        {
            assert_eq!(civil_from_days(brute_days(y, m, d)), (y, m, d));
        }
        let ms = brute_days(2025, 11, 27) * 86_400_000 + ((9 * 60 + 7) * 60 + 36) * 1000 + 123;
        assert_eq!(rfc3339(ms), "2025-11-27T09:07:36.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn appends_whole_lines_and_keeps_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{\"earlier\":1}\n").unwrap();
        let log = AuditLog::open(&path).unwrap();
        log.append(b"{\"a\":1}\n").unwrap();
        log.append(b"{\"b\":2}\n{\"c\":3}\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"earlier\":1}\n{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    }
}
