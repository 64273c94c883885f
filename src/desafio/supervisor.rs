//! The main process of a run: prepares the logs and the pipe, forks the producer and the
//! consumer, closes its own pipe ends, reaps both children (forwarding an interrupt to the
//! producer), and judges the run (`verdict`) in its last lines.
//!
//! The classic mistakes (`--bug`) are made here, on purpose and in plain sight: which
//! descriptors each process keeps is the whole difference.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use ipc_sys::linelog::SharedLog;
use ipc_sys::pipe::{Pipe, PipeEnd};
use ipc_sys::{Children, Event as ChildEvent, Fork, Reaped, WindDown};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::desafio::error::{EXIT_FAILURE, EXIT_PIPE_CLOSED, Error, Result};
use crate::desafio::lang::Lang;
use crate::desafio::log::{ConsumerLog, ExecutionLog, Locking, LogPaths, hooks};
use crate::desafio::options::{Bug, FaultKind, RunOptions};
use crate::desafio::record::{Arg, ChildStatus, Event, Msg, Role, RunParams, say};
use crate::desafio::tally::Tally;
use crate::desafio::verdict::{Facts, settle_sent};
use crate::desafio::wire::{Receiver, Sender};
use crate::desafio::{consumer, producer};

/// With `--bug parent-keeps-ends`, how long main lets a run make no progress while one child
/// has already ended before it calls it stuck.
pub const STALL: Duration = Duration::from_secs(2);
/// How often main looks at the shared counters while it needs to (main-kill, stall watch).
const WATCH_EVERY: Duration = Duration::from_millis(2);
/// After SIGINT/SIGTERM, how long the children have to wind down (the producer stops, the
/// consumer drains the pipe: milliseconds) before main SIGKILLs them — a child that is stopped
/// (SIGSTOP) or stuck must not keep an interrupted run from ending.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

