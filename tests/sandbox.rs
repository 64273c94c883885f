//! The sandbox of `ipc_sys`, driven directly (no grader in between): every hostile program of
//! `tests/submissions/hostile/` runs in a box, and each check looks at the machine afterwards —
//! canary files unchanged, no process of the run left, the listener never reached, the disk
//! given back — and at how the attempt ended (the errno or signal that names the limit).
//!
//! `harness = false`: a box forks, which is refused while libtest's threads run. This is a
//! plain single-threaded `main` that is a child subreaper, so that any process of a run that
//! escaped its box would end up here and be seen. As root it runs every check as root, then
//! runs itself again as uid 65534 (`SANDBOX_DRIVER_WORK` names its folder) for the ordinary-user
//! case.
//! `cargo test --test sandbox -- NAME` runs the checks whose name contains NAME.

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::deadline::Bounded;

use ipc_sys::sandbox::{Limit, Limits, Missing, Policy, Protection, RunReport, Sandbox};
use ipc_sys::{Child, ExitStatus, Fork};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Every run of a box gets this long before the check fails (and kills it).
const RUN_DEADLINE: Duration = Duration::from_secs(120);
/// The uid and gid of the ordinary-user pass.
const USER: u32 = 65534;

/// A hostile program: in the checkout, or in the copy the root pass made for the ordinary-user
/// pass when that user cannot reach the checkout (`SANDBOX_HOSTILE_DIR`).
fn hostile(name: &str) -> PathBuf {
    std::env::var_os("SANDBOX_HOSTILE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/submissions/hostile"))
        .join(name)
}

/// A fresh folder for one check: `scratch/` (the box's scratch) and `canary/` (world-writable,
/// so that only the box protects it), both below a parent the box must not write either.
struct Case {
    root: PathBuf,
    token: String,
}

impl Case {
    fn new(work: &Path, name: &str) -> Case {
        let root = work.join(name);
        fs::create_dir_all(root.join("scratch")).unwrap();
        let canary = root.join("canary");
        fs::create_dir_all(canary.join("inner")).unwrap();
        fs::write(canary.join("keep.txt"), "canary\n").unwrap();
        fs::write(canary.join("inner/deep.txt"), "deep canary\n").unwrap();
        for p in [&root, &canary, &canary.join("inner")] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o777)).unwrap();
        }
        for f in ["keep.txt", "inner/deep.txt"] {
            fs::set_permissions(canary.join(f), fs::Permissions::from_mode(0o666)).unwrap();
        }
        let token = format!("{name}-{}-{}", std::process::id(), rand_suffix());
        Case { root, token }
    }

    fn scratch(&self) -> PathBuf {
        self.root.join("scratch")
    }

    fn canary(&self) -> PathBuf {
        self.root.join("canary")
    }

    fn with(&self, program: &str) -> &Case {
        fs::copy(hostile(program), self.scratch().join(program)).unwrap();
        self
    }

    /// The canary and the parent exactly as `new` made them (plus the scratch).
    fn assert_untouched(&self) {
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["canary", "scratch"], "the scratch's parent changed");
        assert_eq!(
            fs::read_to_string(self.canary().join("keep.txt")).unwrap(),
            "canary\n"
        );
        assert_eq!(
            fs::read_to_string(self.canary().join("inner/deep.txt")).unwrap(),
            "deep canary\n"
        );
        assert_eq!(
            fs::read_dir(self.canary()).unwrap().count(),
            2,
            "canary folder changed"
        );
    }
}

fn rand_suffix() -> u64 {
    let mut b = [0u8; 8];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .unwrap();
    u64::from_le_bytes(b)
}

/// How one boxed program ended.
#[derive(Debug)]
struct Outcome {
    /// The box's status: the program's exit code, or 128 + its signal.
    status: ExitStatus,
    output: String,
    report: RunReport,
}

impl Outcome {
    /// The result of `ATTEMPT what: result` lines, by `what`.
    fn attempt(&self, what: &str) -> String {
        let prefix = format!("ATTEMPT {what}:");
        self.output
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no attempt `{what}` in the output:\n{}", self.output))
            .trim()
            .to_string()
    }
}

/// Runs `argv` in a box of `sandbox` (the program's stdout and stderr into a pipe read here)
/// with the case's token in its environment, and checks that nothing of it is left.
fn run_boxed(sandbox: &Sandbox, case: &Case, argv: &[&str]) -> Outcome {
    let argv: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let (argv, token) = (&argv[..], case.token.as_str());
    let out = ipc_sys::pipe::Pipe::new().unwrap();
    let mut child = sandbox
        .spawn(&[out.write.as_fd()], |fds| {
            run_program(sandbox, fds, argv, token)
        })
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    drop(out.write);
    let output = read_until_closed(out.read, &mut child, &case.token);
    let reaped = child.wait().unwrap();
    let report = sandbox.finish(&mut child).unwrap();
    assert_nothing_left(&case.token);
    if std::env::var_os("SANDBOX_DEBUG").is_some() {
        println!("  {:?} {:?}\n{output}", reaped.status, report);
    }
    Outcome {
        status: reaped.status,
        output,
        report,
    }
}

/// `body` of the boxes here: forks the program (confined, its output into `fds[0]` if given,
/// the box's environment plus `SANDBOX_TEST_TOKEN=token`), waits for it and returns its status
/// as an exit code (128 + signal when killed).
fn run_program(sandbox: &Sandbox, fds: Vec<OwnedFd>, argv: &[CString], token: &str) -> i32 {
    let keep: Vec<_> = fds.iter().take(1).map(|f| f.as_fd()).collect();
    let program = Fork::new("program")
        .on_drop(Some(Signal::SIGKILL))
        .spawn_list(&keep, |out| {
            if let Err(e) = sandbox.confine() {
                eprintln!("confine: {e}");
                return 101;
            }
            if let Some(out) = out.first()
                && (nix::unistd::dup2_stdout(out).is_err()
                    || nix::unistd::dup2_stderr(out).is_err())
            {
                return 102;
            }
            let mut env: Vec<CString> = std::env::vars()
                .filter(|(k, _)| k != "SANDBOX_TEST_TOKEN")
                .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
                .collect();
            env.extend(CString::new(format!("SANDBOX_TEST_TOKEN={token}")).ok());
            let _ = nix::unistd::execvpe(&argv[0], argv, &env);
            127
        });
    let Ok(mut program) = program else { return 103 };
    match program.wait().map(|r| r.status) {
        Ok(ExitStatus::Exited(c)) => c,
        Ok(ExitStatus::Signaled(s)) => 128 + s,
        Err(_) => 104,
    }
}

/// Reads `read` until every writer has closed it (the box ended) or the deadline passes (the
/// box is then killed and the check fails).
fn read_until_closed(read: OwnedFd, child: &mut Child, token: &str) -> String {
    let deadline = Instant::now() + RUN_DEADLINE;
    let mut file = fs::File::from(read);
    let mut output = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            child.signal_group(Signal::SIGKILL);
            let _ = child.wait();
            panic!(
                "{token}: the box was still running after {RUN_DEADLINE:?}; output:\n{}",
                String::from_utf8_lossy(&output)
            );
        }
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        let ms = left.as_millis().min(1000) as u16;
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => panic!("poll: {e}"),
        }
        let mut buf = [0u8; 65536];
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    String::from_utf8_lossy(&output).into_owned()
}

