//! `task_pool [OPTIONS] -- CMD [ARG...] [::: INPUT...]`: the pool as a command-line tool, in the
//! line of `xargs -P` and GNU parallel. Each input (a `:::` argument, or a line of standard input)
//! becomes one job: the command with `{}` replaced by the input (or the input appended), run by
//! a worker of the pool in a process group of its own, timed out with SIGTERM to the group and
//! SIGKILL after the grace, retried if it fails, logged in GNU parallel's joblog format.
//!
//! Output: each job's stdout and stderr are captured whole (in unlinked temporary files the
//! command writes straight into) and printed as one block each when the job ends — in input
//! order with `--keep-order`. Blocks, not lines: a job's output is never split, so a line can
//! never be cut by another job's (GNU parallel's default, `--group`); the price is that a job's
//! output appears only when it ends.
//!
//! This process is the pool's caller: it reads inputs, pushes tasks, prints outputs, writes the
//! joblog and decides retries, in one loop that waits on standard input, the outcome pipe and
//! the output queue at once, and on SIGINT/SIGTERM.

mod input;
mod joblog;
mod jobs;
mod output;
mod template;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant, SystemTime};

use clap::{CommandFactory, Parser};
use ipc_cli::{EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED, parse_duration};
use ipc_sys::queue::{QueueEnd, Received};
use ipc_sys::signal::{Wake, Watch, wait_event};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::wire::{self, CommandReport, Ended, STARTED_LEN};
use super::{Batch, Commands, Error, Partial, Pool, PoolConfig, epoch_us, hooks, ready};
use input::{Input, MAX_LINE, OpenError, Source};
use joblog::{Joblog, Resume};
use output::{Copied, Sink};
use template::{Template, Values};

pub use joblog::HEADER as JOBLOG_HEADER;

/// Exitval of a job that could not be started (GNU parallel's "other error").
pub const EXITVAL_NOT_STARTED: i64 = 255;
/// Exitval of a job ended by its timeout or its worker's end (as in GNU parallel).
pub const EXITVAL_KILLED: i64 = -1;
/// GNU parallel's exit status for "more than 100 jobs failed": the failure count stops here.
pub const MAX_FAILURE_EXIT: u64 = 101;
/// How long, beyond the grace, an interrupted run waits for the dispatcher's wind-down (its
/// workers' grace, its own second, the last outcomes) before it SIGKILLs it: a dispatcher
/// someone keeps stopped cannot keep the run from ending.
const WIND_DOWN_PATIENCE: Duration = Duration::from_secs(5);
/// Jobs in flight beyond which the caller also wakes for "command started" messages. Below it,
/// it takes them in only when it needs them (a report, the end of the run): a wake-up fewer
/// per job. Each message waiting belongs to a job in flight, and the output queue holds about
/// 270 of them (a `SOCK_SEQPACKET` pair's default 208 KiB, two descriptors each), so with this
/// few in flight it never fills and no worker waits on it.
const QUIET_FLIGHTS: usize = 64;

