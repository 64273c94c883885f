//! `parallel monitor`: the tutorial's process monitor. The CPU task list runs on the pool while
//! this process reads `/proc` every `--interval` and shows each pool process — the dispatcher
//! and every worker — with its pid, resident memory and CPU%: redrawn in place on a terminal;
//! as one table at the end otherwise (with the kernel's own accounting of each worker beside it).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED};
use ipc_sys::signal::{Wake, Watch, interrupted, wait_event};

use super::cli::MonitorArgs;
use super::cpu;
use super::error::Result;
use super::output::Out;
use super::procfs::{self, Stat};
use crate::task_pool::{Pool, PoolConfig, Stopped};

/// How often the feeding loop looks at the pool between samples (see `runner::SETTLE_POLL`).
const POLL: Duration = Duration::from_millis(5);

/// What was seen of one process.
struct Track {
    role: &'static str,
    first: (Instant, u64),
    last: (Instant, u64),
    rss_now: u64,
    rss_peak: u64,
    /// CPU% over the last interval, once two samples exist.
    cpu_now: Option<f64>,
    samples: u64,
}

fn cpu_percent(from: (Instant, u64), to: (Instant, u64)) -> Option<f64> {
    let secs = to.0.duration_since(from.0).as_secs_f64();
    if secs < 1e-3 {
        return None;
    }
    let cpu = to.1.saturating_sub(from.1) as f64 / procfs::ticks_per_second() as f64;
    // One thread cannot use more than one core; a tick counted late reads as 101%.
    Some((100.0 * cpu / secs).min(100.0))
}

struct Tracker {
    dispatcher: i32,
    seen: BTreeMap<i32, Track>,
    /// Pids in the latest sample (the processes alive then).
    current: Vec<i32>,
}

