//! The cgroups of a run: a `pids` and a `memory` controller where this process may create a
//! child of its own cgroup — in a cgroup v1 hierarchy, or in a cgroup2 whose subtree already has
//! the controller enabled (enabling one is a change to the machine's cgroup setup, which a
//! grader has no business making). Each run gets `ipc_sys-sandbox-<pid>-<n>` there, its limits
//! written before anything joins; pid 1 of the box joins it through a `cgroup.procs` descriptor
//! opened here, so every process of the run is a member from its first instruction on. Nesting
//! under our own cgroup keeps the run inside whatever limits the caller itself is under.

use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{Limits, Protection, RunReport};
use crate::error::{Error, Result};

/// Prefix of every cgroup a box creates; the rest is the creating process's pid and a count.
const PREFIX: &str = "ipc_sys-sandbox-";
/// How long `finish` keeps killing members and retrying `rmdir` before it gives up.
const FINISH_PATIENCE: Duration = Duration::from_secs(5);

static NEXT_RUN: AtomicU32 = AtomicU32::new(0);

/// Where a controller can be used: our own cgroup's directory in its hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    dir: PathBuf,
    v2: bool,
}

/// The writable controllers, or why each is not.
#[derive(Debug, Clone)]
pub(super) struct Controllers {
    pids: std::result::Result<Place, String>,
    memory: std::result::Result<Place, String>,
}

impl Controllers {
    /// Finds the writable `pids` and `memory` controllers (each checked by creating and
    /// removing a cgroup) and removes the cgroups of boxes whose creator is dead.
    pub(super) fn discover(skip: &[Protection]) -> Controllers {
        let find = |name: &str, protection: Protection| {
            if skip.contains(&protection) {
                return Err("not attempted (Policy::skip)".to_string());
            }
            let place = locate(name)?;
            sweep_stale(&place.dir);
            probe(&place)?;
            Ok(place)
        };
        Controllers {
            pids: find("pids", Protection::ProcessLimit),
            memory: find("memory", Protection::MemoryLimit),
        }
    }

    /// Why there is no writable memory cgroup, if there is none.
    pub(super) fn memory_reason(&self) -> Option<&str> {
        self.memory.as_ref().err().map(String::as_str)
    }

    /// Why there is no writable pids cgroup, if there is none.
    pub(super) fn pids_reason(&self) -> Option<&str> {
        self.pids.as_ref().err().map(String::as_str)
    }

    /// Creates the cgroups of one run, limits written, each `cgroup.procs` open for pid 1.
    pub(super) fn create_run(&self, limits: &Limits) -> Result<RunGroup> {
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT_RUN.fetch_add(1, Ordering::Relaxed)
        );
        let mut group = RunGroup::default();
        let mut places: Vec<(&Place, bool, bool)> = Vec::new();
        if let Ok(p) = &self.pids {
            places.push((p, true, false));
        }
        if let Ok(m) = &self.memory {
            match places.iter_mut().find(|(p, _, _)| p.dir == m.dir) {
                Some(shared) => shared.2 = true,
                None => places.push((m, false, true)),
            }
        }
        for (place, pids, memory) in places {
            let dir = place.dir.join(&name);
            fs::create_dir(&dir).map_err(|source| Error::Cgroup {
                path: dir.clone(),
                source,
            })?;
            group.dirs.push(Made {
                dir: dir.clone(),
                pids,
                memory,
                v2: place.v2,
            });
            // Pid 1 of the box (the tracer) is a member too.
            if pids {
                write(&dir.join("pids.max"), &(limits.max_procs + 1).to_string())?;
            }
            if memory {
                let bytes = limits.memory.to_string();
                if place.v2 {
                    write(&dir.join("memory.max"), &bytes)?;
                    // Swap would let a run hold more than its limit; not every kernel has it.
                    let _ = write(&dir.join("memory.swap.max"), "0");
                } else {
                    write(&dir.join("memory.limit_in_bytes"), &bytes)?;
                    let _ = write(&dir.join("memory.memsw.limit_in_bytes"), &bytes);
                }
            }
            let procs = dir.join("cgroup.procs");
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&procs)
                .map_err(|source| Error::Cgroup {
                    path: procs,
                    source,
                })?;
            group.procs.push(OwnedFd::from(file));
        }
        Ok(group)
    }
}

