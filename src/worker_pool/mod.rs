//! `worker_pool`: the second classic system. A generator process feeds a work queue; a spawner
//! process keeps at most K worker processes alive, guarded by a process-shared semaphore of K
//! permits; workers take items, process them and may fail; every process reports to one logger
//! process, the only writer of the log file, which accounts for every item at the end.
//!
//! Process tree: main → logger, generator, spawner → workers. Kernel objects: two
//! `SOCK_SEQPACKET` queues (work, log; see `queue`), one semaphore in shared memory.

pub mod error;
pub mod event;
mod generator;
mod logger;
mod spawner;
mod worker;

use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED, parse_between, parse_unsigned};
use ipc_sys::file::{Devices, writable};
use ipc_sys::linelog::LineLog;
use ipc_sys::queue::{self, QueueEnd};
use ipc_sys::runlock::{Acquired, RunLock};
use ipc_sys::semaphore::Semaphore;
use ipc_sys::{Children, Event as ChildEvent, ExitStatus, Fork};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

pub use error::{Error, Result};
use event::{Event, ITEM_LEN, MAX_RECORD, Params, PoolRole, Reporter};

/// Most workers accepted: a demonstration pool, not a fork bomb.
const MAX_WORKERS: u64 = 64;
/// Values are 0..=100, so a threshold of 101 already fails every item; a larger one would only
/// print a number in the log that means nothing more.
const MAX_FAIL_BELOW: u64 = 101;

const EXAMPLES: &str = "\
Examples:
  worker_pool                                   the classic: 3 workers, 1 s per item, until Ctrl+C
  worker_pool --items 20 --work-ms 100 --max-gap-ms 50
  worker_pool --workers 5 --fail-below 30 --items 50 --log /tmp/pool.txt

Exit codes: 0 every role ended cleanly, 1 a role failed, 2 bad input, 130 interrupted.";

#[derive(Debug, Parser)]
#[command(
    name = "worker_pool",
    version,
    about = "A generator, a semaphore-bounded worker spawner and a logger process: nothing lost",
    after_help = EXAMPLES
)]
pub struct PoolCli {
    /// Stop after generating N items, N ≥ 1 (default: run until Ctrl+C, as the original)
    #[arg(long, value_name = "N", value_parser = items_parser, allow_negative_numbers = true)]
    pub items: Option<u64>,

    /// Permits of the semaphore: at most K workers alive at any instant (1..=64)
    #[arg(long, value_name = "K", default_value = "3", value_parser = |s: &str| parse_between(s, "the worker count", 1, MAX_WORKERS).map(|n| n as u32), allow_negative_numbers = true)]
    pub workers: u32,

    /// Milliseconds a worker spends on each item
    #[arg(long, value_name = "MS", default_value = "1000", value_parser = ms_parser, allow_negative_numbers = true)]
    pub work_ms: u64,

    /// Longest random pause between two generated items, in milliseconds
    #[arg(long, value_name = "MS", default_value = "2000", value_parser = ms_parser, allow_negative_numbers = true)]
    pub max_gap_ms: u64,

    /// Items with a value below this fail (values are 0..=100: 0 fails none, 101 fails all)
    #[arg(long, value_name = "V", default_value = "10", value_parser = |s: &str| parse_between(s, "the threshold", 0, MAX_FAIL_BELOW), allow_negative_numbers = true)]
    pub fail_below: u64,

    /// On Ctrl+C, how long running workers may take to finish their item before SIGKILL
    #[arg(long, value_name = "MS", default_value = "3000", value_parser = ms_parser, allow_negative_numbers = true)]
    pub grace_ms: u64,

    /// Seed for values and pauses (default: random, logged)
    #[arg(long, value_name = "S", value_parser = |s: &str| parse_unsigned(s, "the seed"), allow_negative_numbers = true)]
    pub seed: Option<u64>,

    /// The log file, written only by the logger process (created or emptied)
    #[arg(long, value_name = "FILE", default_value = "log.txt")]
    pub log: PathBuf,

    /// Do not echo log lines to stdout
    #[arg(short, long)]
    pub quiet: bool,
}

