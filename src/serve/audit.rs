//! The audit log: one JSON Lines decision record per answered decision (request id, time, the
//! model that answered — run id, and registry name and version —, the API key's name, the
//! customer as scored, decision, probability, reasons), written before the answer is
//! sent — what a lender needs to explain a specific decision later (Ley 21.719 art. 8 bis, Reg B).
//! A request's records are appended as one unit, all or nothing: a write cut short (a full disk)
//! is cut back off the file before the request is refused, so the log only ever holds whole
//! records of decisions that were given. SIGHUP reopens the path (log rotation).

use crate::error::{Error, Result};
use crate::explain::{ModelRef, Reason, Reference, Warning};
use crate::tracking::civil_from_days;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Room a readiness check reserves past the end of the log (a few records; a denial with its
/// reasons is about 1.5 kB): "decisions can be recorded" means at least this much fits.
pub const PROBE_BYTES: u64 = 16 * 1024;

pub struct AuditLog {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    file: Box<dyn Target>,
    health: Health,
}

/// What the last write or check of the log found.
#[derive(Debug, Clone, PartialEq)]
enum Health {
    Writable,
    /// The last write or room check failed with this error.
    Failing(String),
    /// A write cut short could not be cut back: the file ends in a partial record from `at` on
    /// (None: its length is unknown). Nothing is appended until the cut succeeds or the file is
    /// reopened, so no later record can fuse with the fragment.
    Torn {
        at: Option<u64>,
        why: String,
    },
}

/// What the log appends to: the open file (an injected fake in unit tests).
trait Target: Send {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize>;
    fn len(&self) -> io::Result<u64>;
    fn cut(&mut self, len: u64) -> io::Result<()>;
    /// Reserves `bytes` past `at` without changing the length; Ok(false) where the file system
    /// cannot tell (no fallocate).
    fn reserve(&self, at: u64, bytes: u64) -> io::Result<bool>;
}

impl Target for File {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        Write::write(self, bytes)
    }

    fn len(&self) -> io::Result<u64> {
        self.metadata().map(|m| m.len())
    }

    fn cut(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }

    #[cfg(target_os = "linux")]
    fn reserve(&self, at: u64, bytes: u64) -> io::Result<bool> {
        use rustix::fs::{FallocateFlags, fallocate};
        use rustix::io::Errno;
        match fallocate(self, FallocateFlags::KEEP_SIZE, at, bytes) {
            Ok(()) => Ok(true),
            Err(e) if [Errno::OPNOTSUPP, Errno::NOSYS, Errno::NODEV].contains(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn reserve(&self, _at: u64, _bytes: u64) -> io::Result<bool> {
        Ok(false)
    }
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
    /// What the reasons compare the customer with (see `explain::Reference`).
    pub reference: Reference,
    /// The name of the API key the decision was asked with (never the key itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
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

/// Opens `path` for appending (created owner-only: it holds personal data). Only a regular file
/// will do: a partial record can be cut back from nothing else, and a FIFO would block.
fn open_file(path: &Path) -> Result<File> {
    let not_regular = || {
        Error::Usage(format!(
            "audit log {}: not a regular file (a partial record can only be cut back from a file)",
            path.display()
        ))
    };
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(not_regular());
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    // Checked again on the open file: the path may have changed in between.
    if !file.metadata().map_err(|e| Error::io(path, e))?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

impl AuditLog {
    /// Opens (creating if needed) the log at `path` and checks there is room to record.
    pub fn open(path: &Path) -> Result<AuditLog> {
        let log = AuditLog::over(path, Box::new(open_file(path)?));
        let _ = log.check();
        Ok(log)
    }

    fn over(path: &Path, file: Box<dyn Target>) -> AuditLog {
        AuditLog { path: path.to_path_buf(), inner: Mutex::new(Inner { file, health: Health::Writable }) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends complete lines (one request's records) as one unit: when this returns Ok they are
    /// all in the kernel; when it fails none of them is in the file.
    pub fn append(&self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(()); // a batch of invalid customers decided nothing
        }
        let mut inner = self.lock();
        inner.mend()?;
        match write_whole(&mut *inner.file, lines) {
            Ok(()) => {
                inner.health = Health::Writable;
                Ok(())
            }
            Err((written, e)) => {
                inner.health = Health::Failing(e.to_string());
                if written > 0 {
                    inner.cut_back(written, &self.path);
                }
                Err(e)
            }
        }
    }

    /// Whether decisions can be recorded now: no unmended fragment, and room for
    /// [`PROBE_BYTES`] more (reserved without changing the file, where the file system can);
    /// otherwise the last write's outcome. Err says why not.
    pub fn check(&self) -> std::result::Result<(), String> {
        let mut inner = self.lock();
        if let Err(e) = inner.mend() {
            return Err(e.to_string());
        }
        let reserved = inner.file.len().and_then(|end| inner.file.reserve(end, PROBE_BYTES));
        match reserved {
            Ok(true) => inner.health = Health::Writable,
            Ok(false) => {}
            Err(e) => inner.health = Health::Failing(format!("no room for {PROBE_BYTES} more bytes: {e}")),
        }
        match &inner.health {
            Health::Writable => Ok(()),
            Health::Failing(why) | Health::Torn { why, .. } => Err(why.clone()),
        }
    }

    /// Opens the path anew (after `mv` by logrotate) and appends there from now on; a record is
    /// never split between the two files. On failure the old file stays in use.
    pub fn reopen(&self) -> Result<()> {
        let file = open_file(&self.path)?;
        let mut inner = self.lock();
        if let Err(e) = inner.mend() {
            tracing::error!(error = %e, "the rotated audit log keeps a partial record at its end");
        }
        inner.file = Box::new(file);
        inner.health = Health::Writable;
        Ok(())
    }
}

impl Inner {
    /// Cuts a fragment left by an earlier failed cut; Err while it cannot (nothing is appended).
    fn mend(&mut self) -> io::Result<()> {
        let Health::Torn { at, why } = &self.health else { return Ok(()) };
        let Some(at) = *at else {
            return Err(io::Error::other(format!(
                "the audit log ends in a partial record that could not be cut back ({why}); send SIGHUP \
                 after moving it aside"
            )));
        };
        match self.file.cut(at) {
            Ok(()) => {
                self.health = Health::Failing(why.clone());
                Ok(())
            }
            Err(e) => Err(io::Error::other(format!(
                "the audit log ends in a partial record that cannot be cut back yet: {e}"
            ))),
        }
    }

    /// Removes the `written` bytes of a write that failed part-way. The file's end is read after
    /// the failure (not remembered from before) so that a file truncated meanwhile by
    /// `copytruncate` is never extended with zeros.
    fn cut_back(&mut self, written: u64, path: &Path) {
        let cut = match self.file.len() {
            Ok(end) => {
                let at = end.saturating_sub(written);
                self.file.cut(at).map_err(|e| (Some(at), e))
            }
            Err(e) => Err((None, e)),
        };
        if let Err((at, e)) = cut {
            let why = format!("a partial write could not be cut back: {e}");
            tracing::error!(path = %path.display(), error = %e, "audit log torn");
            self.health = Health::Torn { at, why };
        }
    }
}

/// Writes all of `bytes`; on failure, how many bytes did reach the file, and why it stopped.
fn write_whole(file: &mut dyn Target, bytes: &[u8]) -> std::result::Result<(), (u64, io::Error)> {
    let mut written = 0;
    while written < bytes.len() {
        match file.write(&bytes[written..]) {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::WriteZero, "the audit log accepted no more bytes");
                return Err((written as u64, e));
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((written as u64, e)),
        }
    }
    Ok(())
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

    /// A disk that holds `room` bytes: a write beyond it is cut short, then fails with ENOSPC.
    #[derive(Default)]
    struct Disk {
        bytes: Vec<u8>,
        room: usize,
        cut_fails: bool,
    }

    #[derive(Clone, Default)]
    struct FakeFile(std::sync::Arc<Mutex<Disk>>);

    const ENOSPC: i32 = 28;

    impl Target for FakeFile {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut disk = self.0.lock().unwrap();
            let n = bytes.len().min(disk.room.saturating_sub(disk.bytes.len()));
            if n == 0 && !bytes.is_empty() {
                return Err(io::Error::from_raw_os_error(ENOSPC));
            }
            disk.bytes.extend_from_slice(&bytes[..n]);
            Ok(n)
        }
        fn len(&self) -> io::Result<u64> {
            Ok(self.0.lock().unwrap().bytes.len() as u64)
        }
        fn cut(&mut self, len: u64) -> io::Result<()> {
            let mut disk = self.0.lock().unwrap();
            if disk.cut_fails {
                return Err(io::Error::from_raw_os_error(5));
            }
            disk.bytes.truncate(len as usize);
            Ok(())
        }
        fn reserve(&self, at: u64, bytes: u64) -> io::Result<bool> {
            let disk = self.0.lock().unwrap();
            if at + bytes <= disk.room as u64 { Ok(true) } else { Err(io::Error::from_raw_os_error(ENOSPC)) }
        }
    }

    impl FakeFile {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().bytes.clone()).unwrap()
        }
        fn set(&self, room: usize, cut_fails: bool) {
            let mut disk = self.0.lock().unwrap();
            disk.room = room;
            disk.cut_fails = cut_fails;
        }
    }

    const BATCH: &[u8] = b"{\"b\":22222}\n{\"c\":33333}\n{\"d\":44444}\n";

    #[test]
    fn a_write_cut_short_is_cut_back_so_the_next_record_starts_clean() {
        let disk = FakeFile::default();
        disk.set(30, false);
        let log = AuditLog::over(Path::new("fake"), Box::new(disk.clone()));
        log.append(b"{\"a\":1}\n").unwrap();
        let e = log.append(BATCH).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(ENOSPC));
        assert_eq!(disk.text(), "{\"a\":1}\n", "none of the batch stays, not even its first records");
        assert!(log.check().unwrap_err().contains("No space left"), "not ready while full");

        disk.set(PROBE_BYTES as usize + 100, false);
        assert_eq!(log.check(), Ok(()), "ready again once there is room, before any write");
        log.append(b"{\"e\":5}\n").unwrap();
        log.append(BATCH).unwrap();
        let text = disk.text();
        assert_eq!(text, format!("{{\"a\":1}}\n{{\"e\":5}}\n{}", String::from_utf8_lossy(BATCH)));
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn a_fragment_that_cannot_be_cut_blocks_every_append_until_it_is() {
        let disk = FakeFile::default();
        disk.set(30, true);
        let log = AuditLog::over(Path::new("fake"), Box::new(disk.clone()));
        log.append(b"{\"a\":1}\n").unwrap();
        assert!(log.append(BATCH).is_err());
        let torn = disk.text();
        assert!(torn.len() > 8, "the fragment is still there: {torn:?}");
        disk.set(1000, true);
        assert!(log.append(b"{\"e\":5}\n").is_err(), "nothing may fuse with the fragment");
        assert!(log.check().is_err());
        assert_eq!(disk.text(), torn);
        disk.set(PROBE_BYTES as usize + 100, false);
        log.append(b"{\"e\":5}\n").unwrap();
        assert_eq!(disk.text(), "{\"a\":1}\n{\"e\":5}\n");
        assert_eq!(log.check(), Ok(()));
    }

    /// /dev/full fails every write before a byte lands: nothing to cut, the error reported.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_write_refused_outright_reports_the_error() {
        let full = OpenOptions::new().append(true).open("/dev/full").unwrap();
        let log = AuditLog::over(Path::new("/dev/full"), Box::new(full));
        assert_eq!(log.append(b"{\"a\":1}\n").unwrap_err().raw_os_error(), Some(ENOSPC));
        assert!(log.check().unwrap_err().contains("No space left"));
    }

    #[cfg(unix)]
    #[test]
    fn only_a_regular_file_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        for path in [Path::new("/dev/full"), dir.path()] {
            let e = AuditLog::open(path).err().unwrap();
            assert!(e.to_string().contains("not a regular file"), "{e}");
            assert_eq!(e.exit_code(), 2);
        }
        let e = AuditLog::open(&dir.path().join("missing/audit.jsonl")).err().unwrap();
        assert_eq!(e.exit_code(), 2, "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn reopen_follows_the_path_after_a_move() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (path, moved) = (dir.path().join("audit.jsonl"), dir.path().join("audit.jsonl.1"));
        let log = AuditLog::open(&path).unwrap();
        log.append(b"{\"a\":1}\n").unwrap();
        std::fs::rename(&path, &moved).unwrap();
        log.append(b"{\"b\":2}\n").unwrap();
        log.reopen().unwrap();
        log.append(b"{\"c\":3}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), "{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"c\":3}\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::create_dir(dir.path().join("gone")).unwrap();
        let elsewhere = AuditLog::open(&dir.path().join("gone/audit.jsonl")).unwrap();
        std::fs::remove_dir_all(dir.path().join("gone")).unwrap();
        assert!(elsewhere.reopen().is_err(), "the directory is gone");
        elsewhere.append(b"{\"d\":4}\n").unwrap(); // still the old (unlinked) file
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
