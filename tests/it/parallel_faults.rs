//! parallel under faults: Ctrl+C to the process group and SIGTERM to the caller alone wind a
//! run down (summary, exit 130); SIGKILL of a worker, of the dispatcher or of the caller
//! leaves nothing running and no zombie, and what was lost is reported as lost.
//!
//! The test process makes itself a child subreaper (process-wide: every test here tolerates
//! it), so an orphaned dispatcher or worker is re-parented to it, seen, and reaped.

use crate::common;

use common::{Bounded, Started};

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::common::PARALLEL as BIN;
const DEADLINE: Duration = Duration::from_secs(30);

/// A run of `parallel` in a session of its own (ended on drop), its output in files.
struct Run {
    child: Started,
    dir: tempfile::TempDir,
}

impl Run {
    fn start(args: &[&OsStr]) -> Run {
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(fs::File::create(dir.path().join("stderr")).unwrap())
            .start();
        Run { child, dir }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the end (panics after the deadline) and returns (code, stdout, stderr).
    fn finish(&mut self) -> (i32, String, String) {
        let code = common::wait_with_deadline(&mut self.child, DEADLINE);
        let read = |name: &str| {
            String::from_utf8_lossy(&fs::read(self.dir.path().join(name)).unwrap()).into_owned()
        };
        (code, read("stdout"), read("stderr"))
    }
}

/// (pid, parent, state, CPU ticks) of every process, from /proc.
fn processes() -> Vec<(i32, i32, char, u64)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some((
            pid,
            f.get(1)?.parse().ok()?,
            f.first()?.chars().next()?,
            ticks,
        ))
    })
    .collect()
}

fn children_of(pid: i32) -> Vec<(i32, u64)> {
    let mut c: Vec<(i32, u64)> = processes()
        .into_iter()
        .filter(|p| p.1 == pid && p.2 != 'Z')
        .map(|p| (p.0, p.3))
        .collect();
    c.sort();
    c
}

/// Polls until `f` says something (every 10 ms), or panics at the deadline.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        sleep(Duration::from_millis(10));
    }
}

/// The dispatcher and its `workers` workers, once they all exist.
fn pool_of(main: i32, workers: usize) -> (i32, Vec<i32>) {
    wait_for("the pool to be up", || {
        let dispatcher = children_of(main).first()?.0;
        let w = children_of(dispatcher);
        (w.len() == workers).then(|| (dispatcher, w.into_iter().map(|w| w.0).collect()))
    })
}

/// Sparse files that take the (unoptimised) workers tens of seconds each.
fn slow_tree(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        fs::File::create(dir.path().join(name))
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
    }
    dir
}

fn os(args: &[&str]) -> Vec<&'static OsStr> {
    args.iter()
        .map(|a| OsStr::new(Box::leak(a.to_string().into_boxed_str())))
        .collect()
}

fn with_dir<'a>(sub: &'a str, dir: &'a Path, rest: &[&'a str]) -> Vec<&'a OsStr> {
    let mut v = vec![OsStr::new(sub), dir.as_os_str()];
    v.extend(rest.iter().map(|s| OsStr::new(*s)));
    v
}

#[test]
fn ctrl_c_to_the_group_ends_hash_and_scan_with_a_summary_exit_130_and_no_process_left() {
    let tree = slow_tree(&["a.log", "b.log"]);
    for sub in ["hash", "scan-logs"] {
        let mut run = Run::start(&with_dir(sub, tree.path(), &["--jobs", "2"]));
        let (dispatcher, workers) = pool_of(run.pid(), 2);
        killpg(Pid::from_raw(run.pid()), Signal::SIGINT).unwrap();
        let (code, out, err) = run.finish();
        assert_eq!(code, 130, "{sub}: {out}{err}");
        assert!(err.contains("interrupted by SIGINT"), "{sub}: {err}");
        if sub == "hash" {
            assert!(err.contains("hashed 0 files"), "{err}");
        } else {
            assert!(out.contains("total over 0 files"), "{out}");
        }
        common::wait_gone(&[&[dispatcher][..], &workers].concat(), DEADLINE);
    }
}

