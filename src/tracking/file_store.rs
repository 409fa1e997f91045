//! The MLflow file store layout (spec §2–§4): the root with `.trash/`, `models/` and experiment
//! `0`; experiments and runs as directories with `meta.yaml`; reading them back (for listings,
//! the resolver and the registry) exactly as MLflow 3.17 lays them out.

use super::RunStatus;
use super::uri::path_to_file_uri;
use super::util::now_ms;
use super::yaml::{self, Value, YamlWriter};
use crate::error::{Error, Result};
use crate::fsutil;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Directory names inside an experiment that are not runs (MLflow's RESERVED_EXPERIMENT_FOLDERS).
const RESERVED_EXPERIMENT_DIRS: [&str; 4] = ["tags", "datasets", "traces", "models"];
pub const TRASH_DIR: &str = ".trash";
pub const MODELS_DIR: &str = "models";

/// A file store rooted at an absolute directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    pub root: PathBuf,
}

/// An experiment's `meta.yaml`.
#[derive(Debug, Clone)]
pub struct ExperimentMeta {
    pub id: String,
    pub name: String,
    pub lifecycle_stage: String,
    pub dir: PathBuf,
}

/// A run's `meta.yaml`, plus where it lives.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub run_id: String,
    pub experiment_id: String,
    pub run_name: String,
    pub user_id: String,
    pub status: RunStatus,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub lifecycle_stage: String,
    pub artifact_uri: String,
    pub dir: PathBuf,
}

impl RunMeta {
    /// The meta.yaml MLflow writes, with the legacy keys it always includes (spec §3.2).
    pub fn to_yaml(&self) -> String {
        YamlWriter::new()
            .str("artifact_uri", &self.artifact_uri)
            .opt_int("end_time", self.end_time)
            .str("entry_point_name", "")
            .str("experiment_id", &self.experiment_id)
            .str("lifecycle_stage", &self.lifecycle_stage)
            .str("run_id", &self.run_id)
            .str("run_name", &self.run_name)
            .str("source_name", "")
            .int("source_type", 4)
            .str("source_version", "")
            .int("start_time", self.start_time)
            .int("status", self.status.as_int())
            .raw("tags", "[]")
            .str("user_id", &self.user_id)
            .finish()
    }

    /// Writes meta.yaml atomically (temp file in the run directory + rename).
    pub fn save(&self) -> Result<()> {
        fsutil::write_atomic(self.dir.join("meta.yaml"), self.to_yaml().as_bytes())
    }

    fn read(dir: &Path) -> Result<RunMeta> {
        let meta = read_yaml(&dir.join("meta.yaml"))?;
        let path = dir.join("meta.yaml");
        let need = |key: &str| {
            meta.str_of(key).map(str::to_string).ok_or_else(|| Error::bad_file(&path, format!("no '{key}'")))
        };
        let status_text = meta.str_of("status").unwrap_or("1");
        let status = RunStatus::parse(status_text)
            .ok_or_else(|| Error::bad_file(&path, format!("unknown run status {status_text:?}")))?;
        let run_id = need("run_id")?;
        Ok(RunMeta {
            run_name: meta.str_of("run_name").map(str::to_string).unwrap_or_default(),
            user_id: meta.str_of("user_id").unwrap_or("").to_string(),
            status,
            start_time: meta.int_of("start_time").unwrap_or(0),
            end_time: meta.int_of("end_time"),
            lifecycle_stage: meta.str_of("lifecycle_stage").unwrap_or("active").to_string(),
            artifact_uri: meta.str_of("artifact_uri").unwrap_or("").to_string(),
            experiment_id: need("experiment_id")?,
            dir: dir.to_path_buf(),
            run_id,
        })
    }

    /// The run's artifact directory on this machine.
    pub fn artifact_dir(&self) -> PathBuf {
        super::uri::file_uri_to_path(&self.artifact_uri)
            .ok()
            .or_else(|| Some(PathBuf::from(&self.artifact_uri)).filter(|p| p.is_absolute()))
            .unwrap_or_else(|| self.dir.join("artifacts"))
    }
}