fn items_parser(s: &str) -> Result<u64, String> {
    match parse_unsigned(s, "the item count")? {
        0 => {
            Err("the item count must be at least 1 (leave --items out to run until Ctrl+C)".into())
        }
        n => Ok(n),
    }
}

fn ms_parser(s: &str) -> Result<u64, String> {
    match parse_unsigned(s, "milliseconds")? {
        n if n > 3_600_000 => Err(format!("{n} ms is longer than an hour")),
        n => Ok(n),
    }
}

/// Validated options of one pool run: the parameters every role reads (and main announces),
/// and where the logger writes.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub params: Params,
    pub log: PathBuf,
    pub quiet: bool,
}

impl PoolCli {
    pub fn into_options(self) -> PoolOptions {
        PoolOptions {
            params: Params {
                workers: self.workers,
                items: self.items,
                work_ms: self.work_ms,
                max_gap_ms: self.max_gap_ms,
                fail_below: i64::try_from(self.fail_below).unwrap_or(i64::MAX),
                grace_ms: self.grace_ms,
                seed: self.seed.unwrap_or_else(rand::random::<u64>),
            },
            log: self.log,
            quiet: self.quiet,
        }
    }
}

/// Once main has asked the roles to stop, how long past `--grace-ms` it waits for the
/// generator and the spawner to end, and then as long again for the logger, before it SIGKILLs
/// what is left: a process that is stopped (SIGSTOP) or stuck cannot hold a run that was told
/// to stop. The spawner's own grace period ends first, so a run that nobody holds up never
/// gets there.
const STOP_SLACK: Duration = Duration::from_secs(1);

/// Exit code of a worker whose item failed: the spawner replaces it.
pub const EXIT_ITEM_FAILED: i32 = 3;
/// Exit code of a role that stopped because the logger is gone: it can log nothing more, and
/// says nothing on stderr — main, the logger's parent, reports the logger's end once.
pub const EXIT_LOG_GONE: i32 = 4;
/// Exit code of a role that stopped on SIGINT/SIGTERM before its work was done (for the
/// generator, also: nobody takes work any more).
pub const EXIT_STOPPED: i32 = 5;

/// `--log`: a regular file or a path that does not exist yet, never a directory, a device or a
/// FIFO (opening a FIFO would block until some reader came; writing through /dev/null or
/// /dev/full would lose the log). A trailing slash names a directory, whatever exists there.
fn check_log_path(path: &Path) -> Result<()> {
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return Err(log_error(
            path,
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => {
                    std::io::Error::new(ErrorKind::IsADirectory, "is a directory")
                }
                _ => std::io::Error::new(
                    ErrorKind::InvalidInput,
                    "ends with '/', which names a directory, not a file",
                ),
            },
        ));
    }
    writable(path, Devices::Refused).map_err(|e| log_error(path, e))?;
    writable(&pid_path(path), Devices::Refused).map_err(|e| {
        log_error(
            path,
            std::io::Error::new(e.kind(), format!("its pid file: {e}")),
        )
    })
}

/// `--log PATH: reason`.
fn log_error(path: &Path, source: std::io::Error) -> Error {
    Error::Path {
        flag: "--log",
        path: path.into(),
        source,
    }
}

/// The run lock's pid file: `FILE.pid` beside the log (see `ipc_sys::runlock`).
fn pid_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".pid");
    PathBuf::from(name)
}

/// `exited with code 1`, `was killed by SIGKILL`: how a role ended, for main's error line.
fn ended(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited(EXIT_STOPPED) => {
            format!("stopped early on a SIGINT/SIGTERM sent to it alone (exit code {EXIT_STOPPED})")
        }
        _ => status.after_subject(),
    }
}

