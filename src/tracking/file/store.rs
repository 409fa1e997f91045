//! The MLflow file store layout (spec §2–§4): the root with `.trash/`, `models/` and experiment
//! `0`; experiments as directories with `meta.yaml` and `tags/`; the store lock that makes
//! "find or create the experiment" one step for concurrent processes; and the I/O helpers the
//! other files of this backend share (atomic puts through temp files MLflow never reads).

use super::super::entities::{Experiment, Lifecycle};
use super::super::uri::path_to_file_uri;
use super::super::util::{now_ms, validate_experiment_name};
use super::super::yaml::{self, Value, YamlWriter};
use crate::error::{Error, Result};
use crate::fsutil;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Directory names inside an experiment that are not runs (MLflow's RESERVED_EXPERIMENT_FOLDERS).
pub const RESERVED_EXPERIMENT_DIRS: [&str; 4] = ["tags", "datasets", "traces", "models"];
pub const TRASH_DIR: &str = ".trash";
pub const MODELS_DIR: &str = "models";
/// Held (exclusively) around every find-then-create of the store; MLflow ignores plain files in
/// the root.
const LOCK_FILE: &str = ".credrisk.lock";

/// A file store rooted at an absolute directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    pub root: PathBuf,
}

/// An experiment's `meta.yaml`, plus where it lives.
#[derive(Debug, Clone)]
pub struct ExperimentMeta {
    pub id: String,
    pub name: String,
    pub lifecycle: Lifecycle,
    pub dir: PathBuf,
}

impl ExperimentMeta {
    pub fn to_entity(&self) -> Experiment {
        Experiment {
            id: self.id.clone(),
            name: self.name.clone(),
            lifecycle: self.lifecycle,
            tags: read_key_files(&self.dir.join("tags")),
        }
    }
}

impl FileStore {
    /// Opens the store for writing, creating the root, `.trash/`, `models/` and the Default
    /// experiment `0` if missing (MLflow creates them on open; pre-creating keeps read-only
    /// mounts readable and `mlflow.start_run()` without an experiment working).
    pub fn create(root: &Path) -> Result<FileStore> {
        if root.exists() && !root.is_dir() {
            return Err(Error::Usage(format!("{}: exists and is not a directory", root.display())));
        }
        let store = FileStore { root: root.to_path_buf() };
        for dir in [root.to_path_buf(), root.join(TRASH_DIR), root.join(MODELS_DIR)] {
            fs::create_dir_all(&dir).map_err(|e| store_error(&dir, e))?;
        }
        if !root.join("0").exists() && !root.join(TRASH_DIR).join("0").exists() {
            store.locked(|| {
                if !root.join("0").exists() {
                    store.write_experiment("0", "Default", &[])?;
                }
                Ok(())
            })?;
        }
        Ok(store)
    }

