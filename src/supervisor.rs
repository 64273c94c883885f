//! The main process of a run: prepares the logs and the pipe, forks the producer and the
//! consumer, closes its own pipe ends, reaps both children (forwarding an interrupt to the
//! producer), and writes the final accounting.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::channel::Pipe;
use crate::error::{EXIT_FAILURE, EXIT_INTERRUPTED, Error, Result};
use crate::log::{ConsumerLog, ExecutionLog, LogPaths};
use crate::options::RunOptions;
use crate::process::{self, Reaped, WaitOutcome};
use crate::record::{Event, Role, RunParams};
use crate::tally::Tally;
use crate::{consumer, producer};

/// Runs one producer–consumer session and returns main's exit code.
pub fn run(opts: &RunOptions) -> Result<u8> {
    let started = Instant::now();
    let paths = LogPaths::create_fresh(&opts.log_dir)?;
    let echo = !opts.quiet;
    process::install_interrupt_handlers()?;
    let tally = Tally::new()?;

    let mut log = ExecutionLog::open(&paths.execution, Role::Main, echo)?;
    log.log(&Event::Started(Some(RunParams {
        count: opts.count,
        min: opts.min,
        max: opts.max,
        seed: opts.seed,
        pace: opts.pace,
        fault: opts.fault,
    })))?;
    // Closed before forking: a child would otherwise inherit main's open file description, and
    // flock exclusion works between open file descriptions, not between processes.
    drop(log);

    let mut pipe = Pipe::new()?;
    // Each child takes its end of the pipe (closing the other) first thing after fork, before
    // anything that could block or fail.
    let producer = process::spawn(Role::Producer, || {
        let sender = pipe.into_sender();
        run_child(Role::Producer, &paths, echo, |log| {
            producer::run(opts, log, sender?, &tally)
        })
    })?;
    let consumer = process::spawn(Role::Consumer, || {
        let receiver = pipe.into_receiver();
        run_child(Role::Consumer, &paths, echo, |log| {
            let mut out = ConsumerLog::open(&paths.consumer)?;
            consumer::run(opts, log, &mut out, receiver?, &tally)
        })
    });
    // Main neither reads nor writes the pipe. While it held the write end the consumer could
    // never see EOF; while it held the read end the producer could never get EPIPE.
    drop(pipe);
    let consumer = match consumer {
        Ok(pid) => pid,
        Err(e) => {
            // The producer now has no reader: it fails with EPIPE and exits; reap it anyway.
            while let Ok(WaitOutcome::Reaped(_) | WaitOutcome::Interrupted) = process::wait_any() {}
            return Err(e);
        }
    };

    let mut session = Session {
        log: None,
        first_error: None,
        producer,
        consumer,
        interrupted: false,
    };
    session.open_log(&paths, echo);
    session.log(&Event::Spawned {
        role: Role::Producer,
        pid: producer.as_raw(),
    });
    session.log(&Event::Spawned {
        role: Role::Consumer,
        pid: consumer.as_raw(),
    });
    let show_progress = crate::progress::wanted(opts.quiet);
    let received = || tally.received();
    let reaped = crate::progress::while_running(
        show_progress,
        "values received",
        Some(opts.count),
        &received,
        || session.reap_all(),
    )?;

    let sent = tally.sent();
    let received = tally.received();
    let lost = sent.saturating_sub(received);
    let children_ok = reaped.iter().all(|r| r.status.succeeded()) && reaped.len() == 2;
    let code = if session.interrupted {
        EXIT_INTERRUPTED
    } else if children_ok && lost == 0 && session.first_error.is_none() {
        0
    } else {
        EXIT_FAILURE
    };
    session.log(&Event::Exiting { code: code.into() });
    let extra = resources(received, started.elapsed(), &reaped, producer);
    session.log(&Event::Summary {
        sent,
        received,
        lost,
        extra: Some(extra),
    });
    match session.first_error {
        Some(e) => Err(e),
        None => Ok(code),
    }
}

/// Main's state while its children run. A failed log write must not stop main from reaping,
/// so errors are kept and reported at the end.
struct Session {
    log: Option<ExecutionLog>,
    first_error: Option<Error>,
    producer: Pid,
    consumer: Pid,
    interrupted: bool,
}

impl Session {
    fn open_log(&mut self, paths: &LogPaths, echo: bool) {
        match ExecutionLog::open(&paths.execution, Role::Main, echo) {
            Ok(log) => self.log = Some(log),
            Err(e) => self.keep(e),
        }
    }

