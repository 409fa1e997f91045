//! The process signals the service answers, in one place: SIGHUP reopens the audit log (the
//! logrotate convention: `mv` the file, then `kill -HUP`); SIGTERM and SIGINT stop gracefully
//! (readiness fails at once, the listener closes, answers say `Connection: close`, requests in
//! flight finish, up to `SHUTDOWN_SECONDS`, exit 0); SIGQUIT stops at once.

use super::state::State;
use crate::error::{Error, Result};
use actix_web::dev::ServerHandle;
use actix_web::web;

/// Installs the handlers now (so a signal that arrives from here on is never fatal) and answers
/// them on the running system's event loop. Must be called inside the actix system.
#[cfg(unix)]
pub fn watch(server: ServerHandle, state: web::Data<State>) -> Result<()> {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| Error::Internal(format!("cannot install the {name} handler: {e}")))
    };
    let mut hangup = install(SignalKind::hangup(), "SIGHUP")?;
    for (kind, name, graceful) in [
        (SignalKind::terminate(), "SIGTERM", true),
        (SignalKind::interrupt(), "SIGINT", true),
        (SignalKind::quit(), "SIGQUIT", false),
    ] {
        let mut stop = install(kind, name)?;
        let server = server.clone();
        let state = state.clone();
        actix_web::rt::spawn(async move {
            if stop.recv().await.is_some() {
                state.start_draining();
                tracing::info!(signal = name, graceful, "stopping");
                server.stop(graceful).await;
            }
        });
    }
    actix_web::rt::spawn(async move {
        while hangup.recv().await.is_some() {
            reopen_audit_log(&state);
        }
    });
    Ok(())
}

/// Without Unix signals: Ctrl-C stops gracefully.
#[cfg(not(unix))]
pub fn watch(server: ServerHandle, _state: web::Data<State>) -> Result<()> {
    actix_web::rt::spawn(async move {
        if actix_web::rt::signal::ctrl_c().await.is_ok() {
            tracing::info!(signal = "ctrl-c", graceful = true, "stopping");
            server.stop(true).await;
        }
    });
    Ok(())
}

#[cfg(unix)]
fn reopen_audit_log(state: &State) {
    let Some(log) = &state.audit else {
        tracing::info!("SIGHUP: no audit log to reopen");
        return;
    };
    match log.reopen() {
        Ok(()) => tracing::info!(path = %log.path().display(), "audit log reopened"),
        Err(e) => tracing::error!(
            path = %log.path().display(),
            error = %e,
            "audit log could not be reopened; records still go to the file opened before"
        ),
    }
}
