//! What grade does to a run while it is traced: nothing (a normal run), slow the shared log's
//! writers down so that they contend for it (`lock`), or stop the producer at one write into
//! the channel and kill it (`eof`) or kill the consumer before letting it go on (`epipe`).
//! Processes are named by their place in the tree (`lineage`), learnt in the first normal
//! run: the same program builds the same tree on every run.

use std::collections::HashMap;
use std::time::Duration;

use ipc_sys::trace::{Controller, Ctx, Decision, Entry, Event, Object, Record, Sys};
use nix::sys::signal::Signal;

/// A process and the descriptor it uses for the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub lineage: Vec<u32>,
    pub fd: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    Plain,
    /// Hold each process `hold` at the entry of its first `per_process` writes to `log`.
    Lock {
        log: String,
        per_process: u32,
        hold: Duration,
    },
    /// At the producer's `k`-th write into the channel: kill it, then watch the consumer for
    /// `watch`.
    Eof {
        producer: Target,
        consumer: Target,
        k: u32,
        watch: Duration,
    },
    /// At the producer's `k`-th write into the channel: hold it, kill the consumer, let the
    /// producer go once the consumer is gone, and watch it for `watch`.
    Epipe {
        producer: Target,
        consumer: Target,
        k: u32,
        watch: Duration,
    },
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Plain => "normal",
            Scenario::Lock { .. } => "lock",
            Scenario::Eof { .. } => "eof",
            Scenario::Epipe { .. } => "epipe",
        }
    }
}

/// Labels of the snapshots a scenario takes (the judge looks for them).
pub const SNAP_EOF: &str = "eof: the watch is over";
pub const SNAP_EOF_SIGNAL: &str = "eof: the consumer is about to be signalled";
pub const SNAP_EPIPE_WROTE: &str = "epipe: the producer's write succeeded";
pub const SNAP_EPIPE_OVER: &str = "epipe: the watch is over";
pub const SNAP_LEFT: &str = "main has ended";
pub const SNAP_DONE: &str = "the scenario has its answer";
/// How long the other processes may run on once the root has ended, before the trace ends
/// (Python's resource tracker leaves a moment after main).
const AFTER_ROOT: Duration = Duration::from_millis(1500);

/// The controller that plays a scenario.
pub struct Director {
    scenario: Scenario,
    root: Option<i32>,
    writes: HashMap<i32, u32>,
    /// The producer was stopped at its k-th write: (pid, tid).
    stopped: Option<(i32, i32)>,
    consumer: Option<i32>,
    /// When the watch ends (µs).
    watch_until: Option<u64>,
    /// The scenario has its answer: end the run at this time, with this label.
    end_at: Option<(u64, &'static str)>,
    resumed: bool,
    signal_seen: bool,
    /// Lock scenario: a process is held at a log write until then (µs).
    holding_until: Option<u64>,
}

impl Director {
    pub fn new(scenario: Scenario) -> Director {
        Director {
            scenario,
            root: None,
            writes: HashMap::new(),
            stopped: None,
            consumer: None,
            watch_until: None,
            end_at: None,
            resumed: false,
            signal_seen: false,
            holding_until: None,
        }
    }

