//! The task pool's library API, driven directly — no binary in between.
//!
//! `harness = false`: libtest runs tests on threads, and `Pool::start` forks, which is refused
//! while another thread is alive (see `ipc_sys::fork`). This target's `main` hands its checks
//! to libtest-mimic, which reads libtest's command line (a filter, `--skip`, `--list`,
//! `--exact`, `--test-threads`…, anything else refused with exit 2) and is told to run them on
//! the main thread, one at a time; a scenario that must watch its own output re-runs this
//! executable with `POOL_API_SCENARIO` set.

#[path = "common/deadline.rs"]
mod deadline;

use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use deadline::Bounded;
use ipc_desafio::task_pool::{Error, Job, MAX_OUTPUT, Outcome, Pool, PoolConfig, Task};
use ipc_sys::ExitStatus;

/// The test job's calls: `Square(N)` → N², `Draw` → a random number, `Big(N)` → N bytes of
/// output, `Mark(DIR, MS)` → writes this worker's pid to DIR/<pid> and sleeps MS, `Garbage` →
/// writes a bogus frame straight onto the result pipe.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum Call {
    Square(u64),
    Draw,
    Big(usize),
    Mark(String, u64),
    Garbage,
}

struct Calls;

impl Job for Calls {
    type In = Call;
    type Out = String;

    fn name(&self, call: &Call) -> &'static str {
        match call {
            Call::Square(_) => "square",
            Call::Draw => "draw",
            Call::Big(_) => "big",
            Call::Mark(..) => "mark",
            Call::Garbage => "garbage",
        }
    }

    fn run(&self, call: Call) -> Result<String, String> {
        match call {
            Call::Square(n) => Ok((n * n).to_string()),
            Call::Draw => {
                use rand::Rng;
                let n = rand::rng().next_u64();
                // Long enough that the other worker takes the other task.
                std::thread::sleep(Duration::from_millis(300));
                Ok(n.to_string())
            }
            Call::Big(n) => Ok("x".repeat(n)),
            Call::Mark(dir, ms) => {
                let pid = std::process::id();
                // Written under another name and renamed: the marker appears only once the
                // file is closed, so a test that reads this worker's descriptors never sees it
                // open.
                let tmp = Path::new(&dir).join(format!(".{pid}.tmp"));
                fs::write(&tmp, b"").map_err(|e| e.to_string())?;
                fs::rename(&tmp, Path::new(&dir).join(pid.to_string()))
                    .map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(ms));
                Ok(pid.to_string())
            }
            Call::Garbage => {
                // A worker keeps exactly two descriptors, moved to 3 (tasks) and 4 (results) by
                // the fork primitive. A length prefix far over the frame limit, then silence.
                let bogus = u32::MAX.to_le_bytes();
                // SAFETY: writes 4 bytes from a live buffer to descriptor 4, which this worker
                // owns.
                unsafe { libc::write(4, bogus.as_ptr().cast(), bogus.len()) };
                std::thread::sleep(Duration::from_secs(30));
                Ok("unreachable".into())
            }
        }
    }
}