    fn log(&mut self, event: &Event) {
        if let Some(log) = &mut self.log
            && let Err(e) = log.log(event)
        {
            self.keep(e);
        }
    }

    fn keep(&mut self, e: Error) {
        self.first_error.get_or_insert(e);
    }

    /// Waits for both children, logging each exit as it happens.
    fn reap_all(&mut self) -> Result<Vec<Reaped>> {
        let mut reaped: Vec<Reaped> = Vec::new();
        loop {
            let outcome = process::wait_any()?;
            if let WaitOutcome::Reaped(child) = &outcome {
                let role = match child.pid {
                    pid if pid == self.producer => Some(Role::Producer),
                    pid if pid == self.consumer => Some(Role::Consumer),
                    // Main forks nothing else; reaping an unknown child is harmless.
                    _ => None,
                };
                if let Some(role) = role {
                    self.log(&Event::ChildExited {
                        role,
                        pid: child.pid.as_raw(),
                        status: child.status.clone(),
                    });
                }
                reaped.push(child.clone());
            }
            // The flag, not EINTR, is the truth: a signal that lands while wait4 is already
            // returning a child runs its handler without making the call fail.
            self.on_interrupt(&reaped);
            if outcome == WaitOutcome::NoChildren {
                return Ok(reaped);
            }
        }
    }

    /// SIGINT or SIGTERM reached main — alone, or with the whole process group. Either way the
    /// producer is asked to stop (a second SIGTERM is harmless), and the consumer is left alone
    /// so it drains the pipe up to the end marker.
    fn on_interrupt(&mut self, reaped: &[Reaped]) {
        let Some(signal) = process::interrupted() else {
            return;
        };
        if self.interrupted {
            return;
        }
        self.interrupted = true;
        self.log(&Event::Interrupted {
            signal: signal.as_str().into(),
            note: None,
        });
        if !reaped.iter().any(|r| r.pid == self.producer) {
            process::send_signal(self.producer, nix::sys::signal::Signal::SIGTERM);
        }
    }
}

/// The frame of every child role: open this process's own log descriptor, log `started`, run
/// the role, log any error and `exiting with code <c>`. Returns the exit code.
fn run_child(
    role: Role,
    paths: &LogPaths,
    echo: bool,
    body: impl FnOnce(&mut ExecutionLog) -> Result<i32>,
) -> i32 {
    let mut log = match ExecutionLog::open(&paths.execution, role, echo) {
        Ok(log) => log,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: {role}: {e}");
            return e.exit_code().into();
        }
    };
    let result = log.log(&Event::Started(None)).and_then(|()| body(&mut log));
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            if let Err(log_error) = log.log(&Event::Error(e.to_string())) {
                let _ = writeln!(io::stderr(), "error: {role}: {e} ({log_error})");
            }
            e.exit_code().into()
        }
    };
    if let Err(e) = log.log(&Event::Exiting { code }) {
        let _ = writeln!(io::stderr(), "error: {role}: {e}");
        return if code == 0 { EXIT_FAILURE.into() } else { code };
    }
    code
}

/// The resource part of the summary: throughput, and each process's peak RSS and CPU time from
/// the kernel's own accounting (`wait4` for the children, `getrusage` for main).
fn resources(received: u64, wall: Duration, reaped: &[Reaped], producer: Pid) -> String {
    let secs = wall.as_secs_f64();
    let rate = if secs > 0.0 {
        received as f64 / secs
    } else {
        0.0
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    // Whole numbers at scale; two decimals for a paced run, where "1 values/s" would mislead.
    let mut text = if rate >= 100.0 {
        format!("{rate:.0} values/s over {secs:.3} s")
    } else {
        format!("{rate:.2} values/s over {secs:.3} s")
    };
    let mut children: Vec<&Reaped> = reaped.iter().collect();
    children.sort_by_key(|r| r.pid != producer);
    for child in children {
        let role = if child.pid == producer {
            Role::Producer
        } else {
            Role::Consumer
        };
        let cpu = (child.usage.user + child.usage.system).as_secs_f64();
        text.push_str(&format!(
            "; {role} peak RSS {:.1} MiB, CPU {cpu:.3} s",
            mib(child.usage.max_rss_kib)
        ));
    }
    text.push_str(&format!(
        "; main peak RSS {:.1} MiB",
        mib(process::own_max_rss_kib())
    ));
    text
}
