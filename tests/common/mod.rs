//! Helpers shared by the integration tests: every test runs the real binary in its own
//! temporary directory and reads back the logs it wrote.
#![allow(dead_code)]

pub mod deadline;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use deadline::{
    Bounded, Proc, Started, default_deadline, process, processes, session_members, wait_until,
};

use ipc_desafio::desafio::record::{ConsumerLine, Event, LogLine, Role};
use tempfile::TempDir;

/// The binaries under test, named once.
pub const BIN: &str = env!("CARGO_BIN_EXE_ipc_desafio");
pub const TASK_POOL: &str = env!("CARGO_BIN_EXE_task_pool");
pub const PARALLEL: &str = env!("CARGO_BIN_EXE_parallel");
pub const WORKER_POOL: &str = env!("CARGO_BIN_EXE_worker_pool");
pub const JOINABLE_QUEUE: &str = env!("CARGO_BIN_EXE_joinable_queue");
pub const TICKET_OFFICE: &str = env!("CARGO_BIN_EXE_ticket_office");

/// A temp dir that holds one run's logs.
pub struct Run {
    pub dir: TempDir,
}

impl Run {
    pub fn new() -> Run {
        Run {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `ipc_desafio <args>` with the logs in this dir, to completion (under the deadline).
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).run()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = desafio();
        cmd.arg("--log-dir")
            .arg(self.path())
            .args(args)
            .current_dir(self.path());
        cmd
    }

    /// Starts a run in a process group of its own (so a test can signal the group, whose id is
    /// its pid, without hitting the test harness), stdout discarded, stderr piped.
    pub fn spawn(&self, args: &[&str]) -> Started {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .start()
    }

    pub fn verify(&self) -> Output {
        desafio()
            .arg("verify")
            .arg("--log-dir")
            .arg(self.path())
            .run()
    }

    /// `verify --audit-only`: are the logs consistent (and the run complete), whatever the
    /// assignment's rubric says of a run this short or this lossy by design?
    pub fn audit(&self) -> Output {
        desafio()
            .args(["verify", "--audit-only", "--log-dir"])
            .arg(self.path())
            .run()
    }

    pub fn exec_path(&self) -> PathBuf {
        self.path().join("execution_log.txt")
    }

    pub fn consumer_path(&self) -> PathBuf {
        self.path().join("consumer_log.txt")
    }

    pub fn exec_text(&self) -> String {
        std::fs::read_to_string(self.exec_path()).unwrap_or_default()
    }

    /// Every line of execution_log.txt, parsed (panics on a line that does not parse).
    pub fn exec_lines(&self) -> Vec<LogLine> {
        self.exec_text()
            .lines()
            .map(|l| {
                l.parse()
                    .unwrap_or_else(|e| panic!("unparsable log line {l:?}: {e}"))
            })
            .collect()
    }

    /// The lines of execution_log.txt that parse (a killed writer may leave one that does not).
    pub fn parsed_lines(&self) -> Vec<LogLine> {
        self.exec_text()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    }

    pub fn consumer_lines(&self) -> Vec<ConsumerLine> {
        std::fs::read_to_string(self.consumer_path())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                l.parse()
                    .unwrap_or_else(|e| panic!("unparsable consumer line {l:?}: {e}"))
            })
            .collect()
    }

    pub fn sent_values(&self) -> Vec<i64> {
        self.exec_lines()
            .into_iter()
            .filter_map(|l| match l.event {
                Event::Sent { value, .. } => Some(value),
                _ => None,
            })
            .collect()
    }

    pub fn received_values(&self) -> Vec<i64> {
        self.exec_lines()
            .into_iter()
            .filter_map(|l| match l.event {
                Event::Received { value, .. } => Some(value),
                _ => None,
            })
            .collect()
    }

    /// Messages logged by one role, as text.
    pub fn messages(&self, role: Role) -> Vec<String> {
        self.exec_lines()
            .into_iter()
            .filter(|l| l.role == role)
            .map(|l| l.event.to_string())
            .collect()
    }

    /// The summary line's (sent, received, lost) (a killed writer's cut line is skipped).
    pub fn summary(&self) -> (u64, u64, u64) {
        match self.parsed_lines().last().map(|l| l.event.clone()) {
            Some(Event::Summary {
                sent,
                received,
                lost,
                ..
            }) => (sent, received, lost),
            other => panic!("last line is not a summary: {other:?}"),
        }
    }

    pub fn pid_of(&self, role: Role) -> Option<i32> {
        self.parsed_lines()
            .into_iter()
            .find(|l| l.role == role)
            .map(|l| l.pid)
    }

    /// Polls the execution log until `pred` holds for some line, or panics after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&LogLine) -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            let text = self.exec_text();
            if text
                .lines()
                .filter_map(|l| l.parse::<LogLine>().ok())
                .any(|l| pred(&l))
            {
                return;
            }
            sleep(Duration::from_millis(10));
        }
        panic!(
            "timed out waiting for {what}; log so far:\n{}",
            self.exec_text()
        );
    }
}