/// No process anywhere carries the run's token, and this subreaper has no child left.
fn assert_nothing_left(token: &str) {
    let needle = format!("SANDBOX_TEST_TOKEN={token}");
    let mut left = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Ok(environ) = fs::read(format!("/proc/{pid}/environ"))
            && environ.split(|&b| b == 0).any(|v| v == needle.as_bytes())
        {
            let cmd = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            left.push(format!("{pid} {}", cmd.replace('\0', " ")));
        }
    }
    for p in &left {
        let pid: i32 = p.split(' ').next().unwrap().parse().unwrap();
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    assert!(
        left.is_empty(),
        "processes of the run outlived it: {left:?}"
    );
    match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        Err(Errno::ECHILD) => {}
        other => panic!("the driver still has a child: {other:?}"),
    }
}

/// The policy of a case's box. Below a place the box makes private (a checkout under /tmp,
/// where `CARGO_TARGET_TMPDIR` is then too, or `sandbox_cases_folder`'s fallback), the canary would be out of sight and every attempt
/// on it trivially vain: it is exposed read-only, so that the kernel still has to refuse.
fn policy(case: &Case) -> Policy {
    let mut policy = Policy::new(case.scratch());
    if ["/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .any(|p| case.root.starts_with(p))
    {
        policy.read_only.push(case.canary());
    }
    policy
}

fn prepared(policy: Policy) -> Sandbox {
    Sandbox::prepare(policy).unwrap_or_else(|e| panic!("prepare: {e}"))
}

fn has(sandbox: &Sandbox, p: Protection) -> bool {
    !sandbox.missing().iter().any(|m| m.protection == p)
}

/// Whether the box has `p`; if not, says so (with the box's own reason) for a check that
/// means nothing without it.
fn requires(sandbox: &Sandbox, p: Protection) -> bool {
    match sandbox.missing().iter().find(|m| m.protection == p) {
        None => true,
        Some(m) => {
            println!("  (skipped: this machine's box lacks it: {m})");
            false
        }
    }
}

/// A check: a name stating the invariant, and its body.
type Check = (&'static str, fn(&Path));

const CHECKS: &[Check] = &[
    (
        "on_this_kernel_as_root_the_box_lacks_no_protection",
        full_box_as_root,
    ),
    (
        "every_missing_protection_is_listed_once_with_its_reason",
        missing_is_listed,
    ),
    (
        "a_policy_with_a_bad_scratch_is_refused_before_anything_is_forked",
        bad_policy,
    ),
    (
        "inside_the_box_the_machine_is_read_only_and_only_lo_exists",
        view_from_inside,
    ),
    (
        "a_fork_bomb_stops_at_the_process_limit_and_leaves_nothing",
        fork_bomb,
    ),
    (
        "a_daemon_that_setsids_and_double_forks_dies_with_the_run",
        daemon,
    ),
    (
        "writes_outside_the_scratch_are_refused_by_the_kernel",
        write_outside,
    ),
    (
        "appending_10_gib_stops_at_the_file_size_limit_and_the_disk_is_given_back",
        append,
    ),
    ("filling_the_disk_stops_at_the_disk_limit", fill_disk),
    (
        "a_listener_on_the_machines_loopback_is_never_reached",
        connect,
    ),
    ("etc_shadow_cannot_be_read", read_shadow),
    ("rm_rf_outside_the_scratch_removes_nothing", rm_rf),
    ("a_spinning_program_is_stopped_by_the_cpu_limit", cpu_spin),
    (
        "opening_files_without_end_stops_at_the_open_files_limit",
        open_files,
    ),
    ("holding_4_gib_stops_at_the_memory_limit", memory_hog),
    ("kill_minus_one_reaches_nothing_outside_the_box", kill_all),
    (
        "a_normal_program_runs_inside_and_its_files_come_back",
        normal_program,
    ),
    (
        "the_shared_sample_submissions_run_correctly_inside",
        shared_submissions,
    ),
    (
        "ptrace_of_the_confined_submission_works_inside",
        ptrace_inside,
    ),
    (
        "dropping_the_handle_ends_the_box_and_keeps_what_it_wrote",
        drop_handle,
    ),
    ("sigkill_to_the_box_process_leaves_nothing", sigkill_box),
    (
        "a_caller_killed_with_sigkill_leaves_nothing_of_its_box",
        sigkill_caller,
    ),
    (
        "the_box_process_and_pid_1_hold_only_their_own_descriptors",
        descriptors,
    ),
    (
        "a_second_box_on_a_scratch_in_use_is_refused",
        scratch_in_use,
    ),
    (
        "a_read_only_folder_of_the_submission_goes_in_and_comes_back",
        read_only_folder,
    ),
    (
        "a_key_of_the_callers_session_keyring_is_out_of_reach",
        keyring,
    ),
    (
        "a_root_caller_that_dropped_to_a_user_without_exec_still_gets_a_user_namespace",
        dropped_root,
    ),
    (
        "a_scratch_larger_than_the_disk_limit_is_refused_and_left_whole",
        scratch_too_big,
    ),
    (
        "a_stopped_pid_1_does_not_keep_the_box_from_ending",
        stopped_first,
    ),
    (
        "as_root_of_a_container_mapping_65536_ids_the_run_is_nobody",
        rootless_container,
    ),
    (
        "without_a_pid_namespace_the_subreaper_still_kills_a_daemon",
        no_pid_namespace,
    ),
    (
        "what_a_box_without_pid_namespace_left_when_killed_is_killed_by_the_next_prepare",
        stale_cgroup,
    ),
    (
        "without_cgroups_a_fork_bomb_still_stops_at_the_process_limit",
        no_cgroups,
    ),
    (
        "without_a_view_the_box_says_so_and_the_submission_is_still_not_root",
        no_view,
    ),
];

fn main() {
    ipc_sys::child::become_subreaper().unwrap();
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let root = nix::unistd::geteuid().is_root();
    let who = if root { "root" } else { "an ordinary user" };
    // Below the build's tmp folder, not /tmp: the box's /tmp is its own, and the canaries must
    // be visible (read-only) inside for the checks to mean something. The ordinary-user pass
    // gets a folder made for it by the root pass.
    let given = std::env::var_os("SANDBOX_DRIVER_WORK").map(PathBuf::from);
    let own = match given {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("sandbox-driver")
                .tempdir_in(common::sandbox_cases_folder())
                .unwrap(),
        ),
    };
    let work = given
        .or_else(|| own.as_ref().map(|d| d.path().to_path_buf()))
        .unwrap()
        .canonicalize()
        .unwrap();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, check) in CHECKS {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        let started = Instant::now();
        let result = std::panic::catch_unwind(|| {
            check(&work);
            // Every run was finished, or its sandbox dropped: none of its cgroups is left.
            let left = cgroups_of(std::process::id());
            assert!(left.is_empty(), "cgroups left behind: {left:?}");
        });
        let verdict = if result.is_ok() { "ok" } else { "FAILED" };
        println!(
            "test {name} (as {who}) ... {verdict} ({:.2?})",
            started.elapsed()
        );
        if result.is_err() {
            failed.push(*name);
        }
    }
    if root && own.is_some() {
        println!("running the same checks as uid {USER} (an ordinary user)");
        let theirs = tempfile::Builder::new()
            .prefix("sandbox-driver-user")
            .tempdir_in(common::sandbox_cases_folder())
            .unwrap();
        std::os::unix::fs::chown(theirs.path(), Some(USER), Some(USER)).unwrap();
        // A checkout below a folder only its owner may enter (as `/root` is): the ordinary
        // user runs a copy of this driver and reads a copy of the hostile programs, made in a
        // folder it can reach.
        let copies = (!common::build_tmp_reachable_by_others()).then(copies_for_the_ordinary_user);
        if !run_as_user(filter.as_deref(), theirs.path(), copies.as_ref()) {
            failed.push("(the ordinary-user pass)");
        }
    }
    drop(own);
    println!("{ran} checks as {who}; {} failed", failed.len());
    if !failed.is_empty() {
        println!("failed: {failed:?}");
        std::process::exit(1);
    }
}

