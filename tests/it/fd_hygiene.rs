//! The descriptors every process of every program really holds, read from /proc while a run is
//! in progress — with extra descriptors left open by whoever started the program, which no child
//! may inherit. The pitfalls this project exists to avoid (a stray pipe end hides EOF or EPIPE;
//! an inherited log descriptor shares its flock) would show up here first.
//!
//! Each check waits until the process tree has its expected shape and every process holds
//! exactly what it needs — a fork's set-up takes a moment, so a single early snapshot could see a
//! child that has not closed what it does not keep yet; a real leak never goes away and fails
//! the check at its deadline.

use crate::common;

use common::{Bounded, Started};

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The descriptor numbers the starter leaves open in the program (without close-on-exec).
const EXTRA_FILE: i32 = 7;
const EXTRA_PIPE: i32 = 9;
const DEADLINE: Duration = Duration::from_secs(30);

/// What one descriptor points at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fd {
    num: u32,
    target: String,
    write_only: bool,
}

/// Every descriptor of `pid` above stderr (empty if the process is gone).
fn descriptors(pid: i32) -> Vec<Fd> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut fds: Vec<Fd> = dir
        .filter_map(|e| {
            let e = e.ok()?;
            let num: u32 = e.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(e.path()).ok()?.to_string_lossy().into_owned();
            let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{num}")).ok()?;
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?.trim();
            let flags = u32::from_str_radix(flags, 8).ok()?;
            Some(Fd {
                num,
                target,
                write_only: flags & 0o3 == 0o1,
            })
        })
        .filter(|fd| fd.num > 2)
        .collect();
    fds.sort_by_key(|f| f.num);
    fds
}

/// Counts descriptors by kind: (pipes, sockets, files whose path ends with `name` for each name).
fn count(fds: &[Fd], prefix: &str) -> usize {
    fds.iter().filter(|f| f.target.starts_with(prefix)).count()
}

fn files(fds: &[Fd], suffix: &str) -> usize {
    fds.iter().filter(|f| f.target.ends_with(suffix)).count()
}

/// Starts `program args` in its own process group, with descriptors 3.. closed except the two
/// extras this test leaves open on purpose (a file and a pipe end, both inheritable).
fn start(program: &str, args: &[&str], dir: &Path) -> Started {
    let extra_file = fs::File::create(dir.join("starter-only")).unwrap();
    let (pipe_r, _pipe_w) = nix::unistd::pipe().unwrap();
    let (file_fd, pipe_fd) = (
        std::os::fd::AsRawFd::as_raw_fd(&extra_file),
        std::os::fd::AsRawFd::as_raw_fd(&pipe_r),
    );
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: runs in the forked child before exec and only calls dup2/close, which are
    // async-signal-safe; the test harness's own inherited descriptors (cargo's jobserver pipe)
    // are closed so that only the two extras are the starter's.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(file_fd, 100);
            libc::dup2(pipe_fd, 101);
            libc::close_range(3, 99, 0);
            libc::close_range(102, libc::c_uint::MAX, 0);
            libc::dup2(100, EXTRA_FILE);
            libc::dup2(101, EXTRA_PIPE);
            libc::close(100);
            libc::close(101);
            Ok(())
        })
    };
    cmd.start()
}

/// No process but the starter's direct child may hold an extra: it is the caller's, and the
/// program does not own it. `extra_pipe` is the link target of the starter's pipe.
fn holds_an_extra(fds: &[Fd], extra_pipe: &str) -> bool {
    fds.iter()
        .any(|f| f.target.ends_with("starter-only") || f.target == extra_pipe)
}

/// Polls until `check(tree)` says yes (`Ok`) or the deadline passes (panics with the last
/// reason). `tree` maps each descendant of `top` (top included) to its descriptors.
fn eventually(what: &str, top: i32, check: impl Fn(&Tree) -> Result<(), String>) {
    let start = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    loop {
        let tree = Tree::of(top);
        match check(&tree) {
            Ok(()) => return,
            Err(why) => {
                if !seen.contains(&why) {
                    seen.push(why);
                }
                if start.elapsed() > DEADLINE {
                    panic!("{what}: never held; reasons seen:\n{}", seen.join("\n"));
                }
                sleep(Duration::from_millis(20));
            }
        }
    }
}

#[derive(Debug)]
struct Tree {
    /// (pid, depth below the top, descriptors)
    procs: Vec<(i32, usize, Vec<Fd>)>,
    /// The starter's pipe, as the top process holds it.
    extra_pipe: String,
}

