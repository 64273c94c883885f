//! What grade does to a run while it is traced: nothing (a normal run), slow the shared log's
//! writers down so that they contend for it (`lock`), or stop the producer at one write into
//! the channel and kill it (`eof`) or kill the consumer before letting it go on (`epipe`).
//! Processes are named by their place in the tree (`lineage`), learnt in the first normal
//! run: the same program builds the same tree on every run.
//!
//! The process that should end after a fault (eof: the consumer; epipe: the producer) is
//! watched for the fault's `watch`, and then for as long as it visibly works — measured in what
//! the kernel counted for it, not in wall time alone, so that a starved machine does not turn a
//! slow ending into a failure (see `look`).

use std::collections::HashMap;
use std::time::Duration;

use ipc_sys::trace::{Activity, Controller, Ctx, Decision, Entry, Event, Object, Record, Sys};
use nix::sys::signal::Signal;

/// A process and the descriptor it uses for the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub lineage: Vec<u32>,
    pub fd: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scenario {
    #[default]
    Plain,
    /// Hold each process `hold` at the entry of its first `per_process` writes to `log`.
    Lock {
        log: String,
        per_process: u32,
        hold: Duration,
    },
    /// At the producer's `k`-th write into the channel: kill it, then watch the consumer for
    /// `watch`.
    Eof(Fault),
    /// At the producer's `k`-th write into the channel: hold it, kill the consumer, let the
    /// producer go once the consumer is gone, and watch it for `watch`.
    Epipe(Fault),
}

/// Where a fault run acts: the roles, at the producer's `k`-th write, then watching `watch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub producer: Target,
    pub consumer: Target,
    pub k: u32,
    pub watch: Duration,
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Plain => "normal",
            Scenario::Lock { .. } => "lock",
            Scenario::Eof(_) => "eof",
            Scenario::Epipe(_) => "epipe",
        }
    }

    /// The fault of an `eof` or `epipe` run.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Scenario::Eof(f) | Scenario::Epipe(f) => Some(f),
            _ => None,
        }
    }
}

/// Labels of the snapshots a scenario takes (the judge looks for them).
pub const SNAP_EOF: &str = "eof: the watch is over";
pub const SNAP_EOF_SIGNAL: &str = "eof: the consumer is about to be signalled";
pub const SNAP_EPIPE_WROTE: &str = "epipe: the producer's write succeeded";
pub const SNAP_EPIPE_OVER: &str = "epipe: the watch is over";
/// The watched process of a fault run computed on (`WATCH_CPU`) without ending.
pub const SNAP_EOF_BUSY: &str = "eof: the consumer computed on";
pub const SNAP_EPIPE_BUSY: &str = "epipe: the producer computed on";
/// The watched process of a fault run was still working at the backstop, short of processors.
pub const SNAP_EOF_STARVED: &str = "eof: the watch ran out while the consumer still worked";
pub const SNAP_EPIPE_STARVED: &str = "epipe: the watch ran out while the producer still worked";
pub const SNAP_LEFT: &str = "main has ended";
const SNAP_DONE: &str = "the scenario has its answer";
/// How long after the root's end the processes still running are taken note of (Python's
/// resource tracker leaves a moment after main): they outlived main.
const AFTER_ROOT: Duration = Duration::from_millis(1500);
/// Past that, the processes left may run on while they keep making calls (children that main
/// did not wait for, still sending their values); the trace ends once none made a traced call
/// for this long (a daemon asleep), or at the deadline.
const IDLE_AFTER_ROOT: Duration = Duration::from_secs(2);
/// How long a held producer waits for a consumer that has not started yet, or for one that
/// is busy elsewhere to come back to the channel (epipe) …
const CONSUMER_PATIENCE: Duration = Duration::from_secs(2);
/// … and, while the consumer's parent-to-be is still working (see `working`: starting it on a
/// busy machine), at most this long.
const CONSUMER_BACKSTOP: Duration = Duration::from_secs(10);
/// Epipe: once the consumer is gone, the producer stays held until every other process has
/// made no traced call for this long (main has finished setting up: a main that closes its
/// copy of the read end right after starting the consumer has closed it, even on a loaded
/// machine) …
const SETTLE_QUIET: Duration = Duration::from_millis(200);
/// … or for at most this long (a main that keeps making calls).
const SETTLE_MAX: Duration = Duration::from_secs(1);
/// Eof and epipe: past the fault's `watch`, a watched process that is still working — it ran or
/// waited for a processor at least half the time since the last look, is runnable now, or is in
/// a traced call it made since — is looked at again this often …
const WATCH_STEP: Duration = Duration::from_secs(1);
/// … until it has run this long on a processor since the watch began (processor time does not
/// grow with the machine's load: a process that computes on this long is not slowly ending) …
pub const WATCH_CPU: Duration = Duration::from_secs(5);
/// … or this much wall time has passed since the watch began (then it was starved: the judge
/// says unknown unless the run shows more), and never closer than `DEADLINE_MARGIN` to the
/// run's deadline, where the tracer ends the run without a last look.
pub const WATCH_BACKSTOP: Duration = Duration::from_secs(15);
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Whether a process worked between two looks at it: it ran or waited for a processor at least
/// half of the time between them, is runnable now, or is stopped in a traced call (waiting for
/// the tracer) and made `calls` traced calls between them.
fn working(last_us: u64, last: &Activity, now_us: u64, now: &Activity, calls: u32) -> bool {
    let wall = now_us.saturating_sub(last_us);
    let used = (now.cpu_us + now.waited_us).saturating_sub(last.cpu_us + last.waited_us);
    used.saturating_mul(2) >= wall || now.runnable || (now.traced_stop && calls > 0)
}

