//! Crash-safe file output: everything the product writes goes to a temp file in the target
//! directory and is renamed into place only when complete, so an error or Ctrl-C never leaves a
//! half-written file behind.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
}
