//! The box's limits: a policy checked before anything is forked, the confinement `confine`
//! applies (rlimits, identity, `no_new_privs`), and the names of the limits behind what a
//! tracer observes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::{Gid, Uid};

use super::{Identity, Limits, Missing, Policy, Protection};
use crate::error::{Error, Result};

/// A limit of the box, as a verdict names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    Processes,
    CpuTime,
    Memory,
    FileSize,
    OpenFiles,
    Disk,
}

impl Limit {
    /// The limit a signal that ended a process stands for: SIGXCPU (CPU time), SIGXFSZ (file
    /// size). (A SIGKILL may be the CPU time's hard limit or the memory limit: no signal says which.)
    pub fn from_signal(signal: i32) -> Option<Limit> {
        match Signal::try_from(signal).ok()? {
            Signal::SIGXCPU => Some(Limit::CpuTime),
            Signal::SIGXFSZ => Some(Limit::FileSize),
            _ => None,
        }
    }

    /// The limit an error returned by `call` (a system call name, as strace prints it) stands
    /// for: EAGAIN from fork, vfork, clone, clone3 (the process limit) or execve (the process
    /// limit, after a uid change), EMFILE (open files), EFBIG (file size), ENOSPC and EDQUOT
    /// (disk), ENOMEM (memory).
    pub fn from_errno(call: &str, errno: Errno) -> Option<Limit> {
        match errno {
            Errno::EAGAIN if matches!(call, "fork" | "vfork" | "clone" | "clone3" | "execve") => {
                Some(Limit::Processes)
            }
            Errno::EMFILE => Some(Limit::OpenFiles),
            Errno::EFBIG => Some(Limit::FileSize),
            Errno::ENOSPC | Errno::EDQUOT => Some(Limit::Disk),
            Errno::ENOMEM => Some(Limit::Memory),
            _ => None,
        }
    }
}

/// Whole seconds of CPU time, rounded up (the kernel counts `RLIMIT_CPU` in seconds).
fn cpu_seconds(cpu: Duration) -> u64 {
    cpu.as_secs() + u64::from(cpu.subsec_nanos() > 0)
}

fn bad(field: &'static str, reason: impl Into<String>) -> Error {
    Error::SandboxPolicy {
        field,
        reason: reason.into(),
    }
}

