//! Which process left something behind (a RUNNING run, a staging directory) and whether it still
//! runs: host, boot, pid and the pid's start time from Linux `/proc`, so that a pid reused after
//! a crash or a reboot is never mistaken for the process that is gone.

use std::sync::OnceLock;

/// A process, named so that it can be recognised (or known to be gone) later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// The host name (`/proc/sys/kernel/hostname`).
    pub host: String,
    /// The kernel's boot id: a new one after every reboot.
    pub boot_id: String,
    pub pid: u32,
    /// When the process started, in clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
}

impl ProcessIdentity {
    /// This process, or None where `/proc` cannot tell (not Linux): then nothing is ever judged
    /// gone, which is the safe answer.
    pub fn current() -> Option<&'static ProcessIdentity> {
        static CURRENT: OnceLock<Option<ProcessIdentity>> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                Some(ProcessIdentity {
                    host: read_trimmed("/proc/sys/kernel/hostname")?,
                    boot_id: read_trimmed("/proc/sys/kernel/random/boot_id")?,
                    pid,
                    start_ticks: start_ticks(pid)?,
                })
            })
            .as_ref()
    }

    /// Whether the process is known to have ended: it ran on this host and the host was
    /// restarted since, or no process with its pid and start time exists. False when it still
    /// runs and when this host cannot tell (another host, or no `/proc`).
    pub fn is_gone(&self) -> bool {
        let Some(me) = ProcessIdentity::current() else { return false };
        if self.host != me.host {
            return false;
        }
        if self.boot_id != me.boot_id {
            return true;
        }
        start_ticks(self.pid) != Some(self.start_ticks)
    }

    /// `<pid>-<start_ticks>-<host hash>`: a file-name-safe token for names of things this
    /// process owns (staging directories), read back by [`ProcessIdentity::token_is_gone`].
    pub fn token(&self) -> String {
        format!("{}-{}-{}", self.pid, self.start_ticks, host_hash(&self.host))
    }

    /// Whether the owner of a [`ProcessIdentity::token`] has ended. Tokens of another host, and
    /// text that is no token, are never judged gone. (Same boot assumed: a token has no boot id.)
    pub fn token_is_gone(token: &str) -> bool {
        let Some(me) = ProcessIdentity::current() else { return false };
        let mut parts = token.splitn(3, '-');
        let (Some(pid), Some(ticks), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let (Ok(pid), Ok(ticks)) = (pid.parse::<u32>(), ticks.parse::<u64>()) else { return false };
        host == host_hash(&me.host) && start_ticks(pid) != Some(ticks)
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The start time of process `pid` (None if there is no such process). The command name in
/// field 2 may hold spaces and parentheses, so fields are counted after its closing `)`.
fn start_ticks(pid: u32) -> Option<u64> {
    start_ticks_in(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn start_ticks_in(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; field 22 (starttime) is the 20th.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Eight hex digits of the host name's SHA-256: enough to tell hosts apart in a file name.
fn host_hash(host: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(host.as_bytes())[..4])
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_gone() {
        let me = ProcessIdentity::current().expect("/proc is there on Linux");
        assert_eq!(me.pid, std::process::id());
        assert!(!me.is_gone());
        assert!(!ProcessIdentity::token_is_gone(&me.token()));

        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let child_id =
            ProcessIdentity { pid: child.id(), start_ticks: start_ticks(child.id()).unwrap(), ..me.clone() };
        assert!(!child_id.is_gone(), "a running child");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(child_id.is_gone(), "a killed and reaped child");
        assert!(ProcessIdentity::token_is_gone(&child_id.token()));
    }

    #[test]
    fn a_reused_pid_a_reboot_and_another_host_are_told_apart() {
        let me = ProcessIdentity::current().unwrap();
        let reused = ProcessIdentity { start_ticks: me.start_ticks + 1, ..me.clone() };
        assert!(reused.is_gone(), "same pid, another start time: the original is gone");
        let rebooted = ProcessIdentity { boot_id: "another-boot".into(), ..me.clone() };
        assert!(rebooted.is_gone());
        let elsewhere =
            ProcessIdentity { host: format!("{}-other", me.host), pid: 1, start_ticks: 0, ..me.clone() };
        assert!(!elsewhere.is_gone(), "another host's process cannot be judged from here");
        assert!(!ProcessIdentity::token_is_gone(&elsewhere.token()));
        for not_a_token in ["", "12", "x-y-z", "12-34"] {
            assert!(!ProcessIdentity::token_is_gone(not_a_token), "{not_a_token}");
        }
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_is_parsed() {
        // /proc/<pid>/stat of a process named "a) b (c": the start time is still field 22.
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(start_ticks_in(stat), Some(98765));
        assert_eq!(start_ticks_in("42 (x) S 1"), None);
    }
}