    fn end_soon(&mut self, ctx: &mut Ctx<'_>, after: Duration, label: &'static str) {
        let at = ctx.now_us() + after.as_micros() as u64;
        if self.end_at.is_none_or(|(e, _)| e > at) {
            self.end_at = Some((at, label));
            ctx.wake_at(at);
        }
    }
}

fn is_target_write(ctx: &Ctx<'_>, entry: &Entry, target: &Target) -> bool {
    entry.sys.writes()
        && entry.fd == Some(target.fd)
        && entry.object.as_ref().is_some_and(Object::is_channel)
        && ctx.lineage(entry.pid) == Some(target.lineage.as_slice())
}

impl Controller for Director {
    fn on_enter(&mut self, ctx: &mut Ctx<'_>, entry: &Entry) -> Decision {
        match &self.scenario {
            Scenario::Plain => Decision::Go,
            Scenario::Lock {
                log,
                per_process,
                hold,
            } => {
                let to_log = entry.sys.writes()
                    && matches!(&entry.object, Some(Object::File(p)) if p == log);
                // One process held at a time: the others run on, and whether one of them then
                // blocks on the lock or writes to the log is the observation.
                let busy = self.holding_until.is_some_and(|until| ctx.now_us() < until);
                let n = self.writes.entry(entry.pid).or_insert(0);
                if to_log && !busy && *n < *per_process {
                    *n += 1;
                    self.holding_until = Some(ctx.now_us() + hold.as_micros() as u64);
                    return Decision::HoldFor(*hold);
                }
                Decision::Go
            }
            Scenario::Eof {
                producer,
                consumer,
                k,
                ..
            } => {
                // Someone (main) is about to signal the consumer after the producer's death:
                // what the consumer was doing, and who held the write end, is seen now.
                if self.stopped.is_some()
                    && matches!(entry.sys, Sys::Kill | Sys::Tkill | Sys::Tgkill)
                    && entry.args[if entry.sys == Sys::Tgkill { 2 } else { 1 }] != 0
                    && self.consumer.is_some_and(|c| entry.args[0] as i32 == c)
                    && !self.signal_seen
                {
                    self.signal_seen = true;
                    ctx.snapshot(SNAP_EOF_SIGNAL);
                }
                if self.stopped.is_none() && is_target_write(ctx, entry, producer) {
                    let n = self.writes.entry(entry.pid).or_insert(0);
                    *n += 1;
                    if *n == *k {
                        self.stopped = Some((entry.pid, entry.tid));
                        self.consumer = ctx.find(&consumer.lineage);
                        ctx.kill(entry.pid, Signal::SIGKILL);
                        return Decision::Hold;
                    }
                }
                Decision::Go
            }
            Scenario::Epipe {
                producer,
                consumer,
                k,
                ..
            } => {
                if self.stopped.is_none() && is_target_write(ctx, entry, producer) {
                    let n = self.writes.entry(entry.pid).or_insert(0);
                    *n += 1;
                    if *n == *k {
                        self.stopped = Some((entry.pid, entry.tid));
                        self.consumer = ctx.find(&consumer.lineage);
                        match self.consumer {
                            Some(c) => ctx.kill(c, Signal::SIGKILL),
                            None => return Decision::Go,
                        }
                        return Decision::Hold;
                    }
                }
                Decision::Go
            }
        }
    }

    fn on_record(&mut self, ctx: &mut Ctx<'_>, record: &Record) {
        let watch = match &self.scenario {
            Scenario::Eof { watch, .. } | Scenario::Epipe { watch, .. } => *watch,
            _ => Duration::ZERO,
        };
        match &record.event {
            Event::Started { .. } => self.root = Some(record.pid),
            Event::Exited { .. } if Some(record.pid) == self.root => {
                self.end_soon(ctx, AFTER_ROOT, SNAP_LEFT);
            }
            Event::Exited { .. } => match (&self.scenario, self.stopped) {
                (Scenario::Eof { .. }, Some((producer, _))) if record.pid == producer => {
                    let at = ctx.now_us() + watch.as_micros() as u64;
                    self.watch_until = Some(at);
                    ctx.wake_at(at);
                }
                (Scenario::Eof { .. }, Some(_)) if Some(record.pid) == self.consumer => {
                    self.end_soon(ctx, Duration::from_millis(500), SNAP_DONE);
                }
                (Scenario::Epipe { .. }, Some((_, tid))) if Some(record.pid) == self.consumer => {
                    self.resumed = true;
                    ctx.resume(tid);
                    let at = ctx.now_us() + watch.as_micros() as u64;
                    self.watch_until = Some(at);
                    ctx.wake_at(at);
                }
                (Scenario::Epipe { .. }, Some((producer, _))) if record.pid == producer => {
                    self.end_soon(ctx, Duration::from_millis(500), SNAP_DONE);
                }
                _ => {}
            },
            Event::Call(call) => {
                if let (Scenario::Epipe { producer, .. }, Some((pid, _)), true) =
                    (&self.scenario, self.stopped, self.resumed)
                    && record.pid == pid
                    && call.sys.writes()
                    && matches!(&call.detail, ipc_sys::trace::Detail::Io { fd, .. } if *fd == producer.fd)
                    && call.result >= 0
                    && self.end_at.is_none()
                {
                    ctx.snapshot(SNAP_EPIPE_WROTE);
                    self.end_soon(ctx, Duration::ZERO, SNAP_DONE);
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now_us();
        if let Some(until) = self.watch_until
            && now >= until
        {
            self.watch_until = None;
            match &self.scenario {
                Scenario::Eof { .. } if self.consumer.is_some_and(|c| ctx.alive(c)) => {
                    ctx.snapshot(SNAP_EOF);
                    ctx.finish(SNAP_EOF);
                }
                Scenario::Epipe { .. } if self.stopped.is_some_and(|(p, _)| ctx.alive(p)) => {
                    ctx.snapshot(SNAP_EPIPE_OVER);
                    ctx.finish(SNAP_EPIPE_OVER);
                }
                _ => {}
            }
        }
        if let Some((at, label)) = self.end_at
            && now >= at
        {
            self.end_at = None;
            if !ctx.processes().is_empty() {
                ctx.snapshot(label);
                ctx.finish(label);
            }
        }
    }
}