/// Checks every field of `policy` and makes its paths absolute and canonical. Nothing is
/// created, changed or forked.
pub(super) fn check_policy(mut policy: Policy) -> Result<Policy> {
    let l = policy.limits;
    let ranges: [(&'static str, u64, u64, u64); 5] = [
        ("limits.max_procs", l.max_procs, 1, 1 << 20),
        ("limits.memory", l.memory, 16 << 20, 1 << 50),
        ("limits.file_size", l.file_size, 1, 1 << 50),
        ("limits.open_files", l.open_files, 16, 1 << 20),
        ("limits.disk", l.disk, 1 << 20, 1 << 50),
    ];
    for (field, value, min, max) in ranges {
        if !(min..=max).contains(&value) {
            return Err(bad(
                field,
                format!("{value} is not between {min} and {max}"),
            ));
        }
    }
    if l.cpu < Duration::from_secs(1) || l.cpu > Duration::from_secs(1 << 30) {
        return Err(bad(
            "limits.cpu",
            format!("{:?} is not between 1 s and 2^30 s", l.cpu),
        ));
    }
    if let Identity::Fixed { uid, gid } = policy.identity
        && (uid == 0 || gid == 0 || uid == u32::MAX || gid == u32::MAX)
    {
        return Err(bad(
            "identity",
            format!("{uid}:{gid} is root or invalid; a submission never runs as root"),
        ));
    }
    policy.hide = policy
        .hide
        .iter()
        .map(|p| absolute("hide", p))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    policy.read_only = policy
        .read_only
        .iter()
        .map(|p| {
            absolute("read_only", p)?
                .ok_or_else(|| bad("read_only", format!("{} does not exist", p.display())))
        })
        .collect::<Result<Vec<_>>>()?;
    policy.scratch = check_scratch(&policy)?;
    Ok(policy)
}

/// `path` made canonical, `None` if it does not exist; relative paths are refused.
fn absolute(field: &'static str, path: &Path) -> Result<Option<PathBuf>> {
    if !path.is_absolute() {
        return Err(bad(
            field,
            format!("{} is not an absolute path", path.display()),
        ));
    }
    match path.canonicalize() {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(bad(field, format!("{}: {e}", path.display()))),
    }
}

/// The scratch's content is moved into the box and back, so a wrong path would be emptied:
/// refuse the root, top-level folders, and any folder holding this process's working or home
/// directory or a path the policy hides or exposes.
fn check_scratch(policy: &Policy) -> Result<PathBuf> {
    let given = &policy.scratch;
    let scratch = given
        .canonicalize()
        .map_err(|e| bad("scratch", format!("{}: {e}", given.display())))?;
    if !scratch.is_dir() {
        return Err(bad(
            "scratch",
            format!("{} is not a directory", given.display()),
        ));
    }
    if scratch.components().count() < 3 {
        return Err(bad(
            "scratch",
            format!(
                "{} is a top-level folder; its content would be moved into the box",
                scratch.display()
            ),
        ));
    }
    let mut precious: Vec<(PathBuf, &str)> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        precious.push((cwd, "the working directory"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        precious.push((PathBuf::from(home), "$HOME"));
    }
    precious.extend(policy.hide.iter().map(|p| (p.clone(), "a hidden path")));
    precious.extend(
        policy
            .read_only
            .iter()
            .map(|p| (p.clone(), "a read-only path")),
    );
    for (path, what) in precious {
        if path.starts_with(&scratch) {
            return Err(bad(
                "scratch",
                format!(
                    "{} holds {what} ({}); pass a folder made for the run",
                    scratch.display(),
                    path.display()
                ),
            ));
        }
    }
    Ok(scratch)
}

/// What `confine` applies, decided by the box process (the per-run uid needs its pid) and
/// inherited by every process forked inside the box.
#[derive(Debug, Clone)]
pub(super) struct Confinement {
    /// The uid and gid to switch to (when root).
    pub identity: Option<(u32, u32)>,
    pub rlimits: Vec<(Resource, u64, u64)>,
}

static CONFINEMENT: OnceLock<Confinement> = OnceLock::new();

/// What the box knows when it decides the confinement.
pub(super) struct Context<'a> {
    pub root: bool,
    /// The box process's pid (for `Identity::PerRun`).
    pub box_pid: u32,
    pub identity: Identity,
    pub user_namespace: bool,
    pub pids_cgroup: bool,
    pub memory_cgroup: bool,
    /// Why there is no pids (memory) cgroup, when there is none.
    pub no_pids_cgroup: &'a str,
    pub no_memory_cgroup: &'a str,
    /// The processes of the box itself that count against `RLIMIT_NPROC` with the submission's
    /// (an ordinary user's box process and pid 1 share its uid in the user namespace).
    pub own_processes: u64,
}

/// The confinement decided for a run: the identity and the protections that fall short.
pub(super) struct Decided {
    pub identity: Option<(u32, u32)>,
    pub missing: Vec<Missing>,
}

/// Decides the confinement of a run and records it for `confine`.
pub(super) fn decide(limits: &Limits, cx: &Context<'_>) -> Decided {
    let mut missing = Vec::new();
    let mut per_run = matches!(cx.identity, Identity::PerRun);
    let identity = cx.root.then(|| match cx.identity {
        Identity::PerRun => {
            let id = super::RUN_ID_BASE + cx.box_pid;
            if mapped("uid_map", id) && mapped("gid_map", id) {
                (id, id)
            } else {
                // Root of a container whose user namespace maps only a range of ids (rootless
                // Podman maps 65,536): the run's own id does not exist there; nobody does.
                per_run = false;
                (NOBODY, NOBODY)
            }
        }
        Identity::Fixed { uid, gid } => (uid, gid),
    });
    let cpu = cpu_seconds(limits.cpu);
    let mut rlimits = vec![
        (Resource::RLIMIT_CPU, cpu, cpu + 1),
        (Resource::RLIMIT_FSIZE, limits.file_size, limits.file_size),
        (
            Resource::RLIMIT_NOFILE,
            limits.open_files,
            limits.open_files,
        ),
        (Resource::RLIMIT_CORE, 0, 0),
    ];
    if !cx.memory_cgroup {
        rlimits.push((Resource::RLIMIT_AS, limits.memory, limits.memory));
        missing.push(Missing {
            protection: Protection::MemoryLimit,
            reason: format!(
                "no memory cgroup ({}): each process's address space is limited to {} MiB \
                 instead of the run as a whole",
                cx.no_memory_cgroup,
                limits.memory >> 20
            ),
        });
    }
    // RLIMIT_NPROC counts the processes of the real uid: exactly the run's when the uid is the
    // run's own, or (since Linux 5.14) when the count is kept per user namespace.
    let nproc_exact = match (cx.root, cx.identity) {
        (true, _) if per_run => Some(limits.max_procs),
        (true, _) => None,
        (false, _) if cx.user_namespace && kernel_at_least(5, 14) => {
            Some(limits.max_procs + cx.own_processes)
        }
        (false, _) => None,
    };
    match nproc_exact {
        Some(n) => rlimits.push((Resource::RLIMIT_NPROC, n, n)),
        None if cx.pids_cgroup => {}
        None => {
            let (uid, others) = match identity {
                Some((uid, _)) => (uid, processes_of(uid)),
                None => {
                    let uid = nix::unistd::getuid().as_raw();
                    (uid, processes_of(uid))
                }
            };
            let n = others + limits.max_procs + cx.own_processes;
            rlimits.push((Resource::RLIMIT_NPROC, n, n));
            missing.push(Missing {
                protection: Protection::ProcessLimit,
                reason: format!(
                    "no pids cgroup ({}) and uid {uid} is not the run's own: RLIMIT_NPROC is \
                     {n}, the {others} processes uid {uid} has now plus {}",
                    cx.no_pids_cgroup, limits.max_procs
                ),
            });
        }
    }
    let _ = CONFINEMENT.set(Confinement { identity, rlimits });
    Decided { identity, missing }
}

/// The user and group a root box falls back to when its per-run ids are not mapped.
const NOBODY: u32 = 65534;

/// Whether `id` is mapped in this process's user namespace (`/proc/self/uid_map` or
/// `gid_map`: lines of `inside outside count`).
fn mapped(map: &str, id: u32) -> bool {
    std::fs::read_to_string(format!("/proc/self/{map}")).is_ok_and(|text| in_map(&text, id))
}

fn in_map(text: &str, id: u32) -> bool {
    text.lines().any(|line| {
        let f: Vec<u64> = line
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        matches!(f[..], [inside, _, count] if (inside..inside + count).contains(&u64::from(id)))
    })
}

/// The number of processes whose real uid is `uid`, from /proc.
fn processes_of(uid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut n = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = entry.path().join("status");
        let Ok(status) = crate::memory::read_proc(&path.to_string_lossy()) else {
            continue;
        };
        let real = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if real == Some(uid) {
            n += 1;
        }
    }
    n
}

