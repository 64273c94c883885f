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
mod output;
mod template;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{CommandFactory, Parser};
use ipc_cli::{EXIT_INTERRUPTED, parse_between, parse_duration};
use ipc_sys::linelog::LineLog;
use ipc_sys::queue::{QueueEnd, Received};
use ipc_sys::signal::{Wake, Watch, wait_event};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::dispatcher::MAX_QUEUED_PER_WORKER;
use super::wire::{CommandReport, Ended, STARTED_LEN, decode_started};
use super::{EXIT_OUTPUT_CLOSED, Error, Pool, PoolConfig, Stopped, create_joblog, describe_status};
use input::{Input, LineReader, MAX_LINE, Source};
use output::{Copied, Sink};
use template::{Template, render};

/// GNU parallel's joblog header, column for column.
pub const JOBLOG_HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";
/// Exitval of a job that could not be started (GNU parallel's "other error").
pub const EXITVAL_NOT_STARTED: i64 = 255;
/// Exitval of a job ended by a timeout, an interrupt or its worker's death (as in GNU parallel).
pub const EXITVAL_KILLED: i64 = -1;
/// Most jobs whose output waits for an earlier one under `--keep-order` (each holds two files).
const MAX_HELD: usize = 4096;

#[derive(Debug, Parser)]
#[command(
    name = "task_pool",
    version,
    about = "Run a command once per input on a pool of worker processes (like xargs -P or GNU parallel)",
    override_usage = "task_pool [OPTIONS] -- CMD [ARG...] [::: INPUT...]",
    after_help = "Each input is one job: a ::: argument, or else a line of standard input. {} in CMD or its\n\
                  arguments is replaced by the input (also inside a word: out/{}.gz); without {}, the input is\n\
                  appended as the last argument. No shell: to use one, say so (-- sh -c 'grep x \"$1\"' sh {}).\n\n\
                  Each job runs in a process group of its own, stdin from /dev/null. Its stdout and stderr are\n\
                  captured whole and printed when it ends, stdout then stderr, one job at a time: never mixed\n\
                  with another job's, not even mid-line. A job's leftover processes in its group are killed\n\
                  when it ends.\n\n\
                  --timeout: SIGTERM to the job's group, SIGKILL after --grace; reported as timed out.\n\
                  --retries K: a failed job (non-zero exit, signal, timeout) runs again, up to K more times;\n\
                  only its last attempt's output is printed; the joblog has one line per attempt.\n\
                  --joblog: GNU parallel's format: Seq Host Starttime JobRuntime Send Receive Exitval Signal\n\
                  Command, tab-separated (Exitval -1 for a job killed by timeout or interrupt, 255 for one that\n\
                  could not start; Receive counts stdout bytes).\n\n\
                  Exit codes: 0 every job succeeded, 1 a job failed or never ran (counts in the summary on stderr),\n\
                  2 bad input, 130 interrupted (SIGINT/SIGTERM: running jobs are ended, the summary says what\n\
                  ran), 141 standard output closed (| head).\n\n\
                  Examples:\n  task_pool -j 4 -- gzip -9 {} ::: *.log\n  find . -name '*.png' | task_pool --timeout 30s --joblog jobs.tsv -- optipng {}\n  task_pool -k --retries 2 -- curl -fsS https://example.com/{} ::: a b c"
)]
pub struct CommandArgs {
    /// Jobs run at once: worker processes (default: the number of cores)
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = |s: &str| parse_between(s, "--jobs", 1, 256), allow_negative_numbers = true)]
    jobs: Option<u64>,
    /// A job running longer is ended (SIGTERM to its group, SIGKILL after the grace): 300ms, 1.5s, 2m (a bare number is seconds)
    #[arg(long, value_name = "DUR", value_parser = parse_timeout, allow_hyphen_values = true)]
    timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL, for a job that overran its timeout or when interrupted
    #[arg(long, value_name = "DUR", default_value = "500ms", value_parser = |s: &str| parse_duration(s, "--grace", Duration::from_secs(3600)), allow_hyphen_values = true)]
    grace: Duration,
    /// Write GNU parallel's joblog here (one line per attempt)
    #[arg(long, value_name = "FILE")]
    joblog: Option<PathBuf>,
    /// Run a failed job again, up to K more times
    #[arg(long, value_name = "K", default_value = "0", value_parser = |s: &str| parse_between(s, "--retries", 0, 1000), allow_negative_numbers = true)]
    retries: u64,
    /// Print the jobs' output in input order (not in the order they end)
    #[arg(short = 'k', long)]
    keep_order: bool,
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
    let words: Vec<Vec<u8>> = cmd.iter().map(|w| w.as_bytes().to_vec()).collect();
    let (template, inputs) = match words.iter().position(|w| w == b":::") {
        Some(at) => (words[..at].to_vec(), Some(words[at + 1..].to_vec())),
        None => (words, None),
    };
    if template.is_empty() {
        return Err(Error::Usage(
            "--: no command given (task_pool [OPTIONS] -- CMD [ARG...])".into(),
        ));
    }
    let jobs = opts
        .jobs
        .map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |j| j as usize,
        )
        .clamp(1, 256);
    if let Some(path) = &opts.joblog {
        create_joblog(path, JOBLOG_HEADER)?;
    }
    let joblog = opts.joblog.as_deref().map(LineLog::append).transpose()?;
    let files = raise_descriptor_limit();
    let held = files.saturating_sub(64 + 4 * jobs as u64) / 2;
    let source = match inputs {
        Some(args) => Source::Args(args.into_iter()),
        None => Source::Stdin(LineReader::default()),
    };
    // Ctrl+C (the whole group) or SIGTERM (this process alone): a flag, acted on in the loop.
    ipc_sys::signal::install_interrupt_handlers()?;
    let config = PoolConfig {
        workers: jobs,
        grace: opts.grace,
        joblog: None,
        announce: false,
    };
    let (pool, queue) = Pool::start_commands(config)?;
    let mut run = Run {
        template: Template::new(template),
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
        window: jobs * (1 + MAX_QUEUED_PER_WORKER),
        held: (held as usize).clamp(jobs, MAX_HELD),
        done: BTreeMap::new(),
        next_print: 1,
        stdout: Sink::stdout(),
        stderr: Sink::stderr(),
        counts: Counts::default(),
        stop: None,
        dispatcher_gone: false,
    };
    run.serve()?;
    run.finish()
}

