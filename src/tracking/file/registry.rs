//! The model registry in the file store layout MLflow's client writes (spec §3.8):
//! `models/<name>/meta.yaml`, `version-N/meta.yaml` (+ `tags/`), `aliases/<alias>` holding the
//! version number, `tags/`. Every change happens under the store lock; a version directory
//! appears whole by rename, and tag and alias files through temp files MLflow never reads.

use super::super::entities::{ModelVersion, RegisteredModel};
use super::super::uri::file_uri_to_path;
use super::super::util::{
    MAX_FILE_NAME_BYTES, new_run_id, now_ms, validate_alias, validate_key, validate_model_name,
};
use super::super::yaml::YamlWriter;
use super::store::{
    FileStore, MODELS_DIR, file_name, put_file, read_key_files, read_yaml, store_error, subdirs,
    with_store_hint,
};
use crate::error::{Error, Result};
use crate::fsutil;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

impl FileStore {
    /// `models/<name>`, or None for a name that is not one safe directory name.
    fn model_root(&self, name: &str) -> Option<PathBuf> {
        let safe = validate_model_name(name).is_ok() && name.len() <= MAX_FILE_NAME_BYTES;
        safe.then(|| self.root.join(MODELS_DIR).join(name))
    }

    /// The root of an existing registered model.
    fn existing_model(&self, name: &str) -> Result<PathBuf> {
        match self.model_root(name) {
            Some(root) if root.join("meta.yaml").is_file() => Ok(root),
            _ => Err(Error::ModelNotFound(format!(
                "no registered model named {name:?} in {}",
                self.root.display()
            ))),
        }
    }

    pub fn registered_models(&self) -> Result<Vec<RegisteredModel>> {
        Ok(subdirs(&self.root.join(MODELS_DIR))?
            .iter()
            .filter(|d| d.join("meta.yaml").is_file())
            .map(|d| registered_model(&file_name(d), d))
            .collect())
    }

    pub fn get_registered_model(&self, name: &str) -> Result<Option<RegisteredModel>> {
        Ok(self
            .model_root(name)
            .filter(|r| r.join("meta.yaml").is_file())
            .map(|r| registered_model(name, &r)))
    }