#[derive(Debug, Parser)]
#[command(
    name = "task_pool",
    version,
    about = "Run a command once per input on a pool of worker processes (like xargs -P or GNU parallel)",
    override_usage = "task_pool [OPTIONS] -- CMD [ARG...] [::: INPUT... | :::: FILE...]",
    after_help = "Each input is one job: a ::: argument, a line of a :::: file (- is standard input), or else a\n\
                  line of standard input. Several sources (::: a b ::: 1 2) run every combination; :::+ and\n\
                  ::::+ pair a source with the one before it instead. {} in CMD or its arguments is the input\n\
                  (also inside a word: out/{}.gz), {.} without extension, {/} basename, {//} directory, {/.}\n\
                  basename without extension, {#} the job's number, {%} its slot (1 to -j), {1} {2}... one\n\
                  source's value ({1.} {2/}...). Without any of them, the input is appended. No shell: to use\n\
                  one, say so (-- sh -c 'grep x \"$1\"' sh {}).\n\n\
                  Each job runs in a process group of its own, stdin from /dev/null. Its stdout and stderr are\n\
                  captured whole and printed when it ends, stdout then stderr, one job at a time: never mixed\n\
                  with another job's, not even mid-line. A job's leftover processes in its group are killed\n\
                  when it ends.\n\n\
                  -j: N jobs (0: as many as possible, 256), +N / -N: CPU threads plus / minus N, N%: a share.\n\
                  --timeout: SIGTERM to the job's group, SIGKILL after --grace; reported as timed out.\n\
                  --retries K: a failed job (non-zero exit, signal, timeout) runs again, up to K more times;\n\
                  only its last attempt's output is printed; the joblog has one line per attempt.\n\
                  --joblog FILE: GNU parallel's format (+FILE appends, - is standard output): Seq Host\n\
                  Starttime JobRuntime Send Receive Exitval Signal Command, tab-separated (Exitval -1 for a\n\
                  job killed by its timeout, 255 for one that could not start; a job killed by a signal has\n\
                  Exitval 0 and the signal; jobs ended by an interrupt have no line, so --resume runs them\n\
                  again). --resume skips the jobs the joblog has, --resume-failed the ones that succeeded.\n\n\
                  Exit codes: 0 every job succeeded; 1-100 that many jobs failed or never ran (101: more than\n\
                  100; counts in the summary on stderr); 1 also when the run itself failed (an error: line);\n\
                  2 bad input (one error: line, nothing runs); 130 interrupted (SIGINT/SIGTERM: running jobs\n\
                  are ended, the summary says what ran); 141 standard output closed (| head).\n\n\
                  Examples:\n  task_pool -j 4 -- gzip -9 {} ::: *.log\n  find . -name '*.png' | task_pool --timeout 30s --joblog jobs.tsv -- optipng {}\n  task_pool -k --retries 2 -- curl -fsS https://example.com/{} ::: a b c\n  task_pool -- convert {} {.}.jpg ::: *.png"
)]
pub struct CommandArgs {
    /// Jobs run at once (default: the CPU threads): N (0 as many as possible), +N, -N, N%
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = jobs::parse, allow_hyphen_values = true)]
    jobs: Option<jobs::Jobs>,
    /// A job running longer is ended (SIGTERM to its group, SIGKILL after the grace): 300ms, 1.5s, 2m (a bare number is seconds)
    #[arg(long, value_name = "DUR", value_parser = parse_timeout, allow_hyphen_values = true)]
    timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL, for a job that overran its timeout or when interrupted
    #[arg(long, value_name = "DUR", default_value = "500ms", value_parser = |s: &str| parse_duration(s, "--grace", Duration::from_secs(3600)), allow_hyphen_values = true)]
    grace: Duration,
    /// Write GNU parallel's joblog here (one line per attempt); +FILE appends, - is standard output
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    joblog: Option<OsString>,
    /// Skip the jobs the joblog already has a line for (needs --joblog FILE)
    #[arg(long)]
    resume: bool,
    /// Skip the jobs the joblog says succeeded; run the failed and the missing ones (needs --joblog FILE)
    #[arg(long = "resume-failed", conflicts_with = "resume")]
    resume_failed: bool,
    /// Run a failed job again, up to K more times
    #[arg(long, value_name = "K", default_value = "0", value_parser = |s: &str| ipc_cli::parse_between(s, "--retries", 0, 1000), allow_negative_numbers = true)]
    retries: u64,
    /// Print the jobs' output in input order (not in the order they end)
    #[arg(short = 'k', long)]
    keep_order: bool,
}

/// Whether `word` is an option of the command mode (for the message of a command line that
/// forgot its `--`).
pub(crate) fn is_command_option(word: &str) -> bool {
    let name = word.split_once('=').map_or(word, |(n, _)| n);
    CommandArgs::command().get_arguments().any(|a| {
        a.get_long().is_some_and(|l| name == format!("--{l}"))
            || a.get_short()
                .is_some_and(|s| name.starts_with(&format!("-{s}")))
    })
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match parse_duration(s, "--timeout", Duration::from_secs(24 * 3600))? {
        d if d.is_zero() => Err(format!(
            "--timeout must be longer than 0, got '{}'",
            s.trim()
        )),
        d => Ok(d),
    }
}

/// `task_pool --help-commands`.
pub(crate) fn print_help() -> Result<u8, Error> {
    let help = CommandArgs::command().render_long_help().to_string();
    io::stdout()
        .write_all(help.as_bytes())
        .map_err(Error::Output)?;
    Ok(0)
}