/// Our own cgroup's directory in the hierarchy holding `controller`: a cgroup v1 hierarchy
/// mounted with it, else the cgroup2 hierarchy if its subtree has it enabled.
fn locate(controller: &str) -> std::result::Result<Place, String> {
    let own =
        fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    let mounts = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, list, path) = match (parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(list), Some(path)) => (id, list, path),
            _ => continue,
        };
        if !list.split(',').any(|c| c == controller) {
            continue;
        }
        let found = mount_of(&mounts, "cgroup", |options| {
            options.split(',').any(|o| o == controller)
        });
        if let Some((root, point)) = found {
            return join(&point, &root, path).map(|dir| Place { dir, v2: false });
        }
    }
    let none = || format!("no cgroup hierarchy with the {controller} controller");
    let path = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(none)?;
    let (root, point) = mount_of(&mounts, "cgroup2", |_| true).ok_or_else(none)?;
    let dir = join(&point, &root, path)?;
    let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    if !enabled.split_whitespace().any(|c| c == controller) {
        return Err(format!(
            "the {controller} controller is not enabled below {} (cgroup.subtree_control)",
            dir.display()
        ));
    }
    Ok(Place { dir, v2: true })
}

/// The root and mount point of the first mount of type `fstype` whose super options pass
/// `options`, from /proc/self/mountinfo.
fn mount_of(
    mountinfo: &str,
    fstype: &str,
    options: impl Fn(&str) -> bool,
) -> Option<(String, PathBuf)> {
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let mut after = after.split(' ');
        let (Some(kind), Some(_source), Some(super_options)) =
            (after.next(), after.next(), after.next())
        else {
            continue;
        };
        if kind != fstype || !options(super_options) {
            continue;
        }
        let fields: Vec<&str> = before.split(' ').collect();
        if let (Some(root), Some(point)) = (fields.get(3), fields.get(4)) {
            return Some((unescape(root), PathBuf::from(unescape(point))));
        }
    }
    None
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
pub(super) fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        if bytes[i] == b'\\'
            && let Some(v) = octal
        {
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory of cgroup `path` in a hierarchy whose `root` is mounted at `point`.
fn join(point: &Path, root: &str, path: &str) -> std::result::Result<PathBuf, String> {
    let relative = if root == "/" {
        path
    } else {
        path.strip_prefix(root)
            .ok_or_else(|| format!("our cgroup {path} lies outside the mounted part ({root})"))?
    };
    Ok(point.join(relative.trim_start_matches('/')))
}

/// Creates and removes a cgroup: only that proves the place writable.
fn probe(place: &Place) -> std::result::Result<(), String> {
    let dir = place.dir.join(format!(
        "{PREFIX}{}-probe-{}",
        std::process::id(),
        NEXT_RUN.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&dir)
        .map_err(|e| format!("cannot create a cgroup in {}: {e}", place.dir.display()))?;
    let _ = fs::remove_dir(&dir);
    Ok(())
}

/// Removes the cgroups that boxes of dead processes left behind (a grader killed with
/// SIGKILL before it could finish its runs), killing what is still in them: only a box without
/// a PID namespace whose box process was killed too can leave a process there.
fn sweep_stale(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(creator) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{creator}")).exists() {
            let deadline = Instant::now() + Duration::from_secs(1);
            kill_members(&entry.path(), deadline);
            let _ = remove(&entry.path(), deadline);
        }
    }
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|source| Error::Cgroup {
            path: path.to_path_buf(),
            source,
        })
}

#[derive(Debug)]
struct Made {
    dir: PathBuf,
    pids: bool,
    memory: bool,
    v2: bool,
}