fn task(call: Call) -> Task<Call> {
    Task::new(Duration::from_secs(60), call)
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until `dir` holds `n` marker files; returns the pids they name.
fn wait_for_markers(dir: &Path, n: usize) -> Vec<i32> {
    let start = Instant::now();
    loop {
        let pids: Vec<i32> = fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        if pids.len() >= n {
            return pids;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "workers never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Link targets of every descriptor of `pid` above stderr.
fn descriptors(pid: i32) -> Vec<String> {
    let mut fds: Vec<(u32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let fd: u32 = e.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(e.path()).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .filter(|(fd, _)| *fd > 2)
        .collect();
    fds.sort();
    fds.into_iter().map(|(_, t)| t).collect()
}

fn a_pool_runs_jobs_and_returns_one_report_per_task() {
    let mut pool = Pool::start(PoolConfig::new(3), Calls).unwrap();
    for n in 0..50u64 {
        pool.push(task(Call::Square(n))).unwrap();
    }
    let stopped = pool.stop().unwrap();
    assert_eq!(stopped.reports.len(), 50);
    for (n, r) in stopped.reports.iter().enumerate() {
        assert_eq!(r.id, n as u64 + 1);
        assert_eq!(r.outcome, Outcome::Ok((n * n).to_string()));
    }
    assert_eq!(stopped.workers.len(), 3, "one usage line per worker");
    assert_eq!(stopped.workers.iter().map(|w| w.tasks).sum::<u64>(), 50);
}

fn forked_workers_draw_their_own_random_numbers() {
    use rand::Rng;
    // The thread-local generator is in use before the fork: without a reseed in each child,
    // both workers would continue the very same stream.
    let mine = rand::rng().next_u64();
    let mut pool = Pool::start(PoolConfig::new(2), Calls).unwrap();
    pool.push(task(Call::Draw)).unwrap();
    pool.push(task(Call::Draw)).unwrap();
    let stopped = pool.stop().unwrap();
    let draws: Vec<&Outcome> = stopped.reports.iter().map(|r| &r.outcome).collect();
    let workers: std::collections::HashSet<i32> =
        stopped.reports.iter().map(|r| r.worker).collect();
    assert_eq!(workers.len(), 2, "one task per worker");
    assert_ne!(draws[0], draws[1], "two workers drew the same number");
    assert!(!draws.contains(&&Outcome::Ok(mine.to_string())));
}

fn a_result_over_the_frame_limit_fails_at_once_saying_so() {
    let mut pool = Pool::start(PoolConfig::new(1), Calls).unwrap();
    let too_big = MAX_OUTPUT + 1;
    pool.push(task(Call::Big(too_big))).unwrap();
    pool.push(task(Call::Big(5))).unwrap();
    let reports = pool.stop().unwrap().reports;
    // The output's size as it would travel: the string, after its length (a 4-byte varint).
    assert_eq!(
        reports[0].outcome,
        Outcome::Failed(format!("output too large: {} bytes", too_big + 4))
    );
    assert_eq!(reports[1].outcome, Outcome::Ok("xxxxx".into()));
}

fn a_worker_that_writes_a_malformed_frame_is_killed_and_its_task_crashed() {
    let mut pool = Pool::start(PoolConfig::new(1), Calls).unwrap();
    pool.push(task(Call::Garbage)).unwrap();
    pool.push(task(Call::Square(7))).unwrap();
    let reports = pool.stop().unwrap().reports;
    assert_eq!(
        reports[0].outcome,
        Outcome::Crashed(ExitStatus::Signaled(libc::SIGKILL)),
        "a malformed frame means the worker is broken"
    );
    assert_eq!(
        reports[1].outcome,
        Outcome::Ok("49".into()),
        "a fresh worker takes over"
    );
}

fn pool_start_is_refused_while_another_thread_runs() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || rx.recv());
    let refused = Pool::start(PoolConfig::new(1), Calls);
    assert!(
        matches!(
            refused,
            Err(Error::Sys(ipc_sys::Error::ThreadsAlive { .. }))
        ),
        "{:?}",
        refused.err()
    );
    drop(tx);
    let _ = other.join();
    let pool = Pool::start(PoolConfig::new(1), Calls).expect("single-threaded again");
    assert!(pool.stop().unwrap().reports.is_empty());
}

/// A descriptor without close-on-exec, as a caller might have inherited or opened one.
fn inheritable(path: &Path) -> (fs::File, i32) {
    let file = fs::File::create(path).unwrap();
    // SAFETY: dup returns a new descriptor (without FD_CLOEXEC) that nothing else owns; it is
    // closed again at the end of the check.
    let fd = unsafe { libc::dup(file.as_raw_fd()) };
    assert!(fd > 2);
    (file, fd)
}

fn the_dispatcher_and_workers_hold_only_their_pipes_whatever_the_caller_has_open() {
    let dir = tempfile::tempdir().unwrap();
    let markers = dir.path().join("markers");
    fs::create_dir(&markers).unwrap();
    let extra = dir.path().join("caller-only");
    let (_file, raw) = inheritable(&extra);
    let pipe = ipc_sys::pipe::Pipe::new().unwrap();

    let mut pool = Pool::start(PoolConfig::new(2), Calls).unwrap();
    let m = markers.to_str().unwrap();
    pool.push(task(Call::Mark(m.into(), 3000))).unwrap();
    pool.push(task(Call::Mark(m.into(), 3000))).unwrap();
    let workers = wait_for_markers(&markers, 2);
    let dispatcher = pool.dispatcher_pid().as_raw();

    let held = descriptors(dispatcher);
    assert_eq!(
        held.len(),
        2 + 2 * 2,
        "dispatcher: its task and outcome pipes, and two pipes per worker: {held:?}"
    );
    assert!(held.iter().all(|t| t.starts_with("pipe:")), "{held:?}");
    for w in &workers {
        let held = descriptors(*w);
        assert_eq!(held.len(), 2, "worker {w}: its own two pipe ends: {held:?}");
        assert!(held.iter().all(|t| t.starts_with("pipe:")), "{held:?}");
    }
    let caller_pipe = format!(
        "pipe:[{}]",
        fs::metadata(format!("/proc/self/fd/{}", pipe.read.as_raw_fd()))
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap()
    );
    for pid in std::iter::once(dispatcher).chain(workers.iter().copied()) {
        let held = descriptors(pid);
        assert!(
            !held
                .iter()
                .any(|t| t == &caller_pipe || t.ends_with("caller-only")),
            "process {pid} holds a descriptor of the caller's: {held:?}"
        );
    }
    drop(pool);
    // SAFETY: `raw` came from dup above and is closed exactly once.
    unsafe { libc::close(raw) };
}

/// Run in a child process of this executable, whose output the parent checks.
fn scenario_drop_without_stop() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().to_str().unwrap();
    let mut pool = Pool::start(PoolConfig::new(2), Calls).unwrap();
    for _ in 0..10 {
        pool.push(task(Call::Mark(m.into(), 20000))).unwrap();
    }
    let workers = wait_for_markers(dir.path(), 2);
    let dispatcher = pool.dispatcher_pid();
    drop(pool);
    assert!(!alive(dispatcher.as_raw()), "the dispatcher was reaped");
    for w in workers {
        let start = Instant::now();
        while alive(w) {
            assert!(
                start.elapsed() < deadline::default_deadline(),
                "worker {w} lives on"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(
        nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)),
        Err(nix::errno::Errno::ECHILD),
        "no child left at all"
    );
}

fn dropping_a_pool_without_stop_leaves_no_process_and_prints_nothing() {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("POOL_API_SCENARIO", "drop")
        .run();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!((stdout.as_ref(), stderr.as_ref()), ("", ""), "stray output");
}

fn main() -> std::process::ExitCode {
    if std::env::var("POOL_API_SCENARIO").as_deref() == Ok("drop") {
        scenario_drop_without_stop();
        return std::process::ExitCode::SUCCESS;
    }
    let checks: [(&str, fn()); 7] = [
        (
            "forked_workers_draw_their_own_random_numbers",
            forked_workers_draw_their_own_random_numbers,
        ),
        (
            "a_pool_runs_jobs_and_returns_one_report_per_task",
            a_pool_runs_jobs_and_returns_one_report_per_task,
        ),
        (
            "a_result_over_the_frame_limit_fails_at_once_saying_so",
            a_result_over_the_frame_limit_fails_at_once_saying_so,
        ),
        (
            "a_worker_that_writes_a_malformed_frame_is_killed_and_its_task_crashed",
            a_worker_that_writes_a_malformed_frame_is_killed_and_its_task_crashed,
        ),
        (
            "pool_start_is_refused_while_another_thread_runs",
            pool_start_is_refused_while_another_thread_runs,
        ),
        (
            "the_dispatcher_and_workers_hold_only_their_pipes_whatever_the_caller_has_open",
            the_dispatcher_and_workers_hold_only_their_pipes_whatever_the_caller_has_open,
        ),
        (
            "dropping_a_pool_without_stop_leaves_no_process_and_prints_nothing",
            dropping_a_pool_without_stop_leaves_no_process_and_prints_nothing,
        ),
    ];
    // libtest's command line, parsed by libtest-mimic: a filter, --exact, --skip, --list,
    // --ignored, --nocapture, --test-threads N (or =N)…; anything else is refused (exit 2).
    let mut args = libtest_mimic::Arguments::from_args();
    // Pool::start forks, which is refused while another thread is alive: every check runs on
    // this, the main thread, one after the other, whatever --test-threads asks.
    args.test_threads = Some(1);
    let trials = checks
        .into_iter()
        .map(|(name, check)| {
            libtest_mimic::Trial::test(name, move || {
                check();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