/// Whether a box's unprivileged user can reach the build's tmp folder: every folder above it
/// lets others in. Not in a checkout below a folder only its owner may enter, as `/root` is.
pub fn build_tmp_reachable_by_others() -> bool {
    use std::os::unix::fs::PermissionsExt;
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .ancestors()
        .all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// Where a sandbox test puts its cases: the build's tmp folder, which a box shows read-only,
/// when a box's user can reach it; else the machine's temp folder, which a box replaces with its
/// own — a box's user could read nothing of a case below a private folder, and the tests look at
/// where their canary is to know what a box can see.
pub fn sandbox_cases_folder() -> PathBuf {
    if build_tmp_reachable_by_others() {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
    } else {
        std::env::temp_dir()
    }
}

/// `ipc_desafio` in the C locale: the tests read its English output whatever the machine's
/// language (a Portuguese locale would switch the program to Portuguese).
pub fn desafio() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("LC_ALL", "C.UTF-8").env_remove("LC_MESSAGES");
    cmd
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

pub fn stdout(output: &Output) -> String {
    text(&output.stdout)
}

pub fn stderr(output: &Output) -> String {
    text(&output.stderr)
}

/// Bytes a program wrote, as text (invalid UTF-8 replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The state letter of a process (`T` when stopped, `Z` a zombie), `None` once it is gone.
pub fn state(pid: i32) -> Option<char> {
    process(pid).map(|p| p.state)
}

/// The direct children of `pid`, from every process's parent in /proc.
pub fn children(pid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.ppid == pid)
        .map(|p| p.pid)
        .collect()
}

/// Runs `cmd` with `input` on stdin (none: /dev/null) in its own process group, to its end,
/// under the tests' deadline (common/deadline.rs).
pub fn output_of(mut cmd: Command, input: Option<&[u8]>) -> Output {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = deadline::Bounded::start(&mut cmd);
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    }
    child.finish()
}

/// Waits for `child` to exit, `timeout` from now at most (past it the test fails and the
/// child's run is killed): its exit code, or -1 if a signal ended it.
pub fn wait_with_deadline(child: &mut Started, timeout: Duration) -> i32 {
    child.extend(timeout);
    child.code()
}

/// What a program does into `| head -1`: reads the first line of its stdout, closes the pipe,
/// and waits for the end (under the deadline). Returns that line, the exit code (-1 for a
/// signal) and everything written on stderr. stdout and stderr must be piped.
pub fn first_line_then_close(child: &mut Started, timeout: Duration) -> (String, i32, String) {
    use std::io::{BufRead, BufReader, Read};
    child.extend(timeout);
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut first)
        .expect("read the first line");
    let code = child.code();
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut err)
        .expect("read stderr");
    (first, code, err)
}

/// Whether a process with this pid still exists (a zombie counts as existing).
pub fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until none of `pids` exists any more, reaping each one that was re-parented to this
/// process (a child subreaper) once it has exited, so that none stays a zombie; panics naming
/// those still there after `timeout`.
pub fn wait_gone(pids: &[i32], timeout: Duration) {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    let start = Instant::now();
    loop {
        for &pid in pids {
            let _ = waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
        let left: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "processes {left:?} are still there after {timeout:?}"
        );
        sleep(Duration::from_millis(10));
    }
}

/// Waits until no process of session `sid` is left. This process must be a child subreaper:
/// orphans of the session are re-parented to it, and it reaps those that have exited (only
/// those: another test's children are left alone). A zombie whose parent is not this process
/// is a process the program failed to reap. Panics after `timeout`, listing what is left;
/// returns how long it took.
pub fn wait_session_gone(sid: i32, timeout: Duration) -> Duration {
    let me = std::process::id() as i32;
    let start = Instant::now();
    loop {
        let left = session_members(sid);
        for p in left.iter().filter(|p| p.ppid == me && p.state == 'Z') {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(p.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
        if left.is_empty() {
            return start.elapsed();
        }
        if start.elapsed() > timeout {
            panic!("session {sid} still has processes after {timeout:?}: {left:?}");
        }
        sleep(Duration::from_millis(10));
    }
}

/// Waits until `pred` holds for the processes of session `sid`; panics after `timeout`.
pub fn wait_session(sid: i32, what: &str, timeout: Duration, pred: impl Fn(&[Proc]) -> bool) {
    let start = Instant::now();
    loop {
        let members = session_members(sid);
        if pred(&members) {
            return;
        }
        if start.elapsed() > timeout {
            panic!("timed out waiting for {what}; session {sid}: {members:?}");
        }
        sleep(Duration::from_millis(5));
    }
}

/// Every process of process group `pgid` still listed in /proc (zombies included), as
/// (pid, parent pid, state letter).
pub fn group_members(pgid: i32) -> Vec<(i32, i32, char)> {
    processes()
        .into_iter()
        .filter(|p| p.pgid == pgid)
        .map(|p| (p.pid, p.ppid, p.state))
        .collect()
}

/// For a test process that made itself a child subreaper: waits until no process of group
/// `pgid` is left, reaping each one re-parented to this process once it has exited (so none
/// stays a zombie), and panics naming the survivors after `timeout`. Reap the group leader
/// (the spawned `Child`) first: only its descendants are reaped here.
pub fn wait_until_group_gone(pgid: i32, timeout: Duration) {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    let me = std::process::id() as i32;
    let start = Instant::now();
    loop {
        let members = group_members(pgid);
        if members.is_empty() {
            return;
        }
        for &(pid, ppid, state) in &members {
            if ppid == me && pid != pgid && state == 'Z' {
                let _ = waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            }
        }
        if start.elapsed() > timeout {
            panic!(
                "processes of group {pgid} still there after {timeout:?} (pid, parent, state): {members:?}"
            );
        }
        sleep(Duration::from_millis(10));
    }
}