/// Whether the running kernel's release is at least `major.minor`.
pub(super) fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(uts) = nix::sys::utsname::uname() else {
        return false;
    };
    let release = uts.release().to_string_lossy().into_owned();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// `Sandbox::confine`: see there.
pub(super) fn confine() -> Result<()> {
    let c = CONFINEMENT.get().ok_or_else(|| {
        Error::SandboxSetup("confine() called outside a box (only inside spawn's body)".into())
    })?;
    let fail = |what: &str, e: Errno| Error::SandboxSetup(format!("confine: {what}: {e}"));
    // Dispositions and the mask survive exec; a shell would start the program with defaults
    // (the Rust runtime, for one, ignores SIGPIPE, which would turn a student's "killed by
    // SIGPIPE" into EPIPE).
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing the default disposition runs no code of ours in a handler.
        unsafe { signal::sigaction(sig, &default) }.map_err(|e| fail("sigaction", e))?;
    }
    signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| fail("sigprocmask", e))?;
    for &(resource, soft, hard) in &c.rlimits {
        setrlimit(resource, soft, hard)
            .map_err(|e| fail(&format!("setrlimit({resource:?})"), e))?;
    }
    // Best effort: the kernel's out-of-memory killer then picks the submission before the
    // tracer. A /proc mounted read-only (a box without its own /proc) refuses it.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    if let Some((uid, gid)) = c.identity {
        let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
        nix::unistd::setgroups(&[]).map_err(|e| fail("setgroups", e))?;
        nix::unistd::setresgid(gid, gid, gid).map_err(|e| fail("setresgid", e))?;
        nix::unistd::setresuid(uid, uid, uid).map_err(|e| fail("setresuid", e))?;
    }
    // The caller's session keyring is inherited across fork and exec; a new one leaves it
    // behind (an ordinary user's keys would otherwise be the submission's).
    super::sys::new_session_keyring().map_err(|e| fail("a new session keyring", e))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| fail("no_new_privs", e))?;
    if nix::unistd::geteuid().is_root() || nix::unistd::getuid().is_root() {
        return Err(Error::SandboxSetup(
            "confine: still root after confinement; refusing to run a submission as root".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_and_errno_of_a_limit_is_named() {
        assert_eq!(Limit::from_signal(libc::SIGXCPU), Some(Limit::CpuTime));
        assert_eq!(Limit::from_signal(libc::SIGXFSZ), Some(Limit::FileSize));
        assert_eq!(Limit::from_signal(libc::SIGKILL), None);
        for (call, errno, limit) in [
            ("clone", Errno::EAGAIN, Some(Limit::Processes)),
            ("read", Errno::EAGAIN, None),
            ("openat", Errno::EMFILE, Some(Limit::OpenFiles)),
            ("write", Errno::EFBIG, Some(Limit::FileSize)),
            ("write", Errno::ENOSPC, Some(Limit::Disk)),
            ("mmap", Errno::ENOMEM, Some(Limit::Memory)),
        ] {
            assert_eq!(Limit::from_errno(call, errno), limit, "{call}: {errno}");
        }
    }

    #[test]
    fn an_id_is_mapped_only_inside_a_range_of_the_map() {
        let init = "         0          0 4294967295\n";
        let rootless = "         0       1000          1\n         1     100000      65536\n";
        assert!(in_map(init, super::super::RUN_ID_BASE));
        assert!(!in_map(rootless, super::super::RUN_ID_BASE));
        assert!(in_map(rootless, 65534));
        assert!(!in_map(rootless, 65537));
    }

    #[test]
    fn cpu_time_is_rounded_up_to_whole_seconds() {
        assert_eq!(cpu_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(cpu_seconds(Duration::from_secs(3)), 3);
    }

    fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("limits-test")
            .tempdir_in("/tmp")
            .unwrap()
    }

    #[test]
    fn every_limit_out_of_range_is_refused_naming_its_field() {
        let dir = scratch();
        type Breaks = fn(&mut Limits);
        let cases: [(&str, Breaks); 6] = [
            ("limits.max_procs", |l| l.max_procs = 0),
            ("limits.memory", |l| l.memory = u64::MAX),
            ("limits.file_size", |l| l.file_size = 0),
            ("limits.open_files", |l| l.open_files = 3),
            ("limits.disk", |l| l.disk = 10),
            ("limits.cpu", |l| l.cpu = Duration::from_millis(10)),
        ];
        for (field, break_it) in cases {
            let mut policy = Policy::new(dir.path());
            break_it(&mut policy.limits);
            let err = check_policy(policy).unwrap_err();
            assert!(
                matches!(&err, Error::SandboxPolicy { field: f, .. } if *f == field),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn a_scratch_that_is_missing_a_file_or_too_high_up_is_refused() {
        let dir = scratch();
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        for path in [dir.path().join("absent"), file, "/".into(), "/usr".into()] {
            let err = check_policy(Policy::new(&path)).unwrap_err();
            assert!(
                matches!(
                    &err,
                    Error::SandboxPolicy {
                        field: "scratch",
                        ..
                    }
                ),
                "{}: {err}",
                path.display()
            );
        }
        let mut holds_hidden = Policy::new(dir.path());
        std::fs::create_dir(dir.path().join("original")).unwrap();
        holds_hidden.hide.push(dir.path().join("original"));
        assert!(check_policy(holds_hidden).is_err());
    }

    #[test]
    fn root_is_refused_as_the_identity() {
        let dir = scratch();
        let mut policy = Policy::new(dir.path());
        policy.identity = Identity::Fixed { uid: 0, gid: 100 };
        let err = check_policy(policy).unwrap_err();
        assert!(err.to_string().contains("never runs as root"), "{err}");
    }
}
