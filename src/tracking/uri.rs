//! Tracking URIs: which backend a URI names (`None` → `$MLFLOW_TRACKING_URI` → `./mlruns`), and
//! the `file://` URI ⇄ local path conversions MLflow uses for artifact locations.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Where runs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A file store rooted at this absolute directory.
    File(PathBuf),
    /// A tracking server, base URL without a trailing slash.
    Rest(String),
}

impl Backend {
    /// The URI as MLflow writes it (`file:///abs/mlruns` or `http://host:port`).
    pub fn uri(&self) -> String {
        match self {
            Backend::File(root) => path_to_file_uri(root),
            Backend::Rest(base) => base.clone(),
        }
    }
}

/// Picks the backend: the given URI, else `$MLFLOW_TRACKING_URI`, else `./mlruns`.
pub fn backend(tracking_uri: Option<&str>) -> Result<Backend> {
    let from_env = std::env::var("MLFLOW_TRACKING_URI").ok().filter(|s| !s.trim().is_empty());
    let uri = tracking_uri.map(str::to_string).or(from_env).unwrap_or_else(|| "mlruns".to_string());
    parse_backend(uri.trim())
}

fn parse_backend(uri: &str) -> Result<Backend> {
    if uri.is_empty() {
        return Err(Error::Usage("the tracking URI is empty".into()));
    }
    if let Some(rest) = uri.strip_prefix("http://") {
        if rest.trim_end_matches('/').is_empty() {
            return Err(Error::Usage(format!("tracking URI {uri:?} has no host")));
        }
        return Ok(Backend::Rest(uri.trim_end_matches('/').to_string()));
    }
    if uri.starts_with("https://") {
        return Err(Error::Usage(format!(
            "tracking URI {uri}: https is not supported by this build (no TLS); use http:// \
             (e.g. through a local proxy or SSH tunnel) or a file store"
        )));
    }
    if uri.starts_with("file:") {
        return Ok(Backend::File(absolute(&file_uri_to_path(uri)?)));
    }
    if let Some((scheme, _)) = uri.split_once(':')
        && scheme.len() > 1
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err(Error::Usage(format!(
            "tracking URI {uri}: the '{scheme}' backend is not supported; use a file store \
             (a path or file:///abs/mlruns) or an MLflow server (http://host:port)"
        )));
    }
    Ok(Backend::File(absolute(Path::new(uri))))
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir().map(|cwd| cwd.join(path)).unwrap_or_else(|_| path.to_path_buf())
}

/// `file:///abs/p%20q` (or `file:/abs`, `file://localhost/abs`) → `/abs/p q`.
pub fn file_uri_to_path(uri: &str) -> Result<PathBuf> {
    let rest =
        uri.strip_prefix("file:").ok_or_else(|| Error::Usage(format!("{uri:?} is not a file: URI")))?;
    let path = match rest.strip_prefix("//") {
        Some(after) if after.starts_with('/') => after,
        Some(after) => match after.strip_prefix("localhost") {
            Some(p) if p.starts_with('/') || p.is_empty() => p,
            _ => return Err(Error::Usage(format!("{uri}: file URIs on another host are not supported"))),
        },
        None => rest,
    };
    if path.is_empty() {
        return Err(Error::Usage(format!("{uri}: the file URI has no path")));
    }
    Ok(bytes_to_path(percent_decode(path)))
}

#[cfg(unix)]
fn bytes_to_path(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn bytes_to_path(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}

/// `/abs/p q` → `file:///abs/p%20q`, percent-encoding like Python's `pathlib.Path.as_uri()` so
/// MLflow decodes it back to the same path (a raw `%` in a path would otherwise be misread).
pub fn path_to_file_uri(path: &Path) -> String {
    let path = absolute(path);
    let encoded = percent_encode_path(&path_bytes(&path));
    if encoded.starts_with('/') { format!("file://{encoded}") } else { format!("file:///{encoded}") }
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().replace('\\', "/").into_bytes()
}

/// Percent-encodes every byte except unreserved characters and `/`.
pub fn percent_encode_path(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_from_uris() {
        assert_eq!(parse_backend("file:///abs/mlruns").unwrap(), Backend::File("/abs/mlruns".into()));
        assert_eq!(parse_backend("file:/abs/ml%20runs").unwrap(), Backend::File("/abs/ml runs".into()));
        assert_eq!(parse_backend("/abs/mlruns").unwrap(), Backend::File("/abs/mlruns".into()));
        assert_eq!(
            parse_backend("http://127.0.0.1:5000/").unwrap(),
            Backend::Rest("http://127.0.0.1:5000".into())
        );
        let rel = parse_backend("mlruns").unwrap();
        assert_eq!(rel, Backend::File(std::env::current_dir().unwrap().join("mlruns")));
        for bad in ["https://x", "sqlite:///mlflow.db", "databricks://p", "http://", ""] {
            assert!(parse_backend(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn file_uris_round_trip_odd_paths() {
        for p in ["/tmp/a b/mlruns", "/tmp/100%/x", "/tmp/ñ/#q?"] {
            let uri = path_to_file_uri(Path::new(p));
            assert!(uri.starts_with("file:///"), "{uri}");
            assert!(!uri[7..].contains([' ', '#', '?']), "{uri}");
            assert_eq!(file_uri_to_path(&uri).unwrap(), PathBuf::from(p));
        }
        assert_eq!(path_to_file_uri(Path::new("/tmp/a b")), "file:///tmp/a%20b");
        assert!(file_uri_to_path("file://otherhost/x").is_err());
    }
}
