//! The main process of a run: prepares the logs and the pipe, forks the producer and the
//! consumer, closes its own pipe ends, reaps both children (forwarding an interrupt to the
//! producer), and writes the final accounting.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use ipc_sys::pipe::Pipe;
use ipc_sys::{Children, Event as ChildEvent, Fork, Reaped};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::desafio::error::{EXIT_FAILURE, EXIT_INTERRUPTED, Error, Result};
use crate::desafio::log::{ConsumerLog, ExecutionLog, LogPaths};
use crate::desafio::options::RunOptions;
use crate::desafio::record::{Event, Role, RunParams};
use crate::desafio::tally::Tally;
use crate::desafio::wire::{Receiver, Sender};
use crate::desafio::{consumer, producer};

/// Runs one producer–consumer session and returns main's exit code.
pub fn run(opts: &RunOptions) -> Result<u8> {
    let started = Instant::now();
    let paths = LogPaths::create_fresh(&opts.log_dir)?;
    let echo = !opts.quiet;
    ipc_sys::signal::install_interrupt_handlers()?;
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
    // flock exclusion works between open file descriptions, not between processes. (The fork
    // primitive would close it in the child anyway: it keeps only the descriptors listed.)
    drop(log);

    let pipe = Pipe::new()?;
    // Each child keeps exactly its own end of the pipe: the producer only the write end, so
    // that once the consumer is gone its writes fail with EPIPE; the consumer only the read
    // end, so that EOF arrives as soon as the producer is gone. On drop (an error path of
    // main) a child is asked to wind down with SIGTERM, then reaped.
    let child = |role: Role| Fork::new(role).on_drop(Some(Signal::SIGTERM));
    let mut children = Children::new();
    let producer = child(Role::Producer).spawn([pipe.write.as_fd()], |[write]| {
        run_child(Role::Producer, &paths, echo, |log| {
            producer::run(opts, log, Sender::new(write), &tally)
        })
    })?;
    let producer_pid = producer.pid();
    children.push(producer);
    let consumer = child(Role::Consumer).spawn([pipe.read.as_fd()], |[read]| {
        run_child(Role::Consumer, &paths, echo, |log| {
            let mut out = ConsumerLog::open(&paths.consumer)?;
            consumer::run(
                opts,
                log,
                &mut out,
                Receiver::new(std::fs::File::from(read)),
                &tally,
            )
        })
    });
    // Main neither reads nor writes the pipe. While it held the write end the consumer could
    // never see EOF; while it held the read end the producer could never get EPIPE.
    drop(pipe);
    // Without a consumer the producer gets EPIPE and exits; dropping `children` reaps it.
    let consumer = consumer?;
    let consumer_pid = consumer.pid();
    children.push(consumer);

    let mut session = Session {
        log: None,
        first_error: None,
        producer: producer_pid,
        interrupted: false,
    };
    session.open_log(&paths, echo);
    session.log(&Event::Spawned {
        role: Role::Producer,
        pid: producer_pid.as_raw(),
    });
    session.log(&Event::Spawned {
        role: Role::Consumer,
        pid: consumer_pid.as_raw(),
    });
    let show_progress = ipc_sys::progress::wanted(opts.quiet);
    let received = || tally.received();
    let reaped = ipc_sys::progress::while_running(
        show_progress,
        "values received",
        Some(opts.count),
        &received,
        || session.reap_all(&mut children),
    )?;

    let sent = tally.sent();
    let received = tally.received();
    let lost = sent.saturating_sub(received);
    let children_ok = reaped.iter().all(|r| r.status.success()) && reaped.len() == 2;
    let code = if session.interrupted {
        EXIT_INTERRUPTED
    } else if children_ok && lost == 0 && session.first_error.is_none() {
        0
    } else {
        EXIT_FAILURE
    };
    session.log(&Event::Exiting { code: code.into() });
    let extra = resources(received, started.elapsed(), &reaped, producer_pid);
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

    /// Waits for both children, logging each exit as it happens. The wait and the interrupt
    /// check are one atomic step (`Children::wait`): a SIGINT or SIGTERM that arrives at any
    /// instant — even between the forks and the first wait — is acted on at once.
    fn reap_all(&mut self, children: &mut Children) -> Result<Vec<Reaped>> {
        let mut reaped: Vec<Reaped> = Vec::new();
        loop {
            match children.wait(&mut [], None, !self.interrupted)? {
                ChildEvent::Exited(child) => {
                    let role = match child.pid {
                        pid if pid == self.producer => Role::Producer,
                        _ => Role::Consumer,
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
        self.log(&Event::Interrupted {
            signal: signal.as_str().into(),
            note: None,
        });
        if let Some(producer) = children.get(self.producer) {
            producer.signal(Signal::SIGTERM);
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
        let cpu = child.usage.cpu().as_secs_f64();
        text.push_str(&format!(
            "; {role} peak RSS {:.1} MiB, CPU {cpu:.3} s",
            mib(child.usage.max_rss_kib)
        ));
    }
    text.push_str(&format!(
        "; main peak RSS {:.1} MiB",
        mib(ipc_sys::memory::own_peak_rss_kib())
    ));
    text
}