/// Runs one producer–consumer session and returns main's exit code.
pub fn run(opts: &RunOptions) -> Result<u8> {
    let started = Instant::now();
    // First of all, so that from here on an interrupt is a flag the run acts on, never the
    // default death: a Ctrl+C that lands while the logs are being created still ends in a
    // complete, interrupted run (the children inherit the flag and stop at once), exit 130.
    ipc_sys::signal::install_interrupt_handlers()?;
    // The run's claim on its logs, held to the end: a second run in this directory refuses.
    let (paths, _claim) = LogPaths::claim_fresh(&opts.log_dir)?;
    let lang = opts.lang;
    let tally = Tally::new()?;

    // With --bug lock-before-fork the log is opened once, here, and every process uses this one
    // open file description; correctly, each process opens its own after fork.
    let shared_log = match opts.bug {
        Some(Bug::LockBeforeFork) => Some(SharedLog::open(&paths.execution)?),
        _ => None,
    };
    let mut log = main_log(&paths, shared_log.as_ref(), opts)?;
    log.log(&Event::Started(Some(RunParams {
        count: opts.count,
        min: opts.min,
        max: opts.max,
        seed: opts.seed,
        pace: opts.pace,
        fault: opts.fault,
        bug: opts.bug,
    })))?;
    // Closed before forking (where it is not the shared one): flock exclusion works between
    // open file descriptions, not between processes.
    drop(log);

    let pipe = Pipe::new()?;
    let keeps_ends = opts.bug == Some(Bug::ParentKeepsEnds);
    let log_fd = shared_log.as_ref().map(|l| l.as_fd());
    // Each child keeps exactly its own end of the pipe: the producer only the write end, so
    // that once the consumer is gone its writes fail with EPIPE; the consumer only the read
    // end, so that EOF arrives as soon as the producer is gone. (--bug parent-keeps-ends hands
    // each the other end too, as the classic mistake does.) On drop (an error path of main) a
    // child is asked to wind down with SIGTERM, then reaped.
    let fork = |role: Role| Fork::new(role).on_drop(Some(Signal::SIGTERM));
    let (read, write) = (pipe.read.as_fd(), pipe.write.as_fd());
    let mut children = Children::new();
    let producer =
        fork(Role::Producer).spawn_list(&keep_list(write, read, keeps_ends, log_fd), |fds| {
            let (write, log, _other_end) = take_fds(fds, &paths, opts);
            run_child(Role::Producer, &paths, opts, log, |log| match write {
                Some(write) => producer::run(opts, log, Sender::new(PipeEnd::new(write)?), &tally),
                None => Ok(i32::from(EXIT_FAILURE)),
            })
        })?;
    let producer_pid = producer.pid();
    children.push(producer);
    let consumer =
        fork(Role::Consumer).spawn_list(&keep_list(read, write, keeps_ends, log_fd), |fds| {
            let (read, log, _other_end) = take_fds(fds, &paths, opts);
            run_child(Role::Consumer, &paths, opts, log, |log| {
                let mut out = ConsumerLog::open(&paths.consumer, opts.lang)?;
                let _claim = crate::desafio::log::claim_consumer_log(&paths.consumer);
                match read {
                    Some(read) => {
                        let receiver = Receiver::new(PipeEnd::new(read)?);
                        consumer::run(opts, log, &mut out, receiver, &tally)
                    }
                    None => Ok(i32::from(EXIT_FAILURE)),
                }
            })
        });
    // Main neither reads nor writes the pipe. While it held the write end the consumer could
    // never see EOF; while it held the read end the producer could never get EPIPE. (Unless
    // --bug parent-keeps-ends: then main keeps both, to the end.)
    let kept_pipe = if keeps_ends {
        Some(pipe)
    } else {
        drop(pipe);
        None
    };
    // Without a consumer the producer gets EPIPE and exits; dropping `children` reaps it.
    let consumer = consumer?;
    let consumer_pid = consumer.pid();
    children.push(consumer);

    let mut session = Session {
        log: None,
        first_error: None,
        producer: producer_pid,
        interrupted: false,
        wind: None,
        unlogged_interrupt: None,
        lang,
    };
    session.open_log(&paths, shared_log.as_ref(), opts);
    session.log(&Event::Spawned {
        role: Role::Producer,
        pid: producer_pid.as_raw(),
    });
    session.log(&Event::Spawned {
        role: Role::Consumer,
        pid: consumer_pid.as_raw(),
    });
    if let Some(pause) = hooks::pause_after_forks() {
        std::thread::sleep(pause);
    }
    let show_progress = ipc_cli::progress::wanted(opts.quiet);
    let received = || tally.received();
    let reaped = ipc_cli::progress::while_running(
        show_progress,
        lang.pick("values received", "valores recebidos"),
        Some(opts.count),
        &received,
        || {
            let pipe = kept_pipe
                .as_ref()
                .map(|p| (p.read.as_fd(), p.write.as_fd()));
            session.reap_all(&mut children, opts, &tally, pipe)
        },
    )?;
    drop(kept_pipe);

    let status_of = |pid: Pid| {
        reaped
            .iter()
            .find(|r| r.pid == pid)
            .map(|r| r.status.into())
    };
    let producer_status = status_of(producer_pid);
    let consumer_status = status_of(consumer_pid);
    let producer_killed = matches!(producer_status, Some(ChildStatus::Signal(_)));
    // The consumer read to end of file (exit 4) or to the end marker.
    let consumer_drained = tally.end_received()
        || consumer_status == Some(ChildStatus::Code(i32::from(EXIT_PIPE_CLOSED)));
    let facts = Facts {
        sent: settle_sent(
            tally.sent(),
            tally.received(),
            producer_killed,
            consumer_drained,
        ),
        received: tally.received(),
        end_sent: tally.end_sent(),
        end_received: tally.end_received(),
        producer: producer_status,
        consumer: consumer_status,
        interrupted: session.interrupted,
    };
    let code = if session.first_error.is_some() && !facts.interrupted {
        EXIT_FAILURE
    } else {
        facts.exit_code()
    };
    // An interrupt main could not log at the time (a stopped child held the lock) is logged
    // now that the children are gone, so the log says why the run ended.
    if let Some(event) = session.unlogged_interrupt.take() {
        session.log(&event);
    }
    session.log(&Event::Exiting { code: code.into() });
    let extra = resources(
        lang,
        facts.received,
        started.elapsed(),
        &reaped,
        producer_pid,
    );
    session.log(&Event::Summary {
        sent: facts.sent,
        received: facts.received,
        lost: facts.lost(),
        extra: Some(extra),
    });
    match session.first_error {
        // Interrupted: the exit code is the one logged (130); the error is still said.
        Some(e) if facts.interrupted => {
            error_line(format!("{}: {}", lang.words().error, e.render(lang)));
            Ok(code)
        }
        Some(e) => Err(e),
        None => Ok(code),
    }
}