#[test]
fn sigterm_to_the_caller_alone_winds_the_run_down_the_same_way() {
    let tree = slow_tree(&["a.bin", "b.bin"]);
    let mut run = Run::start(&with_dir("hash", tree.path(), &["--jobs", "2"]));
    let (dispatcher, workers) = pool_of(run.pid(), 2);
    kill(Pid::from_raw(run.pid()), Signal::SIGTERM).unwrap();
    let (code, _, err) = run.finish();
    assert_eq!(code, 130, "{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    common::wait_gone(&[&[dispatcher][..], &workers].concat(), DEADLINE);
}

#[test]
fn ctrl_c_ends_cpu_monitor_and_shared_with_exit_130() {
    let cases: [(&[&str], usize); 3] = [
        (
            &["cpu", "--tasks", "30,30", "--chunk", "30", "--jobs", "2"],
            2,
        ),
        (
            &["monitor", "--tasks", "400", "--chunk", "200", "--jobs", "2"],
            2,
        ),
        (&["shared", "--workers", "2", "--updates", "500000"], 0),
    ];
    for (args, workers) in cases {
        let mut run = Run::start(&os(args));
        let pids: Vec<i32> = if workers > 0 {
            // Wait for the pool (cpu: after its sequential run) and for a busy worker.
            let (dispatcher, w) = pool_of(run.pid(), workers);
            wait_for("a busy worker", || {
                children_of(dispatcher)
                    .iter()
                    .any(|c| c.1 > 0)
                    .then_some(())
            });
            [&[dispatcher][..], &w].concat()
        } else {
            wait_for("the shared-state workers", || {
                let c = children_of(run.pid());
                (c.len() == 2).then(|| c.into_iter().map(|c| c.0).collect())
            })
        };
        killpg(Pid::from_raw(run.pid()), Signal::SIGINT).unwrap();
        let (code, out, err) = run.finish();
        assert_eq!(code, 130, "{args:?}: {out}{err}");
        assert!(out.contains("interrupted by SIGINT"), "{args:?}: {out}");
        common::wait_gone(&pids, DEADLINE);
    }
}

#[test]
fn a_worker_killed_mid_file_loses_that_file_only_and_says_so() {
    let tree = slow_tree(&["big.bin"]);
    for i in 0..20 {
        fs::write(tree.path().join(format!("small{i:02}.txt")), [i]).unwrap();
    }
    let mut run = Run::start(&with_dir("hash", tree.path(), &["--jobs", "2"]));
    let (dispatcher, workers) = pool_of(run.pid(), 2);
    let busy = wait_for("a worker hashing big.bin", || {
        workers.iter().copied().find(|w| {
            fs::read_dir(format!("/proc/{w}/fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t.ends_with("big.bin")))
            })
        })
    });
    kill(Pid::from_raw(busy), Signal::SIGKILL).unwrap();
    let (code, out, err) = run.finish();
    assert_eq!(code, 1, "{err}");
    assert_eq!(out.lines().count(), 20, "every small file is hashed: {out}");
    assert!(!out.contains("big.bin"));
    let expected = format!("big.bin: not hashed: its worker (pid {busy}) was killed by SIGKILL");
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("1 lost with their worker"), "{err}");
    common::wait_gone(&[&[dispatcher][..], &workers].concat(), DEADLINE);
}

#[test]
fn a_worker_killed_mid_piece_is_reported_lost_not_as_different_results() {
    let mut run = Run::start(&os(&[
        "cpu", "--tasks", "30,30", "--chunk", "30", "--jobs", "2",
    ]));
    let (dispatcher, workers) = pool_of(run.pid(), 2);
    let busy = wait_for("a busy worker", || {
        children_of(dispatcher)
            .iter()
            .find(|c| c.1 > 0)
            .map(|c| c.0)
    });
    kill(Pid::from_raw(busy), Signal::SIGKILL).unwrap();
    let (code, out, err) = run.finish();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        !out.contains("NO"),
        "a lost piece is not a difference: {out}"
    );
    assert!(out.contains("1 task(s) incomplete"), "{out}");
    assert!(out.contains("speed-up not measured"), "{out}");
    assert!(
        err.contains(&format!(
            "was lost: its worker (pid {busy}) was killed by SIGKILL"
        )),
        "{err}"
    );
    common::wait_gone(&[&[dispatcher][..], &workers].concat(), DEADLINE);
}