    pub fn create_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        if name.len() > MAX_FILE_NAME_BYTES {
            return Err(Error::Usage(format!(
                "invalid registered model name {:?}: it is {} bytes, and the file store keeps each name as \
                 one directory name of at most {MAX_FILE_NAME_BYTES} bytes",
                super::super::util::shorten(name),
                name.len()
            )));
        }
        let root = self.model_root(name).ok_or_else(|| Error::Internal(format!("model name {name:?}")))?;
        self.locked(|| {
            fs::create_dir_all(&root).map_err(|e| store_error(&root, e))?;
            if !root.join("meta.yaml").is_file() {
                rewrite_model_meta(&root, name)?;
            }
            Ok(registered_model(name, &root))
        })
    }

    /// Creates `version-N` whole: its meta.yaml is written in a staging directory that MLflow
    /// ignores (it only reads `version-*`), then renamed into place.
    pub fn create_model_version(&self, name: &str, source: &str, run_id: &str) -> Result<ModelVersion> {
        let root = self.existing_model(name)?;
        self.locked(|| {
            let version = read_versions(&root).last().copied().unwrap_or(0) + 1;
            let staging = root.join(format!(".staging-{}", new_run_id()));
            let made = fs::create_dir(&staging)
                .map_err(|e| store_error(&staging, e))
                .and_then(|()| {
                    let meta = version_meta(name, version, run_id, source);
                    fsutil::write_atomic(staging.join("meta.yaml"), meta.as_bytes()).map_err(with_store_hint)
                })
                .and_then(|()| {
                    let target = root.join(format!("version-{version}"));
                    fs::rename(&staging, &target).map_err(|e| store_error(&target, e))
                });
            let _ = fs::remove_dir_all(&staging);
            made?;
            rewrite_model_meta(&root, name)?;
            model_version(name, &root, version).ok_or_else(|| {
                Error::Tracking(format!("{name} version {version} vanished after it was made"))
            })
        })
    }

    pub fn get_model_version(&self, name: &str, version: u32) -> Result<Option<ModelVersion>> {
        Ok(self.model_root(name).and_then(|root| model_version(name, &root, version)))
    }

    pub fn search_model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let Some(root) = self.model_root(name) else { return Ok(Vec::new()) };
        Ok(read_versions(&root).into_iter().filter_map(|v| model_version(name, &root, v)).collect())
    }

    pub fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<()> {
        validate_alias(alias)?;
        let root = self.existing_model(name)?;
        self.locked(|| {
            if model_version(name, &root, version).is_none() {
                return Err(Error::Usage(format!(
                    "{name} has no version {version} to point alias {alias} at"
                )));
            }
            // The temp file is in the model's root, outside aliases/ (MLflow reads every file there).
            put_file(&root, &root.join("aliases").join(alias), version.to_string().as_bytes())?;
            rewrite_model_meta(&root, name)
        })
    }

    pub fn get_alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>> {
        let Some(root) = self.model_root(name) else { return Ok(None) };
        let version = read_aliases(&root).get(alias).copied();
        Ok(version.and_then(|v| model_version(name, &root, v)))
    }

    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        validate_alias(alias)?;
        let root = self.existing_model(name)?;
        self.locked(|| {
            let path = root.join("aliases").join(alias);
            match fs::remove_file(&path) {
                Ok(()) => rewrite_model_meta(&root, name),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(store_error(&path, e)),
            }
        })
    }

    pub fn set_model_version_tag(&self, name: &str, version: u32, key: &str, value: &str) -> Result<()> {
        validate_key("tag", key)?;
        let root = self.existing_model(name)?;
        self.locked(|| {
            let dir = root.join(format!("version-{version}"));
            if !dir.join("meta.yaml").is_file() {
                return Err(Error::Usage(format!("{name} has no version {version}")));
            }
            put_file(&root, &dir.join("tags").join(key), value.as_bytes())
        })
    }

    /// The version's model directory: its `storage_location` or `source` on this machine, or a
    /// `runs:/<id>/<path>` source through that run's artifacts.
    pub fn download_model_version(&self, version: &ModelVersion) -> Result<PathBuf> {
        let source = version.source.as_str();
        if let Some(rest) = source.strip_prefix("runs:/") {
            let (run_id, path) = rest.trim_start_matches('/').split_once('/').unwrap_or((rest, ""));
            return self.download_artifacts(run_id, path);
        }
        let dir = if source.starts_with("file:") {
            file_uri_to_path(source)?
        } else if source.starts_with('/') {
            PathBuf::from(source)
        } else {
            return Err(Error::Tracking(format!(
                "version {} of {:?} points at {source}, which credrisk cannot read (MLflow-3 logged models \
                 and remote stores are not supported)",
                version.version, version.name
            )));
        };
        Ok(dir)
    }
}

fn registered_model(name: &str, root: &Path) -> RegisteredModel {
    RegisteredModel {
        name: name.to_string(),
        aliases: read_aliases(root),
        tags: read_key_files(&root.join("tags")),
    }
}

fn model_version(name: &str, root: &Path, version: u32) -> Option<ModelVersion> {
    let dir = root.join(format!("version-{version}"));
    let meta = read_yaml(&dir.join("meta.yaml")).ok()?;
    // MLflow prefers storage_location (where the files are) over source (how they were named).
    let source = meta
        .str_of("storage_location")
        .filter(|s| s.starts_with("file:") || s.starts_with('/'))
        .or_else(|| meta.str_of("source"))?
        .to_string();
    Some(ModelVersion {
        name: name.to_string(),
        version,
        run_id: meta.str_of("run_id").filter(|r| !r.is_empty()).map(str::to_string),
        source,
        tags: read_key_files(&dir.join("tags")),
        aliases: read_aliases(root).into_iter().filter(|(_, v)| *v == version).map(|(a, _)| a).collect(),
    })
}

