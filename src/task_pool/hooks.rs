//! Hidden hooks that make rare timings happen on demand, for the tests (as `desafio::log::hooks`
//! does for `ipc_desafio`): a pause, a signal or a kill at the exact moment a race needs. Read
//! from the environment once per process; absent, they cost one load of a `OnceLock`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;

/// `TASK_POOL_TEST_PAUSE_AT_START_MS=<ms>`: the caller, once its command line is parsed and
/// before it opens anything, says `task_pool: test hook: paused` on stderr and sleeps that long
/// (a signal ends the sleep) — the instant of a signal that lands while the program starts.
pub const PAUSE_AT_START: &str = "TASK_POOL_TEST_PAUSE_AT_START_MS";
/// `TASK_POOL_TEST_INTERRUPT_BEFORE_PUSH=<n>`: the caller sends itself SIGTERM just before its
/// n-th push of a task to the pool (retries count) — an interrupt that lands on a push.
const INTERRUPT_BEFORE_PUSH: &str = "TASK_POOL_TEST_INTERRUPT_BEFORE_PUSH";
/// `TASK_POOL_TEST_PAUSE_AFTER_PUSH_MS=<ms>`: the caller pauses that long after each write of
/// tasks to the pool, before it takes in the outcomes waiting — time for a job to end and its
/// report to be read by the push itself.
const PAUSE_AFTER_PUSH: &str = "TASK_POOL_TEST_PAUSE_AFTER_PUSH_MS";
/// `TASK_POOL_TEST_DISPATCHER_SIGNAL=<SIGNAME>@<n>`: the dispatcher sends itself that signal
/// right after it has settled its n-th task.
const DISPATCHER_SIGNAL: &str = "TASK_POOL_TEST_DISPATCHER_SIGNAL";
/// `TASK_POOL_TEST_DISPATCHER_WINDING_PAUSE_MS=<ms>`: the dispatcher, winding down, pauses
/// that long after it has settled the tasks it had queued and before it stops reading the task
/// pipe (time for the caller to write more tasks into it).
const DISPATCHER_WINDING_PAUSE: &str = "TASK_POOL_TEST_DISPATCHER_WINDING_PAUSE_MS";
/// `TASK_POOL_TEST_WORKER_LINGER_MS=<ms>`: a command worker told to stop waits that long after
/// its last report before it leaves (time for the dispatcher to hand it another task).
const WORKER_LINGER: &str = "TASK_POOL_TEST_WORKER_LINGER_MS";
/// `TASK_POOL_TEST_WORKER_STOP_DELAY_MS=<ms>`: a command worker told to stop while its command
/// runs waits that long before it acts on it (time for the command to end by itself).
const WORKER_STOP_DELAY: &str = "TASK_POOL_TEST_WORKER_STOP_DELAY_MS";
/// `TASK_POOL_TEST_WORKER_KILL_AFTER_SPAWN=<file>`: the first command worker of the run to
/// start a command (the one that creates `<file>`) SIGKILLs itself right after the spawn,
/// before it tells anyone the command's process group. Once per run: its replacement runs on.
const WORKER_KILL_AFTER_SPAWN: &str = "TASK_POOL_TEST_WORKER_KILL_AFTER_SPAWN";
/// `TASK_POOL_TEST_WORKER_SIGTERM_ON_TASK=<file>`: the first command worker of the run to read
/// a task (the one that creates `<file>`) sends itself SIGTERM right after, before it starts
/// the command. Once per run.
const WORKER_SIGTERM_ON_TASK: &str = "TASK_POOL_TEST_WORKER_SIGTERM_ON_TASK";

fn number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

macro_rules! cached {
    ($name:ident, $ty:ty, $init:expr) => {
        fn $name() -> $ty {
            static CELL: OnceLock<$ty> = OnceLock::new();
            *CELL.get_or_init(|| $init)
        }
    };
}

cached!(pause_at_start_ms, Option<u64>, number(PAUSE_AT_START));
cached!(
    interrupt_before_push,
    Option<u64>,
    number(INTERRUPT_BEFORE_PUSH)
);
cached!(worker_linger_ms, Option<u64>, number(WORKER_LINGER));
cached!(pause_after_push_ms, Option<u64>, number(PAUSE_AFTER_PUSH));
cached!(
    dispatcher_winding_pause_ms,
    Option<u64>,
    number(DISPATCHER_WINDING_PAUSE)
);
cached!(worker_stop_delay_ms, Option<u64>, number(WORKER_STOP_DELAY));
/// Whether this process is the first of the run to reach the hook named `name` (whose value is
/// a path): the one that creates the file.
fn first_in_run(name: &'static str, cell: &OnceLock<Option<std::ffi::OsString>>) -> bool {
    let Some(path) = cell.get_or_init(|| std::env::var_os(name)) else {
        return false;
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .is_ok()
}
cached!(dispatcher_signal, Option<(Signal, u64)>, {
    std::env::var(DISPATCHER_SIGNAL).ok().and_then(|spec| {
        let (name, n) = spec.split_once('@')?;
        let signal = name.parse::<Signal>().ok()?;
        Some((signal, n.parse().ok()?))
    })
});

/// Counts events of one kind in this process and says whether this one is the n-th.
fn nth(counter: &AtomicU64, n: Option<u64>) -> bool {
    let Some(n) = n else {
        return false;
    };
    counter.fetch_add(1, Ordering::SeqCst) + 1 == n
}

fn signal_self(signal: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::getpid(), signal);
}

/// See `PAUSE_AT_START`.
pub fn pause_at_start() {
    if let Some(ms) = pause_at_start_ms() {
        let _ =
            std::io::Write::write_all(&mut std::io::stderr(), b"task_pool: test hook: paused\n");
        ipc_sys::signal::sleep_unless_interrupted(Duration::from_millis(ms));
    }
}

/// See `INTERRUPT_BEFORE_PUSH`.
pub fn before_push() {
    static PUSHES: AtomicU64 = AtomicU64::new(0);
    if nth(&PUSHES, interrupt_before_push()) {
        signal_self(Signal::SIGTERM);
    }
}

/// See `PAUSE_AFTER_PUSH`.
pub fn after_push() {
    if let Some(ms) = pause_after_push_ms() {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// See `DISPATCHER_SIGNAL`.
pub fn dispatcher_settled() {
    static SETTLED: AtomicU64 = AtomicU64::new(0);
    if let Some((signal, n)) = dispatcher_signal()
        && nth(&SETTLED, Some(n))
    {
        signal_self(signal);
    }
}

/// See `DISPATCHER_WINDING_PAUSE`.
pub fn dispatcher_winding() {
    if let Some(ms) = dispatcher_winding_pause_ms() {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// See `WORKER_LINGER`.
pub fn worker_leaving() {
    if let Some(ms) = worker_linger_ms() {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// See `WORKER_STOP_DELAY`.
pub fn worker_told_to_stop() {
    if let Some(ms) = worker_stop_delay_ms() {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// See `WORKER_KILL_AFTER_SPAWN`.
pub fn worker_spawned() {
    static PATH: OnceLock<Option<std::ffi::OsString>> = OnceLock::new();
    if first_in_run(WORKER_KILL_AFTER_SPAWN, &PATH) {
        ipc_sys::signal::kill_self();
    }
}

/// See `WORKER_SIGTERM_ON_TASK`.
pub fn worker_got_task() {
    static PATH: OnceLock<Option<std::ffi::OsString>> = OnceLock::new();
    if first_in_run(WORKER_SIGTERM_ON_TASK, &PATH) {
        signal_self(Signal::SIGTERM);
    }
}