pub fn read_yaml(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    yaml::parse(&text).map_err(|e| Error::bad_file(path, format!("not MLflow YAML: {e}")))
}

impl FileStore {
    /// Opens the store for writing, creating the root, `.trash/`, `models/` and the Default
    /// experiment `0` if missing (MLflow creates them on open; pre-creating keeps read-only
    /// mounts readable and `mlflow.start_run()` without an experiment working).
    pub fn create(root: &Path) -> Result<FileStore> {
        if root.exists() && !root.is_dir() {
            return Err(Error::Tracking(format!("{}: exists and is not a directory", root.display())));
        }
        let store = FileStore { root: root.to_path_buf() };
        for dir in [root.to_path_buf(), root.join(TRASH_DIR), root.join(MODELS_DIR)] {
            fs::create_dir_all(&dir).map_err(|e| store_error(&dir, e))?;
        }
        if !root.join("0").exists() && !root.join(TRASH_DIR).join("0").exists() {
            store.write_experiment("0", "Default")?;
        }
        Ok(store)
    }

    /// Opens an existing store for reading; never creates anything.
    pub fn existing(root: &Path) -> Result<FileStore> {
        if !root.is_dir() {
            return Err(Error::Tracking(format!(
                "no MLflow file store at {} (no such directory); train first or pass --tracking-uri",
                root.display()
            )));
        }
        Ok(FileStore { root: root.to_path_buf() })
    }

