//! Crash-safe file output: everything the product writes goes to a temp file in the target
//! directory and is renamed into place only when complete, so an error or Ctrl-C never leaves a
//! half-written file behind; a set of files that belong together is built in a private staging
//! directory and published as a whole. What a killed process left is removed by the next one
//! writing there, and a command stopped by SIGINT or SIGTERM removes its own on the way out
//! ([`remove_unfinished`]).

use crate::error::{Error, Result};
use crate::liveness::ProcessIdentity;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The temp files and staging directories this process has not finished: what
/// [`remove_unfinished`] removes when a signal ends the process.
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn unfinished() -> MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(PoisonError::into_inner)
}

fn forget(list: &mut Vec<PathBuf>, path: &Path) {
    if let Some(i) = list.iter().rposition(|p| p == path) {
        list.swap_remove(i);
    }
}

/// Removes every temp file and staging directory this process is still writing. For the
/// signal handler of a command about to exit: an interrupted `generate` or `train` leaves
/// nothing. Holding the list's lock, it cannot race a commit's rename.
pub fn remove_unfinished() {
    let mut list = unfinished();
    for path in list.drain(..) {
        let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
    }
}

/// This process's token in temp and staging names (`pid-start-host`), which tells a later
/// process whether the writer is gone.
fn owner_token() -> String {
    ProcessIdentity::current()
        .map(ProcessIdentity::token)
        .unwrap_or_else(|| format!("{}-0-unknown", std::process::id()))
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written; it appears at its final path only on [`AtomicFile::commit`].
/// Dropped without commit (error, panic, early return), the temp file is removed.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates `<dir>/.<name>.<owner>.<n>.tmp` beside `target` (the directory must exist),
    /// after removing the temp files for the same target whose process is gone.
    pub fn create(target: impl AsRef<Path>) -> Result<AtomicFile> {
        let target = target.as_ref().to_path_buf();
        let name = target
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{}: not a file path", target.display())))?
            .to_string_lossy()
            .into_owned();
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        remove_stale_temps(dir, &name);
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}.{n}.tmp", owner_token()));
        let mut list = unfinished();
        let file = File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        list.push(temp.clone());
        Ok(AtomicFile { target, temp, writer: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer is present until commit")
    }

    /// The temp file's path (for writers that need a `File` of their own).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Flushes, syncs and renames the temp file onto the target.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("commit is called once");
        let finished = writer
            .into_inner()
            .map_err(|e| Error::io(&self.temp, e.into_error()))
            .and_then(|file| file.sync_all().map_err(|e| Error::io(&self.temp, e)));
        let mut list = unfinished();
        let finished = finished
            .and_then(|()| fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.target, e)));
        if finished.is_err() {
            // The writer is gone, so Drop will not clean up: remove the temp file here.
            let _ = fs::remove_file(&self.temp);
        }
        forget(&mut list, &self.temp);
        finished
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            let mut list = unfinished();
            let _ = fs::remove_file(&self.temp);
            forget(&mut list, &self.temp);
        }
    }
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(target)?;
    file.write_all(bytes).map_err(|e| Error::io(file.temp_path(), e))?;
    file.commit()
}

/// Reads a regular file of at most `max_bytes`, both checked before anything is read or
/// allocated (a FIFO would block, a device or a huge file exhaust memory); a file that grows
/// past the limit while being read is refused too.
pub fn read_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let refuse = || Error::bad_file(path, format!("is larger than {max_bytes} bytes"));
    let not_regular = || Error::bad_file(path, "is not a regular file");
    // Opening a FIFO blocks until a writer comes: look before opening, and open without
    // blocking in case it was swapped in between (then the opened file's own type refuses it).
    if !fs::metadata(path).map_err(|e| Error::io(path, e))?.is_file() {
        return Err(not_regular());
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, rustix::fs::OFlags::NONBLOCK.bits() as i32);
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > max_bytes {
        return Err(refuse());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(refuse());
    }
    Ok(bytes)
}

