//! The files of a local directory about to be logged as artifacts, for both backends: regular
//! files only, found without following links (a symbolic link, a FIFO or a device anywhere in
//! the tree is refused before anything is copied, so nothing outside the directory can leak
//! into a run), temp files of unfinished writes skipped, depth and count bounded.

use crate::error::{Error, Result};
use crate::fsutil::is_temp_file_name;
use std::fs;
use std::path::{Path, PathBuf};

/// Trees deeper than this are refused.
const MAX_DEPTH: usize = 32;
/// A run's artifacts are a handful of files; this bounds a wrong directory given by mistake.
const MAX_FILES: usize = 100_000;

/// Every regular file below `dir` as (`a/b` relative path, path), sorted.
pub fn files_to_log(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let meta = fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !meta.is_dir() {
        return Err(Error::Usage(format!(
            "{}: not a directory (artifacts are logged from a directory)",
            dir.display()
        )));
    }
    let mut out = Vec::new();
    collect(dir, "", 0, &mut out)?;
    out.sort();
    Ok(out)
}

fn collect(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Usage(format!("{}: directory nested more than {MAX_DEPTH} deep", dir.display())));
    }
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        // file_type() comes from the directory entry: it describes a link, never its target.
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            collect(&path, &rel, depth + 1, out)?;
        } else if kind.is_file() {
            if !is_temp_file_name(&name) {
                out.push((rel, path));
            }
        } else {
            let what = if kind.is_symlink() { "a symbolic link" } else { "not a regular file" };
            return Err(Error::Usage(format!(
                "{}: {what}; credrisk logs only the regular files of a run's own directory (copy the file in instead)",
                path.display()
            )));
        }
        if out.len() > MAX_FILES {
            return Err(Error::Usage(format!("{}: more than {MAX_FILES} files to log", dir.display())));
        }
    }
    Ok(())
}

/// `artifact_path` as a clean relative path ("" for the artifact root), refusing `..`, `.`,
/// empty parts and backslashes, which could leave the run's artifact directory.
pub fn clean_artifact_path(artifact_path: Option<&str>) -> Result<String> {
    let rel = artifact_path.map(|p| p.trim_matches('/')).unwrap_or("");
    if rel.is_empty() {
        return Ok(String::new());
    }
    if rel.split('/').any(|part| part.is_empty() || part == "." || part == "..") || rel.contains('\\') {
        return Err(Error::Usage(format!(
            "invalid artifact path {rel:?}: use a plain relative path like 'model'"
        )));
    }
    Ok(rel.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_listed_and_temp_files_skipped() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("model/sub")).unwrap();
        fs::write(dir.path().join("a.json"), "{}").unwrap();
        fs::write(dir.path().join("model/sub/b.bin"), "x").unwrap();
        fs::write(dir.path().join("model/.model.crm.4242.tmp"), "half").unwrap();
        let rels: Vec<String> = files_to_log(dir.path()).unwrap().into_iter().map(|(r, _)| r).collect();
        assert_eq!(rels, ["a.json", "model/sub/b.bin"]);
    }

    #[cfg(unix)]
    #[test]
    fn links_and_fifos_are_refused_wherever_they_are() {
        for (name, make) in [
            ("leak.txt", "file link"),
            ("model/etc", "dir link"),
            ("inside.txt", "link within"),
            ("pipe", "fifo"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("model")).unwrap();
            fs::write(dir.path().join("ok.txt"), "x").unwrap();
            let path = dir.path().join(name);
            match make {
                "file link" => std::os::unix::fs::symlink("/etc/hostname", &path).unwrap(),
                "dir link" => std::os::unix::fs::symlink("/etc", &path).unwrap(),
                "link within" => std::os::unix::fs::symlink(dir.path().join("ok.txt"), &path).unwrap(),
                _ => assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success()),
            }
            let err = files_to_log(dir.path()).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{name}: {err}");
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = files_to_log(Path::new("/etc/hostname")).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
    }

    #[test]
    fn artifact_paths_stay_inside_the_run() {
        assert_eq!(clean_artifact_path(Some("model/")).unwrap(), "model");
        assert_eq!(clean_artifact_path(None).unwrap(), "");
        for bad in ["../x", "a/../../b", "a//b", "a\\b", "./a"] {
            assert!(clean_artifact_path(Some(bad)).is_err(), "{bad}");
        }
    }
}