/// What a child keeps: its own end of the pipe; with `--bug parent-keeps-ends` the other end
/// too; with `--bug lock-before-fork` the execution log main opened.
fn keep_list<'a>(
    own: BorrowedFd<'a>,
    other: BorrowedFd<'a>,
    keeps_ends: bool,
    log: Option<BorrowedFd<'a>>,
) -> Vec<BorrowedFd<'a>> {
    let mut fds = vec![own];
    if keeps_ends {
        fds.push(other);
    }
    fds.extend(log);
    fds
}

/// In a child, its descriptors as `keep_list` ordered them: its pipe end, the shared log (if
/// any) and the other pipe end (if any — held, never used, as the classic mistake does).
fn take_fds(
    fds: Vec<OwnedFd>,
    paths: &LogPaths,
    opts: &RunOptions,
) -> (Option<OwnedFd>, Option<SharedLog>, Option<OwnedFd>) {
    let mut fds = fds.into_iter();
    let own = fds.next();
    match opts.bug {
        Some(Bug::LockBeforeFork) => {
            let log = fds
                .next()
                .map(|fd| SharedLog::from_file(File::from(fd), &paths.execution));
            (own, log, None)
        }
        Some(Bug::ParentKeepsEnds) => (own, None, fds.next()),
        _ => (own, None, None),
    }
}

/// A process's handle on the execution log: its own descriptor, the one main opened before
/// forking (`--bug lock-before-fork`: `shared`), or its own used without a lock (`--bug
/// no-lock`).
fn open_log(
    role: Role,
    paths: &LogPaths,
    opts: &RunOptions,
    shared: Option<SharedLog>,
) -> Result<ExecutionLog> {
    let (log, locking) = match (shared, opts.bug) {
        (Some(shared), _) => (shared, Locking::Shared),
        (None, Some(Bug::NoLock)) => (SharedLog::open(&paths.execution)?, Locking::Nothing),
        (None, _) => return ExecutionLog::open(&paths.execution, role, !opts.quiet, opts.lang),
    };
    Ok(ExecutionLog::with(
        log,
        locking,
        role,
        !opts.quiet,
        opts.lang,
    ))
}

/// Main's own handle on the execution log (`open_log`), on a descriptor of its own even with
/// `--bug lock-before-fork`, which shares the open file description.
fn main_log(
    paths: &LogPaths,
    shared: Option<&SharedLog>,
    opts: &RunOptions,
) -> Result<ExecutionLog> {
    let shared = shared.map(|s| shared_clone(s, paths)).transpose()?;
    open_log(Role::Main, paths, opts, shared)
}

/// Another descriptor for the same open file description (what `dup` gives): it shares the
/// description's flock, which is the point of `--bug lock-before-fork`.
fn shared_clone(shared: &SharedLog, paths: &LogPaths) -> Result<SharedLog> {
    let fd = shared.as_fd().try_clone_to_owned().map_err(|source| {
        Error::from(ipc_sys::Error::Open {
            path: paths.execution.clone(),
            source,
        })
    })?;
    Ok(SharedLog::from_file(File::from(fd), &paths.execution))
}