/// Writes the registered model's meta.yaml, keeping its creation time and description and
/// listing the aliases of `aliases/` (which is what MLflow reads them from).
fn rewrite_model_meta(root: &Path, name: &str) -> Result<()> {
    let old = read_yaml(&root.join("meta.yaml")).ok();
    let now = now_ms();
    let created = old.as_ref().and_then(|m| m.int_of("creation_timestamp")).unwrap_or(now);
    let description = old.as_ref().and_then(|m| m.str_of("description")).map(str::to_string);
    let mut w = YamlWriter::new();
    let aliases = read_aliases(root);
    if aliases.is_empty() {
        w.raw("aliases", "{}");
    } else {
        w.map("aliases");
        for (alias, version) in &aliases {
            w.str(alias, &version.to_string());
        }
        w.end();
    }
    w.int("creation_timestamp", created).null("deployment_job_id").null("deployment_job_state");
    match &description {
        Some(d) => w.str("description", d),
        None => w.null("description"),
    };
    w.int("last_updated_timestamp", now).str("name", name).str("workspace", "default");
    fsutil::write_atomic(root.join("meta.yaml"), w.finish().as_bytes()).map_err(with_store_hint)
}

/// alias → version of a registered model.
fn read_aliases(model_root: &Path) -> BTreeMap<String, u32> {
    read_key_files(&model_root.join("aliases"))
        .into_iter()
        .filter_map(|(alias, text)| Some((alias, text.trim().parse().ok()?)))
        .collect()
}

/// The version numbers of a registered model (from its `version-N` directories), ascending.
fn read_versions(model_root: &Path) -> Vec<u32> {
    let mut out: Vec<u32> = subdirs(model_root)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| file_name(d).strip_prefix("version-")?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

fn version_meta(name: &str, version: u32, run_id: &str, source: &str) -> String {
    let now = now_ms();
    YamlWriter::new()
        .int("creation_timestamp", now)
        .str("current_stage", "None")
        .null("deployment_job_state")
        .null("description")
        .int("last_updated_timestamp", now)
        .null("model_id")
        .str("name", name)
        .str("run_id", run_id)
        .null("run_link")
        .str("source", source)
        .str("status", "READY")
        .null("status_message")
        .str("storage_location", source)
        .null("user_id")
        .int("version", i64::from(version))
        .str("workspace", "default")
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_aliases_and_tags_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::create(dir.path()).unwrap();
        store.create_registered_model("m").unwrap();
        let run = "0a829a8aa21342e0897e50a07363a0b4";
        for _ in 0..3 {
            store.create_model_version("m", "file:///srv/a%20b/model", run).unwrap();
        }
        fs::create_dir_all(dir.path().join("models/m/.staging-x")).unwrap();
        assert_eq!(read_versions(&dir.path().join("models/m")), [1, 2, 3]);
        store.set_alias("m", "champion", 2).unwrap();
        store.set_alias("m", "champion", 3).unwrap();
        assert!(store.set_alias("m", "champion", 9).is_err(), "no version 9");
        store.set_model_version_tag("m", 3, "validation", "passed").unwrap();
        let v3 = store.get_alias("m", "champion").unwrap().unwrap();
        assert_eq!((v3.version, v3.aliases.clone()), (3, vec!["champion".to_string()]));
        assert_eq!(v3.tags["validation"], "passed");
        assert_eq!(store.download_model_version(&v3).unwrap(), PathBuf::from("/srv/a b/model"));
        assert_eq!(fs::read_to_string(dir.path().join("models/m/aliases/champion")).unwrap(), "3");
        store.delete_alias("m", "champion").unwrap();
        assert_eq!(store.get_alias("m", "champion").unwrap(), None);
        assert!(store.get_registered_model("../etc").unwrap().is_none());
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("models/m"))
            .unwrap()
            .map(|e| file_name(&e.unwrap().path()))
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
