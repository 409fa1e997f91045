//! Runs in the file store, readable at every instant: a run appears when its meta.yaml is
//! renamed into place (after metrics/ params/ artifacts/ and its tags exist), new files appear
//! by rename from a temp file in the run directory (where MLflow never looks), metric lines are
//! appended with one write() each (cut back on failure), and datasets and inputs appear whole.

use super::super::dataset::{CONTEXT_TAG, dataset_id, input_id};
use super::super::entities::{Batch, DatasetInput, Lifecycle, Metric, NewRun, Run, RunInfo, RunStatus};
use super::super::ledger::param_conflict;
use super::super::uri::{file_uri_to_path, path_to_file_uri};
use super::super::util::{new_run_id, validate_run_id};
use super::super::yaml::YamlWriter;
use super::store::{
    ExperimentMeta, FileStore, RESERVED_EXPERIMENT_DIRS, file_name, files_under, put_file, read_key_files,
    read_yaml, store_error, subdirs, temp_path, with_store_hint,
};
use crate::error::{Error, Result};
use crate::fsutil;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A run's `meta.yaml`, plus where it lives.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub info: RunInfo,
    pub dir: PathBuf,
}

impl RunMeta {
    /// The meta.yaml MLflow writes, with the legacy keys it always includes (spec §3.2).
    fn to_yaml(&self) -> String {
        let i = &self.info;
        YamlWriter::new()
            .str("artifact_uri", &i.artifact_uri)
            .opt_int("end_time", i.end_time_ms)
            .str("entry_point_name", "")
            .str("experiment_id", &i.experiment_id)
            .str("lifecycle_stage", i.lifecycle.as_str())
            .str("run_id", &i.run_id)
            .str("run_name", &i.run_name)
            .str("source_name", "")
            .int("source_type", 4)
            .str("source_version", "")
            .int("start_time", i.start_time_ms)
            .int("status", i.status.as_int())
            .raw("tags", "[]")
            .str("user_id", &i.user_id)
            .finish()
    }

    /// Writes meta.yaml atomically (temp file in the run directory + rename).
    fn save(&self) -> Result<()> {
        fsutil::write_atomic(self.dir.join("meta.yaml"), self.to_yaml().as_bytes()).map_err(with_store_hint)
    }

    fn read(dir: &Path) -> Result<RunMeta> {
        let path = dir.join("meta.yaml");
        let meta = read_yaml(&path)?;
        let need = |key: &str| {
            meta.str_of(key).map(str::to_string).ok_or_else(|| Error::bad_file(&path, format!("no '{key}'")))
        };
        let status_text = meta.str_of("status").unwrap_or("1");
        let status = RunStatus::parse(status_text)
            .ok_or_else(|| Error::bad_file(&path, format!("unknown run status {status_text:?}")))?;
        let run_name = match meta.str_of("run_name") {
            Some(name) if !name.is_empty() => name.to_string(),
            // MLflow falls back to the runName tag.
            _ => fs::read_to_string(dir.join("tags/mlflow.runName")).unwrap_or_default(),
        };
        let info = RunInfo {
            run_id: need("run_id")?,
            experiment_id: need("experiment_id")?,
            run_name,
            user_id: meta.str_of("user_id").unwrap_or("").to_string(),
            status,
            start_time_ms: meta.int_of("start_time").unwrap_or(0),
            end_time_ms: meta.int_of("end_time"),
            artifact_uri: meta.str_of("artifact_uri").unwrap_or("").to_string(),
            lifecycle: Lifecycle::parse(meta.str_of("lifecycle_stage").unwrap_or("active")),
        };
        Ok(RunMeta { info, dir: dir.to_path_buf() })
    }

    /// The run's artifact directory on this machine.
    pub fn artifact_dir(&self) -> PathBuf {
        let uri = &self.info.artifact_uri;
        file_uri_to_path(uri)
            .ok()
            .or_else(|| Some(PathBuf::from(uri)).filter(|p| p.is_absolute()))
            .unwrap_or_else(|| self.dir.join("artifacts"))
    }