/// Main's state while its children run. A failed log write must not stop main from reaping,
/// so errors are kept and reported at the end.
struct Session {
    log: Option<ExecutionLog>,
    first_error: Option<Error>,
    producer: Pid,
    interrupted: bool,
    /// Once main was interrupted: the children have `INTERRUPT_GRACE` from then to end.
    wind: Option<WindDown>,
    /// The `interrupted` line, when it could not be written at the time.
    unlogged_interrupt: Option<Event>,
    lang: Lang,
}

impl Session {
    fn open_log(&mut self, paths: &LogPaths, shared: Option<&SharedLog>, opts: &RunOptions) {
        match main_log(paths, shared, opts) {
            Ok(log) => self.log = Some(log),
            Err(e) => self.keep(e),
        }
    }

    /// Logs `event`; a failure is kept for the end. Returns whether the line was written (or
    /// there is no log to write it to).
    fn log(&mut self, event: &Event) -> bool {
        if let Some(log) = &mut self.log
            && let Err(e) = log.log(event)
        {
            self.keep(e);
            return false;
        }
        true
    }

    fn keep(&mut self, e: Error) {
        self.first_error.get_or_insert(e);
    }

    /// Waits for both children, logging each exit as it happens. The wait and the interrupt
    /// check are one atomic step (`Children::wait`): a SIGINT or SIGTERM that arrives at any
    /// instant — even between the forks and the first wait — is acted on at once.
    /// `pipe` is main's own read and write ends, kept under `--bug parent-keeps-ends`: what the
    /// pipe holds tells a stuck child from a slow one.
    fn reap_all(
        &mut self,
        children: &mut Children,
        opts: &RunOptions,
        tally: &Tally,
        pipe: Option<(BorrowedFd<'_>, BorrowedFd<'_>)>,
    ) -> Result<Vec<Reaped>> {
        let main_kill = opts
            .fault
            .filter(|f| f.kind == FaultKind::MainKill)
            .map(|f| f.after);
        let mut stall = (opts.bug == Some(Bug::ParentKeepsEnds)).then(Stall::default);
        let watching = main_kill.is_some() || stall.is_some();
        let mut reaped: Vec<Reaped> = Vec::new();
        loop {
            if let Some(k) = main_kill
                && tally.received() >= k
            {
                self.kill_main(k, opts);
            }
            if let Some(stall) = &mut stall
                && let Some(why) = stall.check(tally, &reaped, self.producer, self.lang, pipe)
            {
                self.log(&Event::Error(why));
                // Blocked in read or write, and our handlers retry on EINTR: only SIGKILL ends
                // a stuck child.
                children.signal_all(Signal::SIGKILL);
            }
            if let Some(wind) = &mut self.wind
                && wind.kill_if_due(children).is_some()
            {
                let grace = Arg::Int(INTERRUPT_GRACE.as_secs().into());
                self.log(&Event::Error(say(
                    Msg::ChildrenStillRunning,
                    self.lang,
                    &[grace],
                )));
            }
            let grace_end = self.wind.and_then(|w| w.deadline());
            let deadline = match (watching.then(|| Instant::now() + WATCH_EVERY), grace_end) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match children.wait(&mut [], deadline, !self.interrupted)? {
                ChildEvent::Exited(child) => {
                    let role = if child.pid == self.producer {
                        Role::Producer
                    } else {
                        Role::Consumer
                    };
                    self.log(&Event::ChildExited {
                        role,
                        pid: child.pid.as_raw(),
                        status: child.status.into(),
                    });
                    reaped.push(child);
                }
                ChildEvent::Empty => return Ok(reaped),
                ChildEvent::Interrupted | ChildEvent::Ready | ChildEvent::TimedOut => {}
            }
            // The flag, not the wake-up reason, is the truth: a signal may land while a child
            // is being reaped.
            self.on_interrupt(children);
        }
    }

