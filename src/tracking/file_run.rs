//! Writing one run into the file store so that the store is readable at every instant: the run
//! becomes visible when its meta.yaml is renamed into place (after metrics/ params/ artifacts/
//! exist), new files appear by rename from a temp file in the run directory (where MLflow never
//! looks), metric lines are appended with one write() each (truncated back on failure), and the
//! status stays RUNNING until `end_run`.

use super::file_store::{FileStore, RunMeta, store_error, with_store_hint};
use super::ledger::{Ledger, param_conflict};
use super::uri::path_to_file_uri;
use super::util::{current_user, new_run_id, now_ms};
use super::{
    ERROR_TAG, Metric, RunInfo, RunStatus, Tracker, no_active_run, run_name_or_default, standard_run_tags,
};
use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Artifact trees deeper than this are refused (a symlink loop, most likely).
const MAX_ARTIFACT_DEPTH: usize = 32;

pub struct FileTracker {
    store: FileStore,
    active: Option<ActiveRun>,
}

struct ActiveRun {
    info: RunInfo,
    meta: RunMeta,
    ledger: Ledger,
    failed: bool,
    ended: bool,
}

impl FileTracker {
    pub fn open(root: &Path) -> Result<FileTracker> {
        Ok(FileTracker { store: FileStore::create(root)?, active: None })
    }

    fn run_mut(&mut self, what: &str) -> Result<&mut ActiveRun> {
        let run = self.active.as_mut().ok_or_else(|| no_active_run(what))?;
        if run.ended {
            return Err(Error::Tracking(format!(
                "{what}: run {} has already ended ({})",
                run.info.run_id, run.meta.status
            )));
        }
        Ok(run)
    }

    /// Runs a logging step; on error, marks the run FAILED (best effort) and returns the error.
    fn guarded<T>(&mut self, what: &str, step: impl FnOnce(&mut ActiveRun) -> Result<T>) -> Result<T> {
        let run = self.run_mut(what)?;
        let result = step(run);
        if let Err(e) = &result {
            mark_failed(run, &e.to_string());
        }
        result
    }

    fn create_run(&self, experiment: &str, run_name: &str, tags: &[(String, String)]) -> Result<ActiveRun> {
        let user = current_user();
        let run_name = run_name_or_default(run_name);
        // Validated before anything exists, so a bad tag never leaves a half-made run.
        let all_tags = Ledger::checked_tags(&standard_run_tags(&run_name, &user, tags))?;
        let exp = self.store.get_or_create_experiment(experiment)?;
        let run_id = new_run_id();
        let dir = exp.dir.join(&run_id);
        fs::create_dir(&dir).map_err(|e| store_error(&dir, e))?;
        let made = ["metrics", "params", "artifacts", "tags"]
            .iter()
            .try_for_each(|sub| fs::create_dir(dir.join(sub)).map_err(|e| store_error(&dir.join(sub), e)));
        if let Err(e) = made {
            // A run directory without meta.yaml would trip readers that list directories.
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        let meta = RunMeta {
            run_id: run_id.clone(),
            experiment_id: exp.id.clone(),
            run_name: run_name.clone(),
            user_id: user.clone(),
            status: RunStatus::Running,
            start_time: now_ms(),
            end_time: None,
            lifecycle_stage: "active".into(),
            artifact_uri: path_to_file_uri(&dir.join("artifacts")),
            dir: dir.clone(),
        };
        if let Err(e) = meta.save() {
            let _ = fs::remove_dir_all(&dir);
            return Err(with_store_hint(e));
        }
        let mut run = ActiveRun {
            info: RunInfo { run_id, experiment_id: exp.id, artifact_uri: meta.artifact_uri.clone() },
            meta,
            ledger: Ledger::default(),
            failed: false,
            ended: false,
        };
        if let Err(e) = write_tags(&run, &all_tags) {
            mark_failed(&mut run, &e.to_string());
            return Err(e);
        }
        Ok(run)
    }
}

impl Tracker for FileTracker {
    fn start_run(&mut self, experiment: &str, run_name: &str, tags: &[(String, String)]) -> Result<RunInfo> {
        if let Some(run) = self.active.as_ref().filter(|r| !r.ended) {
            return Err(Error::Internal(format!("tracking: run {} is still active", run.info.run_id)));
        }
        let run = self.create_run(experiment, run_name, tags)?;
        let info = run.info.clone();
        self.active = Some(run);
        Ok(info)
    }