    /// Opens an existing store; never creates anything.
    pub fn existing(root: &Path) -> Result<FileStore> {
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "no MLflow file store at {} (no such directory); train first or pass --tracking-uri",
                root.display()
            )));
        }
        Ok(FileStore { root: root.to_path_buf() })
    }

    /// Runs `step` holding the store's exclusive lock (blocking until other processes release it).
    pub fn locked<T>(&self, step: impl FnOnce() -> Result<T>) -> Result<T> {
        let path = self.root.join(LOCK_FILE);
        let file: File = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| store_error(&path, e))?;
        file.lock().map_err(|e| store_error(&path, e))?;
        let result = step();
        let _ = file.unlock();
        result
    }

    /// Every readable experiment, active ones (root) and deleted ones (`.trash/`).
    pub fn experiments(&self) -> Result<Vec<ExperimentMeta>> {
        let mut out = Vec::new();
        for (parent, deleted) in [(self.root.clone(), false), (self.root.join(TRASH_DIR), true)] {
            for dir in subdirs(&parent)? {
                let name = file_name(&dir);
                if name.starts_with('.') || name == MODELS_DIR {
                    continue;
                }
                let Ok(meta) = read_yaml(&dir.join("meta.yaml")) else { continue };
                let (Some(id), Some(exp_name)) = (meta.str_of("experiment_id"), meta.str_of("name")) else {
                    continue;
                };
                let stage = Lifecycle::parse(meta.str_of("lifecycle_stage").unwrap_or("active"));
                out.push(ExperimentMeta {
                    id: id.to_string(),
                    name: exp_name.to_string(),
                    lifecycle: if deleted { Lifecycle::Deleted } else { stage },
                    dir,
                });
            }
        }
        out.sort_by_key(|e| (e.id.parse::<u64>().unwrap_or(u64::MAX), e.id.clone()));
        Ok(out)
    }

    pub fn experiment_by_name(&self, name: &str) -> Result<Option<ExperimentMeta>> {
        Ok(self.experiments()?.into_iter().find(|e| e.name == name))
    }

    pub fn experiment_by_id(&self, id: &str) -> Result<ExperimentMeta> {
        self.experiments()?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Error::Tracking(format!("no experiment with id {id} in {}", self.root.display())))
    }

    /// The active experiment `name`, created with the next numeric id if it does not exist. The
    /// lookup and the creation happen under the store lock, so processes racing to create it
    /// all get the one experiment (issue #11: two first trains made two "credrisk").
    pub fn get_or_create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<ExperimentMeta> {
        validate_experiment_name(name)?;
        let found = match self.experiment_by_name(name)? {
            Some(exp) => exp,
            None => self.locked(|| match self.experiment_by_name(name)? {
                Some(exp) => Ok(exp),
                None => self.create_experiment(name, tags),
            })?,
        };
        if found.lifecycle == Lifecycle::Deleted {
            return Err(Error::Tracking(format!(
                "experiment {name:?} (id {}) is deleted; restore it with `mlflow experiments restore \
                 --experiment-id {}` or log to another experiment",
                found.id, found.id
            )));
        }
        Ok(found)
    }

    fn create_experiment(&self, name: &str, tags: &[(String, String)]) -> Result<ExperimentMeta> {
        let mut id = self.next_experiment_id()?;
        // Claiming the directory with create_dir also keeps ids distinct from writers that do
        // not take the lock (older credrisk versions).
        for _ in 0..1000 {
            let dir = self.root.join(id.to_string());
            match fs::create_dir(&dir) {
                Ok(()) => return self.write_experiment(&id.to_string(), name, tags),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => id += 1,
                Err(e) => return Err(store_error(&dir, e)),
            }
        }
        Err(Error::Tracking(format!("{}: could not find a free experiment id", self.root.display())))
    }

    /// Numeric ids (pitfall P9): one more than the largest in use, active or deleted.
    fn next_experiment_id(&self) -> Result<u64> {
        let mut max = 0;
        for parent in [self.root.clone(), self.root.join(TRASH_DIR)] {
            for dir in subdirs(&parent)? {
                if let Ok(n) = file_name(&dir).parse::<u64>() {
                    max = max.max(n);
                }
            }
        }
        Ok(max + 1)
    }

    /// Tags first, meta.yaml last: the experiment is readable the moment it exists.
    fn write_experiment(&self, id: &str, name: &str, tags: &[(String, String)]) -> Result<ExperimentMeta> {
        let dir = self.root.join(id);
        fs::create_dir_all(&dir).map_err(|e| store_error(&dir, e))?;
        for (key, value) in tags {
            put_file(&dir, &dir.join("tags").join(key), value.as_bytes())?;
        }
        let now = now_ms();
        let text = YamlWriter::new()
            .str("artifact_location", &path_to_file_uri(&dir))
            .int("creation_time", now)
            .str("experiment_id", id)
            .int("last_update_time", now)
            .str("lifecycle_stage", "active")
            .str("name", name)
            .finish();
        fsutil::write_atomic(dir.join("meta.yaml"), text.as_bytes()).map_err(with_store_hint)?;
        Ok(ExperimentMeta { id: id.to_string(), name: name.to_string(), lifecycle: Lifecycle::Active, dir })
    }

    pub fn set_experiment_tag(&self, id: &str, key: &str, value: &str) -> Result<()> {
        let exp = self.experiment_by_id(id)?;
        put_file(&exp.dir, &exp.dir.join("tags").join(key), value.as_bytes())
    }
}