    /// `--fault main-kill@K`: main SIGKILLs itself once K values are received. Its children
    /// get their death signal (SIGTERM) and wind down; nobody writes main's summary.
    fn kill_main(&mut self, k: u64, opts: &RunOptions) -> ! {
        if let Some(fault) = opts.fault {
            let note = producer::kill_note(self.lang, k);
            self.log(&Event::Fault { fault, note });
        }
        ipc_sys::signal::kill_self()
    }

    /// SIGINT or SIGTERM reached main — alone, or with the whole process group. Either way the
    /// producer is asked to stop (a second SIGTERM is harmless), and the consumer is left alone
    /// so it drains the pipe up to the end marker.
    fn on_interrupt(&mut self, children: &Children) {
        let Some(signal) = ipc_sys::signal::interrupted() else {
            return;
        };
        if self.interrupted {
            return;
        }
        self.interrupted = true;
        self.wind = Some(WindDown::new(INTERRUPT_GRACE));
        let event = Event::Interrupted {
            signal: signal.as_str().into(),
            note: None,
        };
        if !self.log(&event) {
            self.unlogged_interrupt = Some(event);
        }
        if let Some(producer) = children.get(self.producer) {
            producer.signal(Signal::SIGTERM);
        }
    }
}

/// `--bug parent-keeps-ends`: notices a run that cannot end by itself any more — one child has
/// ended, the other is still there, nothing has moved for `STALL`, and the pipe shows that the
/// survivor cannot move either. "No line for 2 s" alone is not "blocked": a producer sleeping in
/// a long `--pace` is silent too. So main looks at the pipe through the ends it keeps: a
/// consumer waits for ever only on an empty pipe (`FIONREAD` 0: no writer is left to fill it,
/// and the end of file cannot come), a producer only on a full one (no room for a write, as
/// `poll` says: nobody reads it, and EPIPE cannot come).
#[derive(Default)]
struct Stall {
    last: Option<(u64, u64, Instant)>,
    reported: bool,
}

impl Stall {
    fn check(
        &mut self,
        tally: &Tally,
        reaped: &[Reaped],
        producer: Pid,
        lang: Lang,
        pipe: Option<(BorrowedFd<'_>, BorrowedFd<'_>)>,
    ) -> Option<String> {
        let now = (tally.sent(), tally.received());
        let since = match self.last {
            Some((s, r, at)) if (s, r) == now => at,
            _ => {
                self.last = Some((now.0, now.1, Instant::now()));
                return None;
            }
        };
        if self.reported || reaped.len() != 1 || since.elapsed() < STALL {
            return None;
        }
        let (read_end, write_end) = pipe?;
        let unread = ipc_sys::pipe::unread_bytes(read_end).ok()?;
        let producer_gone = reaped[0].pid == producer;
        let stuck = if producer_gone {
            unread == 0
        } else {
            !ipc_sys::pipe::has_room(write_end).ok()?
        };
        if !stuck {
            return None;
        }
        self.reported = true;
        let secs = STALL.as_secs();
        Some(if producer_gone {
            say(Msg::StallProducerGone, lang, &[Arg::Int(secs.into())])
        } else {
            let args = [Arg::Int(secs.into()), Arg::Int(unread as i128)];
            say(Msg::StallConsumerGone, lang, &args)
        })
    }
}

