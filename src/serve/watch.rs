//! Following a registry alias (`serve --model models:/NAME@ALIAS --watch 15s`): every interval
//! the alias is read from the tracking store; when it points at another version, that version is
//! downloaded, read and checked on this thread while the old model keeps answering, then swapped
//! in at once (requests already holding the old model finish on it). A version that cannot be
//! read, or whose applicant schema differs from the serving one, is refused, logged and not tried
//! again until the alias moves. The registry's reachability is kept for readiness and `/metrics`.

use super::metrics::model_labels;
use super::state::{Loaded, State};
use crate::loader::{self, Compare};
use crate::tracking;
use actix_web::web;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A watched alias: where, which, how often, and how long an unreachable registry is tolerated
/// before the replica reports not-ready.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchConfig {
    pub tracking_uri: Option<String>,
    pub name: String,
    pub alias: String,
    pub interval: Duration,
    pub grace: Duration,
}

impl WatchConfig {
    /// The alias's URI, as the answers name it.
    pub fn uri(&self) -> String {
        format!("models:/{}@{}", self.name, self.alias)
    }
}

/// `models:/NAME@ALIAS` → (NAME, ALIAS); anything else cannot be followed.
pub fn alias_of(model_uri: &str) -> Option<(String, String)> {
    let rest = model_uri.trim().strip_prefix("models:/")?.trim_matches('/');
    let (name, alias) = rest.split_once('@')?;
    let valid = |s: &str| !s.is_empty() && !s.contains('/') && !s.contains('@');
    (valid(name) && valid(alias)).then(|| (name.to_string(), alias.to_string()))
}

/// The registry's status as seen by the polls.
pub struct Registry {
    pub config: WatchConfig,
    started: Instant,
    status: Mutex<Status>,
}

#[derive(Debug, Default)]
struct Status {
    last_success: Option<Instant>,
    last_success_unix: f64,
    last_error: Option<String>,
    polls: u64,
    failures: u64,
    swaps: u64,
    refused: u64,
    /// The version last refused (with its run), not tried again while the alias stays on it.
    refused_version: Option<(u32, Option<String>)>,
    /// The alias was not set at the last poll (warned about once).
    alias_missing: bool,
}

/// A copy of the status, for `/health/ready` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryStatus {
    pub reachable: bool,
    pub last_success_unix: f64,
    pub seconds_since_success: Option<f64>,
    pub last_error: Option<String>,
    pub polls: u64,
    pub failures: u64,
    pub swaps: u64,
    pub refused: u64,
}