pub fn read_yaml(path: &Path) -> Result<Value> {
    let text = crate::fsutil::read_text_limited(path, yaml::MAX_YAML_BYTES)?;
    yaml::parse(&text).map_err(|e| Error::bad_file(path, format!("not MLflow YAML: {e}")))
}

/// `key → file content` of every file below `dir` (`a/b` keys for nested files): params and
/// tags as MLflow stores them.
pub fn read_key_files(dir: &Path) -> BTreeMap<String, String> {
    files_under(dir)
        .into_iter()
        .filter_map(|(key, path)| Some((key, fs::read_to_string(path).ok()?)))
        .collect()
}

/// Every file below `dir` as (`a/b` relative key, path), sorted.
pub fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let key = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push((entry.path(), key)),
                Ok(_) => out.push((key, entry.path())),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// The sub-directories of `dir` (none if it does not exist).
pub fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    Ok(dirs)
}

pub fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temp path directly in `dir` (`.credrisk-<pid>-<n>.tmp`), where MLflow never looks for
/// entries: a stray temp file inside `metrics/`, `params/` or `tags/` would be read as one.
pub fn temp_path(dir: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".credrisk-{}-{n}.tmp", std::process::id()))
}

/// Writes `target` atomically through a temp file in `temp_dir` (on the same file system).
pub fn put_file(temp_dir: &Path, target: &Path, bytes: &[u8]) -> Result<()> {
    put_with(temp_dir, target, |temp| {
        let mut file = File::create(temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })
}

/// Fills a temp file in `temp_dir` with `fill`, then renames it onto `target`.
pub fn put_with(
    temp_dir: &Path,
    target: &Path,
    fill: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<()> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| store_error(parent, e))?;
    }
    let temp = temp_path(temp_dir);
    if let Err(e) = fill(&temp) {
        let _ = fs::remove_file(&temp);
        return Err(store_error(&temp, e));
    }
    fs::rename(&temp, target).map_err(|e| {
        let _ = fs::remove_file(&temp);
        store_error(target, e)
    })
}

/// An I/O error on the store, with the path and what to do about a read-only or full store.
pub fn store_error(path: &Path, e: std::io::Error) -> Error {
    with_store_hint(Error::io(path, e))
}

/// Adds a hint to read-only / full-disk errors: they come from the environment, not a bug.
pub fn with_store_hint(err: Error) -> Error {
    use std::io::ErrorKind::*;
    match err {
        Error::Io { path, source } if matches!(source.kind(), PermissionDenied | ReadOnlyFilesystem) => {
            Error::Io {
                path: path.clone(),
                source: std::io::Error::new(
                    source.kind(),
                    format!(
                        "{source}: the MLflow store is not writable (pass --tracking-uri to use another)"
                    ),
                ),
            }
        }
        Error::Io { path, source } if source.kind() == StorageFull || source.raw_os_error() == Some(28) => {
            Error::Io {
                path,
                source: std::io::Error::new(
                    source.kind(),
                    format!("{source}: the disk holding the MLflow store is full"),
                ),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn racing_creators_get_one_experiment() {
        // Sixteen threads in a fresh store, released together: one experiment, one id.
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let store = FileStore::create(dir.path()).unwrap();
            let barrier = std::sync::Barrier::new(16);
            let ids: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..16)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            store.get_or_create_experiment("credrisk", &[]).unwrap().id
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
            let named: Vec<_> =
                store.experiments().unwrap().into_iter().filter(|e| e.name == "credrisk").collect();
            assert_eq!(named.len(), 1);
        }
    }

    #[test]
    fn a_new_experiment_appears_with_its_tags() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::create(dir.path()).unwrap();
        let tags = [("mlflow.experimentKind".to_string(), "custom_model_development".to_string())];
        let exp = store.get_or_create_experiment("credrisk", &tags).unwrap();
        assert_eq!(exp.to_entity().tags["mlflow.experimentKind"], "custom_model_development");
        assert_eq!(exp.id, "1");
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| file_name(&e.unwrap().path())).collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }
}