    /// Every readable experiment, active ones (root) and deleted ones (`.trash/`).
    pub fn experiments(&self) -> Result<Vec<ExperimentMeta>> {
        let mut out = Vec::new();
        for (parent, deleted) in [(self.root.clone(), false), (self.root.join(TRASH_DIR), true)] {
            for dir in subdirs(&parent)? {
                let name = file_name(&dir);
                if !deleted && (name == TRASH_DIR || name == MODELS_DIR) {
                    continue;
                }
                let Ok(meta) = read_yaml(&dir.join("meta.yaml")) else { continue };
                let (Some(id), Some(exp_name)) = (meta.str_of("experiment_id"), meta.str_of("name")) else {
                    continue;
                };
                let stage = meta.str_of("lifecycle_stage").unwrap_or("active");
                out.push(ExperimentMeta {
                    id: id.to_string(),
                    name: exp_name.to_string(),
                    lifecycle_stage: if deleted { "deleted".to_string() } else { stage.to_string() },
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

    /// The active experiment `name`, created with the next numeric id if it does not exist.
    pub fn get_or_create_experiment(&self, name: &str) -> Result<ExperimentMeta> {
        match self.experiment_by_name(name)? {
            Some(exp) if exp.lifecycle_stage == "active" => Ok(exp),
            Some(exp) => Err(Error::Tracking(format!(
                "experiment {name:?} (id {}) is deleted; restore it with `mlflow experiments restore \
                 --experiment-id {}` or log to another experiment",
                exp.id, exp.id
            ))),
            None => self.create_experiment(name),
        }
    }

    fn create_experiment(&self, name: &str) -> Result<ExperimentMeta> {
        if name.trim().is_empty() || name.chars().count() > 500 {
            return Err(Error::Usage(format!("invalid experiment name {name:?}: 1 to 500 characters")));
        }
        let mut id = self.next_experiment_id()?;
        // Claiming the directory with create_dir makes concurrent creators pick distinct ids.
        for _ in 0..1000 {
            let dir = self.root.join(id.to_string());
            match fs::create_dir(&dir) {
                Ok(()) => return self.write_experiment(&id.to_string(), name),
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

    fn write_experiment(&self, id: &str, name: &str) -> Result<ExperimentMeta> {
        let dir = self.root.join(id);
        fs::create_dir_all(&dir).map_err(|e| store_error(&dir, e))?;
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
        Ok(ExperimentMeta {
            id: id.to_string(),
            name: name.to_string(),
            lifecycle_stage: "active".into(),
            dir,
        })
    }

    /// The readable runs of an experiment (run dirs without a valid meta.yaml are skipped, as
    /// MLflow skips them).
    pub fn runs(&self, exp: &ExperimentMeta) -> Result<Vec<RunMeta>> {
        let mut runs = Vec::new();
        for dir in subdirs(&exp.dir)? {
            if RESERVED_EXPERIMENT_DIRS.contains(&file_name(&dir).as_str()) {
                continue;
            }
            if let Ok(run) = RunMeta::read(&dir) {
                runs.push(run);
            }
        }
        runs.sort_by(|a, b| b.start_time.cmp(&a.start_time).then_with(|| a.run_id.cmp(&b.run_id)));
        Ok(runs)
    }

    /// Finds a run by id in any experiment.
    pub fn find_run(&self, run_id: &str) -> Result<Option<RunMeta>> {
        super::util::validate_run_id(run_id)?;
        for exp in self.experiments()? {
            let dir = exp.dir.join(run_id);
            if dir.join("meta.yaml").is_file() {
                return RunMeta::read(&dir).map(Some);
            }
        }
        Ok(None)
    }
}

/// The latest value of every metric of a run: the line with the largest (step, timestamp,
/// value), as MLflow defines "latest" (pitfall P6). Unreadable lines are skipped.
pub fn latest_metrics(run_dir: &Path) -> BTreeMap<String, f64> {
    let metrics_dir = run_dir.join("metrics");
    let mut out = BTreeMap::new();
    for (key, path) in files_under(&metrics_dir) {
        let Ok(text) = fs::read_to_string(&path) else { continue };
        let best = text
            .lines()
            .filter_map(parse_metric_line)
            .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| a.2.total_cmp(&b.2)));
        if let Some((_, _, value)) = best {
            out.insert(key, value);
        }
    }
    out
}

/// `ts value [step [dataset digest]]` → (step, ts, value).
fn parse_metric_line(line: &str) -> Option<(i64, i64, f64)> {
    let parts: Vec<&str> = line.trim().split(' ').collect();
    if ![2, 3, 5].contains(&parts.len()) {
        return None;
    }
    let ts = parts[0].parse().ok()?;
    let value = parts[1].parse().ok()?;
    let step = if parts.len() >= 3 { parts[2].parse().ok()? } else { 0 };
    Some((step, ts, value))
}

/// A run's tag value, if set.
pub fn read_tag(run_dir: &Path, key: &str) -> Option<String> {
    fs::read_to_string(run_dir.join("tags").join(key)).ok()
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
    fn latest_metric_is_max_step_then_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("metrics/eval")).unwrap();
        // MLflow's rule: max (step, timestamp, value) -- not the last line.
        fs::write(dir.path().join("metrics/auc"), "10 0.7 0\n11 0.9 2\n12 0.8 1\n").unwrap();
        fs::write(dir.path().join("metrics/eval/ks"), "10 0.3\n").unwrap();
        fs::write(dir.path().join("metrics/nan"), "10 nan 0\n").unwrap();
        let m = latest_metrics(dir.path());
        assert_eq!(m["auc"], 0.9);
        assert_eq!(m["eval/ks"], 0.3);
        assert!(m["nan"].is_nan());
    }

    #[test]
    fn metric_lines_parse_like_mlflow() {
        assert_eq!(parse_metric_line("1 0.5 3"), Some((3, 1, 0.5)));
        assert_eq!(parse_metric_line("1 0.5"), Some((0, 1, 0.5)));
        assert_eq!(parse_metric_line("1 -inf 2 ds dg").map(|t| t.2), Some(f64::NEG_INFINITY));
        for bad in ["1 0.5 3 x", "1.0 0.5 3", "", "1\t0.5\t3"] {
            assert_eq!(parse_metric_line(bad), None, "{bad:?}");
        }
    }
}