/// Runs a pool and returns main's exit code.
///
/// Main watches its three children — logger, generator, spawner — until the generator and the
/// spawner have ended, then closes its end of the log queue and waits for the logger to write
/// the accounting. What it does when one of them ends first:
/// - the logger: nothing more can be logged, so main stops the other two (SIGTERM) and, if the
///   logger was killed, says so in one `error:` line (a logger that failed said why itself);
/// - the spawner: its workers die with it (their death signal); main stops the generator,
///   whose items nobody would take;
/// - the generator: the workers finish what is queued, then the pool ends.
///
/// A role that ends before its work is done, without main having asked, makes the run fail:
/// exit code 1 and one `error:` line naming it.
pub fn run(opts: &PoolOptions) -> Result<u8> {
    check_log_path(&opts.log)?;
    // One log, one run: a second run on the log a live run writes would empty it under that
    // run's logger. Refused before the log is touched, naming the live run. The lock sits
    // beside the file the log's symbolic links lead to, so that a run given a link to a live
    // run's log finds that run's lock.
    let resolved =
        ipc_sys::runlock::resolve_links(&opts.log).map_err(|e| log_error(&opts.log, e))?;
    if resolved != opts.log {
        check_log_path(&resolved)?;
    }
    let pid_file = pid_path(&resolved);
    let run_lock = match RunLock::acquire(&pid_file) {
        Ok(Acquired::Mine(lock)) => lock,
        Ok(Acquired::Held(pid)) => {
            return Err(Error::Busy {
                log: opts.log.clone(),
                pid,
            });
        }
        // The pid file sits beside the log: what keeps it from being made (a missing or
        // unwritable directory) keeps the log from being made too, and is said of the log.
        Err(ipc_sys::Error::Open { source, .. }) => return Err(log_error(&opts.log, source)),
        Err(ipc_sys::Error::Lock { source, .. }) => {
            return Err(log_error(
                &opts.log,
                std::io::Error::new(
                    source.kind(),
                    format!("cannot lock its pid file {}: {source}", pid_file.display()),
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let lock_fd = run_lock
        .as_fd()
        .ok_or(Error::Sys(ipc_sys::Error::Descriptor {
            op: "run lock",
            source: nix::errno::Errno::EBADF,
        }))?;
    // Created (or emptied) before any fork: an unusable path is exit 2 with nothing started.
    drop(LineLog::create(&opts.log).map_err(|e| match e {
        ipc_sys::Error::Open { path, source } => log_error(&path, source),
        e => Error::Sys(e),
    })?);
    ipc_sys::signal::install_interrupt_handlers()?;
    let sem = Semaphore::new(opts.params.workers)?;
    let (log_tx, log_rx) = queue::pair("log", MAX_RECORD)?;
    let (work_tx, work_rx) = queue::pair("work", ITEM_LEN)?;

    // The logger only receives. Were it to hold a sending end of the log queue, that queue could
    // never report end of file and the logger would wait forever. Dropped (an error path of
    // main), it is waited for: it ends once every sending end is closed.
    // The logger also holds the run lock, handed on: it is the log's only writer, and may
    // outlive main (killed) while it writes the last records.
    let logger = Fork::new(PoolRole::Logger).on_drop(None).spawn(
        [log_rx.as_fd(), lock_fd],
        |[rx, lock]| {
            let _run = RunLock::adopt(lock, &pid_file);
            let rx = QueueEnd::from_fd("log", MAX_RECORD, rx);
            logger::run(&opts.log, !opts.quiet, &rx).unwrap_or_else(|e| fail(PoolRole::Logger, &e))
        },
    )?;
    // Main only sends on the log queue; the logger's end must have exactly one holder.
    drop(log_rx);
    run_lock.close_shared();
    let grace = Duration::from_millis(opts.params.grace_ms);
    let mut main = Main {
        rep: Reporter::new(log_tx, PoolRole::Main),
        roles: Children::new(),
        names: vec![(logger.pid(), PoolRole::Logger)],
        stopping: false,
        grace,
        stop_by: None,
        overran: false,
        interrupted: None,
        logger_ended: None,
        logger_killed: false,
        failure: None,
        error: None,
    };
    main.rep
        .relay_interrupts_to(Some(logger.pid()), grace + STOP_SLACK);
    main.roles.push(logger);
    let started = main.rep.report(Event::Started(Some(opts.params.clone())));
    let log_alive = !matches!(started, Err(Error::LogGone));
    main.keep(started);

    // The generator only sends work (a receiving end would let it swallow items); the spawner
    // and its workers only receive it (with a sending end the workers would never see the queue
    // close). Both report on the log queue. On an error path of main they get SIGTERM and are
    // reaped. The spawner is watched before the generator, so that when both have ended main
    // names the cause (a dead spawner) before the consequence (a generator nobody takes from).
    if log_alive {
        let log = main.rep.queue();
        let spawner = Fork::new(PoolRole::Spawner)
            .on_drop(Some(Signal::SIGTERM))
            .spawn([work_rx.as_fd(), log.as_fd()], |[work, log]| {
                let work = QueueEnd::from_fd("work", ITEM_LEN, work);
                let log = QueueEnd::from_fd("log", MAX_RECORD, log);
                run_role(Reporter::new(log, PoolRole::Spawner), |rep| {
                    spawner::run(&opts.params, rep, &work, &sem)
                })
            });
        let generator = Fork::new(PoolRole::Generator)
            .on_drop(Some(Signal::SIGTERM))
            .spawn([work_tx.as_fd(), log.as_fd()], |[work, log]| {
                let work = QueueEnd::from_fd("work", ITEM_LEN, work);
                let log = QueueEnd::from_fd("log", MAX_RECORD, log);
                run_role(Reporter::new(log, PoolRole::Generator), |rep| {
                    generator::run(&opts.params, rep, &work)
                })
            });
        for (role, child) in [
            (PoolRole::Spawner, spawner),
            (PoolRole::Generator, generator),
        ] {
            match child {
                Ok(child) => {
                    main.names.push((child.pid(), role));
                    main.roles.push(child);
                }
                Err(e) => main.fail_early(e.into()),
            }
        }
    }
    // Main neither produces nor consumes work.
    drop((work_tx, work_rx));
    main.watch()?;

    if main.interrupted.is_none()
        && let Some(signal) = ipc_sys::signal::interrupted()
    {
        // Every role ended before main's own wait saw the signal (a Ctrl+C reaches them all).
        main.interrupted = Some(signal);
        let r = main.rep.report(Event::Interrupted {
            signal: signal as i32,
        });
        main.keep(r);
    }
    let permits = sem.available().map_err(Error::from).and_then(|free| {
        main.rep.report(Event::Permits {
            free: i64::from(free),
            total: opts.params.workers,
        })
    });
    main.keep(permits);
    let code = match (&main.logger_ended, main.interrupted, &main.failure) {
        (Some(_), _, _) => EXIT_FAILURE,
        (None, Some(_), _) => EXIT_INTERRUPTED,
        (None, None, Some(_)) => EXIT_FAILURE,
        (None, None, None) if main.error.is_some() => EXIT_FAILURE,
        (None, None, None) => 0,
    };
    let exiting = main.rep.report(Event::Exiting { code: code.into() });
    main.keep(exiting);
    main.finish(code)
}

/// Main's side of a run: its reporter, its children, and what it learnt of them.
struct Main {
    rep: Reporter,
    /// The logger, the spawner and the generator, while they run.
    roles: Children,
    names: Vec<(Pid, PoolRole)>,
    /// Main has asked the roles to stop (an interrupt, or a role gone): a stop is expected.
    stopping: bool,
    /// `--grace-ms`.
    grace: Duration,
    /// Once a stop is asked: the instant past which the generator and the spawner are
    /// SIGKILLed (`overran` once done) and no report of main waits for room on the log queue.
    stop_by: Option<Instant>,
    overran: bool,
    interrupted: Option<Signal>,
    /// How the logger ended, if it ended before main closed the log queue, or main killed it.
    logger_ended: Option<(Pid, ExitStatus)>,
    /// Main SIGKILLed the logger: it took nothing for `STOP_SLACK` past the stop deadline.
    logger_killed: bool,
    /// The first role that ended unexpectedly, for main's one `error:` line.
    failure: Option<Error>,
    /// Main's own first error.
    error: Option<Error>,
}

impl Main {
    fn role_of(&self, pid: Pid) -> PoolRole {
        self.names
            .iter()
            .find(|(p, _)| *p == pid)
            .map_or(PoolRole::Worker, |(_, r)| *r)
    }

    fn running(&self, role: PoolRole) -> Option<&ipc_sys::Child> {
        self.names
            .iter()
            .filter(|(_, r)| *r == role)
            .find_map(|(pid, _)| self.roles.get(*pid))
    }

    /// From now on the run is bounded: see `STOP_SLACK`.
    fn begin_stop(&mut self) {
        if self.stop_by.is_none() {
            let by = Instant::now() + self.grace + STOP_SLACK;
            self.stop_by = Some(by);
            self.rep.give_up_at(by);
        }
    }

    /// Sends `signal` to the generator and the spawner (the logger stops by itself, once every
    /// sending end of the log queue is closed).
    fn stop_roles(&mut self, signal: Signal) {
        self.stopping = true;
        self.begin_stop();
        for role in [PoolRole::Spawner, PoolRole::Generator] {
            if let Some(child) = self.running(role) {
                child.signal(signal);
            }
        }
    }

    /// Keeps main's first error. A report the logger can no longer take is not one: main
    /// learns of the logger's end from its exit status, and reports that.
    fn keep(&mut self, result: Result<()>) {
        match result {
            Ok(()) | Err(Error::LogGone | Error::LogStalled) => {}
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    /// A role could not even be forked: stop the others.
    fn fail_early(&mut self, e: Error) {
        self.error.get_or_insert(e);
        self.stop_roles(Signal::SIGTERM);
    }

    /// Reaps the roles as they end, until the generator and the spawner are gone.
    fn watch(&mut self) -> Result<()> {
        while self.running(PoolRole::Spawner).is_some()
            || self.running(PoolRole::Generator).is_some()
        {
            let deadline = self.stop_by.filter(|_| !self.overran);
            match self
                .roles
                .wait(&mut [], deadline, self.interrupted.is_none())?
            {
                ChildEvent::Exited(child) => self.ended(child.pid, child.status),
                ChildEvent::TimedOut => self.kill_overrunning(),
                ChildEvent::Interrupted => {
                    if let Some(signal) = ipc_sys::signal::interrupted() {
                        self.interrupted = Some(signal);
                        self.begin_stop();
                        let r = self.rep.report(Event::Interrupted {
                            signal: signal as i32,
                        });
                        self.keep(r);
                        // The roles get the very signal main got, so that every line of a
                        // Ctrl+C run says SIGINT. The logger too: it does not stop, but from
                        // now on it drops an echo that stdout no longer takes.
                        self.stop_roles(signal);
                        if let Some(logger) = self.running(PoolRole::Logger) {
                            logger.signal(signal);
                        }
                    }
                }
                ChildEvent::Empty => break,
                ChildEvent::Ready => {}
            }
        }
        Ok(())
    }

    /// The stop deadline passed with the generator or the spawner still running (stopped, or
    /// blocked on a log queue nobody empties): SIGKILL. The spawner's workers die with it
    /// (their death signal); the logger lists their items as abandoned.
    fn kill_overrunning(&mut self) {
        self.overran = true;
        let asked = self.grace + STOP_SLACK;
        for role in [PoolRole::Spawner, PoolRole::Generator] {
            let Some(pid) = self.running(role).map(|c| c.pid()) else {
                continue;
            };
            let r = self.rep.report(Event::Overran {
                role,
                pid: pid.as_raw() as u32,
                after_ms: asked.as_millis() as u64,
            });
            self.keep(r);
            if let Some(child) = self.running(role) {
                child.signal(Signal::SIGKILL);
            }
        }
    }

    fn ended(&mut self, pid: Pid, status: ExitStatus) {
        let role = self.role_of(pid);
        if role == PoolRole::Logger {
            // Nothing more can be logged: stop the run now rather than let it go on unrecorded.
            self.logger_ended = Some((pid, status));
            self.rep.relay_interrupts_to(None, Duration::ZERO);
            self.stop_roles(Signal::SIGTERM);
            return;
        }
        let r = self.rep.report(Event::RoleEnded {
            role,
            pid: pid.as_raw() as u32,
            status,
        });
        self.keep(r);
        let asked = self.stopping || ipc_sys::signal::interrupted().is_some();
        let expected = status.success()
            || status == ExitStatus::Exited(EXIT_LOG_GONE)
            || (asked && status == ExitStatus::Exited(EXIT_STOPPED));
        if !expected {
            self.failure.get_or_insert(Error::ChildFailed {
                role: format!("{role} {pid}"),
                status: ended(status),
            });
        }
        if role == PoolRole::Spawner
            && !self.stopping
            && self.running(PoolRole::Generator).is_some()
        {
            let r = self.rep.report(Event::SpawnerGone);
            self.keep(r);
            self.stop_roles(Signal::SIGTERM);
        }
    }

    /// Closes main's end of the log queue, waits for the logger to write the accounting, and
    /// turns what happened into main's result: one error at most.
    fn finish(mut self, code: u8) -> Result<u8> {
        let logger = self
            .names
            .first()
            .map(|(pid, _)| *pid)
            .and_then(|pid| self.roles.remove(pid));
        // The last sending end in main: once it closes (and every worker is gone), the logger
        // drains the queue, writes the accounting and exits.
        drop(self.rep);
        if let Some(logger) = logger {
            let pid = logger.pid();
            let (status, killed) = wait_logger(logger, self.stop_by, self.grace)?;
            if !status.success() {
                self.logger_ended = Some((pid, status));
            }
            self.logger_killed = killed && status == ExitStatus::Signaled(Signal::SIGKILL as i32);
        }
        match self.logger_ended {
            Some((pid, _)) if self.logger_killed => {
                return Err(Error::ChildFailed {
                    role: format!("logger {pid}"),
                    status: format!(
                        "took no record for {} ms once the run was stopped (stopped or stuck?): killed; the log ends there",
                        STOP_SLACK.as_millis()
                    ),
                });
            }
            Some((pid, status @ ExitStatus::Signaled(_))) => {
                return Err(Error::ChildFailed {
                    role: format!("logger {pid}"),
                    status: format!("{}: the run was stopped, the log ends there", ended(status)),
                });
            }
            // A logger that exits with an error code has already said why on stderr.
            Some(_) => return Ok(EXIT_FAILURE),
            None => {}
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.failure {
            Some(e) if code == EXIT_FAILURE => Err(e),
            _ => Ok(code),
        }
    }
}

/// Waits for the logger to write the accounting and exit. Once the run was asked to stop (or
/// when an interrupt arrives meanwhile), only until `STOP_SLACK` past the stop deadline: a
/// logger that takes nothing by then (stopped, or stuck) is SIGKILLed. Returns how it ended and
/// whether main killed it.
fn wait_logger(
    mut logger: ipc_sys::Child,
    stop_by: Option<Instant>,
    grace: Duration,
) -> Result<(ExitStatus, bool)> {
    // On an error path the logger is killed rather than waited for without end.
    logger.set_drop_signal(Some(Signal::SIGKILL));
    let mut set = Children::new();
    set.push(logger);
    let mut deadline = stop_by.map(|by| by.max(Instant::now()) + STOP_SLACK);
    let mut killed = false;
    loop {
        match set.wait(&mut [], deadline.filter(|_| !killed), deadline.is_none())? {
            ChildEvent::Exited(r) => return Ok((r.status, killed)),
            ChildEvent::Interrupted => deadline = Some(Instant::now() + grace + STOP_SLACK),
            ChildEvent::TimedOut => {
                set.signal_all(Signal::SIGKILL);
                killed = true;
            }
            ChildEvent::Empty => return Ok((ExitStatus::Exited(0), killed)),
            ChildEvent::Ready => {}
        }
    }
}

/// The frame of every reporting role: `started`, the body, any error, `exiting with code <c>`.
/// Returns the exit code. A role whose logger is gone stops quietly with `EXIT_LOG_GONE`.
fn run_role(mut rep: Reporter, body: impl FnOnce(&mut Reporter) -> Result<i32>) -> i32 {
    let role = rep.role();
    let code = match rep
        .report(Event::Started(None))
        .and_then(|()| body(&mut rep))
    {
        Ok(code) => code,
        Err(Error::LogGone) => return EXIT_LOG_GONE,
        Err(e) => match rep.report(Event::Error(e.to_string())) {
            Ok(()) => i32::from(ipc_cli::Failure::exit_code(&e)),
            Err(_) => fail(role, &e),
        },
    };
    let _ = rep.report(Event::Exiting { code });
    code
}

/// A role's error where the log cannot take it: `error: <role>: …` on stderr, in one write(2)
/// so the line cannot tear against another process's. Returns the role's exit code.
fn fail(role: PoolRole, e: &Error) -> i32 {
    let line = format!(
        "error: {role}: {}\n",
        ipc_sys::escape::terminal(&e.to_string())
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    i32::from(ipc_cli::Failure::exit_code(e))
}
