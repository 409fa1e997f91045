//! Crash-safe file output: everything the product writes goes to a temp file in the target
//! directory and is renamed into place only when complete, so an error or Ctrl-C never leaves a
//! half-written file behind; a set of files that belong together is built in a private staging
//! directory and published as a whole.

use crate::error::{Error, Result};
use crate::liveness::ProcessIdentity;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A file being written; it appears at its final path only on [`AtomicFile::commit`].
/// Dropped without commit (error, panic, early return), the temp file is removed.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates `<dir>/.<name>.<pid>.tmp` beside `target`; the directory must exist.
    pub fn create(target: impl AsRef<Path>) -> Result<AtomicFile> {
        let target = target.as_ref().to_path_buf();
        let name = target
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{}: not a file path", target.display())))?
            .to_string_lossy()
            .into_owned();
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&temp).map_err(|e| Error::io(&temp, e))?;
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
            .and_then(|file| file.sync_all().map_err(|e| Error::io(&self.temp, e)))
            .and_then(|()| fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.target, e)));
        if finished.is_err() {
            // The writer is gone, so Drop will not clean up: remove the temp file here.
            let _ = fs::remove_file(&self.temp);
        }
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
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(target)?;
    file.write_all(bytes).map_err(|e| Error::io(file.temp_path(), e))?;
    file.commit()
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
        let owner = ProcessIdentity::current()
            .map(ProcessIdentity::token)
            .unwrap_or_else(|| format!("{}-0-unknown", std::process::id()));
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = dest.join(format!("{STAGING_PREFIX}{owner}-{n}"));
        fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
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
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes the staging directories in `dir` left by processes that are gone (best effort).
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