/// [`read_limited`] for UTF-8 text.
pub fn read_text_limited(path: &Path, max_bytes: u64) -> Result<String> {
    String::from_utf8(read_limited(path, max_bytes)?).map_err(|e| {
        Error::bad_file(path, format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
    })
}

/// Creates a directory and its parents, with the path in the error.
pub fn create_dir_all(dir: impl AsRef<Path>) -> Result<()> {
    fs::create_dir_all(dir.as_ref()).map_err(|e| Error::io(dir.as_ref(), e))
}

/// Whether a file name is a temp file of an unfinished write (`.<name>.<pid>.tmp` here, and the
/// MLflow writer's `.credrisk-….tmp`): never a result, never to be copied anywhere.
pub fn is_temp_file_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

const STAGING_PREFIX: &str = ".credrisk-staging-";
static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A private directory inside the directory its files are meant for, where one producer builds
/// a set of files that belong together (a training run's outputs). Nobody else writes there,
/// so what is published, or uploaded from it, is exactly what this producer wrote. Dropped
/// unpublished (error, panic), it is removed; one left by a killed process is removed by the
/// next [`StagingDir::create`] in the same place.
pub struct StagingDir {
    dir: PathBuf,
}

impl StagingDir {
    /// Creates `<dest>/.credrisk-staging-<owner>-<n>` (and `dest` if needed), after removing
    /// the staging directories whose process is gone.
    pub fn create(dest: &Path) -> Result<StagingDir> {
        create_dir_all(dest)?;
        remove_stale_staging(dest);
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = dest.join(format!("{STAGING_PREFIX}{}-{n}", owner_token()));
        let mut list = unfinished();
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        list.push(dir.clone());
        Ok(StagingDir { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Moves every entry into `dest`, each by one rename: a file replaces the file there, a
    /// directory replaces the whole directory there (the old one is moved aside first, and a
    /// concurrent publisher's is too), so `dest/<dir>` is always one producer's, never a mix.
    pub fn publish(self, dest: &Path) -> Result<()> {
        let mut entries: Vec<PathBuf> = fs::read_dir(&self.dir)
            .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
            .map_err(|e| Error::io(&self.dir, e))?;
        entries.sort();
        for (i, src) in entries.iter().enumerate() {
            let target = dest.join(src.file_name().unwrap_or_default());
            if src.is_dir() {
                self.replace_dir(src, &target, i)?;
            } else {
                fs::rename(src, &target).map_err(|e| Error::io(&target, e))?;
            }
        }
        Ok(()) // Drop removes the staging directory and whatever was moved aside into it.
    }

    fn replace_dir(&self, src: &Path, target: &Path, entry: usize) -> Result<()> {
        for attempt in 0..16 {
            match fs::rename(src, target) {
                Ok(()) => return Ok(()),
                // Something is in the way: move it aside whole (into this staging directory,
                // on the same file system), then try again.
                Err(_) if fs::symlink_metadata(target).is_ok() => {
                    let aside = self.dir.join(format!(".old-{entry}-{attempt}"));
                    match fs::rename(target, &aside) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(target, e)),
                    }
                }
                Err(e) => return Err(Error::io(target, e)),
            }
        }
        Err(Error::Io {
            path: target.to_path_buf(),
            source: std::io::Error::other("other processes keep replacing it; try again"),
        })
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        let mut list = unfinished();
        let _ = fs::remove_dir_all(&self.dir);
        forget(&mut list, &self.dir);
    }
}

/// Removes the staging directories in `dir` left by processes that are gone (best effort).
/// Removes `<dir>/.<name>.<owner>.<n>.tmp` files whose owner is gone: what a killed writer of
/// `name` left (never a live writer's, on this host or another sharing the directory).
fn remove_stale_temps(dir: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let owner = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|rest| rest.rsplit_once('.'))
            .map(|(owner, _)| owner);
        if owner.is_some_and(ProcessIdentity::token_is_gone) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn remove_stale_staging(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name.strip_prefix(STAGING_PREFIX).and_then(|rest| rest.rsplit_once('-')).map(|(o, _)| o);
        if owner.is_some_and(ProcessIdentity::token_is_gone) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit_and_an_abandoned_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"half").unwrap();
        assert!(!target.exists());
        drop(f);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&target, b"whole").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_staged_set_replaces_files_and_whole_directories() {
        let dest = tempfile::tempdir().unwrap();
        fs::create_dir_all(dest.path().join("model")).unwrap();
        fs::write(dest.path().join("model/.model.crm.4242.tmp"), "stale").unwrap();
        fs::write(dest.path().join("model/old-only.bin"), "old").unwrap();
        fs::write(dest.path().join("metrics.json"), "old").unwrap();
        fs::write(dest.path().join("mine.txt"), "the user's").unwrap();
        let staging = StagingDir::create(dest.path()).unwrap();
        fs::create_dir(staging.path().join("model")).unwrap();
        fs::write(staging.path().join("model/model.crm"), "new").unwrap();
        fs::write(staging.path().join("metrics.json"), "new").unwrap();
        assert_eq!(
            fs::read_to_string(dest.path().join("metrics.json")).unwrap(),
            "old",
            "nothing until publish"
        );
        staging.publish(dest.path()).unwrap();
        assert_eq!(names(dest.path()), ["metrics.json", "mine.txt", "model"]);
        assert_eq!(names(&dest.path().join("model")), ["model.crm"], "the old directory went whole");
        assert_eq!(fs::read_to_string(dest.path().join("metrics.json")).unwrap(), "new");
    }

    #[test]
    fn an_unpublished_staging_dir_is_removed_and_a_dead_owners_is_swept() {
        let dest = tempfile::tempdir().unwrap();
        let staging = StagingDir::create(dest.path()).unwrap();
        fs::write(staging.path().join("half.bin"), "x").unwrap();
        drop(staging);
        assert!(names(dest.path()).is_empty());
        // One left by a process that has ended (a child we ran and reaped).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let me = ProcessIdentity::current().unwrap();
        let dead = ProcessIdentity { pid, start_ticks: u64::MAX, ..me.clone() };
        child.wait().unwrap();
        let stale = dest.path().join(format!("{STAGING_PREFIX}{}-0", dead.token()));
        let live = dest.path().join(format!("{STAGING_PREFIX}{}-99", me.token()));
        for dir in [&stale, &live] {
            fs::create_dir(dir).unwrap();
        }
        let staging = StagingDir::create(dest.path()).unwrap();
        assert!(!stale.exists(), "a dead process's staging directory is swept");
        assert!(live.exists(), "a live one's is kept");
        drop(staging);
    }

    #[test]
    fn temp_file_names_are_recognised() {
        assert!(is_temp_file_name(".model.crm.4242.tmp"));
        assert!(is_temp_file_name(".credrisk-1-2.tmp"));
        assert!(!is_temp_file_name("model.crm"));
        assert!(!is_temp_file_name("notes.tmp"));
    }
}