/// Runs the command line `cmd` (everything after `--`) and returns the exit code.
pub(crate) fn run(opts: CommandArgs, cmd: Vec<OsString>) -> Result<u8, Error> {
    hooks::pause_at_start();
    let words: Vec<Vec<u8>> = cmd.iter().map(|w| w.as_bytes().to_vec()).collect();
    let (template, specs) = input::split(words).map_err(Error::Usage)?;
    if template.is_empty() {
        return Err(Error::Usage(
            "--: no command given (task_pool [OPTIONS] -- CMD [ARG...] [::: INPUT...])".into(),
        ));
    }
    let template = Template::new(template, specs.len()).map_err(Error::Usage)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let jobs = opts
        .jobs
        .unwrap_or(jobs::Jobs::Count(threads))
        .resolve(threads)
        .map_err(Error::Usage)?;
    let resume = match (opts.resume, opts.resume_failed) {
        (true, _) => Resume::All,
        (_, true) => Resume::Failed,
        _ => Resume::No,
    };
    let spec = opts.joblog.as_deref().map(joblog::Spec::parse);
    match (&spec, resume) {
        (_, Resume::No) | (Some(joblog::Spec::File { .. }), _) => {}
        _ => {
            return Err(Error::Usage(
                "--resume and --resume-failed need --joblog FILE (the joblog of the run to resume)"
                    .into(),
            ));
        }
    }
    if let Some(spec) = &spec {
        joblog::check(spec)?;
    }
    let done = match &spec {
        Some(spec) => joblog::done(spec, resume)?,
        None => HashSet::new(),
    };
    let source = Source::open(specs).map_err(|e| match e {
        OpenError::File(path, source) => Error::Path {
            flag: "::::",
            path,
            source,
        },
        OpenError::Empty(n) => Error::Usage(format!(
            "input source {n} is empty: no combination of the input sources to run"
        )),
    })?;
    let budget =
        jobs::budget(jobs, template.uses_slot(), raise_descriptor_limit()).map_err(Error::Usage)?;
    // A signal that came while the run was being set up: nothing is created or started.
    let early = ipc_sys::signal::interrupted().is_some();
    let joblog = match &spec {
        Some(spec) if !early => Some(Joblog::open(spec, resume)?),
        _ => None,
    };
    if let Some(warning) = &budget.warning {
        let _ = io::stderr().write_all(format!("{warning}\n").as_bytes());
    }
    let config = PoolConfig {
        workers: budget.jobs,
        grace: opts.grace,
        joblog: None,
        announce: false,
    };
    let mut stdout = Sink::stdout();
    if matches!(joblog, Some(Joblog::Stdout)) && !early {
        match stdout.write(JOBLOG_HEADER.as_bytes()) {
            Copied::Done | Copied::Interrupted => {}
            Copied::Closed => return Ok(EXIT_OUTPUT_CLOSED),
            Copied::Failed(e) => return Err(Error::Output(e)),
        }
    }
    let (pool, queue) = if early {
        (None, None)
    } else {
        let (pool, queue) = Pool::start_commands(config)?;
        (Some(pool), Some(queue))
    };
    let slots = template
        .uses_slot()
        .then(|| (1..=budget.jobs as u64).collect());
    let mut run = Run {
        template,
        grace: opts.grace,
        stop_deadline: None,
        timeout: opts.timeout,
        retries: opts.retries,
        keep_order: opts.keep_order,
        joblog,
        pool,
        queue,
        source,
        flights: HashMap::new(),
        retry: VecDeque::new(),
        next_seq: 1,
        done,
        window: budget.window,
        jobs: budget.jobs,
        held: budget.held,
        slots,
        finished: BTreeMap::new(),
        next_print: 1,
        stdout,
        stderr: Sink::stderr(),
        counts: Counts::default(),
        stop: None,
        dispatcher_gone: false,
    };
    if run.pool.is_none() {
        let signal = ipc_sys::signal::interrupted().unwrap_or(Signal::SIGTERM);
        run.halt(Stop::Interrupted(signal));
        return run.finish();
    }
    run.serve()?;
    run.finish()
}

/// Lets this process hold as many descriptors as allowed (each job pushed and not yet printed
/// holds two); returns the limit in force.
fn raise_descriptor_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let want = hard.min(1 << 16);
    if want > soft && setrlimit(Resource::RLIMIT_NOFILE, want, hard).is_ok() {
        return want;
    }
    soft
}

/// One input's job, across its attempts.
struct Job {
    seq: u64,
    /// One value per input source.
    args: Vec<Vec<u8>>,
    attempt: u64,
    /// Joblog lines of its earlier attempts, for `--joblog -` (printed with its output).
    log: Vec<u8>,
}

/// What a worker handed over when the command started.
struct Started {
    pgid: i32,
    stdout: File,
    stderr: File,
}

/// A job pushed to the pool and not settled yet.
struct Flight {
    job: Job,
    command: Vec<u8>,
    /// Its `{%}`, when the template has one.
    slot: Option<u64>,
    started: Option<Started>,
}

/// A settled job's output, waiting for its turn to be printed: each file with the number of bytes
/// that are this job's (`None`: all of them — its worker died before saying). A worker reuses a
/// file its command left empty, so a file may later hold another job's bytes beyond that length.
#[derive(Default)]
struct Finished {
    stdout: Option<(File, Option<u64>)>,
    stderr: Option<(File, Option<u64>)>,
    note: Option<String>,
    /// Its joblog lines, for `--joblog -`: printed after its output.
    log: Vec<u8>,
}

#[derive(Default)]
struct Counts {
    succeeded: u64,
    failed: u64,
    timed_out: u64,
    /// Ended by the run's interrupt (no joblog line: `--resume` runs them again).
    interrupted: u64,
    not_started: u64,
    /// Running when the dispatcher died: killed, their result unknown.
    lost: u64,
    retries: u64,
    /// Skipped: the joblog says they are done (`--resume`, `--resume-failed`).
    skipped: u64,
    /// The run stopped before a streamed source (standard input, a `::::` file) was read to
    /// its end: how many inputs it still held is unknown.
    unread: bool,
}

impl Counts {
    /// Jobs that did not succeed, for the exit status.
    fn failures(&self) -> u64 {
        self.failed + self.not_started + self.lost + self.interrupted
    }
}

/// Why the run is stopping early.
enum Stop {
    Interrupted(Signal),
    OutputClosed,
    OutputFailed(io::Error),
}