/// The cgroups of one run.
#[derive(Debug, Default)]
pub(super) struct RunGroup {
    dirs: Vec<Made>,
    procs: Vec<OwnedFd>,
}

impl RunGroup {
    /// The open `cgroup.procs` files pid 1 writes itself into.
    pub(super) fn procs_files(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.procs.iter().map(|f| f.as_fd())
    }

    pub(super) fn has_pids(&self) -> bool {
        self.dirs.iter().any(|d| d.pids)
    }

    pub(super) fn has_memory(&self) -> bool {
        self.dirs.iter().any(|d| d.memory)
    }

    /// Closes this process's copies of the `cgroup.procs` files once the box holds its own.
    pub(super) fn close_files(&mut self) {
        self.procs.clear();
    }

    /// Kills whatever is left in the run's cgroups, reads their counters and removes them.
    pub(super) fn finish(mut self) -> Result<RunReport> {
        self.procs.clear();
        let mut report = RunReport::default();
        let deadline = Instant::now() + FINISH_PATIENCE;
        let mut first_error = None;
        for made in &self.dirs {
            kill_members(&made.dir, deadline);
            if made.pids {
                report.forks_refused = counter(&made.dir.join("pids.events"), "max");
            }
            if made.memory {
                if made.v2 {
                    report.oom_kills = counter(&made.dir.join("memory.events"), "oom_kill");
                    report.peak_memory = number(&made.dir.join("memory.peak"));
                } else {
                    report.oom_kills = counter(&made.dir.join("memory.oom_control"), "oom_kill");
                    report.peak_memory = number(&made.dir.join("memory.max_usage_in_bytes"));
                }
            }
            if let Err(source) = remove(&made.dir, deadline) {
                first_error.get_or_insert(Error::Cgroup {
                    path: made.dir.clone(),
                    source,
                });
            }
        }
        self.dirs.clear();
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}

impl Drop for RunGroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + FINISH_PATIENCE;
        for made in &self.dirs {
            kill_members(&made.dir, deadline);
            let _ = remove(&made.dir, deadline);
        }
    }
}

/// SIGKILLs every member until none is left (each kill may race with a fork, so repeat).
fn kill_members(dir: &Path, deadline: Instant) {
    loop {
        let members: Vec<i32> = fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if members.is_empty() || Instant::now() >= deadline {
            return;
        }
        for pid in members {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `rmdir`, retried while the kernel still counts an exiting member (EBUSY).
fn remove(dir: &Path, deadline: Instant) -> std::io::Result<()> {
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The value of `key` in a flat-keyed cgroup file (`max 3`).
fn counter(path: &Path, key: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 /inner /sys/fs/cgroup/unified\\040dir rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn a_controller_is_found_by_its_mount_options_and_mount_root() {
        let (root, point) =
            mount_of(MOUNTINFO, "cgroup", |o| o.split(',').any(|c| c == "pids")).unwrap();
        assert_eq!(
            (root.as_str(), point),
            ("/", PathBuf::from("/sys/fs/cgroup/pids"))
        );
        let (root, point) = mount_of(MOUNTINFO, "cgroup2", |_| true).unwrap();
        assert_eq!(
            (root.as_str(), point.clone()),
            ("/inner", PathBuf::from("/sys/fs/cgroup/unified dir"))
        );
        assert_eq!(
            join(&point, &root, "/inner/a/b").unwrap(),
            PathBuf::from("/sys/fs/cgroup/unified dir/a/b")
        );
        assert!(join(&point, &root, "/elsewhere").is_err());
    }

    #[test]
    fn flat_keyed_counters_are_read_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("memory.events");
        fs::write(&file, "low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n").unwrap();
        assert_eq!(counter(&file, "oom_kill"), Some(2));
        assert_eq!(counter(&file, "max"), Some(4));
        assert_eq!(counter(&file, "absent"), None);
    }
}