impl Tree {
    fn of(top: i32) -> Tree {
        let extra_pipe = fs::read_link(format!("/proc/{top}/fd/{EXTRA_PIPE}"))
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "(the starter's pipe is gone)".into());
        let mut procs = Vec::new();
        let mut stack = vec![(top, 0)];
        while let Some((pid, depth)) = stack.pop() {
            procs.push((pid, depth, descriptors(pid)));
            stack.extend(common::children(pid).into_iter().map(|c| (c, depth + 1)));
        }
        Tree { procs, extra_pipe }
    }

    fn at(&self, depth: usize) -> Vec<&(i32, usize, Vec<Fd>)> {
        self.procs.iter().filter(|p| p.1 == depth).collect()
    }

    /// No process below the top holds an extra descriptor of the starter's.
    fn no_extra_below_top(&self) -> Result<(), String> {
        match self
            .procs
            .iter()
            .find(|(_, depth, fds)| *depth > 0 && holds_an_extra(fds, &self.extra_pipe))
        {
            Some((pid, _, fds)) => Err(format!("process {pid} inherited an extra: {fds:?}")),
            None => Ok(()),
        }
    }
}

/// Starts `program args` in `dir` (see `start`), waits until `check` holds of its process tree
/// and no process below the top holds an extra of the starter's, then ends the run (every process
/// of it SIGKILLed, then reaped — as on drop, also when a check panics: task-pool workers lead
/// their own groups, and are killed with it).
fn holds(program: &str, args: &[&str], dir: &Path, check: impl Fn(&Tree) -> Result<(), String>) {
    let mut child = start(program, args, dir);
    let name = Path::new(program).file_name().unwrap().to_string_lossy();
    eventually(&name, child.pid(), |tree| {
        check(tree)?;
        tree.no_extra_below_top()
    });
    child.kill_all();
}

/// A pool of `workers` (task_pool's, and parallel's on it): the dispatcher holds its outcome
/// pipe (and its task pipe, until every task is pushed: then the caller closes it and so does
/// the dispatcher) and two pipe ends per worker; each worker its own two pipe ends, and at most
/// the one file it hashes.
fn a_pool_holds_only_its_pipes(tree: &Tree, workers: usize) -> Result<(), String> {
    let dispatchers = tree.at(1);
    let kids = tree.at(2);
    expect(dispatchers.len() == 1 && kids.len() == workers, || {
        "the pool is not up yet".into()
    })?;
    let (_, _, d) = dispatchers[0];
    expect(
        [1 + workers * 2, 2 + workers * 2].contains(&d.len()) && count(d, "pipe:") == d.len(),
        || format!("dispatcher: its outcome (and task) pipe and two per worker: {d:?}"),
    )?;
    for (pid, _, fds) in &kids {
        let hashing = fds.iter().filter(|f| f.target.contains("/tree/")).count();
        expect(
            count(fds, "pipe:") == 2 && fds.len() == 2 + hashing && hashing <= 1,
            || format!("worker {pid}: its own two pipe ends and the file it hashes: {fds:?}"),
        )?;
    }
    Ok(())
}

fn expect(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(why()) }
}

#[test]
fn desafio_each_child_holds_one_pipe_end_and_its_own_logs_and_main_holds_no_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().to_str().unwrap();
    holds(
        common::BIN,
        &[
            "-q",
            "-n",
            "40",
            "--max",
            "1000",
            "--pace",
            "100",
            "--log-dir",
            log_dir,
        ],
        dir.path(),
        |tree| {
            let kids = tree.at(1);
            expect(kids.len() == 2, || {
                "main has not forked both children yet".into()
            })?;
            let (_, _, main) = tree.at(0)[0];
            expect(count(main, "pipe:") == 1, || {
                format!("main holds only the starter's pipe: {main:?}")
            })?;
            // Two descriptors of the execution log: the one main writes with, and the run's claim
            // on its logs (a second run in the directory refuses while it is held); and the claim
            // on the consumer log (a log linked to it elsewhere is refused too).
            expect(
                main.len() == 5
                    && files(main, "execution_log.txt") == 2
                    && files(main, "consumer_log.txt") == 1,
                || {
                    format!(
                        "main: its two claims, its own execution log and the starter's two extras: {main:?}"
                    )
                },
            )?;
            let writer = kids.iter().find(|(_, _, f)| {
                f.iter()
                    .any(|f| f.write_only && f.target.starts_with("pipe:"))
            });
            let reader = kids.iter().find(|(_, _, f)| {
                f.iter()
                    .any(|f| !f.write_only && f.target.starts_with("pipe:"))
            });
            let (Some((_, _, producer)), Some((_, _, consumer))) = (writer, reader) else {
                return Err("no producer/consumer pipe ends yet".into());
            };
            expect(
                producer.len() == 2 && files(producer, "execution_log.txt") == 1,
                || format!("producer: the write end and its own execution log: {producer:?}"),
            )?;
            expect(
                consumer.len() == 4
                    && files(consumer, "execution_log.txt") == 1
                    && files(consumer, "consumer_log.txt") == 2,
                || {
                    format!(
                        "consumer: the read end, its two logs and its claim on its own: {consumer:?}"
                    )
                },
            )?;
            let p = producer.iter().find(|f| f.target.starts_with("pipe:"));
            let c = consumer.iter().find(|f| f.target.starts_with("pipe:"));
            expect(p.map(|f| &f.target) == c.map(|f| &f.target), || {
                "both ends of one pipe".into()
            })?;
            Ok(())
        },
    );
}