#[test]
fn killing_or_stopping_the_dispatcher_fails_the_run_with_one_error_and_no_worker_left() {
    let tree = slow_tree(&["a.bin", "b.bin"]);
    for signal in [Signal::SIGKILL, Signal::SIGTERM] {
        let mut run = Run::start(&with_dir("hash", tree.path(), &["--jobs", "2"]));
        let (dispatcher, workers) = pool_of(run.pid(), 2);
        kill(Pid::from_raw(dispatcher), signal).unwrap();
        let (code, _, err) = run.finish();
        assert_eq!(code, 1, "{signal}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{signal}: {err}");
        assert!(errors[0].contains("dispatcher"), "{signal}: {err}");
        assert!(
            err.contains("hashed 0 files"),
            "what was done is still said: {err}"
        );
        common::wait_gone(&[&[dispatcher][..], &workers].concat(), DEADLINE);
    }
}

#[test]
fn killing_the_caller_leaves_no_dispatcher_and_no_worker() {
    let tree = slow_tree(&["a.bin", "b.bin"]);
    let mut run = Run::start(&with_dir("hash", tree.path(), &["--jobs", "2"]));
    let (dispatcher, workers) = pool_of(run.pid(), 2);
    kill(Pid::from_raw(run.pid()), Signal::SIGKILL).unwrap();
    let (code, _, _) = run.finish();
    assert_eq!(code, -1, "killed");
    common::wait_gone(&[&[dispatcher][..], &workers].concat(), DEADLINE);
}

#[test]
fn a_shared_state_worker_killed_while_it_may_hold_the_lock_stops_the_others() {
    let mut run = Run::start(&os(&["shared", "--workers", "3", "--updates", "300000"]));
    let workers: Vec<i32> = wait_for("three busy workers", || {
        let c = children_of(run.pid());
        (c.len() == 3 && c.iter().all(|c| c.1 > 0)).then(|| c.into_iter().map(|c| c.0).collect())
    });
    kill(Pid::from_raw(workers[0]), Signal::SIGKILL).unwrap();
    let (code, out, err) = run.finish();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("worker pid {} killed by SIGKILL", workers[0])),
        "{err}"
    );
    common::wait_gone(&workers, DEADLINE);
}

/// Found by the chaos campaign (tests/common/chaos_parallel.rs): a Ctrl+C in the first
/// milliseconds, before the handlers were installed, killed `parallel` with no word. The
/// handlers now come first: a signal while the program starts ends it as a later one would —
/// summary, exit 130. (The test hook holds the program at that instant.)
#[test]
fn a_signal_while_parallel_starts_ends_it_with_its_summary() {
    let tree = slow_tree(&["a.log"]);
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(with_dir("hash", tree.path(), &["--jobs", "2"]))
        .env(ipc_desafio::parallel::PAUSE_AT_START, "30000")
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.path().join("stdout")).unwrap())
        .stderr(Stdio::piped())
        .start();
    // The reads below wait on the program: past the deadline, Started's watchdog kills it
    // and they end.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert_eq!(line, "parallel: test hook: paused\n");
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let code = common::wait_with_deadline(&mut child, DEADLINE);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(code, 130, "{rest}");
    assert!(rest.contains("interrupted by SIGINT"), "{rest}");
    assert!(fs::read(dir.path().join("stdout")).unwrap().is_empty());
}

/// Found by the chaos campaign: after a Ctrl+C, parallel drops its pool, whose handle sends the
/// dispatcher SIGTERM and waits for it — for ever, if someone had SIGSTOPped it. The handle
/// now sends SIGCONT after the SIGTERM, so a stopped dispatcher wakes and winds down.
#[test]
fn a_stopped_dispatcher_does_not_keep_an_interrupted_run_from_ending() {
    let tree = slow_tree(&["a.bin", "b.bin"]);
    let mut run = Run::start(&with_dir("hash", tree.path(), &["--jobs", "2"]));
    let (dispatcher, workers) = pool_of(run.pid(), 2);
    kill(Pid::from_raw(dispatcher), Signal::SIGSTOP).unwrap();
    wait_for("the dispatcher stopped", || {
        (common::state(dispatcher) == Some('T')).then_some(())
    });
    killpg(Pid::from_raw(run.pid()), Signal::SIGINT).unwrap();
    let (code, _, err) = run.finish();
    assert_eq!(code, 130, "{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    common::wait_gone(&[&[dispatcher][..], &workers].concat(), DEADLINE);
}
