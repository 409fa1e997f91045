//! Run artifacts behind a tracking server: where a run's `artifact_uri` points
//! (`mlflow-artifacts:/…` through the server's proxy, or a `file:` directory this machine can
//! write), uploading a local directory there, listing, and downloading a directory into a
//! local cache (`<temp>/credrisk-models/<key>/`) that appears whole by rename.

use super::super::entities::ArtifactEntry;
use super::super::local_files::{clean_artifact_path, files_to_log};
use super::super::uri::file_uri_to_path;
use super::super::util::new_run_id;
use super::RestStore;
use super::client::RestClient;
use super::runs::{array, json_int};
use crate::error::{Error, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

/// Directory trees deeper than this are refused.
const MAX_DEPTH: usize = 32;
/// A model directory has a handful of files; this bounds a runaway download.
const MAX_DOWNLOAD_FILES: usize = 10_000;
/// One artifact read whole (an MLmodel, a JSON report) is at most this large.
const MAX_READ_BYTES: u64 = 64 << 20;

/// Where a run's artifacts live, seen from this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactLocation {
    /// Through `/api/2.0/mlflow-artifacts/artifacts/<path>` (no leading or trailing `/`).
    Proxy(String),
    /// A directory on this machine (a server sharing our filesystem).
    Local(PathBuf),
}

impl ArtifactLocation {
    /// `mlflow-artifacts:/1/<run>/artifacts`, `mlflow-artifacts://host:port/1/…` or `file:///…`.
    pub fn parse(uri: &str) -> Result<ArtifactLocation> {
        if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
            let path = match rest.strip_prefix("//") {
                Some(with_authority) => with_authority.split_once('/').map_or("", |(_, p)| p),
                None => rest,
            };
            return Ok(ArtifactLocation::Proxy(path.trim_matches('/').to_string()));
        }
        if uri.starts_with("file:") {
            return Ok(ArtifactLocation::Local(file_uri_to_path(uri)?));
        }
        if uri.starts_with('/') {
            return Ok(ArtifactLocation::Local(PathBuf::from(uri)));
        }
        Err(Error::Tracking(format!(
            "artifact location {uri} is not reachable by credrisk: start the MLflow server with \
             artifact proxying (`mlflow server --serve-artifacts --artifacts-destination …`, the default)"
        )))
    }

    /// The location of `rel` below this one.
    pub fn join(&self, rel: &str) -> ArtifactLocation {
        let rel = rel.trim_matches('/');
        if rel.is_empty() {
            return self.clone();
        }
        match self {
            ArtifactLocation::Proxy(p) if p.is_empty() => ArtifactLocation::Proxy(rel.to_string()),
            ArtifactLocation::Proxy(p) => ArtifactLocation::Proxy(format!("{p}/{rel}")),
            ArtifactLocation::Local(dir) => ArtifactLocation::Local(dir.join(rel)),
        }
    }
}

impl RestStore {
    /// The run's artifact root.
    fn artifact_root(&self, run_id: &str) -> Result<(String, ArtifactLocation)> {
        let run = self
            .get_run(run_id)?
            .ok_or_else(|| Error::ModelNotFound(format!("no run {run_id} on {}", self.client.base)))?;
        let uri = run.info.artifact_uri.trim_end_matches('/').to_string();
        let location = ArtifactLocation::parse(&uri)?;
        Ok((uri, location))
    }

    /// Uploads every file below `local_dir` to `<artifact root>/<artifact_path>/…`.
    pub fn log_artifacts(&self, run_id: &str, local_dir: &Path, artifact_path: Option<&str>) -> Result<()> {
        let rel_root = clean_artifact_path(artifact_path)?;
        let files = files_to_log(local_dir)?;
        let target = self.artifact_root(run_id)?.1.join(&rel_root);
        for (rel, path) in files {
            match target.join(&rel) {
                ArtifactLocation::Proxy(remote) => self.client.put_artifact(&remote, &path)?,
                ArtifactLocation::Local(dest) => copy_local(&path, &dest)?,
            }
        }
        Ok(())
    }

    pub fn list_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<ArtifactEntry>> {
        let rel = clean_artifact_path(Some(path))?;
        let listing =
            self.client.get("mlflow/artifacts/list", &[("run_id", run_id), ("path", rel.as_str())])?;
        Ok(array(&listing["files"])
            .iter()
            .filter_map(|f| {
                Some(ArtifactEntry {
                    path: f["path"].as_str()?.to_string(),
                    is_dir: f["is_dir"].as_bool().unwrap_or(false),
                    size: json_int(&f["file_size"]).and_then(|s| u64::try_from(s).ok()),
                })
            })
            .collect())
    }

    pub fn download_artifacts(&self, run_id: &str, path: &str) -> Result<PathBuf> {
        let rel = clean_artifact_path(Some(path))?;
        let (uri, location) = self.artifact_root(run_id)?;
        let uri = if rel.is_empty() { uri } else { format!("{uri}/{rel}") };
        download_cached(&self.client, &location.join(&rel), &uri)
    }

    pub fn read_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>> {
        let rel = clean_artifact_path(Some(path))?;
        match self.artifact_root(run_id)?.1.join(&rel) {
            ArtifactLocation::Proxy(remote) => self.client.artifact_bytes(&remote, MAX_READ_BYTES),
            ArtifactLocation::Local(file) => {
                let meta = fs::metadata(&file).map_err(|e| Error::io(&file, e))?;
                if !meta.is_file() || meta.len() > MAX_READ_BYTES {
                    return Err(Error::bad_file(
                        &file,
                        format!("not a file of at most {MAX_READ_BYTES} bytes"),
                    ));
                }
                fs::read(&file).map_err(|e| Error::io(&file, e))
            }
        }
    }
}

