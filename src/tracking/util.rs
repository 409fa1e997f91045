//! Small shared pieces of the MLflow writer: ids, clocks, the user name, UTC formatting, and the
//! key/name rules MLflow enforces (so both backends refuse the same inputs with the same words).

use crate::error::{Error, Result};
use std::time::{SystemTime, UNIX_EPOCH};

/// MLflow's limits (mlflow/utils/validation.py); longer values are truncated as MLflow does.
pub const MAX_KEY_LEN: usize = 250;
pub const MAX_PARAM_VALUE_LEN: usize = 6000;
pub const MAX_TAG_VALUE_LEN: usize = 8000;

/// A run id as MLflow makes it: `uuid4().hex` (32 lowercase hex digits, version and variant set).
pub fn new_run_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    hex::encode(bytes)
}

/// Milliseconds since the Unix epoch (MLflow's timestamps are integer ms).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The user recorded in `user_id` and `mlflow.user`, found as MLflow's client finds it
/// (Python's `getpass.getuser()`): `$LOGNAME`, `$USER`, `$LNAME`, `$USERNAME`, then the OS
/// account of the real user id; `unknown` only when none exists.
pub fn current_user() -> String {
    ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.trim().is_empty())
        .or_else(os_account_name)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The account name of this process's real user id in `/etc/passwd` (Linux).
fn os_account_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.to_string();
    account_with_uid(&std::fs::read_to_string("/etc/passwd").ok()?, &uid)
}

fn account_with_uid(passwd: &str, uid: &str) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, the format of MLmodel's `utc_time_created`.
pub fn utc_timestamp(ms: i64) -> String {
    let (date, secs_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(date);
    let micros = (secs_of_day % 1000) * 1000;
    let s = secs_of_day / 1000;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{micros:06}", s / 3600, s / 60 % 60, s % 60)
}

/// `YYYY-MM-DD HH:MM` in UTC, for tables.
pub fn utc_minutes(ms: i64) -> String {
    utc_timestamp(ms)[..16].to_string()
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Python's `\w` for the characters MLflow's key rules allow.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A metric, param or tag key: MLflow's `[/\w.\- :]`, not empty, at most 250 characters, and no
/// path trickery (`..`, a leading `/`, `//`), because the key becomes a file path in the store.
pub fn validate_key(kind: &str, key: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::Usage(format!("invalid MLflow {kind} name {key:?}: {why}")));
    if key.is_empty() {
        return bad("it is empty");
    }
    if key.chars().count() > MAX_KEY_LEN {
        return bad("longer than 250 characters");
    }
    if let Some(c) = key.chars().find(|&c| !(is_word(c) || "/.- :".contains(c))) {
        return bad(&format!("character {c:?} is not allowed (letters, digits, _ . - / : and space)"));
    }
    let path_unsafe = key.starts_with('/')
        || key.ends_with('/')
        || key.contains("//")
        || key.split('/').any(|part| part == "." || part == "..");
    if path_unsafe {
        return bad("it must be a clean relative path (no leading or trailing '/', no '.' or '..' parts)");
    }
    Ok(())
}

/// MLflow's registry keeps names in a `String(256)` column.
pub const MAX_MODEL_NAME_CHARS: usize = 256;
/// A file system's limit for one directory name, which is what the file store makes of a name.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// A registered model name: MLflow refuses empty names and `/` or `:`, and keeps at most 256
/// characters; the file store also needs it to be one safe directory name.
pub fn validate_model_name(name: &str) -> Result<()> {
    let bad =
        |why: &str| Err(Error::Usage(format!("invalid registered model name {:?}: {why}", shorten(name))));
    if name.trim().is_empty() {
        return bad("it is empty");
    }
    let chars = name.chars().count();
    if chars > MAX_MODEL_NAME_CHARS {
        return bad(&format!("it has {chars} characters; MLflow allows at most {MAX_MODEL_NAME_CHARS}"));
    }
    if name.contains(['/', ':', '\\']) {
        return bad("names cannot contain '/', ':' or '\\'");
    }
    if name.starts_with('.') || name.chars().any(char::is_control) {
        return bad("names cannot start with '.' or contain control characters");
    }
    Ok(())
}

/// A name in an error message: long ones cut to 40 characters and an ellipsis.
pub fn shorten(name: &str) -> String {
    match name.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_string(),
    }
}