/// The frame of every child role: open this process's own log descriptor (or use the shared
/// one of `--bug lock-before-fork`), log `started`, run the role, log any error and
/// `exiting with code <c>`. Returns the exit code.
fn run_child(
    role: Role,
    paths: &LogPaths,
    opts: &RunOptions,
    shared: Option<SharedLog>,
    body: impl FnOnce(&mut ExecutionLog) -> Result<i32>,
) -> i32 {
    let mut log = match open_log(role, paths, opts, shared) {
        Ok(log) => log,
        Err(e) => {
            error_line(failure_line(role, opts.lang, &e.render(opts.lang), None));
            return e.exit_code().into();
        }
    };
    crate::desafio::log::claim_for_run(&log);
    let result = log.log(&Event::Started(None)).and_then(|()| body(&mut log));
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let event = e.event(opts.lang);
            if let Err(log_error) = log.log(&event) {
                error_line(failure_line(
                    role,
                    opts.lang,
                    &e.render(opts.lang),
                    Some(&log_error.render(opts.lang)),
                ));
            }
            e.exit_code().into()
        }
    };
    if let Err(e) = log.log(&Event::Exiting { code }) {
        error_line(failure_line(role, opts.lang, &e.render(opts.lang), None));
        return if code == 0 { EXIT_FAILURE.into() } else { code };
    }
    code
}

/// A child's failure on stderr, when its log cannot say it: `error: consumer: <what failed>`,
/// with why the log could not take it in parentheses — unless that is the same failure (a full
/// disk under the log fails both writes alike), which is said once.
fn failure_line(role: Role, lang: Lang, failed: &str, log_failed: Option<&str>) -> String {
    let head = format!("{}: {}: {failed}", lang.words().error, role.in_lang(lang));
    match log_failed {
        Some(log) if log != failed => format!("{head} ({log})"),
        _ => head,
    }
}

/// One line on stderr with a single `write(2)`: `writeln!` on the unbuffered stderr writes each
/// piece of the format on its own, and two children failing at once (a full disk under the
/// shared log) would tear each other's lines.
fn error_line(line: String) {
    let mut line = ipc_sys::escape::terminal(&line).into_owned();
    line.push('\n');
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// The resource part of the summary: throughput, and each process's peak RSS and CPU time from
/// the kernel's own accounting (`wait4` for the children, `/proc` for main).
fn resources(
    lang: Lang,
    received: u64,
    wall: Duration,
    reaped: &[Reaped],
    producer: Pid,
) -> String {
    let secs = wall.as_secs_f64();
    let rate = if secs > 0.0 {
        received as f64 / secs
    } else {
        0.0
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    // Whole numbers at scale; two decimals for a paced run, where "1 values/s" would mislead.
    // Decimals as the log's language writes them (a comma in Portuguese).
    let dec = |x: f64, places: usize| crate::desafio::lang::decimal(x, places, lang);
    let (rate, secs) = (dec(rate, if rate >= 100.0 { 0 } else { 2 }), dec(secs, 3));
    let mut text = say(Msg::Throughput, lang, &[Arg::Text(&rate), Arg::Text(&secs)]);
    let mut children: Vec<&Reaped> = reaped.iter().collect();
    children.sort_by_key(|r| r.pid != producer);
    for child in children {
        let role = if child.pid == producer {
            Role::Producer
        } else {
            Role::Consumer
        };
        let rss = dec(mib(child.usage.max_rss_kib), 1);
        let cpu = dec(child.usage.cpu().as_secs_f64(), 3);
        let args = [
            Arg::Text(role.in_lang(lang)),
            Arg::Text(&rss),
            Arg::Text(&cpu),
        ];
        text.push_str(&say(Msg::ChildResources, lang, &args));
    }
    let rss = dec(mib(ipc_sys::memory::own_peak_rss_kib()), 1);
    text.push_str(&say(Msg::MainResources, lang, &[Arg::Text(&rss)]));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_the_log_could_not_take_either_is_said_once() {
        let full = "cannot write /x/execution_log.txt: No space left on device (os error 28)";
        assert_eq!(
            failure_line(Role::Producer, Lang::En, full, Some(full)),
            format!("error: producer: {full}")
        );
        assert_eq!(
            failure_line(Role::Consumer, Lang::Pt, "a", Some("b")),
            "erro: consumidor: a (b)"
        );
    }
}