impl Registry {
    /// Starts as reachable: the alias was just resolved there to find the first model.
    pub fn new(config: WatchConfig) -> Registry {
        let status =
            Status { last_success: Some(Instant::now()), last_success_unix: unix_now(), ..Status::default() };
        Registry { config, started: Instant::now(), status: Mutex::new(status) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> RegistryStatus {
        let s = self.lock();
        RegistryStatus {
            reachable: s.last_error.is_none(),
            last_success_unix: s.last_success_unix,
            seconds_since_success: s.last_success.map(|t| t.elapsed().as_secs_f64()),
            last_error: s.last_error.clone(),
            polls: s.polls,
            failures: s.failures,
            swaps: s.swaps,
            refused: s.refused,
        }
    }

    /// Why the replica is not ready because of the registry: unreachable at the last poll and
    /// for longer than the grace period.
    pub fn not_ready(&self) -> Option<String> {
        let s = self.lock();
        let error = s.last_error.as_ref()?;
        let since = s.last_success.unwrap_or(self.started).elapsed();
        (since > self.config.grace).then(|| {
            format!(
                "unreachable for {:.0} s (grace {} s): {error}",
                since.as_secs_f64(),
                self.config.grace.as_secs()
            )
        })
    }

    fn succeeded(&self) {
        let mut s = self.lock();
        s.polls += 1;
        s.last_success = Some(Instant::now());
        s.last_success_unix = unix_now();
        s.last_error = None;
    }

    /// Records a failed poll; true when it is the first of a run of failures (logged louder).
    fn failed(&self, error: String) -> bool {
        let mut s = self.lock();
        s.polls += 1;
        s.failures += 1;
        s.last_error.replace(error).is_none()
    }
}

impl RegistryStatus {
    pub fn render(&self, out: &mut String) {
        let mut family = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        family(
            "credrisk_registry_up",
            "gauge",
            "1 when the last poll of the watched alias reached the registry.",
            u8::from(self.reachable).to_string(),
        );
        family(
            "credrisk_registry_last_success_timestamp_seconds",
            "gauge",
            "When a poll last reached the registry.",
            format!("{:.3}", self.last_success_unix),
        );
        family(
            "credrisk_registry_polls_total",
            "counter",
            "Polls of the watched alias.",
            self.polls.to_string(),
        );
        family(
            "credrisk_registry_poll_failures_total",
            "counter",
            "Polls that could not reach the registry.",
            self.failures.to_string(),
        );
        family(
            "credrisk_model_swaps_total",
            "counter",
            "Times a new version of the watched alias was swapped in.",
            self.swaps.to_string(),
        );
        family(
            "credrisk_model_refused_total",
            "counter",
            "Versions of the watched alias refused (unreadable, or another applicant schema); the old model kept serving.",
            self.refused.to_string(),
        );
    }
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Polls forever on the calling thread (the model loader's, once the first model is in).
pub fn follow(state: web::Data<State>, compare: Compare) {
    let Some(registry) = state.registry.as_ref() else { return };
    loop {
        std::thread::sleep(registry.config.interval);
        if state.draining() {
            return;
        }
        poll_once(&state, registry, &compare);
    }
}

/// One poll: read the alias, and swap in the version it points at if that is new and good.
pub fn poll_once(state: &State, registry: &Registry, compare: &Compare) {
    let config = &registry.config;
    let current = state.model();
    let serving = current.as_ref().map(|m| m.explainer.model_ref().clone()).unwrap_or_default();
    let labels = model_labels(current.as_ref().map(|m| &m.labels));
    let pointed = tracking::open_existing(config.tracking_uri.as_deref())
        .and_then(|store| store.get_alias(&config.name, &config.alias));
    let version = match pointed {
        Err(e) => {
            let first = registry.failed(e.to_string());
            if first {
                tracing::warn!(error = %e, alias = config.uri(), model = labels, "registry unreachable; the current model keeps serving");
            } else {
                tracing::debug!(error = %e, alias = config.uri(), model = labels, "registry still unreachable");
            }
            return;
        }
        Ok(None) => {
            registry.succeeded();
            // Said once when it goes missing, not every poll.
            if !std::mem::replace(&mut registry.lock().alias_missing, true) {
                tracing::warn!(
                    alias = config.uri(),
                    model = labels,
                    "the alias is not set; the current model keeps serving"
                );
            }
            return;
        }
        Ok(Some(version)) => {
            let was_down = registry.lock().last_error.is_some();
            registry.succeeded();
            registry.lock().alias_missing = false;
            if was_down {
                tracing::info!(alias = config.uri(), model = labels, "registry reachable again");
            }
            version
        }
    };
    if serving.version == Some(version.version)
        && (version.run_id.is_none() || serving.run_id == version.run_id)
    {
        return;
    }
    let candidate = (version.version, version.run_id.clone());
    if registry.lock().refused_version.as_ref() == Some(&candidate) {
        return;
    }
    let started = Instant::now();
    match load_version(config, version.version, compare, current.as_deref()) {
        Ok(loaded) => {
            let new_labels = model_labels(Some(&loaded.labels));
            let previous = state.set_model(loaded);
            let mut s = registry.lock();
            s.swaps += 1;
            s.refused_version = None;
            drop(s);
            tracing::info!(
                model = new_labels,
                previous = model_labels(previous.as_ref().map(|m| &m.labels)),
                load_ms = started.elapsed().as_secs_f64() * 1e3,
                "model swapped"
            );
        }
        Err(e) => {
            let mut s = registry.lock();
            s.refused += 1;
            s.refused_version = Some(candidate);
            drop(s);
            tracing::error!(
                error = %e,
                refused_version = version.version,
                refused_run_id = version.run_id.as_deref(),
                model = labels,
                "new version refused; the current model keeps serving"
            );
        }
    }
}

/// Downloads, reads and checks one version, named by the alias; Err says why it was refused.
fn load_version(
    config: &WatchConfig,
    version: u32,
    compare: &Compare,
    current: Option<&Loaded>,
) -> Result<Loaded, String> {
    let pinned = format!("models:/{}/{version}", config.name);
    let read = || -> crate::error::Result<_> {
        let found = loader::find_model(Some(&pinned), config.tracking_uri.as_deref())?.named(&config.uri());
        loader::explainer_of(found, compare)
    };
    let explainer = read().map_err(|e| e.to_string())?;
    if let Some(current) = current
        && current.explainer.schema().to_json() != explainer.schema().to_json()
    {
        return Err(format!(
            "version {version} asks for other applicant fields than the serving model: clients would \
             break mid-rollout; restart the replicas to change the request contract"
        ));
    }
    let loaded = Loaded::new(explainer);
    loaded.smoke_test().map_err(|why| format!("version {version}: {why}"))?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_alias_uris_can_be_followed() {
        assert_eq!(
            alias_of("models:/credrisk-model@champion"),
            Some(("credrisk-model".into(), "champion".into()))
        );
        for uri in [
            "models:/m/3",
            "models:/m/latest",
            "runs:/abc/model",
            "outputs/model",
            "models:/@x",
            "models:/m@",
        ] {
            assert_eq!(alias_of(uri), None, "{uri}");
        }
    }

    #[test]
    fn unreachable_is_not_ready_only_after_the_grace_period() {
        let config = WatchConfig {
            tracking_uri: None,
            name: "m".into(),
            alias: "champion".into(),
            interval: Duration::from_secs(1),
            grace: Duration::from_millis(50),
        };
        let registry = Registry::new(config);
        assert_eq!(registry.not_ready(), None);
        assert!(registry.failed("connection refused".into()));
        assert!(!registry.failed("connection refused".into()));
        assert_eq!(registry.not_ready(), None, "within the grace period");
        std::thread::sleep(Duration::from_millis(80));
        let why = registry.not_ready().unwrap();
        assert!(why.contains("connection refused"), "{why}");
        let snap = registry.snapshot();
        assert_eq!((snap.reachable, snap.polls, snap.failures), (false, 2, 2));
        registry.succeeded();
        assert_eq!(registry.not_ready(), None);
        let mut text = String::new();
        registry.snapshot().render(&mut text);
        assert!(
            text.contains("credrisk_registry_up 1\n")
                && text.contains("credrisk_registry_poll_failures_total 2\n"),
            "{text}"
        );
    }
}