/// An experiment name: not empty, at most 500 characters (mlflow/utils/validation.py).
pub fn validate_experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 500 {
        return Err(Error::Usage(format!(
            "invalid experiment name {:?}: 1 to 500 characters",
            shorten(name)
        )));
    }
    Ok(())
}

/// A registered model alias: MLflow's `^[\w\-]+$`, at most 255 characters, not `latest` and not
/// a version-like `v3` (both are reserved).
pub fn validate_alias(alias: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::Usage(format!("invalid model alias {alias:?}: {why}")));
    if alias.is_empty() || alias.chars().count() > 255 {
        return bad("it must have 1 to 255 characters");
    }
    if !alias.chars().all(|c| is_word(c) || c == '-') {
        return bad("aliases may only contain letters, digits, '_' and '-'");
    }
    if alias.eq_ignore_ascii_case("latest") {
        return bad("'latest' is reserved by MLflow");
    }
    let rest = &alias[1..];
    if alias.starts_with(['v', 'V']) && !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
        return bad("names like 'v3' are reserved for versions");
    }
    Ok(())
}

/// A run id as MLflow accepts it (`^[a-zA-Z0-9][\w\-]{0,255}$`); it becomes a directory name.
pub fn validate_run_id(run_id: &str) -> Result<()> {
    let mut chars = run_id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = run_id.len() <= 256 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(Error::Usage(format!("invalid run id {run_id:?}: expected letters, digits, '_' or '-'")))
    }
}

/// Cuts `value` to `max` characters (MLflow truncates long param and tag values likewise).
pub fn truncate_chars(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((cut, _)) => value[..cut].to_string(),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_uuid4_hex() {
        let id = new_run_id();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(&id[12..13], "4");
        assert!("89ab".contains(&id[16..17]));
        assert_ne!(id, new_run_id());
    }

    #[test]
    fn utc_formatting_matches_known_instants() {
        // date -u -d @0 / @951782400 (2000-02-29) / @1795769067.604
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00.000000");
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29 00:00:00.000000");
        assert_eq!(utc_timestamp(1_795_769_067_604), "2026-11-27 08:44:27.604000");
        assert_eq!(utc_timestamp(-1), "1969-12-31 23:59:59.999000");
        assert_eq!(utc_minutes(1_795_769_067_604), "2026-11-27 08:44");
    }

    #[test]
    fn keys_follow_mlflow_rules() {
        for ok in ["roc_auc", "eval/ks", "tree 10.auc", "a-b:c", "año"] {
            validate_key("metric", ok).unwrap();
        }
        for bad in ["", "/x", "x/", "a//b", "a/../b", "..", "a\tb", "a\nb", "x=1", &"k".repeat(251)] {
            assert!(validate_key("metric", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn aliases_and_names_follow_mlflow_rules() {
        validate_alias("champion").unwrap();
        validate_alias("prod-2").unwrap();
        for bad in ["", "latest", "LATEST", "v1", "V22", "a b", "a/b"] {
            assert!(validate_alias(bad).is_err(), "{bad:?} accepted");
        }
        validate_alias("v").unwrap();
        validate_alias("v1x").unwrap();
        validate_model_name("credrisk-model").unwrap();
        for bad in ["", " ", "a/b", "a:b", ".hidden"] {
            assert!(validate_model_name(bad).is_err(), "{bad:?} accepted");
        }
        validate_run_id("0a829a8aa21342e0897e50a07363a0b4").unwrap();
        assert!(validate_run_id("../etc").is_err());
    }

    #[test]
    fn model_names_are_limited_like_mlflow() {
        validate_model_name(&"n".repeat(256)).unwrap();
        let err = validate_model_name(&"n".repeat(300)).unwrap_err().to_string();
        assert!(err.contains("300 characters") && err.contains("256") && err.len() < 200, "{err}");
        assert!(validate_experiment_name(&"e".repeat(501)).is_err());
        validate_experiment_name("credrisk").unwrap();
    }

    #[test]
    fn the_os_account_is_found_by_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nana:x:1000:1000::/home/ana:/bin/sh\n";
        assert_eq!(account_with_uid(passwd, "1000").as_deref(), Some("ana"));
        assert_eq!(account_with_uid(passwd, "0").as_deref(), Some("root"));
        assert_eq!(account_with_uid(passwd, "7"), None);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("ñandú", 3), "ñan");
        assert_eq!(truncate_chars("ab", 3), "ab");
    }
}