    fn log_params(&mut self, params: &[(String, String)]) -> Result<()> {
        self.guarded("log_params", |run| {
            let fresh = run.ledger.new_params(params)?;
            for (key, value) in &fresh {
                let path = run.meta.dir.join("params").join(key);
                match fs::read(&path) {
                    Ok(old) if old == value.as_bytes() => continue,
                    Ok(old) => return Err(param_conflict(key, &String::from_utf8_lossy(&old), value)),
                    Err(_) => put_file(&run.meta.dir, &path, value.as_bytes())?,
                }
            }
            run.ledger.record_params(&fresh);
            Ok(())
        })
    }

    fn log_metrics(&mut self, metrics: &[Metric]) -> Result<()> {
        self.guarded("log_metrics", |run| {
            let fresh = run.ledger.new_metrics(metrics)?;
            for (key, lines) in lines_by_key(&fresh) {
                let path = run.meta.dir.join("metrics").join(&key);
                if path.exists() {
                    append_once(&path, lines.as_bytes())?;
                } else {
                    // A new metric file appears whole (never empty: pitfall P1).
                    put_file(&run.meta.dir, &path, lines.as_bytes())?;
                }
            }
            run.ledger.record_metrics(&fresh);
            Ok(())
        })
    }

    fn set_tags(&mut self, tags: &[(String, String)]) -> Result<()> {
        self.guarded("set_tags", |run| write_tags(run, &Ledger::checked_tags(tags)?))
    }

    fn log_artifacts(&mut self, local_dir: &Path, artifact_path: Option<&str>) -> Result<()> {
        self.guarded("log_artifacts", |run| {
            let dest = artifact_destination(&run.meta.dir, artifact_path)?;
            copy_tree(&run.meta.dir, local_dir, &dest, 0)
        })
    }

    fn end_run(&mut self, status: RunStatus) -> Result<()> {
        if !status.is_terminal() {
            return Err(Error::Internal(format!("tracking: end_run needs a final status, not {status}")));
        }
        let run = self.run_mut("end_run")?;
        if run.failed && status == RunStatus::Finished {
            return Err(Error::Tracking(format!(
                "run {} was marked FAILED after an earlier error; it cannot be FINISHED",
                run.info.run_id
            )));
        }
        run.meta.status = status;
        run.meta.end_time = Some(now_ms());
        run.meta.save().map_err(with_store_hint)?;
        run.ended = true;
        Ok(())
    }

    fn uri(&self) -> String {
        path_to_file_uri(&self.store.root)
    }