struct Run {
    template: Template,
    grace: Duration,
    /// Once the run is stopping: when the dispatcher is SIGKILLed if it has not wound down.
    stop_deadline: Option<Instant>,
    timeout: Option<Duration>,
    retries: u64,
    keep_order: bool,
    joblog: Option<Joblog>,
    /// `None` only when an interrupt came before the pool was started.
    pool: Option<Pool<Commands>>,
    queue: Option<QueueEnd>,
    source: Source,
    flights: HashMap<u64, Flight>,
    /// Failed jobs to run again, first.
    retry: VecDeque<Job>,
    next_seq: u64,
    /// Sequence numbers `--resume` skips.
    done: HashSet<u64>,
    /// Tasks pushed and not settled, at most (see `jobs::Budget`).
    window: usize,
    /// Jobs at once (the pool's workers).
    jobs: usize,
    /// Jobs admitted ahead of the next one to print, at most (`--keep-order`).
    held: usize,
    /// The `{%}` slots free, when the template has `{%}`.
    slots: Option<BTreeSet<u64>>,
    finished: BTreeMap<u64, Finished>,
    next_print: u64,
    stdout: Sink,
    stderr: Sink,
    counts: Counts,
    stop: Option<Stop>,
    dispatcher_gone: bool,
}

impl Run {
    fn serve(&mut self) -> Result<(), Error> {
        loop {
            self.admit()?;
            let inputs_done = self.stop.is_some() || self.source.exhausted();
            if self.flights.is_empty() && self.retry.is_empty() && inputs_done {
                return Ok(());
            }
            if self.dispatcher_gone {
                return Ok(());
            }
            self.wait()?;
            self.print_ready();
        }
    }

    /// Whether another job may be pushed now, with `batched` more already on their way.
    fn room(&self, batched: usize) -> bool {
        self.stop.is_none()
            && !self.dispatcher_gone
            && self.pool.is_some()
            && self.flights.len() + batched < self.window
            && !(self.keep_order && self.next_seq - self.next_print >= self.held as u64)
            && self.slots.as_ref().is_none_or(|free| !free.is_empty())
    }

    /// Jobs in flight at or below which the caller pushes more. The window beyond the running
    /// jobs is the dispatcher's read-ahead: refilled when half of it is used rather than after
    /// every job, it takes several tasks per write, and the dispatcher wakes once for them
    /// instead of once per job. Its queue still holds a task for every worker when it does.
    fn refill_at(&self) -> usize {
        let ahead = self.window.saturating_sub(self.jobs);
        self.window.saturating_sub(1 + ahead / 2)
    }

    /// Pushes jobs while the pool has room for them, once the jobs in flight have fallen to
    /// `refill_at`, several per write.
    fn admit(&mut self) -> Result<(), Error> {
        if self.flights.len() > self.refill_at() {
            return Ok(());
        }
        loop {
            let mut batch = Batch::default();
            let mut jobs: Vec<(Job, Vec<u8>, Option<u64>)> = Vec::new();
            let mut full = false;
            while self.room(jobs.len()) {
                let job = match self.retry.pop_front() {
                    Some(job) => job,
                    None => match self.source.next_ready() {
                        Some(Input::Values(args)) => match self.new_job(args) {
                            Some(job) => job,
                            None => continue,
                        },
                        Some(Input::TooLong(len)) => {
                            if let Some(job) = self.new_job(Vec::new()) {
                                self.too_long(job, len)?;
                            }
                            continue;
                        }
                        None => break,
                    },
                };
                let slot = self.slots.as_mut().and_then(BTreeSet::pop_first);
                let (argv, command) = self.template.expand(&Values {
                    args: &job.args,
                    seq: job.seq,
                    slot: slot.unwrap_or(1),
                });
                let Some(pool) = self.pool.as_ref() else {
                    return Ok(());
                };
                if !pool.add_command(&mut batch, &argv, self.timeout)? {
                    // The batch is full: this job opens the next one.
                    self.free_slot(slot);
                    self.retry.push_front(job);
                    full = true;
                    break;
                }
                hooks::before_push();
                jobs.push((job, command, slot));
            }
            self.push(batch, jobs)?;
            if !full {
                return Ok(());
            }
        }
    }