/// What the watched process of a fault run had done when the watch began and at the last look.
#[derive(Debug, Clone, Copy)]
struct Watching {
    pid: i32,
    from_us: u64,
    from: Activity,
    last_us: u64,
    last: Activity,
    /// Traced calls it made since the last look.
    calls: u32,
}

/// The controller that plays a scenario.
#[derive(Default)]
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
    /// When the root ended.
    root_gone: Option<u64>,
    /// The processes left after the root's end were taken note of (`SNAP_LEFT`).
    left_noted: bool,
    /// When a traced process last made a traced call.
    last_call: u64,
    /// The wake asked for to check for idleness (one at a time).
    idle_wake: u64,
    /// Epipe: the producer is held, and the consumer (not started yet) is waited for until
    /// then (µs).
    awaiting_consumer: Option<u64>,
    /// Epipe: the producer is held, and the consumer, busy elsewhere, is killed when it next
    /// waits on the channel, or at this time (µs) wherever it is.
    consumer_busy_until: Option<u64>,
    /// Epipe: since when the consumer is waited for, and the last look at its parent-to-be.
    awaiting_since: u64,
    parent_look: Option<(u64, Activity)>,
    /// Epipe: a write of the producer succeeded after the consumer's death.
    wrote_after: bool,
    /// Epipe: the consumer is gone (µs); the producer is let go once the others are quiet.
    settling_since: Option<u64>,
    /// When a process other than the held producer last made a traced call (µs).
    last_other_call: u64,
    /// Eof and epipe: the process watched, once its watch began.
    watching: Option<Watching>,
    /// The run's deadline (µs since the trace began): the watch ends before it.
    deadline_us: u64,
}

impl Director {
    /// The controller of a run traced until `deadline` at most.
    pub fn new(scenario: Scenario, deadline: Duration) -> Director {
        Director {
            scenario,
            deadline_us: deadline.as_micros() as u64,
            ..Director::default()
        }
    }

    /// Begins watching `pid` (what it has used of the processors so far is the baseline), and
    /// asks for the first look after the fault's watch.
    fn watch(&mut self, ctx: &mut Ctx<'_>, pid: Option<i32>, watch: Duration) {
        let now = ctx.now_us();
        if let Some(pid) = pid {
            let from = ctx.activity(pid).unwrap_or_default();
            self.watching = Some(Watching {
                pid,
                from_us: now,
                from,
                last_us: now,
                last: from,
                calls: 0,
            });
        }
        let at = now + watch.as_micros() as u64;
        self.watch_until = Some(at);
        ctx.wake_at(at);
    }