/// Copies one file into a local artifact directory, atomically (temp beside it + rename).
fn copy_local(src: &Path, dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        crate::fsutil::create_dir_all(parent)?;
    }
    let bytes = fs::read(src).map_err(|e| Error::io(src, e))?;
    crate::fsutil::write_atomic(dest, &bytes)
}

/// Downloads the directory once per (server, artifact URI); later calls reuse the copy (a
/// run's model directory does not change once written). The download goes to a staging
/// directory renamed into place when complete, so a crash or a concurrent download never leaves
/// a half model in the cache.
pub fn download_cached(
    client: &RestClient,
    location: &ArtifactLocation,
    artifact_uri: &str,
) -> Result<PathBuf> {
    if let ArtifactLocation::Local(dir) = location {
        return Ok(dir.clone());
    }
    let cache_root = std::env::temp_dir().join("credrisk-models");
    let key = hex::encode(&Sha256::digest(format!("{}\n{artifact_uri}", client.base).as_bytes())[..12]);
    let target = cache_root.join(&key);
    if target.is_dir() {
        return Ok(target);
    }
    crate::fsutil::create_dir_all(&cache_root)?;
    let staging = cache_root.join(format!(".{key}-{}", new_run_id()));
    let downloaded = download_dir(client, location, &staging);
    let result = match downloaded {
        Ok(0) => Err(Error::ModelNotFound(format!("{artifact_uri} on {} holds no files", client.base))),
        Ok(_) => match fs::rename(&staging, &target) {
            Ok(()) => Ok(target.clone()),
            // Another process finished the same download first: use its copy.
            Err(_) if target.is_dir() => Ok(target.clone()),
            Err(e) => Err(Error::io(&target, e)),
        },
        Err(e) => Err(e),
    };
    let _ = fs::remove_dir_all(&staging);
    result
}

/// Downloads the directory at `location` into `dest` (created), recursively.
fn download_dir(client: &RestClient, location: &ArtifactLocation, dest: &Path) -> Result<usize> {
    match location {
        ArtifactLocation::Local(dir) => {
            let files = files_to_log(dir)?;
            for (rel, path) in &files {
                copy_local(path, &dest.join(rel))?;
            }
            Ok(files.len())
        }
        ArtifactLocation::Proxy(root) => {
            let mut count = 0;
            download_proxy_dir(client, root, "", dest, 0, &mut count)?;
            Ok(count)
        }
    }
}

fn download_proxy_dir(
    client: &RestClient,
    root: &str,
    rel: &str,
    dest: &Path,
    depth: usize,
    count: &mut usize,
) -> Result<()> {
    let remote = if rel.is_empty() { root.to_string() } else { format!("{root}/{rel}") };
    if depth > MAX_DEPTH || *count > MAX_DOWNLOAD_FILES {
        return Err(Error::Tracking(format!("{}: artifact tree at {remote} is too large", client.base)));
    }
    crate::fsutil::create_dir_all(dest.join(rel))?;
    let listing = client.get("mlflow-artifacts/artifacts", &[("path", remote.as_str())])?;
    for entry in array(&listing["files"]) {
        let Some(name) = entry_name(entry, &remote) else { continue };
        let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        if entry["is_dir"].as_bool() == Some(true) {
            download_proxy_dir(client, root, &child, dest, depth + 1, count)?;
        } else {
            client.download_artifact(&format!("{root}/{child}"), &dest.join(&child))?;
            *count += 1;
        }
    }
    Ok(())
}

/// The entry's name relative to the listed directory (servers give it relative; tolerate a
/// full path too), refusing names that would escape `dest`.
fn entry_name(entry: &Value, listed: &str) -> Option<String> {
    let path = entry["path"].as_str()?;
    let name = path.strip_prefix(listed).map(|p| p.trim_start_matches('/')).unwrap_or(path);
    let safe =
        !name.is_empty() && name.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    safe.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_map_to_locations() {
        assert_eq!(
            ArtifactLocation::parse("mlflow-artifacts:/1/abc/artifacts").unwrap(),
            ArtifactLocation::Proxy("1/abc/artifacts".into())
        );
        assert_eq!(
            ArtifactLocation::parse("mlflow-artifacts://127.0.0.1:5000/1/abc/artifacts").unwrap(),
            ArtifactLocation::Proxy("1/abc/artifacts".into())
        );
        assert_eq!(
            ArtifactLocation::parse("file:///srv/a%20b/artifacts").unwrap(),
            ArtifactLocation::Local("/srv/a b/artifacts".into())
        );
        assert!(ArtifactLocation::parse("s3://bucket/x").is_err());
        let model = ArtifactLocation::Proxy("1/abc/artifacts".into()).join("model/");
        assert_eq!(model, ArtifactLocation::Proxy("1/abc/artifacts/model".into()));
    }

    #[test]
    fn listed_names_cannot_escape() {
        let e = |p: &str| serde_json::json!({ "path": p });
        assert_eq!(entry_name(&e("MLmodel"), "1/r/artifacts/model"), Some("MLmodel".into()));
        assert_eq!(entry_name(&e("1/r/artifacts/model/x.bin"), "1/r/artifacts/model"), Some("x.bin".into()));
        assert_eq!(entry_name(&e("../etc"), "d"), None);
        assert_eq!(entry_name(&e(""), "d"), None);
    }
}