/// Lets this process hold as many descriptors as allowed (each finished job waiting to be
/// printed holds two); returns the limit in force.
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
    input: Vec<u8>,
    attempt: u64,
}

/// What a worker handed over when the command started.
struct Started {
    /// When this process learned it had started (microseconds since the epoch).
    at_us: u64,
    pgid: i32,
    stdout: File,
    stderr: File,
}

/// A job pushed to the pool and not settled yet.
struct Flight {
    job: Job,
    command: Vec<u8>,
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
}

#[derive(Default)]
struct Counts {
    succeeded: u64,
    failed: u64,
    timed_out: u64,
    not_started: u64,
    /// Running when the dispatcher died: killed, their result unknown.
    lost: u64,
    retries: u64,
}

/// Why the run is stopping early.
enum Stop {
    Interrupted(Signal),
    OutputClosed,
    OutputFailed(io::Error),
}

struct Run {
    template: Template,
    timeout: Option<Duration>,
    retries: u64,
    keep_order: bool,
    joblog: Option<LineLog>,
    pool: Pool,
    queue: QueueEnd,
    source: Source,
    flights: HashMap<u64, Flight>,
    /// Failed jobs to run again, first.
    retry: VecDeque<Job>,
    next_seq: u64,
    /// Tasks pushed and not settled, at most: what the dispatcher will read at once.
    window: usize,
    /// Jobs admitted ahead of the next one to print, at most (`--keep-order`).
    held: usize,
    done: BTreeMap<u64, Finished>,
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

