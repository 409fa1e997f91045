//! Ctrl-C and SIGTERM for the commands that write files: remove what they have not finished
//! (temp files, staging directories), then exit as the signal would have (128 + its number).

/// Watches for SIGINT and SIGTERM on a thread of its own, so the clean-up runs as ordinary code,
/// not inside a signal handler.
pub fn watch() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
        let watcher = move || {
            if let Some(signal) = signals.forever().next() {
                crate::fsutil::remove_unfinished();
                std::process::exit(128 + signal);
            }
        };
        // Without the thread the default action (exit, leaving the temp files) still applies.
        let _ = std::thread::Builder::new().name("credrisk-signals".into()).spawn(watcher);
    }
}