    /// Pushes a batch of jobs (`jobs`, in the batch's order) with one write. If it could not
    /// be written, none of them was pushed: they wait with the retries, first, in their order,
    /// and are settled with them.
    fn push(&mut self, batch: Batch, jobs: Vec<(Job, Vec<u8>, Option<u64>)>) -> Result<(), Error> {
        if jobs.is_empty() {
            return Ok(());
        }
        let Some(pool) = self.pool.as_mut() else {
            return Ok(());
        };
        debug_assert_eq!(batch.len(), jobs.len());
        match pool.push_batch(&batch) {
            Ok(first) => {
                for (id, (job, command, slot)) in (first..).zip(jobs) {
                    self.flights.insert(
                        id,
                        Flight {
                            job,
                            command,
                            slot,
                            started: None,
                        },
                    );
                }
            }
            Err(e @ (Error::Interrupted { .. } | Error::DispatcherGone)) => {
                for (job, _, slot) in jobs.into_iter().rev() {
                    self.free_slot(slot);
                    self.retry.push_front(job);
                }
                match e {
                    Error::Interrupted { signal, .. } => {
                        self.halt(Stop::Interrupted(signal.unwrap_or(Signal::SIGTERM)));
                    }
                    _ => self.dispatcher_gone = true,
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn free_slot(&mut self, slot: Option<u64>) {
        if let (Some(free), Some(slot)) = (self.slots.as_mut(), slot) {
            free.insert(slot);
        }
    }

    /// The next input's job, or `None` if `--resume` skips it.
    fn new_job(&mut self, args: Vec<Vec<u8>>) -> Option<Job> {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.done.contains(&seq) {
            self.counts.skipped += 1;
            self.deliver(seq, Finished::default());
            return None;
        }
        Some(Job {
            seq,
            args,
            attempt: 1,
            log: Vec::new(),
        })
    }

    /// An input line too long to be an argument: its job fails without running.
    fn too_long(&mut self, mut job: Job, len: u64) -> Result<(), Error> {
        let placeholder = format!("<{len} bytes>").into_bytes();
        let (_, command) = self.template.expand(&Values {
            args: std::slice::from_ref(&placeholder),
            seq: job.seq,
            slot: 1,
        });
        let line = joblog::line(
            job.seq,
            epoch_us(SystemTime::now()),
            Duration::ZERO,
            0,
            (EXITVAL_NOT_STARTED, 0),
            &command,
        );
        self.log(&mut job, line)?;
        self.counts.failed += 1;
        let note = format!(
            "task_pool: job {}: its input line is {len} bytes long (at most {MAX_LINE}): not run",
            job.seq
        );
        self.deliver(
            job.seq,
            Finished {
                note: Some(note),
                log: job.log,
                ..Finished::default()
            },
        );
        Ok(())
    }

    /// Waits for input, an outcome, a started command or a signal, and handles what came.
    fn wait(&mut self) -> Result<(), Error> {
        let (Some(pool), Some(queue)) = (self.pool.as_ref(), self.queue.as_ref()) else {
            return Ok(());
        };
        if pool.has_command_reports() {
            // Taken in by a push (which reads the outcomes waiting): settled now, since
            // nothing would wake this wait for them.
            return self.take_outcomes(false);
        }
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        let input = match self.source.needs_read() {
            Some(fd) if self.room(0) => {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                true
            }
            _ => false,
        };
        let outcomes_at = fds.len();
        let outcomes = pool.outcomes_fd();
        if let Some(fd) = outcomes {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let queue_at = fds.len();
        if self.flights.len() > QUIET_FLIGHTS {
            fds.push(PollFd::new(queue.as_fd(), PollFlags::POLLIN));
        }
        let watch = Watch {
            interrupts: self.stop.is_none(),
            children: false,
        };
        let wake = wait_event(&mut fds, self.stop_deadline, watch)?;
        let ready = ready(&fds);
        let outcomes_ready = outcomes.is_some() && ready[outcomes_at];
        drop(fds);
        match wake {
            Wake::Interrupted => {
                let signal = ipc_sys::signal::interrupted().unwrap_or(Signal::SIGTERM);
                self.halt(Stop::Interrupted(signal));
                return Ok(());
            }
            Wake::TimedOut => {
                self.out_of_patience();
                return Ok(());
            }
            Wake::Ready | Wake::ChildChanged => {}
        }
        if input
            && ready[0]
            && let Err(e) = self.source.fill()
            && e.kind() != io::ErrorKind::Interrupted
        {
            let name = self.source.name();
            return Err(Error::Path {
                flag: if name.as_os_str() == "-" {
                    "standard input"
                } else {
                    "::::"
                },
                path: name,
                source: e,
            });
        }
        if ready.get(queue_at).copied().unwrap_or(false) {
            self.take_started(None)?;
        }
        self.take_outcomes(outcomes_ready)
    }

    /// Reads the outcome pipe (if `readable`) and settles every report received.
    fn take_outcomes(&mut self, readable: bool) -> Result<(), Error> {
        let Some(pool) = self.pool.as_mut() else {
            return Ok(());
        };
        if readable && !pool.read_outcomes()? {
            self.dispatcher_gone = true;
        }
        while let Some(report) = self
            .pool
            .as_mut()
            .and_then(Pool::<Commands>::next_command_report)
        {
            self.settle(report)?;
        }
        Ok(())
    }

    /// Takes in the "command started" messages waiting on the output queue: all of them, or
    /// (`until`) up to that task's.
    fn take_started(&mut self, until: Option<u64>) -> Result<(), Error> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let mut buf = [0u8; STARTED_LEN];
        loop {
            let (got, fds) = queue.recv_with_fds(&mut buf, false)?;
            let Received::Message(n) = got else {
                return Ok(());
            };
            let mut fds = fds.into_iter();
            // Anything but two files is not a message of ours: its descriptors close here.
            let (Some(wire::Started { id, pgid }), Some(stdout), Some(stderr), None) = (
                wire::decode::<wire::Started>(&buf[..n]),
                fds.next(),
                fds.next(),
                fds.next(),
            ) else {
                continue;
            };
            if let Some(flight) = self.flights.get_mut(&id) {
                flight.started = Some(Started {
                    pgid,
                    stdout: File::from(stdout),
                    stderr: File::from(stderr),
                });
            }
            if until == Some(id) {
                return Ok(());
            }
        }
    }

    /// One task settled: log it, retry it, or hand its output to the printer.
    fn settle(&mut self, report: CommandReport) -> Result<(), Error> {
        // Sent before the report: already waiting on the queue if it was sent at all.
        if self
            .flights
            .get(&report.id)
            .is_some_and(|f| f.started.is_none())
        {
            self.take_started(Some(report.id))?;
        }
        let Some(flight) = self.flights.remove(&report.id) else {
            return Ok(());
        };
        let Flight {
            mut job,
            command,
            slot,
            started,
        } = flight;
        self.free_slot(slot);
        if let (Ended::WorkerDied(_), Some(s)) = (&report.ended, &started)
            && s.pgid > 0
        {
            // The command died with its worker; whatever it started in its group goes too.
            let _ = killpg(Pid::from_raw(s.pgid), Signal::SIGKILL);
        }
        // Ended (or never started) because the run is stopping, rather than by anything of
        // its own: no joblog line, so that `--resume` runs it again.
        let by_the_run = report.interrupted && (report.winding || self.stop.is_some());
        if let Ended::NotStarted(_) = report.ended
            && report.interrupted
        {
            if by_the_run {
                self.never_ran(job);
            } else {
                // Its worker was told to stop as the task reached it; the dispatcher hands
                // such a task to another worker, so this is only a safety net.
                self.retry.push_front(job);
            }
            return Ok(());
        }
        if by_the_run {
            self.counts.interrupted += 1;
            self.deliver(
                job.seq,
                Finished {
                    log: job.log,
                    ..Finished::default()
                },
            );
            return Ok(());
        }
        let signal_of = |ended: &Ended| match ended {
            Ended::Signaled(s) => *s,
            _ => 0,
        };
        let (exitval, signal) = match &report.ended {
            // Killed by its timeout or by its worker's stop (GNU parallel: -1 and the signal).
            _ if report.timed_out || report.interrupted => {
                (EXITVAL_KILLED, signal_of(&report.ended))
            }
            Ended::Exited(c) => (i64::from(*c), 0),
            // As GNU parallel writes it: Exitval 0, the signal in its own column.
            Ended::Signaled(s) => (0, *s),
            Ended::NotStarted(_) => (EXITVAL_NOT_STARTED, 0),
            Ended::WorkerDied(_) => (EXITVAL_KILLED, libc::SIGKILL),
        };
        let start = if report.start_us == 0 {
            epoch_us(SystemTime::now())
        } else {
            report.start_us
        };
        let line = joblog::line(
            job.seq,
            start,
            report.runtime,
            report.stdout_bytes,
            (exitval, signal),
            &command,
        );
        self.log(&mut job, line)?;
        let success = exitval == 0 && signal == 0;
        if !success && job.attempt <= self.retries && self.stop.is_none() && !report.winding {
            self.counts.retries += 1;
            self.retry.push_back(Job {
                attempt: job.attempt + 1,
                ..job
            });
            return Ok(());
        }
        let note = match &report.ended {
            Ended::NotStarted(why) => {
                Some(format!("task_pool: job {}: not started: {why}", job.seq))
            }
            Ended::WorkerDied(status) => Some(format!(
                "task_pool: job {}: its worker {} {}; the command was killed",
                job.seq,
                report.worker,
                status.after_subject()
            )),
            _ => None,
        };
        if success {
            self.counts.succeeded += 1;
        } else {
            self.counts.failed += 1;
            if report.timed_out {
                self.counts.timed_out += 1;
            }
        }
        let known = !matches!(report.ended, Ended::WorkerDied(_));
        let (stdout, stderr) = match started {
            Some(s) => (
                Some((s.stdout, known.then_some(report.stdout_bytes))),
                Some((s.stderr, known.then_some(report.stderr_bytes))),
            ),
            None => (None, None),
        };
        self.deliver(
            job.seq,
            Finished {
                stdout,
                stderr,
                note,
                log: job.log,
            },
        );
        Ok(())
    }

    /// Writes a joblog line now (to a file), or keeps it with the job to print after its
    /// output (`--joblog -`).
    fn log(&mut self, job: &mut Job, line: Vec<u8>) -> Result<(), Error> {
        match &mut self.joblog {
            None => {}
            Some(Joblog::Stdout) => job.log.extend_from_slice(&line),
            Some(Joblog::File(log)) => log.write_bytes(&line)?,
        }
        Ok(())
    }

    /// A job's final output: printed now, or when its turn comes (`--keep-order`).
    fn deliver(&mut self, seq: u64, finished: Finished) {
        if self.keep_order {
            self.finished.insert(seq, finished);
        } else {
            self.print(finished);
        }
    }

    fn print_ready(&mut self) {
        while let Some(finished) = self.finished.remove(&self.next_print) {
            self.next_print += 1;
            self.print(finished);
        }
    }

    fn print(&mut self, finished: Finished) {
        if self.stop.is_some() {
            return;
        }
        if let Some((file, len)) = &finished.stdout {
            let len = len.unwrap_or_else(|| file.metadata().map_or(0, |m| m.len()));
            let copied = self.stdout.copy(file, len);
            if !self.printed(copied) {
                return;
            }
        }
        if let Some((file, len)) = &finished.stderr {
            let len = len.unwrap_or_else(|| file.metadata().map_or(0, |m| m.len()));
            let copied = match self.stderr.copy(file, len) {
                // A closed stderr loses only the jobs' error text; the run goes on.
                Copied::Closed => Copied::Done,
                other => other,
            };
            if !self.printed(copied) {
                return;
            }
        }
        if let Some(note) = &finished.note {
            let _ = io::stderr().write_all(format!("{note}\n").as_bytes());
        }
        if !finished.log.is_empty() {
            let copied = self.stdout.write(&finished.log);
            self.printed(copied);
        }
    }

    /// Acts on how a write of output went; false if the run stops printing.
    fn printed(&mut self, copied: Copied) -> bool {
        match copied {
            Copied::Done => true,
            Copied::Interrupted => {
                let signal = ipc_sys::signal::interrupted().unwrap_or(Signal::SIGTERM);
                self.halt(Stop::Interrupted(signal));
                false
            }
            Copied::Closed => {
                self.halt(Stop::OutputClosed);
                false
            }
            // Output that cannot be written is lost: the run stops.
            Copied::Failed(e) => {
                self.halt(Stop::OutputFailed(e));
                false
            }
        }
    }

    /// Stops taking work; the dispatcher winds the running jobs down (SIGTERM to their groups,
    /// SIGKILL after the grace) and settles every task it was sent. The inputs known and never
    /// admitted count as not started; a job waiting for a retry keeps the verdict of the
    /// attempt that ran: failed.
    fn halt(&mut self, why: Stop) {
        if self.stop.is_none() {
            self.stop = Some(why);
            self.stop_deadline = Instant::now().checked_add(self.grace + WIND_DOWN_PATIENCE);
            if let Some(pool) = self.pool.as_mut() {
                pool.terminate();
            }
            self.count_unadmitted();
            for job in std::mem::take(&mut self.retry) {
                self.never_ran(job);
            }
        }
    }

    /// The wind-down took longer than the grace and `WIND_DOWN_PATIENCE`: the dispatcher is
    /// SIGKILLed (its pipe closes; the jobs it held are settled as lost or not started).
    fn out_of_patience(&mut self) {
        self.stop_deadline = None;
        if let Some(pool) = self.pool.as_mut() {
            pool.kill();
        }
    }

    /// The inputs known and never admitted: not started (and whether a streamed source had
    /// more, unread). Nothing more is read.
    fn count_unadmitted(&mut self) {
        let (left, more) = self.source.left();
        self.counts.not_started += left;
        self.counts.unread |= more;
        self.source.close();
    }

    /// Settles a job whose attempt was never started because the run stopped: a first attempt
    /// is "not started"; a retry is not counted as one, and the job failed (its previous
    /// attempt did).
    fn never_ran(&mut self, job: Job) {
        let note = if job.attempt > 1 {
            self.counts.retries = self.counts.retries.saturating_sub(1);
            self.counts.failed += 1;
            Some(format!(
                "task_pool: job {}: failed; its retry was not started: the run was stopped",
                job.seq
            ))
        } else {
            self.counts.not_started += 1;
            None
        };
        self.deliver(
            job.seq,
            Finished {
                note,
                log: job.log,
                ..Finished::default()
            },
        );
    }

    /// Every job is settled (or the dispatcher is gone): let the dispatcher finish, reap it,
    /// say how the run went.
    fn finish(mut self) -> Result<u8, Error> {
        let (status, fatal) = if self.pool.is_some() {
            let ended = self.wind_up()?;
            // Which jobs started (the groups to kill), now that no worker is left to say more.
            self.take_started(None)?;
            ended
        } else {
            (
                ipc_sys::ExitStatus::Exited(i32::from(EXIT_INTERRUPTED)),
                None,
            )
        };
        let told_to_stop = status == ipc_sys::ExitStatus::Exited(i32::from(EXIT_INTERRUPTED));
        if told_to_stop && self.flights.values().all(|f| f.started.is_none()) {
            // Tasks written to a dispatcher that had stopped reading: they never started.
            let mut unread: Vec<Flight> = self.flights.drain().map(|(_, f)| f).collect();
            unread.sort_by_key(|f| f.job.seq);
            for flight in unread {
                self.never_ran(flight.job);
            }
        }
        let lost = !self.flights.is_empty();
        let mut died = None;
        let expected = [0, EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED]
            .map(i32::from)
            .map(ipc_sys::ExitStatus::Exited)
            .contains(&status);
        if lost || !expected {
            died = Some(match fatal {
                Some(message) => format!("dispatcher: {message}"),
                None => format!("the dispatcher {}", status.after_subject()),
            });
            let mut flights: Vec<Flight> = self.flights.drain().map(|(_, f)| f).collect();
            flights.sort_by_key(|f| f.job.seq);
            for flight in flights {
                let Some(s) = flight.started.as_ref().filter(|s| s.pgid > 0) else {
                    self.never_ran(flight.job);
                    continue;
                };
                // Its worker died with the dispatcher and took the command along (its death
                // signal); whatever the command started in its group is killed here. It never
                // completed: no joblog line, so `--resume` runs it again.
                let _ = killpg(Pid::from_raw(s.pgid), Signal::SIGKILL);
                self.counts.lost += 1;
                let (seq, log) = (flight.job.seq, flight.job.log);
                self.deliver(
                    seq,
                    Finished {
                        log,
                        ..Finished::default()
                    },
                );
            }
            if self.stop.is_none() {
                self.count_unadmitted();
            }
        }
        // Whatever waits for an earlier job that will never come is printed now, in order.
        for (_, finished) in std::mem::take(&mut self.finished) {
            self.print(finished);
        }
        match self.stop.take() {
            Some(Stop::OutputClosed) => return Ok(EXIT_OUTPUT_CLOSED),
            Some(Stop::OutputFailed(e)) => return Err(Error::Output(e)),
            Some(Stop::Interrupted(signal)) => {
                self.summary(Some(&format!("interrupted by {}", signal.as_str())));
                return Ok(EXIT_INTERRUPTED);
            }
            None => {}
        }
        if let Some(why) = died {
            self.summary(None);
            return Err(Error::DispatcherFailed {
                why,
                partial: Partial::default(),
            });
        }
        if status == ipc_sys::ExitStatus::Exited(i32::from(EXIT_INTERRUPTED)) {
            // SIGINT/SIGTERM reached the dispatcher alone: it wound the run down as for a
            // Ctrl+C, and this process says so.
            self.count_unadmitted();
            self.summary(Some("interrupted (the dispatcher was told to stop)"));
            return Ok(EXIT_INTERRUPTED);
        }
        match self.counts.failures() {
            0 => Ok(0),
            n => {
                self.summary(None);
                Ok(n.min(MAX_FAILURE_EXIT) as u8)
            }
        }
    }

    /// No more tasks: reads the last outcomes until the dispatcher closes its pipe, then reaps
    /// it: how it ended, and its last words if it failed. A retry still waiting has nowhere to
    /// go any more: its job failed.
    fn wind_up(&mut self) -> Result<(ipc_sys::ExitStatus, Option<String>), Error> {
        if let Some(pool) = self.pool.as_mut() {
            pool.close_tasks();
        }
        while let Some(fd) = self.pool.as_ref().and_then(Pool::<Commands>::outcomes_fd) {
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            let watch = Watch {
                interrupts: self.stop.is_none(),
                children: false,
            };
            match wait_event(&mut fds, self.stop_deadline, watch)? {
                Wake::Interrupted => {
                    let signal = ipc_sys::signal::interrupted().unwrap_or(Signal::SIGTERM);
                    self.halt(Stop::Interrupted(signal));
                    continue;
                }
                Wake::TimedOut => {
                    self.out_of_patience();
                    continue;
                }
                Wake::Ready | Wake::ChildChanged => {}
            }
            // At end of file the pool forgets the pipe, and the loop ends.
            self.take_outcomes(true)?;
        }
        for job in std::mem::take(&mut self.retry) {
            self.never_ran(job);
        }
        match self.pool.as_mut() {
            Some(pool) => Ok(pool.reap()?),
            None => Ok((ipc_sys::ExitStatus::Exited(0), None)),
        }
    }

    /// One line on stderr: how many jobs, how they ended.
    fn summary(&self, prefix: Option<&str>) {
        let c = &self.counts;
        let total = c.succeeded + c.failed + c.interrupted + c.not_started + c.lost;
        let mut line = String::from("task_pool: ");
        if let Some(p) = prefix {
            line.push_str(&format!("{p}: "));
        }
        line.push_str(&format!(
            "{total} job{}: {} succeeded, {} failed",
            if total == 1 { "" } else { "s" },
            c.succeeded,
            c.failed
        ));
        if c.timed_out > 0 {
            line.push_str(&format!(" ({} timed out)", c.timed_out));
        }
        if c.interrupted > 0 {
            line.push_str(&format!(", {} interrupted", c.interrupted));
        }
        if c.lost > 0 {
            line.push_str(&format!(", {} lost with the dispatcher", c.lost));
        }
        if c.not_started > 0 || c.unread {
            line.push_str(&format!(", {} not started", c.not_started));
        }
        if c.unread {
            line.push_str(" (and the rest of the input, not read)");
        }
        if c.retries > 0 {
            line.push_str(&format!(
                "; {} retr{}",
                c.retries,
                if c.retries == 1 { "y" } else { "ies" }
            ));
        }
        if c.skipped > 0 {
            line.push_str(&format!("; {} already done (--resume)", c.skipped));
        }
        line.push('\n');
        let _ = io::stderr().write_all(line.as_bytes());
    }
}