#[test]
fn worker_pool_each_role_holds_only_its_queue_ends_and_the_logger_the_log() {
    let dir = tempfile::tempdir().unwrap();
    holds(
        crate::common::WORKER_POOL,
        &[
            "-q",
            "--workers",
            "2",
            "--items",
            "100",
            "--work-ms",
            "5000",
            "--max-gap-ms",
            "1000",
            "--log",
            "log.txt",
        ],
        dir.path(),
        |tree| {
            let roles = tree.at(1);
            let workers = tree.at(2);
            expect(roles.len() == 3 && workers.len() == 2, || {
                "not every process is up yet".into()
            })?;
            let logger = roles.iter().find(|(_, _, f)| files(f, "log.txt") == 1);
            let Some((_, _, logger)) = logger else {
                return Err("no logger with log.txt open".into());
            };
            expect(
                logger.len() == 3
                    && count(logger, "socket:") == 1
                    && files(logger, "log.txt.pid") == 1,
                || {
                    format!(
                        "logger: the log queue's receiving end, log.txt and the run lock log.txt.pid: {logger:?}"
                    )
                },
            )?;
            for (pid, _, fds) in roles.iter().filter(|(_, _, f)| files(f, "log.txt") == 0) {
                expect(fds.len() == 2 && count(fds, "socket:") == 2, || {
                    format!(
                        "generator/spawner {pid}: a work queue end and a log queue end: {fds:?}"
                    )
                })?;
            }
            for (pid, _, fds) in &workers {
                expect(fds.len() == 2 && count(fds, "socket:") == 2, || {
                    format!("worker {pid}: the work queue's receiving end and a log end: {fds:?}")
                })?;
            }
            let (_, _, main) = tree.at(0)[0];
            expect(count(main, "socket:") == 1, || {
                format!("main: one log queue end: {main:?}")
            })?;
            Ok(())
        },
    );
}

#[test]
fn task_pool_dispatcher_and_workers_hold_only_their_pipes() {
    let dir = tempfile::tempdir().unwrap();
    holds(
        crate::common::TASK_POOL,
        &[
            "--workers",
            "3",
            "--task",
            "sleep:4000",
            "--task",
            "sleep:4000",
            "--task",
            "sleep:4000",
            "--timeout",
            "30000",
        ],
        dir.path(),
        |tree| a_pool_holds_only_its_pipes(tree, 3),
    );
}

#[test]
fn joinable_queue_consumer_and_producers_hold_only_their_queue_ends() {
    let dir = tempfile::tempdir().unwrap();
    holds(
        crate::common::JOINABLE_QUEUE,
        &["--producers", "2", "--items", "2000"],
        dir.path(),
        |tree| {
            let kids = tree.at(1);
            expect(kids.len() == 3, || {
                "consumer and two producers not up yet".into()
            })?;
            let consumers: Vec<_> = kids.iter().filter(|(_, _, f)| f.len() == 2).collect();
            let producers: Vec<_> = kids.iter().filter(|(_, _, f)| f.len() == 1).collect();
            expect(consumers.len() == 1 && producers.len() == 2, || {
                format!("one consumer with two queue ends, producers with one: {kids:?}")
            })?;
            expect(
                kids.iter().all(|(_, _, f)| count(f, "socket:") == f.len()),
                || format!("queue ends only: {kids:?}"),
            )?;
            Ok(())
        },
    );
}

#[test]
fn ticket_office_buyers_hold_only_the_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    holds(
        crate::common::TICKET_OFFICE,
        &[
            "--buyers",
            "3",
            "--tickets",
            "3",
            "--delay-ms",
            "3000",
            "--state",
            "state.json",
        ],
        dir.path(),
        |tree| {
            let buyers = tree.at(1);
            expect(buyers.len() == 3, || "three buyers not up yet".into())?;
            for (pid, _, fds) in &buyers {
                expect(fds.len() == 1 && files(fds, "state.json.lock") == 1, || {
                    format!("buyer {pid}: only the lock file (after the start gun): {fds:?}")
                })?;
            }
            Ok(())
        },
    );
}

#[test]
fn parallel_workers_hold_only_their_pipes() {
    let dir = tempfile::tempdir().unwrap();
    // Two sparse 64 GiB files: nothing on disk, and hashing keeps both workers busy.
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    for name in ["a.bin", "b.bin"] {
        fs::File::create(tree.join(name))
            .unwrap()
            .set_len(64 << 30)
            .unwrap();
    }
    holds(
        crate::common::PARALLEL,
        &["hash", "--jobs", "2", "tree"],
        dir.path(),
        |tree| a_pool_holds_only_its_pipes(tree, 2),
    );
}
