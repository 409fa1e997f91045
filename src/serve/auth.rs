//! API keys: the key file (one `NAME:SALT:SHA256` line per key), `credrisk keys add` (a new
//! random key printed once, its salted hash appended), and the middleware that asks every request
//! but the health checks and `/metrics` for `Authorization: Bearer KEY`.
//!
//! Why a salted SHA-256 and not a password hash (argon2, bcrypt): a key is 256 random bits, not
//! something a person chose, so there is no dictionary to try and a slow hash would add nothing
//! but latency to every request; the per-key salt keeps two files' hashes of one key apart.

use super::errors::ApiError;
use super::state::State;
use crate::error::{Error, Result};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Every key starts with this (so a leaked one is recognisable in a scan of logs or repositories).
pub const KEY_PREFIX: &str = "crk_";
/// Bytes of randomness in a key.
const KEY_BYTES: usize = 32;
const SALT_BYTES: usize = 16;
/// The longest key name (names appear in audit records and log lines).
const MAX_NAME: usize = 64;
/// The largest key file read (a line is under 200 bytes).
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Paths answered without a key: what load balancers and scrapers call.
const OPEN_PATHS: [&str; 4] = ["/health", "/health/live", "/health/ready", "/metrics"];

/// The name of the key a request was authorized with (for the audit record and the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(pub String);

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    name: String,
    salt: [u8; SALT_BYTES],
    hash: [u8; 32],
}

/// The keys of a key file.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRing {
    entries: Vec<Entry>,
}

impl KeyRing {
    /// Reads a key file; a malformed line is an error naming it, and a file without keys is one
    /// too (it would lock everybody out).
    pub fn load(path: &Path) -> Result<KeyRing> {
        let text = crate::fsutil::read_text_limited(path, MAX_FILE_BYTES)?;
        let ring = KeyRing::parse(&text)
            .map_err(|(line, why)| Error::bad_file(path, format!("line {line}: {why}")))?;
        if ring.entries.is_empty() {
            return Err(Error::bad_file(
                path,
                "holds no keys; add one with `credrisk keys add NAME --file FILE`",
            ));
        }
        Ok(ring)
    }

    /// The entries of a key file's text; blank lines and `#` comments are skipped.
    fn parse(text: &str) -> std::result::Result<KeyRing, (usize, String)> {
        let mut entries: Vec<Entry> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| (i + 1, why.to_string());
            let mut parts = line.split(':');
            let (Some(name), Some(salt), Some(hash), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("expected NAME:SALT:SHA256 (written by `credrisk keys add`)"));
            };
            validate_name(name).map_err(|why| bad(&why))?;
            let mut entry = Entry { name: name.to_string(), salt: [0; SALT_BYTES], hash: [0; 32] };
            hex::decode_to_slice(salt, &mut entry.salt).map_err(|_| bad("the salt is not 32 hex digits"))?;
            hex::decode_to_slice(hash, &mut entry.hash).map_err(|_| bad("the hash is not 64 hex digits"))?;
            if entries.iter().any(|e| e.name == entry.name) {
                return Err(bad(&format!("the name {name:?} is used twice")));
            }
            entries.push(entry);
        }
        Ok(KeyRing { entries })
    }

    /// The name of the key `presented` is, if any. Every entry is hashed and compared in constant
    /// time, so the answer's timing says nothing about how close a guess came.
    pub fn verify(&self, presented: &str) -> Option<&str> {
        if !presented.starts_with(KEY_PREFIX) || presented.len() > KEY_PREFIX.len() + 2 * KEY_BYTES {
            return None;
        }
        let mut found = None;
        for entry in &self.entries {
            if constant_time_eq(&hash(&entry.salt, presented), &entry.hash) {
                found = Some(entry.name.as_str());
            }
        }
        found
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A key name: 1..=64 of `[A-Za-z0-9._-]` (it goes into audit records and log lines as is).
pub fn validate_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!("key name {name:?} must be 1..={MAX_NAME} of letters, digits, '.', '_' or '-'"))
    }
}

fn hash(salt: &[u8], key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(key.as_bytes());
    h.finalize().into()
}

/// Equal bytes, looked at in full whatever the first difference (no early exit to time).
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A new key and its key-file line.
fn new_key(name: &str) -> (String, String) {
    let bytes: [u8; KEY_BYTES] = rand::random();
    let salt: [u8; SALT_BYTES] = rand::random();
    let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let line = format!("{name}:{}:{}\n", hex::encode(salt), hex::encode(hash(&salt, &key)));
    (key, line)
}

