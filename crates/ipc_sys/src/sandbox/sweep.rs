//! Ending a run without a PID namespace: the box process is a child subreaper, so every
//! orphan of the run (a daemon that `setsid()`s and double-forks) becomes its child instead of
//! init's. Once `body` is done, it kills every descendant it can find in /proc and reaps, until
//! it has no child left: a process killed with SIGKILL forks no more, and what it forked
//! before dying is reparented here and found by the next round.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::memory::{read_proc, stat_field};

/// How long the sweep keeps going before it gives up (a process stuck in the kernel, which
/// SIGKILL cannot end until its call returns).
const PATIENCE: Duration = Duration::from_secs(10);

/// Kills and reaps every descendant of this process. `Err` names how many were left.
pub(super) fn kill_descendants() -> Result<(), String> {
    let me = std::process::id() as i32;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = descendants(me);
        for &pid in &found {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let children_left = reap_all();
        if found.is_empty() && !children_left {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} processes of the run were still alive after {} s of SIGKILL",
                found.len(),
                PATIENCE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Reaps every child that has ended; whether some child is still alive.
fn reap_all() -> bool {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) => return true,
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

/// Every process whose chain of parents leads to `root`, from /proc.
fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        if let Some(kids) = children.get(&p) {
            out.extend(kids);
            todo.extend(kids);
        }
    }
    out
}

/// The parent pid from /proc/PID/stat.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = read_proc(&format!("/proc/{pid}/stat")).ok()?;
    stat_field(&stat, 4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_of_this_process_is_read_from_proc() {
        let me = std::process::id() as i32;
        assert_eq!(parent_of(me), Some(nix::unistd::getppid().as_raw()));
    }
}
