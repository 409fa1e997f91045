//! Run artifacts in the file store: the run's `artifacts/` directory (where its `artifact_uri`
//! points). Logging copies each file in through a temp file in the run directory and a rename;
//! reading lists that directory, hands it out as is, or reads one file (size-checked first).

use super::super::entities::ArtifactEntry;
use super::super::local_files::{clean_artifact_path, files_to_log};
use super::store::{FileStore, put_with};
use crate::error::{Error, Result};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// One artifact read whole (an MLmodel, a JSON report) is at most this large.
pub const MAX_READ_BYTES: u64 = 64 << 20;

impl FileStore {
    pub fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: Option<&str>) -> Result<()> {
        let run = self.run_meta(run_id)?;
        let rel = clean_artifact_path(artifact_path)?;
        let files = files_to_log(local_dir)?;
        let dest = run.artifact_dir().join(&rel);
        for (file_rel, src) in files {
            let mut input = File::open(&src).map_err(|e| Error::io(&src, e))?;
            put_with(&run.dir, &dest.join(&file_rel), |temp| {
                let mut out = File::create(temp)?;
                std::io::copy(&mut input, &mut out)?;
                out.sync_all()
            })?;
        }
        Ok(())
    }

    pub fn list_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<ArtifactEntry>> {
        let rel = clean_artifact_path(Some(path))?;
        let dir = self.run_meta(run_id)?.artifact_dir().join(&rel);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut out: Vec<ArtifactEntry> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let meta = entry.metadata().ok()?;
                Some(ArtifactEntry {
                    path: if rel.is_empty() { name } else { format!("{rel}/{name}") },
                    is_dir: meta.is_dir(),
                    size: meta.is_file().then_some(meta.len()),
                })
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The artifact directory itself: nothing to download on this machine.
    pub fn download_artifacts(&self, run_id: &str, path: &str) -> Result<PathBuf> {
        let rel = clean_artifact_path(Some(path))?;
        let dir = self.run_meta(run_id)?.artifact_dir().join(&rel);
        if !dir.exists() {
            return Err(Error::ModelNotFound(format!(
                "run {run_id} has no artifact {rel:?} ({} does not exist)",
                dir.display()
            )));
        }
        Ok(dir)
    }

    pub fn read_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>> {
        let rel = clean_artifact_path(Some(path))?;
        read_bounded(&self.run_meta(run_id)?.artifact_dir().join(rel))
    }
}

/// A regular file of at most [`MAX_READ_BYTES`], checked before reading.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    crate::fsutil::read_limited(path, MAX_READ_BYTES)
}