    fn run(&self) -> Option<&RunInfo> {
        self.active.as_ref().map(|r| &r.info)
    }
}

/// Best effort: the error as a tag, then status FAILED with an end time.
fn mark_failed(run: &mut ActiveRun, message: &str) {
    run.failed = true;
    let tag = Ledger::checked_tags(&[(ERROR_TAG.to_string(), message.to_string())]);
    if let Ok(tag) = tag {
        let _ = write_tags(run, &tag);
    }
    run.meta.status = RunStatus::Failed;
    run.meta.end_time = Some(now_ms());
    if run.meta.save().is_ok() {
        run.ended = true;
    }
}

fn write_tags(run: &ActiveRun, tags: &[(String, String)]) -> Result<()> {
    for (key, value) in tags {
        put_file(&run.meta.dir, &run.meta.dir.join("tags").join(key), value.as_bytes())?;
    }
    Ok(())
}

/// `"ts value step\n"` lines grouped per key, in logging order. Values use Rust's shortest
/// round-trip form (`NaN`, `inf`, `-inf`, `1e-7`), all of which Python's float() reads.
fn lines_by_key(metrics: &[Metric]) -> Vec<(String, String)> {
    let mut grouped: Vec<(String, String)> = Vec::new();
    for m in metrics {
        let line = format!("{} {:?} {}\n", m.timestamp_ms, m.value, m.step);
        match grouped.iter_mut().find(|(k, _)| *k == m.key) {
            Some((_, lines)) => lines.push_str(&line),
            None => grouped.push((m.key.clone(), line)),
        }
    }
    grouped
}

/// Appends complete lines with a single write(); a short or failed write is cut back so no
/// partial line ever stays in the file (pitfall P1).
fn append_once(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new().append(true).open(path).map_err(|e| store_error(path, e))?;
    let before = file.metadata().map_err(|e| store_error(path, e))?.len();
    let written = file.write(bytes);
    match written {
        Ok(n) if n == bytes.len() => Ok(()),
        other => {
            let _ = file.set_len(before);
            let source = match other {
                Err(e) => e,
                Ok(_) => std::io::Error::new(std::io::ErrorKind::StorageFull, "short write"),
            };
            Err(store_error(path, source))
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `target` atomically through a temp file in `run_dir` (MLflow ignores plain files
/// there, whereas a stray temp file inside metrics/ or params/ would be read as an entry).
fn put_file(run_dir: &Path, target: &Path, bytes: &[u8]) -> Result<()> {
    put_with(run_dir, target, |temp| {
        let mut file = File::create(temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })
}

fn put_with(run_dir: &Path, target: &Path, fill: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<()> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| store_error(parent, e))?;
    }
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = run_dir.join(format!(".credrisk-{}-{n}.tmp", std::process::id()));
    if let Err(e) = fill(&temp) {
        let _ = fs::remove_file(&temp);
        return Err(store_error(&temp, e));
    }
    fs::rename(&temp, target).map_err(|e| {
        let _ = fs::remove_file(&temp);
        store_error(target, e)
    })
}

/// `artifacts/<artifact_path>`, refusing paths that would leave the artifact directory.
fn artifact_destination(run_dir: &Path, artifact_path: Option<&str>) -> Result<PathBuf> {
    let base = run_dir.join("artifacts");
    let Some(rel) = artifact_path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) else {
        return Ok(base);
    };
    if rel.split('/').any(|part| part.is_empty() || part == "." || part == "..") || rel.contains('\\') {
        return Err(Error::Usage(format!(
            "invalid artifact path {rel:?}: use a plain relative path like 'model'"
        )));
    }
    Ok(base.join(rel))
}

fn copy_tree(run_dir: &Path, src: &Path, dest: &Path, depth: usize) -> Result<()> {
    if depth > MAX_ARTIFACT_DEPTH {
        return Err(Error::Usage(format!(
            "{}: artifact directory nested too deep (a symlink loop?)",
            src.display()
        )));
    }
    let entries = fs::read_dir(src).map_err(|e| Error::io(src, e))?;
    fs::create_dir_all(dest).map_err(|e| store_error(dest, e))?;
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(src, e))?;
    paths.sort();
    for path in paths {
        let target = dest.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(run_dir, &path, &target, depth + 1)?;
        } else {
            copy_file(run_dir, &path, &target)?;
        }
    }
    Ok(())
}

fn copy_file(run_dir: &Path, src: &Path, target: &Path) -> Result<()> {
    let mut input = File::open(src).map_err(|e| Error::io(src, e))?;
    put_with(run_dir, target, |temp| {
        let mut out = File::create(temp)?;
        std::io::copy(&mut input, &mut out)?;
        out.sync_all()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_use_round_trip_values() {
        let m = |k: &str, v: f64, s| Metric { key: k.into(), value: v, step: s, timestamp_ms: 7 };
        let grouped =
            lines_by_key(&[m("a", 0.1, 0), m("b", f64::NAN, 1), m("a", f64::INFINITY, 2), m("a", -1e-7, 3)]);
        assert_eq!(grouped[0], ("a".into(), "7 0.1 0\n7 inf 2\n7 -1e-7 3\n".into()));
        assert_eq!(grouped[1], ("b".into(), "7 NaN 1\n".into()));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn appending_to_a_full_disk_is_a_clear_error() {
        let full = Path::new("/dev/full");
        let err = append_once(full, b"1 0.5 0\n").unwrap_err().to_string();
        assert!(err.contains("/dev/full") && err.contains("full"), "{err}");
    }

    #[test]
    fn artifact_paths_stay_inside_the_run() {
        let run = Path::new("/r");
        assert_eq!(artifact_destination(run, Some("model")).unwrap(), Path::new("/r/artifacts/model"));
        assert_eq!(artifact_destination(run, None).unwrap(), Path::new("/r/artifacts"));
        for bad in ["../x", "a/../../b", "a//b"] {
            assert!(artifact_destination(run, Some(bad)).is_err(), "{bad}");
        }
    }
}