    /// A look at the watched process at the end of a watch step: `Ok(at)` to look again then
    /// (it is working), or the label the run ends with — it was idle (asleep, blocked: the
    /// fault's plain verdict), it computed on for `WATCH_CPU`, or the backstop came while it
    /// still worked.
    fn look(&mut self, ctx: &mut Ctx<'_>, eof: bool) -> std::result::Result<u64, &'static str> {
        let now = ctx.now_us();
        let (over, busy, starved) = if eof {
            (SNAP_EOF, SNAP_EOF_BUSY, SNAP_EOF_STARVED)
        } else {
            (SNAP_EPIPE_OVER, SNAP_EPIPE_BUSY, SNAP_EPIPE_STARVED)
        };
        let Some(mut w) = self.watching else {
            return Err(over);
        };
        let step = WATCH_STEP.as_micros() as u64;
        // Gone between its end and the tracer's seeing it: its end is about to be recorded.
        let Some(a) = ctx.activity(w.pid) else {
            return Ok(now + step);
        };
        if !working(w.last_us, &w.last, now, &a, w.calls) {
            return Err(over);
        }
        if a.cpu_us.saturating_sub(w.from.cpu_us) >= WATCH_CPU.as_micros() as u64 {
            return Err(busy);
        }
        let limit = w.from_us + WATCH_BACKSTOP.as_micros() as u64;
        if now + step > self.before_deadline(limit) {
            return Err(starved);
        }
        w.last = a;
        w.last_us = now;
        w.calls = 0;
        self.watching = Some(w);
        Ok(now + step)
    }

    /// `limit_us`, or earlier: never closer than `DEADLINE_MARGIN` to the run's deadline.
    fn before_deadline(&self, limit_us: u64) -> u64 {
        if self.deadline_us == 0 {
            return limit_us;
        }
        limit_us.min(
            self.deadline_us
                .saturating_sub(DEADLINE_MARGIN.as_micros() as u64),
        )
    }

    /// The live process that will fork the consumer of a fault run: its parent by lineage.
    fn consumer_parent(&self, ctx: &Ctx<'_>) -> Option<i32> {
        let (_, up) = self.scenario.fault()?.consumer.lineage.split_last()?;
        ctx.find(up)
    }

    /// The consumer of a fault run, once the producer was stopped: found by its place in the
    /// tree, perhaps only after the producer's write (a main that starts the producer first
    /// may start the consumer after the producer's third write).
    fn consumer_now(&mut self, ctx: &Ctx<'_>) -> Option<i32> {
        if self.consumer.is_none() && self.stopped.is_some() {
            self.consumer = ctx.find(&self.scenario.fault()?.consumer.lineage);
        }
        self.consumer
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

/// Whether a call is a wait on the channel: a read of it, or a poll, select or epoll wait (the
/// only calls a consumer can be in while it holds no lock of its own making between values).
fn waits_on_channel(e: &Entry) -> bool {
    (e.sys.reads() && e.object.as_ref().is_some_and(Object::is_channel)) || e.sys.waits_on_fds()
}

impl Controller for Director {
    fn on_enter(&mut self, ctx: &mut Ctx<'_>, entry: &Entry) -> Decision {
        let consumer_now = self.consumer_now(ctx);
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
            Scenario::Eof(f) | Scenario::Epipe(f) => {
                let eof = matches!(self.scenario, Scenario::Eof(_));
                // Someone (main) is about to signal the consumer after the producer's death:
                // what the consumer was doing, and who held the write end, is seen now.
                if eof
                    && self.stopped.is_some()
                    && matches!(entry.sys, Sys::Kill | Sys::Tkill | Sys::Tgkill)
                    && entry.args[if entry.sys == Sys::Tgkill { 2 } else { 1 }] != 0
                    && consumer_now.is_some_and(|c| entry.args[0] as i32 == c)
                    && !self.signal_seen
                {
                    self.signal_seen = true;
                    ctx.snapshot(SNAP_EOF_SIGNAL);
                }
                if self.stopped.is_none() && is_target_write(ctx, entry, &f.producer) {
                    let n = self.writes.entry(entry.pid).or_insert(0);
                    *n += 1;
                    if *n == f.k {
                        self.stopped = Some((entry.pid, entry.tid));
                        self.consumer = ctx.find(&f.consumer.lineage);
                        match self.consumer {
                            _ if eof => ctx.kill(entry.pid, Signal::SIGKILL),
                            Some(c) if ctx.pending(c).into_iter().any(waits_on_channel) => {
                                ctx.kill(c, Signal::SIGKILL)
                            }
                            Some(_) => {
                                // Busy elsewhere — perhaps inside a lock it shares with the
                                // producer, which its death would leave held for ever: the
                                // producer's hang would then be the kill's doing, not its own.
                                let until = ctx.now_us() + CONSUMER_PATIENCE.as_micros() as u64;
                                self.consumer_busy_until = Some(until);
                                ctx.wake_at(until);
                            }
                            None => {
                                // Not started yet: wait for it a while, the producer held.
                                let now = ctx.now_us();
                                let until = now + CONSUMER_PATIENCE.as_micros() as u64;
                                self.awaiting_consumer = Some(until);
                                self.awaiting_since = now;
                                if let Some(p) = self.consumer_parent(ctx) {
                                    self.parent_look = ctx.activity(p).map(|a| (now, a));
                                }
                                ctx.wake_at(until);
                            }
                        }
                        return Decision::Hold;
                    }
                }
                if self.consumer_busy_until.is_some()
                    && Some(entry.pid) == self.consumer
                    && waits_on_channel(entry)
                {
                    self.consumer_busy_until = None;
                    ctx.kill(entry.pid, Signal::SIGKILL);
                }
                Decision::Go
            }
        }
    }

    fn on_record(&mut self, ctx: &mut Ctx<'_>, record: &Record) {
        let watch = self.scenario.fault().map_or(Duration::ZERO, |f| f.watch);
        match &record.event {
            Event::Started { .. } => self.root = Some(record.pid),
            Event::Spawned { thread: false, .. } => {
                let found = self.consumer.is_none() && self.consumer_now(ctx).is_some();
                if found
                    && self.awaiting_consumer.take().is_some()
                    && let Some(c) = self.consumer
                {
                    ctx.kill(c, Signal::SIGKILL);
                }
            }
            Event::Exited { .. } if Some(record.pid) == self.root => {
                self.root_gone = Some(record.at_us);
                ctx.wake_at(record.at_us + AFTER_ROOT.as_micros() as u64);
            }
            Event::Exited { .. } => match (&self.scenario, self.stopped) {
                (Scenario::Eof(_), Some((producer, _))) if record.pid == producer => {
                    let consumer = self.consumer_now(ctx);
                    self.watch(ctx, consumer, watch);
                }
                (Scenario::Eof(_), Some(_)) if Some(record.pid) == self.consumer => {
                    self.end_soon(ctx, Duration::from_millis(500), SNAP_DONE);
                }
                (Scenario::Epipe(_), Some(_)) if Some(record.pid) == self.consumer => {
                    let now = ctx.now_us();
                    self.settling_since = Some(now);
                    ctx.wake_at(now + SETTLE_QUIET.as_micros() as u64);
                }
                (Scenario::Epipe(_), Some((producer, _))) if record.pid == producer => {
                    self.end_soon(ctx, Duration::from_millis(500), SNAP_DONE);
                }
                _ => {}
            },
            Event::Call(call) => {
                self.last_call = record.at_us;
                if let Some(w) = self.watching.as_mut().filter(|w| w.pid == record.pid) {
                    w.calls += 1;
                }
                if self.stopped.is_none_or(|(pid, _)| pid != record.pid) {
                    self.last_other_call = record.at_us;
                }
                if let (Scenario::Epipe(f), Some((pid, _)), true) =
                    (&self.scenario, self.stopped, self.resumed)
                    && record.pid == pid
                    && call.sys.writes()
                    && matches!(&call.detail, ipc_sys::trace::Detail::Io { fd, .. } if *fd == f.producer.fd)
                    && call.result >= 0
                    && !self.wrote_after
                {
                    // Who still held the read end then is seen now. The watch goes on: a
                    // main that closes its copy a moment later makes the next write fail.
                    self.wrote_after = true;
                    ctx.snapshot(SNAP_EPIPE_WROTE);
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now_us();
        if let (Some(since), Some((pid, tid)), Scenario::Epipe(Fault { watch, .. })) =
            (self.settling_since, self.stopped, &self.scenario)
        {
            let watch = *watch;
            let quiet_at = self.last_other_call.max(since) + SETTLE_QUIET.as_micros() as u64;
            let go_at = quiet_at.min(since + SETTLE_MAX.as_micros() as u64);
            if now >= go_at {
                self.settling_since = None;
                self.resumed = true;
                ctx.resume(tid);
                self.watch(ctx, Some(pid), watch);
            } else {
                ctx.wake_at(go_at);
            }
        }
        if let Some(gone) = self.root_gone
            && self.end_at.is_none()
            && !ctx.processes().is_empty()
        {
            let noted_at = gone + AFTER_ROOT.as_micros() as u64;
            if now >= noted_at && !self.left_noted {
                self.left_noted = true;
                ctx.snapshot(SNAP_LEFT);
            }
            if self.left_noted {
                let idle_at = self.last_call.max(noted_at) + IDLE_AFTER_ROOT.as_micros() as u64;
                if now >= idle_at {
                    ctx.finish(SNAP_LEFT);
                } else if self.idle_wake <= now {
                    // When it comes, idleness is checked again (and the next wake asked for).
                    self.idle_wake = idle_at;
                    ctx.wake_at(idle_at);
                }
            }
        }
        if let Some(until) = self.consumer_busy_until
            && now >= until
        {
            // It never came back to the channel: killed wherever it is.
            self.consumer_busy_until = None;
            if let Some(c) = self.consumer {
                ctx.kill(c, Signal::SIGKILL);
            }
        }
        if let Some(until) = self.awaiting_consumer
            && now >= until
        {
            // A parent-to-be still working may yet start the consumer (a starved machine).
            let step = WATCH_STEP.as_micros() as u64;
            let limit =
                self.before_deadline(self.awaiting_since + CONSUMER_BACKSTOP.as_micros() as u64);
            let look = self.consumer_parent(ctx).and_then(|p| ctx.activity(p));
            let waits_on = match (self.parent_look, look) {
                (Some((at, last)), Some(a)) => working(at, &last, now, &a, 0),
                _ => false,
            };
            self.parent_look = look.map(|a| (now, a));
            if waits_on && now + step <= limit {
                self.awaiting_consumer = Some(now + step);
                ctx.wake_at(now + step);
            } else {
                // The consumer never came: the producer goes on, and the run shows nothing.
                self.awaiting_consumer = None;
                if let Some((_, tid)) = self.stopped {
                    ctx.resume(tid);
                }
            }
        }
        if let Some(until) = self.watch_until
            && now >= until
        {
            self.watch_until = None;
            let consumer = self.consumer_now(ctx);
            let eof = matches!(self.scenario, Scenario::Eof(_));
            let watched = match &self.scenario {
                Scenario::Eof(_) => consumer,
                Scenario::Epipe(_) => self.stopped.map(|(p, _)| p),
                _ => None,
            };
            if watched.is_some_and(|p| ctx.alive(p)) {
                match self.look(ctx, eof) {
                    Ok(at) => {
                        self.watch_until = Some(at);
                        ctx.wake_at(at);
                    }
                    Err(label) => {
                        ctx.snapshot(label);
                        ctx.finish(label);
                    }
                }
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