/// This driver and the hostile programs, copied into a folder everyone may enter and read.
fn copies_for_the_ordinary_user() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("sandbox-driver-copies")
        .tempdir_in(common::sandbox_cases_folder())
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::copy(
        std::env::current_exe().unwrap(),
        dir.path().join("sandbox-driver"),
    )
    .unwrap();
    let programs = dir.path().join("hostile");
    fs::create_dir(&programs).unwrap();
    for entry in fs::read_dir(hostile("")).unwrap() {
        let from = entry.unwrap().path();
        fs::copy(&from, programs.join(from.file_name().unwrap())).unwrap();
    }
    dir
}

/// Runs this executable again as uid 65534 in `work`, with a deadline; whether it passed.
fn run_as_user(filter: Option<&str>, work: &Path, copies: Option<&tempfile::TempDir>) -> bool {
    use std::os::unix::process::CommandExt;
    let me = match copies {
        Some(dir) => dir.path().join("sandbox-driver"),
        None => std::env::current_exe().unwrap(),
    };
    let mut cmd = Command::new(me);
    if let Some(dir) = copies {
        cmd.env("SANDBOX_HOSTILE_DIR", dir.path().join("hostile"));
    }
    cmd.args(filter)
        .env("SANDBOX_DRIVER_WORK", work)
        .env("HOME", "/nonexistent")
        .current_dir("/")
        .uid(USER)
        .gid(USER);
    // deadline: exempt (polled below against RUN_DEADLINE × 10, then killed)
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + RUN_DEADLINE * 10;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            println!("the ordinary-user pass did not end in time");
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn full_box_as_root(work: &Path) {
    if !nix::unistd::geteuid().is_root() {
        println!("  (not root: nothing to check)");
        return;
    }
    let case = Case::new(work, "full");
    let sandbox = prepared(policy(&case));
    assert_eq!(
        sandbox.missing(),
        &[] as &[Missing],
        "this machine allows every protection to root"
    );
}

fn missing_is_listed(work: &Path) {
    let case = Case::new(work, "missing");
    let mut p = policy(&case);
    p.skip = vec![Protection::Network, Protection::PidNamespace];
    let sandbox = prepared(p);
    for skipped in [Protection::Network, Protection::PidNamespace] {
        let lines: Vec<&Missing> = sandbox
            .missing()
            .iter()
            .filter(|m| m.protection == skipped)
            .collect();
        assert_eq!(lines.len(), 1, "{skipped}: {:?}", sandbox.missing());
        assert!(
            lines[0]
                .to_string()
                .starts_with(&format!("{skipped}: not attempted"))
        );
    }
    // Without a PID namespace the box's /proc is the machine's: said too.
    assert!(!has(&sandbox, Protection::Proc));
    for m in sandbox.missing() {
        assert!(!m.reason.is_empty() && !m.reason.contains('\n'), "{m}");
    }
}

fn bad_policy(work: &Path) {
    let case = Case::new(work, "bad-policy");
    let absent = case.root.join("absent");
    let err = Sandbox::prepare(Policy::new(&absent)).unwrap_err();
    assert!(err.to_string().contains("scratch"), "{err}");
    let limits = Limits {
        max_procs: 0,
        ..Limits::default()
    };
    let err = Sandbox::prepare(Policy {
        limits,
        ..policy(&case)
    })
    .unwrap_err();
    assert!(err.to_string().contains("limits.max_procs"), "{err}");
    // Nothing was created: no cgroup, no trial scratch left, the case unchanged.
    case.assert_untouched();
}

fn view_from_inside(_: &Path) {
    // Under /tmp: the box's /tmp is its own, with a read-only way to the scratch.
    let tmp = tempfile::Builder::new()
        .prefix("sandbox-view")
        .tempdir_in("/tmp")
        .unwrap();
    let case = Case::new(&tmp.path().canonicalize().unwrap(), "view");
    let sandbox = prepared(Policy::new(case.scratch()));
    let script = format!(
        "echo ATTEMPT pid: $$; \
         echo ATTEMPT uid: $(id -u); \
         echo ATTEMPT home: $HOME; \
         echo ATTEMPT cwd: $(pwd); \
         echo ATTEMPT links: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '); \
         echo ATTEMPT root-home: $(ls -A /root); \
         echo ATTEMPT tmp: $(ls -A /tmp); \
         touch /usr/x 2>/dev/null; echo ATTEMPT usr: $?; \
         touch $HOME/inside.txt; echo ATTEMPT scratch: $?; \
         echo ATTEMPT parent: $(touch ../escaped.txt 2>&1 | grep -o 'Read-only file system'); \
         echo ATTEMPT procs: $(ls /proc | grep -c '^[0-9]'); \
         echo ATTEMPT ro: $(awk '$5 == \"/\" {{ print substr($6, 1, 3) }}' /proc/self/mountinfo); \
         echo ATTEMPT mounts: $(awk '{{ print $5 \":\" $6 }}' /proc/self/mountinfo | tr '\\n' ' '); \
         echo ATTEMPT canary: $(ls {}/keep.txt 2>&1 | head -1)",
        case.canary().display()
    );
    let out = run_boxed(&sandbox, &case, &["/bin/sh", "-c", &script]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    let scratch = case.scratch().to_string_lossy().into_owned();
    assert_eq!(out.attempt("home"), scratch);
    assert_eq!(out.attempt("cwd"), scratch);
    assert_ne!(out.attempt("uid"), "0", "the submission never runs as root");
    if has(&sandbox, Protection::Proc) {
        // Not 2, as the box's second process would be in a fresh namespace: its pids start at
        // a random place (as on a busy machine), so that two runs do not share them.
        let pid: u32 = out.attempt("pid").parse().unwrap();
        assert!(pid > 300, "pid {pid}");
        let again = run_boxed(&sandbox, &case, &["/bin/sh", "-c", "echo ATTEMPT pid: $$"]);
        assert_ne!(
            again.attempt("pid"),
            out.attempt("pid"),
            "two runs, the same pid"
        );
    }
    if has(&sandbox, Protection::Proc) {
        // pid 1, the shell, and the subshells of this script: nothing of the machine.
        let procs: usize = out.attempt("procs").parse().unwrap();
        assert!(procs <= 5, "{procs} processes visible");
    }
    if has(&sandbox, Protection::Network) {
        assert_eq!(out.attempt("links").trim(), "lo");
    }
    if has(&sandbox, Protection::FileSystem) {
        // /root holds only the toolchains of PATH entries below it (`.pyenv` for python3).
        let mut toolchains: Vec<String> = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .filter(|p| p.starts_with("/root") && p.exists())
            .filter_map(|p| {
                p.components()
                    .nth(2)
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
            })
            .collect();
        toolchains.sort();
        toolchains.dedup();
        assert_eq!(
            out.attempt("root-home"),
            toolchains.join(" "),
            "/root is hidden"
        );
        // /tmp holds only the way to the scratch: not the canary beside it.
        let first = case.root.components().nth(2).unwrap();
        assert_eq!(
            out.attempt("tmp"),
            first.as_os_str().to_string_lossy(),
            "/tmp is the box's own"
        );
        assert!(
            out.attempt("canary").contains("No such file"),
            "{}",
            out.output
        );
        assert_eq!(out.attempt("parent"), "Read-only file system");
        assert_ne!(out.attempt("usr"), "0", "/usr is read-only");
        assert_eq!(out.attempt("ro"), "ro,", "/ is mounted read-only");
    }
    assert_eq!(out.attempt("scratch"), "0");
    assert_eq!(
        fs::read_dir(case.scratch()).unwrap().count(),
        1,
        "inside.txt came back to the real scratch"
    );
    assert!(case.scratch().join("inside.txt").exists());
    case.assert_untouched();
}

fn fork_bomb(work: &Path) {
    let case = Case::new(work, "fork-bomb");
    case.with("fork_bomb.py");
    let sandbox = prepared(policy(&case));
    let out = run_boxed(&sandbox, &case, &["python3", "fork_bomb.py"]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    let result = out.attempt("fork 2000");
    let (errno, got) = result.split_once(" after ").unwrap();
    assert_eq!(errno, "EAGAIN", "{result}");
    assert_eq!(
        Limit::from_errno("clone", Errno::EAGAIN),
        Some(Limit::Processes)
    );
    let got: u64 = got.parse().unwrap();
    assert!(got < Limits::default().max_procs, "{got} sleepers at once");
    // Root's per-run uid makes RLIMIT_NPROC exact, and it refuses before the cgroup's
    // pids.max (which also counts pid 1): the cgroup's count says which one refused.
    if out.report.forks_refused.is_some_and(|n| n > 0) {
        assert!(
            out.report.limits_hit().contains(&Limit::Processes),
            "{:?}",
            out.report
        );
    }
    case.assert_untouched();
}

fn daemon(work: &Path) {
    let case = Case::new(work, "daemon");
    case.with("daemon.py");
    let sandbox = prepared(policy(&case));
    let started = Instant::now();
    let out = run_boxed(&sandbox, &case, &["python3", "daemon.py"]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    assert!(out.attempt_ok("daemon"), "{}", out.output);
    // `run_boxed` checked no process carries the token: the sleeper is gone, not waited for.
    assert!(started.elapsed() < Duration::from_secs(300));
    case.assert_untouched();
}

impl Outcome {
    fn attempt_ok(&self, prefix: &str) -> bool {
        self.output
            .lines()
            .any(|l| l.starts_with(&format!("ATTEMPT {prefix}")) && l.ends_with(": ok"))
    }
}

fn write_outside(work: &Path) {
    let case = Case::new(work, "write-outside");
    case.with("write_outside.py");
    let sandbox = prepared(policy(&case));
    if !requires(&sandbox, Protection::FileSystem) {
        return;
    }
    let canary = case.canary().to_string_lossy().into_owned();
    let out = run_boxed(&sandbox, &case, &["python3", "write_outside.py", &canary]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    for what in ["parent", "canary", "etc", "root-home"] {
        let r = out.attempt(&format!("write {what}"));
        assert!(
            ["EROFS", "EACCES", "ENOENT"].contains(&r.as_str()),
            "write {what}: {r}"
        );
    }
    assert_eq!(
        out.attempt("write parent"),
        "EROFS",
        "the kernel refuses, not a permission"
    );
    assert_eq!(out.attempt("write canary"), "EROFS");
    assert_eq!(out.attempt("write tmp"), "ok", "the box's /tmp is its own");
    let escaped = PathBuf::from(format!("/tmp/escaped-{}.txt", case.token));
    let leaked = escaped.exists();
    let _ = fs::remove_file(&escaped);
    assert!(!leaked, "the box's /tmp is the machine's");
    assert!(!Path::new("/etc/escaped.txt").exists());
    assert!(!Path::new("/root/escaped.txt").exists());
    case.assert_untouched();
}

fn append(work: &Path) {
    let case = Case::new(work, "append");
    case.with("append_10g.sh");
    let sandbox = prepared(policy(&case));
    let out = run_boxed(&sandbox, &case, &["/bin/sh", "append_10g.sh"]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    let limit = Limits::default().file_size;
    assert_eq!(
        out.attempt("append 10 GiB"),
        format!("signal {} after {limit} bytes", libc::SIGXFSZ)
    );
    assert_eq!(Limit::from_signal(libc::SIGXFSZ), Some(Limit::FileSize));
    // What came back is the file as the limit left it, and nothing more.
    assert_eq!(
        fs::metadata(case.scratch().join("big.bin")).unwrap().len(),
        limit
    );
    let used: u64 = walk_size(&case.root);
    assert!(used <= limit + (1 << 20), "{used} bytes in the case folder");
    fs::remove_dir_all(case.scratch()).unwrap();
    assert!(
        walk_size(&case.root) < 4096,
        "the disk is given back with the scratch"
    );
    fs::create_dir(case.scratch()).unwrap();
    case.assert_untouched();
}

fn walk_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn fill_disk(work: &Path) {
    let case = Case::new(work, "fill-disk");
    case.with("fill_disk.py");
    let mut p = policy(&case);
    p.limits.disk = 48 << 20;
    let sandbox = prepared(p);
    let out = run_boxed(&sandbox, &case, &["python3", "fill_disk.py"]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    let result = out.attempt("fill the disk");
    if has(&sandbox, Protection::FileSystem) {
        let (errno, mib) = result.split_once(" after ").unwrap();
        assert_eq!(errno, "ENOSPC", "{result}");
        let mib: u64 = mib.trim_end_matches(" MiB").parse().unwrap();
        assert!(mib <= 48, "{mib} MiB written");
        assert_eq!(Limit::from_errno("write", Errno::ENOSPC), Some(Limit::Disk));
        assert!(walk_size(&case.scratch()) <= 48 << 20);
    }
    case.assert_untouched();
}

fn connect(work: &Path) {
    let case = Case::new(work, "connect");
    case.with("connect.py");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let sandbox = prepared(policy(&case));
    if !requires(&sandbox, Protection::Network) {
        return;
    }
    let out = run_boxed(&sandbox, &case, &["python3", "connect.py", &port]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the listener was reached: {other:?}"),
    }
    assert_eq!(
        out.attempt(&format!("connect 127.0.0.1:{port}")),
        "ECONNREFUSED"
    );
    case.assert_untouched();
}

fn read_shadow(work: &Path) {
    let case = Case::new(work, "shadow");
    case.with("read_shadow.py");
    let sandbox = prepared(policy(&case));
    let out = run_boxed(&sandbox, &case, &["python3", "read_shadow.py"]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    assert_eq!(out.attempt("read /etc/shadow"), "EACCES");
    assert!(!out.output.contains("root:"));
    case.assert_untouched();
}

fn rm_rf(work: &Path) {
    let case = Case::new(work, "rm-rf");
    case.with("rm_rf.sh");
    let sandbox = prepared(policy(&case));
    if !requires(&sandbox, Protection::FileSystem) {
        return;
    }
    let canary = case.canary().to_string_lossy().into_owned();
    let out = run_boxed(&sandbox, &case, &["/bin/sh", "rm_rf.sh", &canary]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    assert_ne!(out.attempt("rm -rf given folder"), "exit 0");
    assert_ne!(out.attempt("rm -rf parent"), "exit 0");
    // The scratch itself was the run's to empty: it removed its own program, nothing else.
    assert_eq!(fs::read_dir(case.scratch()).unwrap().count(), 0);
    case.assert_untouched();
}

fn cpu_spin(work: &Path) {
    let case = Case::new(work, "cpu");
    case.with("cpu_spin.py");
    let mut p = policy(&case);
    p.limits.cpu = Duration::from_secs(1);
    let sandbox = prepared(p);
    let out = run_boxed(&sandbox, &case, &["python3", "cpu_spin.py"]);
    let signal = match out.status {
        ExitStatus::Exited(c) if c > 128 => c - 128,
        other => panic!("the spinner ended with {other:?}: {}", out.output),
    };
    // The pyenv shim (bash) may stand between: it reports 128 + the signal as its code.
    let signal = if signal > 128 { signal - 128 } else { signal };
    assert_eq!(
        Limit::from_signal(signal),
        Some(Limit::CpuTime),
        "signal {signal}"
    );
    case.assert_untouched();
}

fn open_files(work: &Path) {
    let case = Case::new(work, "files");
    case.with("open_files.py");
    let sandbox = prepared(policy(&case));
    let out = run_boxed(&sandbox, &case, &["python3", "open_files.py"]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    let result = out.attempt("open 100000 files");
    let (errno, got) = result.split_once(" after ").unwrap();
    assert_eq!(errno, "EMFILE");
    assert_eq!(
        Limit::from_errno("openat", Errno::EMFILE),
        Some(Limit::OpenFiles)
    );
    let got: u64 = got.parse().unwrap();
    assert!(got < Limits::default().open_files, "{got}");
    case.assert_untouched();
}

fn memory_hog(work: &Path) {
    let case = Case::new(work, "memory");
    case.with("memory_hog.py");
    let mut p = policy(&case);
    p.limits.memory = 256 << 20;
    let sandbox = prepared(p);
    let out = run_boxed(&sandbox, &case, &["python3", "memory_hog.py"]);
    if has(&sandbox, Protection::MemoryLimit) {
        // The cgroup's out-of-memory killer ends it with SIGKILL, and counted it.
        assert!(
            out.report.oom_kills.is_some_and(|n| n >= 1),
            "{:?}\n{}",
            out.report,
            out.output
        );
        assert!(out.report.limits_hit().contains(&Limit::Memory));
        assert!(!out.output.contains("ATTEMPT hold 4 GiB: ok"));
    } else {
        assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
        let result = out.attempt("hold 4 GiB");
        assert!(result.starts_with("ENOMEM after "), "{result}");
        assert_eq!(
            Limit::from_errno("mmap", Errno::ENOMEM),
            Some(Limit::Memory)
        );
    }
    case.assert_untouched();
}

fn kill_all(work: &Path) {
    let case = Case::new(work, "kill-all");
    case.with("kill_all.sh");
    let sandbox = prepared(policy(&case));
    // Without one, kill -9 -1 would reach every process of the caller's uid.
    if !requires(&sandbox, Protection::PidNamespace) {
        return;
    }
    let out = run_boxed(&sandbox, &case, &["/bin/sh", "kill_all.sh"]);
    // The driver is alive (this line runs) and so is its listener of the other checks.
    assert!(out.output.contains("ATTEMPT kill -9 -1"), "{}", out.output);
    case.assert_untouched();
}

/// A program written as students write them: two processes, a pipe, a log file.
const NORMAL: &str = r#"
r, w = __import__("os").pipe()
import os
pid = os.fork()
if pid == 0:
    os.close(w)
    data = os.read(r, 100)
    with open("consumer_log.txt", "w") as f:
        f.write(data.decode())
    os._exit(0)
os.close(r)
os.write(w, b"7 Impar\n")
os.close(w)
os.waitpid(pid, 0)
print("ATTEMPT normal: ok")
"#;

fn normal_program(work: &Path) {
    let case = Case::new(work, "normal");
    fs::write(case.scratch().join("ipc.py"), NORMAL).unwrap();
    fs::write(
        case.scratch().join("stale.txt"),
        "from the student's own run",
    )
    .unwrap();
    let sandbox = prepared(policy(&case));
    let out = run_boxed(
        &sandbox,
        &case,
        &["/bin/sh", "-c", "rm stale.txt && python3 ipc.py"],
    );
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    assert!(out.attempt_ok("normal"));
    assert_eq!(
        fs::read_to_string(case.scratch().join("consumer_log.txt")).unwrap(),
        "7 Impar\n"
    );
    assert!(
        !case.scratch().join("stale.txt").exists(),
        "a file the run removed stays removed"
    );
    case.assert_untouched();
}

fn shared_submissions(work: &Path) {
    let shared = Path::new("/work/shared/submissions");
    if !shared.is_dir() {
        println!("  ({} is not on this machine: skipped)", shared.display());
        return;
    }
    let runs: [(&str, &str, &[&str]); 3] = [
        (
            "python_pipe_lock",
            "python3 ipc.py",
            &["execution_log.txt", "consumer_log.txt"],
        ),
        ("c_fork_flock", "cc -o main main.c && ./main", &[]),
        ("python_stdout_only", "python3 ipc.py", &[]),
    ];
    for (name, command, logs) in runs {
        let case = Case::new(work, &format!("shared-{name}"));
        for entry in fs::read_dir(shared.join(name)).unwrap() {
            let entry = entry.unwrap();
            let to = case.scratch().join(entry.file_name());
            fs::copy(entry.path(), &to).unwrap();
            fs::set_permissions(&to, fs::Permissions::from_mode(0o644)).unwrap();
        }
        let sandbox = prepared(policy(&case));
        let out = run_boxed(&sandbox, &case, &["/bin/sh", "-c", command]);
        assert_eq!(out.status, ExitStatus::Exited(0), "{name}: {}", out.output);
        for log in logs {
            let text = fs::read_to_string(case.scratch().join(log))
                .unwrap_or_else(|e| panic!("{name}: {log}: {e}"));
            assert!(text.lines().count() >= 10, "{name}: {log}:\n{text}");
        }
        case.assert_untouched();
    }
}

fn ptrace_inside(work: &Path) {
    let case = Case::new(work, "ptrace");
    let sandbox = prepared(policy(&case));
    let mut child = sandbox.spawn(&[], |_| trace_true(&sandbox)).unwrap();
    let reaped = child.wait().unwrap();
    sandbox.finish(&mut child).unwrap();
    assert_eq!(
        reaped.status,
        ExitStatus::Exited(0),
        "1: fork, 2: no exec stop, 3: no exit after PTRACE_CONT"
    );
    case.assert_untouched();
}

/// The smallest tracer: the confined child asks to be traced and execs /bin/true; the parent
/// sees the exec stop (SIGTRAP), continues it, and sees it exit 0.
fn trace_true(sandbox: &Sandbox) -> i32 {
    let child = Fork::new("traced").spawn([], |[]| {
        if sandbox.confine().is_err() || nix::sys::ptrace::traceme().is_err() {
            return 90;
        }
        let path = CString::new("/bin/true").unwrap();
        let _ = nix::unistd::execv(&path, &[&path]);
        91
    });
    let Ok(child) = child else { return 1 };
    let pid = child.pid();
    match waitpid(pid, None) {
        Ok(WaitStatus::Stopped(_, Signal::SIGTRAP)) => {}
        _ => return 2,
    }
    if nix::sys::ptrace::cont(pid, None).is_err() {
        return 2;
    }
    let ended = waitpid(pid, None);
    // Reaped already: the handle has nothing left to do.
    let _ = child.disown();
    match ended {
        Ok(WaitStatus::Exited(_, 0)) => 0,
        _ => 3,
    }
}

/// Starts a box running `script` (which writes `started` in the scratch and then sleeps),
/// waits for the file, and returns the box.
fn start_sleeper(sandbox: &Sandbox, case: &Case) -> Child {
    let script = "echo started > started.txt; python3 -c 'import os,time\nif os.fork()==0:\n os.setsid(); time.sleep(300)\ntime.sleep(300)'";
    let argv = [
        CString::new("/bin/sh").unwrap(),
        CString::new("-c").unwrap(),
        CString::new(script).unwrap(),
    ];
    let (argv, token) = (&argv[..], case.token.as_str());
    let null = fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let null: OwnedFd = null.into();
    let child = sandbox
        .spawn(&[null.as_fd()], |fds| {
            run_program(sandbox, fds, argv, token)
        })
        .unwrap();
    // The file appears inside the box only; from here, wait for the sleepers carrying the token.
    let deadline = Instant::now() + RUN_DEADLINE;
    while count_with_token(&case.token) < 3 {
        assert!(Instant::now() < deadline, "the sleepers never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Waits until no process carries `token`; past `deadline`, kills them all (nothing a failed
/// check started may be left running) and fails with `what`.
fn wait_token_gone(token: &str, deadline: Instant, what: &str) {
    while count_with_token(token) > 0 {
        if Instant::now() >= deadline {
            // Reports them, kills them and fails.
            assert_nothing_left(token);
            panic!("{what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn count_with_token(token: &str) -> usize {
    let needle = format!("SANDBOX_TEST_TOKEN={token}");
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
        })
        .count()
}

fn drop_handle(work: &Path) {
    let case = Case::new(work, "drop");
    let sandbox = prepared(policy(&case));
    let child = start_sleeper(&sandbox, &case);
    let pid = child.pid();
    drop(child);
    let _ = pid;
    assert_nothing_left(&case.token);
    if has(&sandbox, Protection::FileSystem) {
        assert_eq!(
            fs::read_to_string(case.scratch().join("started.txt")).unwrap(),
            "started\n",
            "SIGTERM ends the box and copies its scratch back"
        );
    }
    case.assert_untouched();
}

fn sigkill_box(work: &Path) {
    let case = Case::new(work, "sigkill-box");
    let sandbox = prepared(policy(&case));
    let mut child = start_sleeper(&sandbox, &case);
    child.signal(Signal::SIGKILL);
    let reaped = child.wait().unwrap();
    assert_eq!(reaped.status, ExitStatus::Signaled(libc::SIGKILL));
    sandbox.finish(&mut child).unwrap();
    // Pid 1 dies of its death signal; the kernel then kills the namespace. Wait for that fact.
    let deadline = Instant::now() + RUN_DEADLINE;
    wait_token_gone(&case.token, deadline, "the box outlived its box process");
    // Pid 1, orphaned, was handed to this subreaper: reap it, as a grader must.
    reap_adopted(deadline);
    assert_nothing_left(&case.token);
    case.assert_untouched();
}

fn sigkill_caller(work: &Path) {
    let case = Case::new(work, "sigkill-caller");
    let sandbox = prepared(policy(&case));
    let token = case.token.clone();
    let token = &token;
    let sandbox_ref = &sandbox;
    let case_ref = &case;
    // A grader of its own, killed with SIGKILL while its box runs.
    let mut grader = Fork::new("grader")
        .spawn([], |[]| {
            let _box = start_sleeper(sandbox_ref, case_ref);
            std::thread::sleep(Duration::from_secs(300));
            0
        })
        .unwrap();
    let deadline = Instant::now() + RUN_DEADLINE;
    while count_with_token(token) < 3 {
        assert!(Instant::now() < deadline, "the grader's box never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    grader.signal(Signal::SIGKILL);
    grader.wait().unwrap();
    wait_token_gone(token, deadline, "the box outlived its grader");
    // The box process was reparented to this subreaper; reap it.
    reap_adopted(deadline);
    assert_nothing_left(token);
    drop(sandbox);
    // The dead grader's run cgroup stays until the next `prepare` sweeps it.
    let grader_pid = grader.pid().as_raw() as u32;
    let other = Case::new(work, "sigkill-caller-after");
    drop(prepared(policy(&other)));
    assert_eq!(cgroups_of(grader_pid), Vec::<PathBuf>::new());
    case.assert_untouched();
}

/// The cgroups that boxes of process `pid` created and that still exist.
fn cgroups_of(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("ipc_sys-sandbox-{pid}-");
    walkdir::WalkDir::new("/sys/fs/cgroup")
        .max_depth(6)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_dir() && e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// Reaps the children this subreaper adopted, until it has none or `deadline` passes.
fn reap_adopted(deadline: Instant) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(10)),
            Ok(_) => {}
            Err(_) => return,
        }
        assert!(Instant::now() < deadline, "an adopted process never ended");
    }
}

fn no_pid_namespace(work: &Path) {
    let case = Case::new(work, "no-pidns");
    case.with("daemon.py");
    let mut p = policy(&case);
    p.skip = vec![Protection::PidNamespace];
    let sandbox = prepared(p);
    assert!(!has(&sandbox, Protection::PidNamespace));
    let out = run_boxed(&sandbox, &case, &["python3", "daemon.py"]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    case.assert_untouched();
}

fn no_cgroups(work: &Path) {
    let case = Case::new(work, "no-cgroups");
    case.with("fork_bomb.py");
    let mut p = policy(&case);
    p.skip = vec![Protection::ProcessLimit, Protection::MemoryLimit];
    let sandbox = prepared(p);
    let out = run_boxed(&sandbox, &case, &["python3", "fork_bomb.py"]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    let result = out.attempt("fork 2000");
    assert!(result.starts_with("EAGAIN after "), "{result}");
    let got: u64 = result.trim_start_matches("EAGAIN after ").parse().unwrap();
    assert!(got < Limits::default().max_procs, "{got}");
    assert_eq!(out.report.forks_refused, None, "no cgroup was used");
    case.assert_untouched();
}

fn no_view(work: &Path) {
    let case = Case::new(work, "no-view");
    let mut p = policy(&case);
    p.skip = vec![Protection::FileSystem];
    let sandbox = prepared(p);
    assert!(!has(&sandbox, Protection::FileSystem));
    let out = run_boxed(
        &sandbox,
        &case,
        &[
            "/bin/sh",
            "-c",
            "echo ATTEMPT uid: $(id -u); echo hi > here.txt",
        ],
    );
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    assert_ne!(out.attempt("uid"), "0");
    assert!(case.scratch().join("here.txt").exists());
    case.assert_untouched();
}

fn descriptors(work: &Path) {
    if !nix::unistd::geteuid().is_root() {
        // The box process and pid 1 are not dumpable: only root reads their /proc/PID/fd.
        println!("  (not root: their /proc/PID/fd is not readable)");
        return;
    }
    let case = Case::new(work, "descriptors");
    let sandbox = prepared(policy(&case));
    let up = ipc_sys::pipe::Pipe::new().unwrap();
    let hold = ipc_sys::pipe::Pipe::new().unwrap();
    let mut child = sandbox
        .spawn(&[up.write.as_fd(), hold.read.as_fd()], |fds| {
            // Say "running", then wait until the driver closes its end.
            let _ = nix::unistd::write(&fds[0], b"x");
            let mut buf = [0u8; 1];
            let _ = nix::unistd::read(&fds[1], &mut buf);
            0
        })
        .unwrap();
    drop(up.write);
    drop(hold.read);
    let mut buf = [0u8; 1];
    assert_eq!(
        nix::unistd::read(&up.read, &mut buf),
        Ok(1),
        "body never ran"
    );
    let fds_of = |pid: i32| -> Vec<(i32, String)> {
        let mut fds: Vec<(i32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .map(|e| {
                let n: i32 = e.file_name().to_string_lossy().parse().unwrap();
                let target = fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (n, target)
            })
            .filter(|(n, _)| *n > 2)
            .collect();
        fds.sort();
        fds
    };
    let ino = |fd: &OwnedFd| nix::sys::stat::fstat(fd).unwrap().st_ino;
    let outer = child.pid().as_raw();
    let held = fds_of(outer);
    // The box process: the lifeline to pid 1, and the real scratch (to copy back into).
    assert_eq!(held.len(), 2, "{held:?}");
    let scratch = fs::metadata(case.scratch()).unwrap();
    let dirs: Vec<&(i32, String)> = held
        .iter()
        .filter(|(n, _)| {
            let m = fs::metadata(format!("/proc/{outer}/fd/{n}")).unwrap();
            use std::os::unix::fs::MetadataExt;
            m.ino() == scratch.ino() && m.dev() == scratch.dev()
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{held:?}");
    assert!(held.iter().any(|(_, t)| t.starts_with("pipe:")), "{held:?}");
    let children = fs::read_to_string(format!("/proc/{outer}/task/{outer}/children")).unwrap();
    let first: i32 = children.trim().parse().unwrap();
    // Pid 1: exactly the two descriptors it was given, at 3 and 4.
    assert_eq!(
        fds_of(first),
        vec![
            (3, format!("pipe:[{}]", ino(&up.read))),
            (4, format!("pipe:[{}]", ino(&hold.write))),
        ]
    );
    drop(hold.write);
    assert_eq!(child.wait().unwrap().status, ExitStatus::Exited(0));
    sandbox.finish(&mut child).unwrap();
    case.assert_untouched();
}

fn scratch_in_use(work: &Path) {
    let case = Case::new(work, "in-use");
    let sandbox = prepared(policy(&case));
    if !requires(&sandbox, Protection::FileSystem) {
        return;
    }
    let first = start_sleeper(&sandbox, &case);
    let err = sandbox.spawn(&[], |_| 0).unwrap_err();
    assert!(err.to_string().contains("in use by another box"), "{err}");
    drop(first);
    assert_nothing_left(&case.token);
    assert_eq!(
        fs::read_to_string(case.scratch().join("started.txt")).unwrap(),
        "started\n",
        "the first box's scratch came back whole"
    );
    case.assert_untouched();
}

fn read_only_folder(work: &Path) {
    let case = Case::new(work, "read-only-folder");
    let ro = case.scratch().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::write(ro.join("f.txt"), "kept\n").unwrap();
    fs::set_permissions(ro.join("f.txt"), fs::Permissions::from_mode(0o444)).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let sandbox = prepared(policy(&case));
    let out = run_boxed(
        &sandbox,
        &case,
        &[
            "/bin/sh",
            "-c",
            "echo ATTEMPT read: $(cat ro/f.txt); echo out > out.txt",
        ],
    );
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    assert_eq!(out.attempt("read"), "kept");
    assert_eq!(fs::read_to_string(ro.join("f.txt")).unwrap(), "kept\n");
    assert_eq!(
        fs::read_to_string(case.scratch().join("out.txt")).unwrap(),
        "out\n"
    );
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    case.assert_untouched();
}

/// `add_key("user", desc, payload, @s)`: a key in this process's session keyring, readable only
/// by who possesses it.
fn add_session_key(description: &str) -> i64 {
    let kind = CString::new("user").unwrap();
    let desc = CString::new(description).unwrap();
    let payload = b"secret";
    // SAFETY: valid NUL-terminated strings and a payload of the length given; -3 is
    // KEY_SPEC_SESSION_KEYRING.
    let key = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            -3i32,
        )
    };
    assert!(key > 0, "add_key: {}", Errno::last());
    key
}

fn keyring(work: &Path) {
    let case = Case::new(work, "keyring");
    // A session keyring of the driver's own, holding one key.
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING (1) with a null name reads no memory of ours.
    let joined = unsafe { libc::syscall(libc::SYS_keyctl, 1, std::ptr::null::<libc::c_char>()) };
    assert!(joined > 0, "keyctl: {}", Errno::last());
    let key = add_session_key(&format!("sandbox-test-{}", case.token));
    // Reads the key's payload with keyctl(KEYCTL_READ), as whoever possesses it can.
    let read_key = format!(
        "import ctypes, errno\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         buf = ctypes.create_string_buffer(64)\n\
         n = libc.syscall(250, 11, {key}, buf, 64)\n\
         e = ctypes.get_errno()\n\
         print('ATTEMPT key:', buf.raw[:n].decode() if n >= 0 else errno.errorcode[e])\n"
    );
    let here = Command::new("python3").args(["-c", &read_key]).run();
    let here = String::from_utf8_lossy(&here.stdout);
    assert_eq!(
        here.trim(),
        "ATTEMPT key: secret",
        "the driver possesses its key"
    );
    let sandbox = prepared(policy(&case));
    let out = run_boxed(&sandbox, &case, &["python3", "-c", &read_key]);
    assert_eq!(out.status, ExitStatus::Exited(0), "{}", out.output);
    assert_eq!(out.attempt("key"), "EACCES", "{}", out.output);
    case.assert_untouched();
}

fn dropped_root(work: &Path) {
    if !nix::unistd::geteuid().is_root() {
        println!("  (not root: nothing to drop)");
        return;
    }
    let case = Case::new(work, "dropped-root");
    std::os::unix::fs::chown(case.scratch(), Some(USER), Some(USER)).unwrap();
    let scratch = case.scratch();
    let scratch = &scratch;
    // A child that drops root as a grader with `--user` might, and prepares a box: not dumpable
    // after its uid change, it must still be able to map itself in a user namespace.
    let mut child = Fork::new("dropped")
        .spawn([], |[]| {
            let id = nix::unistd::Uid::from_raw(USER);
            let gid = nix::unistd::Gid::from_raw(USER);
            if nix::unistd::setgroups(&[]).is_err()
                || nix::unistd::setresgid(gid, gid, gid).is_err()
                || nix::unistd::setresuid(id, id, id).is_err()
            {
                return 10;
            }
            match Sandbox::prepare(Policy::new(scratch)) {
                Ok(s)
                    if s.missing()
                        .iter()
                        .all(|m| m.protection != Protection::UserNamespace) =>
                {
                    0
                }
                Ok(s) => {
                    for m in s.missing() {
                        println!("  {m}");
                    }
                    11
                }
                Err(_) => 12,
            }
        })
        .unwrap();
    assert_eq!(child.wait().unwrap().status, ExitStatus::Exited(0));
    case.assert_untouched();
}

fn scratch_too_big(work: &Path) {
    let case = Case::new(work, "too-big");
    let mut p = policy(&case);
    p.limits.disk = 1 << 20;
    let sandbox = prepared(p);
    if !requires(&sandbox, Protection::FileSystem) {
        return;
    }
    fs::write(case.scratch().join("big.bin"), vec![7u8; 2 << 20]).unwrap();
    let err = sandbox.spawn(&[], |_| 0).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("copying the scratch") && text.contains("No space left"),
        "{text}"
    );
    assert_eq!(
        fs::read(case.scratch().join("big.bin")).unwrap(),
        vec![7u8; 2 << 20]
    );
    case.assert_untouched();
}

fn stopped_first(work: &Path) {
    let case = Case::new(work, "stopped");
    let sandbox = prepared(policy(&case));
    if !requires(&sandbox, Protection::PidNamespace) {
        return;
    }
    let child = start_sleeper(&sandbox, &case);
    let outer = child.pid().as_raw();
    let children = fs::read_to_string(format!("/proc/{outer}/task/{outer}/children")).unwrap();
    let first: i32 = children.trim().parse().unwrap();
    nix::sys::signal::kill(Pid::from_raw(first), Signal::SIGSTOP).unwrap();
    drop(child);
    assert_nothing_left(&case.token);
    case.assert_untouched();
}

fn rootless_container(work: &Path) {
    if !nix::unistd::geteuid().is_root() {
        println!("  (not root: cannot map a container's ids)");
        return;
    }
    let case = Case::new(work, "rootless");
    let go = ipc_sys::pipe::Pipe::new().unwrap();
    let entered = ipc_sys::pipe::Pipe::new().unwrap();
    let scratch = case.scratch();
    let scratch = &scratch;
    let token = case.token.as_str();
    // A child in a user namespace that maps ids 0..65536 to themselves, as rootless Podman
    // does: root there, but the run's own id (RUN_ID_BASE + pid) does not exist.
    let mut child = Fork::new("container")
        .spawn([go.read.as_fd(), entered.write.as_fd()], |[go, entered]| {
            if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_err() {
                return 10;
            }
            let _ = nix::unistd::write(&entered, b"x");
            let mut b = [0u8; 1];
            if nix::unistd::read(&go, &mut b) != Ok(1) {
                return 11;
            }
            let root = nix::unistd::Uid::from_raw(0);
            let gid = nix::unistd::Gid::from_raw(0);
            if nix::unistd::setresgid(gid, gid, gid).is_err()
                || nix::unistd::setresuid(root, root, root).is_err()
            {
                return 12;
            }
            let Ok(sandbox) = Sandbox::prepare(Policy::new(scratch)) else {
                return 13;
            };
            let argv = [
                CString::new("/bin/sh").unwrap(),
                CString::new("-c").unwrap(),
                CString::new("id -u > uid.txt").unwrap(),
            ];
            let (s, argv) = (&sandbox, &argv[..]);
            let Ok(mut b) = sandbox.spawn(&[], |_| run_program(s, Vec::new(), argv, token)) else {
                return 14;
            };
            match b.wait().map(|r| r.status) {
                Ok(ExitStatus::Exited(0)) => 0,
                _ => 15,
            }
        })
        .unwrap();
    let mut b = [0u8; 1];
    assert_eq!(nix::unistd::read(&entered.read, &mut b), Ok(1));
    let pid = child.pid();
    fs::write(format!("/proc/{pid}/uid_map"), "0 0 65536\n").unwrap();
    fs::write(format!("/proc/{pid}/gid_map"), "0 0 65536\n").unwrap();
    nix::unistd::write(&go.write, b"x").unwrap();
    assert_eq!(child.wait().unwrap().status, ExitStatus::Exited(0));
    assert_eq!(
        fs::read_to_string(case.scratch().join("uid.txt")).unwrap(),
        "65534\n"
    );
    case.assert_untouched();
}

fn stale_cgroup(work: &Path) {
    if !nix::unistd::geteuid().is_root() {
        println!("  (not root: no cgroups here to keep track of a run)");
        return;
    }
    let case = Case::new(work, "stale");
    let mut p = policy(&case);
    p.skip = vec![Protection::PidNamespace];
    let sandbox = prepared(p);
    let (s, c) = (&sandbox, &case);
    // A grader whose box has no PID namespace; both are then killed with SIGKILL, the box
    // process first, so that nobody is left to sweep the run.
    let mut grader = Fork::new("grader")
        .spawn([], |[]| {
            let _box = start_sleeper(s, c);
            std::thread::sleep(Duration::from_secs(300));
            0
        })
        .unwrap();
    let deadline = Instant::now() + RUN_DEADLINE;
    while count_with_token(&case.token) < 3 {
        assert!(Instant::now() < deadline, "the grader's box never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let g = grader.pid().as_raw();
    let children = fs::read_to_string(format!("/proc/{g}/task/{g}/children")).unwrap();
    let outer: i32 = children.trim().parse().unwrap();
    nix::sys::signal::kill(Pid::from_raw(outer), Signal::SIGKILL).unwrap();
    grader.signal(Signal::SIGKILL);
    grader.wait().unwrap();
    let grader_pid = g as u32;
    assert!(!cgroups_of(grader_pid).is_empty(), "the run had cgroups");
    // The run's processes escaped: this is the weakness the next prepare repairs.
    assert!(count_with_token(&case.token) > 0);
    let other = Case::new(work, "stale-after");
    drop(prepared(policy(&other)));
    wait_token_gone(
        &case.token,
        deadline,
        "the escaped processes were not killed",
    );
    reap_adopted(deadline);
    assert_nothing_left(&case.token);
    assert_eq!(cgroups_of(grader_pid), Vec::<PathBuf>::new());
    drop(sandbox);
}