impl Tracker {
    fn sample(&mut self) {
        let now = Instant::now();
        let mut stats: Vec<(Stat, &'static str)> = procfs::read_stat(self.dispatcher)
            .into_iter()
            .map(|s| (s, "dispatcher"))
            .collect();
        stats.extend(
            procfs::children_of(self.dispatcher)
                .into_iter()
                .map(|s| (s, "worker")),
        );
        self.current = stats.iter().map(|(s, _)| s.pid).collect();
        for (s, role) in stats {
            let t = self.seen.entry(s.pid).or_insert(Track {
                role,
                first: (now, s.cpu_ticks),
                last: (now, s.cpu_ticks),
                rss_now: 0,
                rss_peak: 0,
                cpu_now: None,
                samples: 0,
            });
            if t.samples > 0 {
                t.cpu_now = cpu_percent(t.last, (now, s.cpu_ticks));
            }
            t.last = (now, s.cpu_ticks);
            t.rss_now = s.rss_bytes;
            t.rss_peak = t.rss_peak.max(s.rss_bytes);
            t.samples += 1;
        }
    }

    /// The live view: one line per process alive at the last sample.
    fn live_lines(&self, done: u64, total: u64, elapsed: Duration) -> Vec<String> {
        let mut lines = vec![format!(
            "{:>8}  {:<10} {:>8} {:>6}",
            "pid", "role", "RSS MiB", "CPU%"
        )];
        for pid in &self.current {
            if let Some(t) = self.seen.get(pid) {
                lines.push(format!(
                    "{pid:>8}  {:<10} {:>8.1} {:>6}",
                    t.role,
                    mib(t.rss_now),
                    t.cpu_now.map_or("-".into(), |c| format!("{c:.0}"))
                ));
            }
        }
        lines.push(format!(
            "{done}/{total} pieces done, {:.1} s",
            elapsed.as_secs_f64()
        ));
        lines
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// The table at the end: every process seen, and every worker the kernel accounted for.
fn final_table(tracker: &Tracker, stopped: Option<&Stopped<u128>>) -> Vec<String> {
    let mut lines = vec![format!(
        "{:>8}  {:<10} {:>7} {:>9} {:>9} {:>8}  {:>5} {:>7} {:>9}",
        "pid", "role", "samples", "RSS MiB", "peak MiB", "CPU% avg", "tasks", "CPU s", "kernel MiB"
    )];
    let kernel = |pid: i32| stopped.and_then(|s| s.workers.iter().find(|w| w.pid == pid));
    let mut pids: Vec<i32> = tracker.seen.keys().copied().collect();
    for w in stopped.map_or(&[][..], |s| &s.workers[..]) {
        if !pids.contains(&w.pid) {
            pids.push(w.pid);
        }
    }
    for pid in pids {
        let t = tracker.seen.get(&pid);
        let k = kernel(pid);
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        lines.push(format!(
            "{pid:>8}  {:<10} {:>7} {:>9} {:>9} {:>8}  {:>5} {:>7} {:>9}",
            t.map_or("worker", |t| t.role),
            t.map_or(0, |t| t.samples),
            opt(t.map(|t| format!("{:.1}", mib(t.rss_now)))),
            opt(t.map(|t| format!("{:.1}", mib(t.rss_peak)))),
            // CPU% over everything observed (between the first and the last sample).
            opt(t
                .and_then(|t| cpu_percent(t.first, t.last))
                .map(|c| format!("{c:.0}"))),
            opt(k.map(|k| k.tasks.to_string())),
            opt(k.map(|k| format!("{:.3}", k.cpu.as_secs_f64()))),
            opt(k.map(|k| format!("{:.1}", k.max_rss_kib as f64 / 1024.0))),
        ));
    }
    lines
}

pub fn run(args: &MonitorArgs) -> Result<u8> {
    let jobs = args.cpu.jobs.get();
    let pieces = cpu::pieces(&args.cpu);
    let total = pieces.len() as u64;
    let live = std::io::stdout().is_terminal();
    let mut out = Out::default();
    let start = Instant::now();
    let mut pool = Pool::start(PoolConfig::new(jobs), cpu::SumOfSquares)?;
    let mut tracker = Tracker {
        dispatcher: pool.dispatcher_pid().as_raw(),
        seen: BTreeMap::new(),
        current: Vec::new(),
    };
    let mut tasks = cpu::tasks(&pieces);
    let mut pushed = 0u64;
    // A few pieces per worker in the pool at a time: `push` never blocks, so the samples keep
    // their rhythm, and the workers never wait for work.
    let window = 4 * jobs as u64;
    let mut next_sample = start;
    let mut drawn = 0usize;
    let interrupted_by = loop {
        if let Some(signal) = interrupted() {
            break Some(signal);
        }
        while pushed < total && pushed - pool.settled().min(pushed) < window {
            let Some(task) = tasks.next() else { break };
            if let Err(e) = pool.push(task) {
                if let Some(signal) = interrupted() {
                    return finish_interrupted(&mut out, &tracker, signal, drawn);
                }
                return Err(e.into());
            }
            pushed += 1;
        }
        let now = Instant::now();
        if now >= next_sample {
            tracker.sample();
            next_sample = now + args.interval;
            if live {
                let lines = tracker.live_lines(pool.settled(), total, start.elapsed());
                redraw(&mut out, &mut drawn, &lines);
            }
        }
        if pool.settled() >= total {
            break None;
        }
        let watch = Watch {
            interrupts: true,
            children: true,
        };
        let until = next_sample.min(now + POLL);
        if let Wake::ChildChanged = wait_event(&mut [], Some(until), watch)?
            && procfs::has_ended(tracker.dispatcher)
        {
            // The dispatcher is gone: `stop()` says how.
            break None;
        }
    };
    if let Some(signal) = interrupted_by {
        drop(pool);
        return finish_interrupted(&mut out, &tracker, signal, drawn);
    }
    // A last look while the workers are still alive (they leave when the task pipe closes).
    tracker.sample();
    let stopped = pool.stop()?;
    let wall = start.elapsed();
    if live {
        redraw(&mut out, &mut drawn, &[]);
    }
    for line in final_table(&tracker, Some(&stopped)) {
        out.line(&line);
    }
    let sums = cpu::assemble(&args.cpu, &pieces, &stopped);
    for (&n, s) in args.cpu.tasks.iter().zip(&sums) {
        out.line(&format!(
            "task {n}: {}",
            s.map_or("incomplete (a piece was lost)".into(), |s| s.to_string())
        ));
    }
    out.line(&format!(
        "{total} pieces on {} in {:.3} s",
        super::runner::processes(jobs),
        wall.as_secs_f64()
    ));
    let complete = sums.iter().all(Option::is_some);
    Ok(out.finish(if complete { 0 } else { EXIT_FAILURE }))
}

/// Replaces the `drawn` lines printed last by `lines` (a terminal's cursor-up and clear).
fn redraw(out: &mut Out, drawn: &mut usize, lines: &[String]) {
    let mut text = String::new();
    if *drawn > 0 {
        text.push_str(&format!("\x1b[{}F\x1b[J", *drawn));
    }
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    out.write(text.as_bytes());
    *drawn = lines.len();
}

fn finish_interrupted(
    out: &mut Out,
    tracker: &Tracker,
    signal: nix::sys::signal::Signal,
    drawn: usize,
) -> Result<u8> {
    let mut drawn = drawn;
    redraw(out, &mut drawn, &[]);
    for line in final_table(tracker, None) {
        out.line(&line);
    }
    out.line(&format!(
        "interrupted by {}: the pool was stopped; no results",
        signal.as_str()
    ));
    Ok(out.finish(EXIT_INTERRUPTED))
}
