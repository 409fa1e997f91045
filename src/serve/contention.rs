//! Whether an explanation has the machine to itself. One that does may split its TreeSHAP work
//! over both cores (a lone client gets its answer in about half the time); under load each
//! explanation stays on its worker's thread, which is what throughput wants.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Explanations over every worker: how many run now, how many ever started, and whether the
/// last one to finish ran with nobody beside it.
#[derive(Debug)]
pub struct Contention {
    running: AtomicUsize,
    started: AtomicU64,
    quiet: AtomicBool,
}

impl Default for Contention {
    fn default() -> Self {
        Contention { running: AtomicUsize::new(0), started: AtomicU64::new(0), quiet: AtomicBool::new(true) }
    }
}

/// An explanation in progress, until dropped.
pub struct Explaining<'a> {
    contention: &'a Contention,
    number: u64,
    started_idle: bool,
    /// Nothing else runs now and the previous explanation ran alone too: a lone client, not the
    /// short gap between two busy workers' requests.
    pub alone: bool,
}

impl Contention {
    pub fn begin(&self) -> Explaining<'_> {
        let number = self.started.fetch_add(1, Ordering::AcqRel);
        let started_idle = self.running.fetch_add(1, Ordering::AcqRel) == 0;
        let alone = started_idle && self.quiet.load(Ordering::Acquire);
        Explaining { contention: self, number, started_idle, alone }
    }
}

impl Drop for Explaining<'_> {
    fn drop(&mut self) {
        let nobody_joined = self.contention.started.load(Ordering::Acquire) == self.number + 1;
        self.contention.quiet.store(self.started_idle && nobody_joined, Ordering::Release);
        self.contention.running.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_client_is_alone_and_overlapping_ones_are_not() {
        let c = Contention::default();
        assert!(c.begin().alone, "the first explanation, on an idle server");
        assert!(c.begin().alone, "one after another, never overlapping");
        {
            let first = c.begin();
            let second = c.begin();
            assert!(first.alone && !second.alone);
        }
        assert!(!c.begin().alone, "right after an overlap: still treated as busy");
        assert!(c.begin().alone, "once one ran alone again");
    }
}
