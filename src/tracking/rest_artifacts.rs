//! Run artifacts behind a tracking server: where a run's `artifact_uri` points
//! (`mlflow-artifacts:/…` through the server's proxy, or a `file:` directory this machine can
//! write), uploading a local directory there and downloading a directory back.

use super::rest::RestClient;
use super::uri::file_uri_to_path;
use crate::error::{Error, Result};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// Directory trees deeper than this are refused (a symlink loop, most likely).
const MAX_DEPTH: usize = 32;
/// A model directory has a handful of files; this bounds a runaway download.
const MAX_DOWNLOAD_FILES: usize = 10_000;

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

/// Uploads every file below `local_dir` to `<location>/<artifact_path>/…`.
pub fn upload_dir(
    client: &RestClient,
    location: &ArtifactLocation,
    local_dir: &Path,
    artifact_path: Option<&str>,
) -> Result<()> {
    let rel_root = artifact_path.map(|p| p.trim_matches('/')).unwrap_or("");
    if rel_root.split('/').any(|part| part == "." || part == "..") {
        return Err(Error::Usage(format!(
            "invalid artifact path {rel_root:?}: use a plain relative path like 'model'"
        )));
    }
    let target = location.join(rel_root);
    for (rel, path) in local_files(local_dir)? {
        match target.join(&rel) {
            ArtifactLocation::Proxy(remote) => client.put_artifact(&remote, &path)?,
            ArtifactLocation::Local(dest) => copy_local(&path, &dest)?,
        }
    }
    Ok(())
}

/// Every file below `dir` as (`a/b` relative path, path), sorted; unreadable entries are errors.
pub fn local_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    collect_files(dir, "", 0, &mut out)?;
    out.sort();
    Ok(out)
}

fn collect_files(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Usage(format!("{}: directory nested too deep (a symlink loop?)", dir.display())));
    }
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        if path.is_dir() {
            collect_files(&path, &rel, depth + 1, out)?;
        } else {
            out.push((rel, path));
        }
    }
    Ok(())
}

/// Copies one file into a local artifact directory, atomically (temp beside it + rename).
fn copy_local(src: &Path, dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        crate::fsutil::create_dir_all(parent)?;
    }
    let bytes = fs::read(src).map_err(|e| Error::io(src, e))?;
    crate::fsutil::write_atomic(dest, &bytes)
}

/// Downloads the directory at `location` into `dest` (created), recursively.
pub fn download_dir(client: &RestClient, location: &ArtifactLocation, dest: &Path) -> Result<usize> {
    match location {
        ArtifactLocation::Local(dir) => {
            let files = local_files(dir)?;
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
    for entry in listing["files"].as_array().map(Vec::as_slice).unwrap_or_default() {
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

    #[test]
    fn local_files_walks_recursively() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("model/sub")).unwrap();
        fs::write(dir.path().join("a.json"), "{}").unwrap();
        fs::write(dir.path().join("model/sub/b.bin"), "x").unwrap();
        let rels: Vec<String> = local_files(dir.path()).unwrap().into_iter().map(|(r, _)| r).collect();
        assert_eq!(rels, ["a.json", "model/sub/b.bin"]);
    }
}