/// Adds a key named `name` to the key file at `path` (created if missing) and returns the key,
/// which exists nowhere else. The file is rewritten whole by rename: a reader (a service starting)
/// never sees half a line. A name already in the file is refused.
pub fn add_key(path: &Path, name: &str) -> Result<String> {
    validate_name(name).map_err(Error::Usage)?;
    let existing = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => crate::fsutil::read_text_limited(path, MAX_FILE_BYTES)?,
        Ok(_) => return Err(Error::bad_file(path, "is not a regular file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::bad_file(path, e.to_string())),
    };
    let ring = KeyRing::parse(&existing)
        .map_err(|(line, why)| Error::bad_file(path, format!("line {line}: {why}")))?;
    if ring.entries.iter().any(|e| e.name == name) {
        return Err(Error::Usage(format!("{} already holds a key named {name:?}", path.display())));
    }
    let (key, line) = new_key(name);
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    let mut file = crate::fsutil::AtomicFile::create(path)?;
    // Hashes are not keys, but which clients exist is nobody else's business: owner-only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let owner_only = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(file.temp_path(), owner_only).map_err(|e| Error::io(file.temp_path(), e))?;
    }
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| Error::io(path, e))?;
    file.commit()?;
    Ok(key)
}

/// The middleware: with keys configured, a request to anything but [`OPEN_PATHS`] needs a valid
/// `Authorization: Bearer KEY`, else 401 (with `WWW-Authenticate: Bearer`, nothing about why).
pub async fn require_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> std::result::Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = req.app_data::<web::Data<State>>().cloned();
    let Some(keys) = state.as_ref().and_then(|s| s.keys.as_ref()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if OPEN_PATHS.contains(&req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    match presented.and_then(|key| keys.verify(key)) {
        Some(name) => {
            req.extensions_mut().insert(KeyName(name.to_string()));
            Ok(next.call(req).await?.map_into_left_body())
        }
        None => {
            let mut response = ApiError::unauthorized().response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// The name of the key the request was authorized with (None without keys).
pub fn key_name(req: &actix_web::HttpRequest) -> Option<String> {
    req.extensions().get::<KeyName>().map(|k| k.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_verifies_under_its_name_and_nothing_else_does() {
        let (key_a, line_a) = new_key("scoring-app");
        let (key_b, line_b) = new_key("analyst");
        assert!(key_a.starts_with(KEY_PREFIX) && key_a.len() == KEY_PREFIX.len() + 64, "{key_a}");
        assert_ne!(key_a, key_b);
        let ring = KeyRing::parse(&format!("# keys\n{line_a}\n{line_b}")).unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.verify(&key_a), Some("scoring-app"));
        assert_eq!(ring.verify(&key_b), Some("analyst"));
        let mut wrong = key_a.clone();
        wrong.pop();
        wrong.push(if key_a.ends_with('0') { '1' } else { '0' });
        for bad in [wrong.as_str(), "", "crk_", &key_a[KEY_PREFIX.len()..], &format!("{key_a}0")] {
            assert_eq!(ring.verify(bad), None, "{bad}");
        }
        // The line holds the name, the salt and SHA-256(salt ‖ key) — checked from the definition.
        let parts: Vec<&str> = line_a.trim().split(':').collect();
        let mut h = Sha256::new();
        h.update(hex::decode(parts[1]).unwrap());
        h.update(key_a.as_bytes());
        assert_eq!(parts[2], hex::encode(h.finalize()));
        assert!(!line_a.contains(&key_a[KEY_PREFIX.len()..]));
    }

    #[test]
    fn malformed_lines_are_named() {
        let (_, good) = new_key("a");
        for (text, needle) in [
            ("a:b", "expected NAME:SALT:SHA256"),
            ("bad name:00:00", "key name"),
            (&format!("a:zz:{}", "0".repeat(64)), "salt"),
            (&format!("a:{}:00", "0".repeat(32)), "hash"),
            (&format!("{good}{good}"), "used twice"),
        ] {
            let (line, why) = KeyRing::parse(text).unwrap_err();
            assert!(why.contains(needle) && line >= 1, "{text}: {why}");
        }
    }

    #[test]
    fn add_key_appends_and_refuses_a_name_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let first = add_key(&path, "one").unwrap();
        let second = add_key(&path, "two").unwrap();
        let ring = KeyRing::load(&path).unwrap();
        assert_eq!((ring.verify(&first), ring.verify(&second)), (Some("one"), Some("two")));
        assert!(matches!(add_key(&path, "one"), Err(Error::Usage(_))));
        assert!(matches!(add_key(&path, "has space"), Err(Error::Usage(_))));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(!text.contains(&first) && !text.contains(&second));
    }

    #[test]
    fn equal_means_every_byte() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] ^= 1;
        assert!(!constant_time_eq(&a, &b));
    }
}