    fn to_run(&self) -> Run {
        Run {
            info: self.info.clone(),
            params: read_key_files(&self.dir.join("params")),
            metrics: latest_metrics(&self.dir),
            tags: read_key_files(&self.dir.join("tags")),
        }
    }
}

impl FileStore {
    pub fn create_run(&self, experiment_id: &str, new: &NewRun) -> Result<RunInfo> {
        let exp = self.experiment_by_id(experiment_id)?;
        let run_id = new_run_id();
        let dir = exp.dir.join(&run_id);
        fs::create_dir(&dir).map_err(|e| store_error(&dir, e))?;
        let meta = RunMeta {
            info: RunInfo {
                run_id: run_id.clone(),
                experiment_id: exp.id.clone(),
                run_name: new.run_name.clone(),
                user_id: new.user.clone(),
                status: RunStatus::Running,
                start_time_ms: new.start_time_ms,
                end_time_ms: None,
                artifact_uri: path_to_file_uri(&dir.join("artifacts")),
                lifecycle: Lifecycle::Active,
            },
            dir: dir.clone(),
        };
        let made = ["metrics", "params", "artifacts", "tags"]
            .iter()
            .try_for_each(|sub| fs::create_dir(dir.join(sub)).map_err(|e| store_error(&dir.join(sub), e)))
            .and_then(|()| write_tags(&dir, &new.tags))
            .and_then(|()| meta.save());
        if let Err(e) = made {
            // A run directory without meta.yaml is skipped by readers; remove it all the same.
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(meta.info)
    }

    /// Finds a run by id in any experiment.
    pub fn find_run(&self, run_id: &str) -> Result<Option<RunMeta>> {
        validate_run_id(run_id)?;
        for exp in self.experiments()? {
            let dir = exp.dir.join(run_id);
            if dir.join("meta.yaml").is_file() {
                return RunMeta::read(&dir).map(Some);
            }
        }
        Ok(None)
    }

    pub fn run_meta(&self, run_id: &str) -> Result<RunMeta> {
        self.find_run(run_id)?
            .ok_or_else(|| Error::Tracking(format!("no run {run_id} in {}", self.root.display())))
    }

    pub fn get_run(&self, run_id: &str) -> Result<Option<Run>> {
        Ok(self.find_run(run_id)?.map(|meta| meta.to_run()))
    }

    pub fn log_batch(&self, run_id: &str, batch: &Batch) -> Result<()> {
        let run = self.run_meta(run_id)?;
        for (key, value) in batch.params {
            let path = run.dir.join("params").join(key);
            match fs::read(&path) {
                Ok(old) if old == value.as_bytes() => continue,
                Ok(old) => return Err(param_conflict(key, &String::from_utf8_lossy(&old), value)),
                Err(_) => put_file(&run.dir, &path, value.as_bytes())?,
            }
        }
        for (key, lines) in lines_by_key(batch.metrics) {
            let path = run.dir.join("metrics").join(&key);
            if path.exists() {
                append_once(&path, lines.as_bytes())?;
            } else {
                // A new metric file appears whole (never empty: pitfall P1).
                put_file(&run.dir, &path, lines.as_bytes())?;
            }
        }
        write_tags(&run.dir, batch.tags)
    }

    pub fn end_run(&self, run_id: &str, status: RunStatus, end_time_ms: i64) -> Result<()> {
        let mut run = self.run_meta(run_id)?;
        run.info.status = status;
        run.info.end_time_ms = Some(end_time_ms);
        run.save()
    }

    /// The active runs of an experiment, newest first (run dirs without a valid meta.yaml are
    /// skipped, as MLflow skips them).
    pub fn search_runs(&self, experiment_id: &str, status: Option<RunStatus>) -> Result<Vec<Run>> {
        let exp = self.experiment_by_id(experiment_id)?;
        let mut runs: Vec<Run> = self
            .run_metas(&exp)?
            .into_iter()
            .filter(|r| r.info.lifecycle == Lifecycle::Active && status.is_none_or(|s| r.info.status == s))
            .map(|r| r.to_run())
            .collect();
        runs.sort_by(|a, b| {
            b.info.start_time_ms.cmp(&a.info.start_time_ms).then_with(|| a.info.run_id.cmp(&b.info.run_id))
        });
        Ok(runs)
    }

    fn run_metas(&self, exp: &ExperimentMeta) -> Result<Vec<RunMeta>> {
        let dirs = subdirs(&exp.dir)?;
        Ok(dirs
            .iter()
            .filter(|d| !RESERVED_EXPERIMENT_DIRS.contains(&file_name(d).as_str()))
            .filter_map(|d| RunMeta::read(d).ok())
            .collect())
    }

    /// `<exp>/datasets/<md5>/meta.yaml` once per dataset, `<run>/inputs/<md5>/meta.yaml` once
    /// per run, exactly as MLflow's `log_inputs` lays them out; each directory is filled under
    /// a temp name and renamed into place, so no reader meets one without its meta.yaml.
    pub fn log_inputs(&self, run_id: &str, inputs: &[DatasetInput]) -> Result<()> {
        let run = self.run_meta(run_id)?;
        let exp = self.experiment_by_id(&run.info.experiment_id)?;
        for input in inputs {
            let f = input.dataset.mlflow_fields()?;
            let id = dataset_id(&f.name, &f.digest);
            let dataset_meta = YamlWriter::new()
                .str("digest", &f.digest)
                .str("name", &f.name)
                .str("profile", &f.profile)
                .str("schema", &f.schema)
                .str("source", &f.source)
                .str("source_type", f.source_type)
                .finish();
            let datasets = exp.dir.join("datasets");
            publish_meta_dir(&datasets, &datasets, &id, &dataset_meta)?;
            let input_meta = YamlWriter::new()
                .str("destination_id", run_id)
                .str("destination_type", "RUN")
                .str("source_id", &id)
                .str("source_type", "DATASET")
                .map("tags")
                .str(CONTEXT_TAG, input.context.as_str())
                .end()
                .finish();
            // Staged in the run directory: MLflow reads every directory inside inputs/.
            publish_meta_dir(&run.dir, &run.dir.join("inputs"), &input_id(&id, run_id), &input_meta)?;
        }
        Ok(())
    }
}

/// Creates `<parent>/<name>/meta.yaml` whole unless `<parent>/<name>` exists: built in a temp
/// directory in `staging_dir`, then renamed.
fn publish_meta_dir(staging_dir: &Path, parent: &Path, name: &str, meta: &str) -> Result<()> {
    let target = parent.join(name);
    if target.join("meta.yaml").is_file() {
        return Ok(());
    }
    fs::create_dir_all(parent).map_err(|e| store_error(parent, e))?;
    let temp = temp_path(staging_dir);
    let filled = fs::create_dir(&temp).map_err(|e| store_error(&temp, e)).and_then(|()| {
        fsutil::write_atomic(temp.join("meta.yaml"), meta.as_bytes()).map_err(with_store_hint)
    });
    let result = filled.and_then(|()| match fs::rename(&temp, &target) {
        Ok(()) => Ok(()),
        // Another writer made the same entry first: theirs is the same content.
        Err(_) if target.join("meta.yaml").is_file() => Ok(()),
        Err(e) => Err(store_error(&target, e)),
    });
    let _ = fs::remove_dir_all(&temp);
    result
}

fn write_tags(run_dir: &Path, tags: &[(String, String)]) -> Result<()> {
    for (key, value) in tags {
        put_file(run_dir, &run_dir.join("tags").join(key), value.as_bytes())?;
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

/// The latest value of every metric of a run: the line with the largest (step, timestamp,
/// value), as MLflow defines "latest" (pitfall P6). Unreadable lines are skipped.
pub fn latest_metrics(run_dir: &Path) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (key, path) in files_under(&run_dir.join("metrics")) {
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