    /// Pushes jobs while the pool has room for them.
    fn admit(&mut self) -> Result<(), Error> {
        while self.stop.is_none() && self.flights.len() < self.window && !self.dispatcher_gone {
            if self.keep_order && self.next_seq - self.next_print >= self.held as u64 {
                return Ok(());
            }
            let job = match self.retry.pop_front() {
                Some(job) => job,
                None => match self.source.next_ready() {
                    Some(Input::Line(input)) => self.new_job(input),
                    Some(Input::TooLong(len)) => {
                        let job = self.new_job(Vec::new());
                        self.too_long(job, len)?;
                        continue;
                    }
                    None => return Ok(()),
                },
            };
            let argv = self.template.argv(&job.input);
            let command = render(&argv);
            match self.pool.push_command(argv, self.timeout) {
                Ok(id) => {
                    self.flights.insert(
                        id,
                        Flight {
                            job,
                            command,
                            started: None,
                        },
                    );
                }
                Err(Error::Interrupted { signal, .. }) => {
                    self.halt(Stop::Interrupted(signal.unwrap_or(Signal::SIGTERM)));
                }
                Err(Error::DispatcherGone) => {
                    self.retry.push_front(job);
                    self.dispatcher_gone = true;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn new_job(&mut self, input: Vec<u8>) -> Job {
        let seq = self.next_seq;
        self.next_seq += 1;
        Job {
            seq,
            input,
            attempt: 1,
        }
    }

    /// An input line too long to be an argument: its job fails without running.
    fn too_long(&mut self, job: Job, len: u64) -> Result<(), Error> {
        let command = render(&self.template.argv(format!("<{len} bytes>").as_bytes()));
        self.log(
            job.seq,
            now_us(),
            Duration::ZERO,
            0,
            EXITVAL_NOT_STARTED,
            0,
            &command,
        )?;
        self.counts.failed += 1;
        let note = format!(
            "task_pool: job {}: its input line is {len} bytes long (at most {MAX_LINE}): not run",
            job.seq
        );
        self.deliver(
            job.seq,
            Finished {
                note: Some(note),
                ..Finished::default()
            },
        );
        Ok(())
    }

    /// Waits for input, an outcome, a started command or a signal, and handles what came.
    fn wait(&mut self) -> Result<(), Error> {
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        let stdin = io::stdin();
        let reading = self.stop.is_none()
            && self.source.needs_read()
            && self.flights.len() < self.window
            && !(self.keep_order && self.next_seq - self.next_print >= self.held as u64);
        if reading {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        let outcomes_at = fds.len();
        if let Some(outcomes) = self.pool.outcomes_fd() {
            fds.push(PollFd::new(outcomes, PollFlags::POLLIN));
        }
        let queue_at = fds.len();
        fds.push(PollFd::new(self.queue.as_fd(), PollFlags::POLLIN));
        let watch = Watch {
            interrupts: self.stop.is_none(),
            children: false,
        };
        let wake = wait_event(&mut fds, None, watch)?;
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if wake == Wake::Interrupted {
            let signal = ipc_sys::signal::interrupted().unwrap_or(Signal::SIGTERM);
            self.halt(Stop::Interrupted(signal));
            return Ok(());
        }
        if reading
            && ready[0]
            && let Source::Stdin(reader) = &mut self.source
            && let Err(e) = reader.fill()
            && e.kind() != io::ErrorKind::Interrupted
        {
            return Err(Error::Path {
                flag: "standard input",
                path: PathBuf::from("-"),
                source: e,
            });
        }
        if ready[queue_at] {
            self.take_started()?;
        }
        if ready.get(outcomes_at).copied().unwrap_or(false) && !self.pool.read_outcomes()? {
            self.dispatcher_gone = true;
        }
        while let Some(report) = self.pool.next_command_report() {
            self.settle(report)?;
        }
        Ok(())
    }

    /// Takes in every "command started" message waiting on the output queue.
    fn take_started(&mut self) -> Result<(), Error> {
        let mut buf = [0u8; STARTED_LEN];
        loop {
            let (got, fds) = self.queue.recv_with_fds(&mut buf, false)?;
            let Received::Message(n) = got else {
                return Ok(());
            };
            let mut fds = fds.into_iter();
            // Anything but two files is not a message of ours: its descriptors close here.
            let (Some((id, pgid)), Some(stdout), Some(stderr), None) = (
                decode_started(&buf[..n]),
                fds.next(),
                fds.next(),
                fds.next(),
            ) else {
                continue;
            };
            if let Some(flight) = self.flights.get_mut(&id) {
                flight.started = Some(Started {
                    at_us: now_us(),
                    pgid,
                    stdout: File::from(stdout),
                    stderr: File::from(stderr),
                });
            }
        }
    }

    /// One task settled: log it, retry it, or hand its output to the printer.
    fn settle(&mut self, report: CommandReport) -> Result<(), Error> {
        // Sent before the report: already waiting on the queue if it was sent at all.
        self.take_started()?;
        let Some(flight) = self.flights.remove(&report.id) else {
            return Ok(());
        };
        let Flight {
            job,
            command,
            started,
        } = flight;
        if let (Ended::WorkerDied(_), Some(s)) = (&report.ended, &started)
            && s.pgid > 0
        {
            // The command died with its worker; whatever it started in its group goes too.
            let _ = killpg(Pid::from_raw(s.pgid), Signal::SIGKILL);
        }
        if report.interrupted && matches!(report.ended, Ended::NotStarted(_)) {
            self.retry_never_ran(job.seq, job.attempt);
            return Ok(());
        }
        let (exitval, signal) = match &report.ended {
            _ if report.timed_out || report.interrupted => (
                EXITVAL_KILLED,
                match report.ended {
                    Ended::Signaled(s) => s,
                    _ => 0,
                },
            ),
            Ended::Exited(c) => (i64::from(*c), 0),
            Ended::Signaled(s) => (128 + i64::from(*s), *s),
            Ended::NotStarted(_) => (EXITVAL_NOT_STARTED, 0),
            Ended::WorkerDied(_) => (EXITVAL_KILLED, libc::SIGKILL),
        };
        let start = if report.start_us == 0 {
            now_us()
        } else {
            report.start_us
        };
        self.log(
            job.seq,
            start,
            report.runtime,
            report.stdout_bytes,
            exitval,
            signal,
            &command,
        )?;
        let success = exitval == 0;
        if !success && job.attempt <= self.retries && self.stop.is_none() {
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
                describe_status(*status)
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
            },
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn log(
        &mut self,
        seq: u64,
        start_us: u64,
        runtime: Duration,
        receive: u64,
        exitval: i64,
        signal: i32,
        command: &[u8],
    ) -> Result<(), Error> {
        let Some(joblog) = &mut self.joblog else {
            return Ok(());
        };
        let ms = (start_us + 500) / 1000;
        let mut line = format!(
            "{seq}\t:\t{}.{:03}\t{:10.3}\t0\t{receive}\t{exitval}\t{signal}\t",
            ms / 1000,
            ms % 1000,
            runtime.as_secs_f64()
        )
        .into_bytes();
        line.extend_from_slice(command);
        line.push(b'\n');
        joblog.write_bytes(&line)?;
        Ok(())
    }

    /// A job's final output: printed now, or when its turn comes (`--keep-order`).
    fn deliver(&mut self, seq: u64, finished: Finished) {
        if self.keep_order {
            self.done.insert(seq, finished);
        } else {
            self.print(finished);
        }
    }

    fn print_ready(&mut self) {
        while let Some(finished) = self.done.remove(&self.next_print) {
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
            match self.stdout.copy(file, len) {
                Copied::Done => {}
                Copied::Interrupted => {
                    let signal = ipc_sys::signal::interrupted().unwrap_or(Signal::SIGTERM);
                    self.halt(Stop::Interrupted(signal));
                    return;
                }
                Copied::Closed => {
                    self.halt(Stop::OutputClosed);
                    return;
                }
                Copied::Failed(e) => {
                    self.halt(Stop::OutputFailed(e));
                    return;
                }
            }
        }
        if let Some((file, len)) = &finished.stderr {
            let len = len.unwrap_or_else(|| file.metadata().map_or(0, |m| m.len()));
            match self.stderr.copy(file, len) {
                Copied::Done | Copied::Closed => {}
                Copied::Interrupted => {
                    let signal = ipc_sys::signal::interrupted().unwrap_or(Signal::SIGTERM);
                    self.halt(Stop::Interrupted(signal));
                    return;
                }
                // A job's stderr that cannot be written is lost output, as for stdout.
                Copied::Failed(e) => {
                    self.halt(Stop::OutputFailed(e));
                    return;
                }
            }
        }
        if let Some(note) = &finished.note {
            let _ = io::stderr().write_all(format!("{note}\n").as_bytes());
        }
    }

    /// Stops taking work; the dispatcher winds the running jobs down (SIGTERM to their groups,
    /// SIGKILL after the grace) and settles every task it was sent. A job waiting for a retry
    /// keeps the verdict of the attempt that ran: failed.
    fn halt(&mut self, why: Stop) {
        if self.stop.is_none() {
            self.stop = Some(why);
            self.pool.terminate();
            self.source.close();
            for job in std::mem::take(&mut self.retry) {
                self.retry_never_ran(job.seq, job.attempt);
            }
        }
    }

    /// Settles a job whose attempt `attempt` was never started because the run was stopped:
    /// a first attempt is "not started"; a retry is not counted as one, and the job failed (its
    /// previous attempt did).
    fn retry_never_ran(&mut self, seq: u64, attempt: u64) {
        let note = if attempt > 1 {
            self.counts.retries = self.counts.retries.saturating_sub(1);
            self.counts.failed += 1;
            Some(format!(
                "task_pool: job {seq}: failed; its retry was not started: the run was stopped"
            ))
        } else {
            self.counts.not_started += 1;
            None
        };
        self.deliver(
            seq,
            Finished {
                note,
                ..Finished::default()
            },
        );
    }

    /// Every job is settled (or the dispatcher is gone): let the dispatcher finish, reap it,
    /// say how the run went.
    fn finish(mut self) -> Result<u8, Error> {
        self.pool.close_tasks();
        while self.pool.outcomes_fd().is_some() {
            let Some(fd) = self.pool.outcomes_fd() else {
                break;
            };
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            let watch = Watch {
                interrupts: self.stop.is_none(),
                children: false,
            };
            if wait_event(&mut fds, None, watch)? == Wake::Interrupted {
                let signal = ipc_sys::signal::interrupted().unwrap_or(Signal::SIGTERM);
                self.halt(Stop::Interrupted(signal));
                continue;
            }
            if !self.pool.read_outcomes()? {
                break;
            }
            while let Some(report) = self.pool.next_command_report() {
                self.settle(report)?;
            }
        }
        let (status, fatal) = self.pool.reap()?;
        let lost = !self.flights.is_empty();
        let mut died = None;
        let expected = [0, i32::from(EXIT_INTERRUPTED), EXIT_OUTPUT_CLOSED]
            .map(ipc_sys::ExitStatus::Exited)
            .contains(&status);
        if lost || !expected {
            died = Some(match fatal {
                Some(message) => format!("dispatcher: {message}"),
                None => format!("the dispatcher {}", describe_status(status)),
            });
            let mut flights: Vec<Flight> = self.flights.drain().map(|(_, f)| f).collect();
            flights.sort_by_key(|f| f.job.seq);
            for flight in flights {
                let Some(s) = flight.started.as_ref().filter(|s| s.pgid > 0) else {
                    self.counts.not_started += 1;
                    continue;
                };
                // Its worker died with the dispatcher and took the command along (its death
                // signal); whatever the command started in its group is killed here.
                let _ = killpg(Pid::from_raw(s.pgid), Signal::SIGKILL);
                self.counts.lost += 1;
                let runtime = Duration::from_micros(now_us().saturating_sub(s.at_us));
                let receive = s.stdout.metadata().map_or(0, |m| m.len());
                let (seq, at) = (flight.job.seq, s.at_us);
                self.log(
                    seq,
                    at,
                    runtime,
                    receive,
                    EXITVAL_KILLED,
                    libc::SIGKILL,
                    &flight.command,
                )?;
            }
        }
        // Whatever waits for an earlier job that will never come is printed now, in order.
        for (_, finished) in std::mem::take(&mut self.done) {
            self.print(finished);
        }
        match self.stop.take() {
            Some(Stop::OutputClosed) => return Ok(EXIT_OUTPUT_CLOSED as u8),
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
                partial: Box::<Stopped>::default(),
            });
        }
        if status == ipc_sys::ExitStatus::Exited(i32::from(EXIT_INTERRUPTED)) {
            // SIGINT/SIGTERM reached the dispatcher alone: it wound the run down as for a
            // Ctrl+C, and this process says so.
            self.summary(Some("interrupted (the dispatcher was told to stop)"));
            return Ok(EXIT_INTERRUPTED);
        }
        if self.counts.failed > 0 || self.counts.not_started > 0 {
            self.summary(None);
            return Ok(1);
        }
        Ok(0)
    }

    /// One line on stderr: how many jobs, how they ended.
    fn summary(&self, prefix: Option<&str>) {
        let c = &self.counts;
        let total = c.succeeded + c.failed + c.not_started + c.lost;
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
        if c.lost > 0 {
            line.push_str(&format!(", {} lost with the dispatcher", c.lost));
        }
        if c.not_started > 0 {
            line.push_str(&format!(", {} not started", c.not_started));
        }
        if c.retries > 0 {
            line.push_str(&format!(
                "; {} retr{}",
                c.retries,
                if c.retries == 1 { "y" } else { "ies" }
            ));
        }
        line.push('\n');
        let _ = io::stderr().write_all(line.as_bytes());
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, super::micros)
}
