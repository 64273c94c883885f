//! The audit itself: one streaming pass over `execution_log.txt`, with `consumer_log.txt` read in
//! lockstep, checking every rule `verify` promises.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use chrono::{DateTime, FixedOffset};

use super::Report;
use super::lines::Lines;
use crate::desafio::error::{Error, Result};
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG, LogPaths};
use crate::desafio::options::range_len;
use crate::desafio::record::{
    ChildStatus, ConsumerLine, Event, LogLine, Parity, Role, RunParams, TimeCache,
};

/// What the execution log said about one child role.
#[derive(Default)]
struct RoleState {
    pid: Option<(i32, usize)>,
    exit_code: Option<i32>,
    main_saw: Option<ChildStatus>,
}

struct Audit {
    exec_times: TimeCache,
    cons_times: TimeCache,
    exec: Lines,
    cons: Lines,
    report: Report,
    params: Option<RunParams>,
    roles: HashMap<Role, RoleState>,
    last_time: Option<DateTime<FixedOffset>>,
    /// Every value sent, with the line it was sent on.
    sent_at: HashMap<i64, usize, BuildValueHasher>,
    /// Sent, not yet received, in order.
    in_flight: VecDeque<i64>,
    sent_lines: u64,
    /// Sent lines minus a final one whose write failed with EPIPE.
    delivered: u64,
    received: u64,
    end_sent: Option<u64>,
    end_received: Option<(u64, u64)>,
    summary: Option<(u64, u64, u64, usize)>,
    consumer_totals: Option<(u64, u64, u64, Option<String>)>,
    consumer_even: u64,
    stopped_at: Option<String>,
}

/// Audits the logs in `dir`. `Err` only when a log cannot be read at all.
pub(super) fn run(dir: &Path) -> Result<Report> {
    ipc_sys::cli::existing_dir(dir).map_err(|source| Error::LogDir {
        path: dir.into(),
        source,
    })?;
    let paths = LogPaths::in_dir(dir);
    let mut audit = Audit {
        exec_times: TimeCache::default(),
        cons_times: TimeCache::default(),
        exec: Lines::open(&paths.execution, EXECUTION_LOG)?,
        cons: Lines::open(&paths.consumer, CONSUMER_LOG)?,
        report: Report::default(),
        params: None,
        roles: HashMap::new(),
        last_time: None,
        sent_at: HashMap::default(),
        in_flight: VecDeque::new(),
        sent_lines: 0,
        delivered: 0,
        received: 0,
        end_sent: None,
        end_received: None,
        summary: None,
        consumer_totals: None,
        consumer_even: 0,
        stopped_at: None,
    };
    audit.consumer_header()?;
    while let Some(text) = audit.exec.next_line(&mut audit.report.problems)? {
        match LogLine::parse_cached(&text, &mut audit.exec_times) {
            Ok(line) => audit.line(line, &text)?,
            Err(e) => audit.problem_exec(format!("cannot parse line: {e}")),
        }
    }
    audit.finish()?;
    Ok(audit.report)
}

impl Audit {
    fn problem_exec(&mut self, what: impl std::fmt::Display) {
        let p = self.exec.at(what);
        self.report.problems.push(p);
    }

    fn problem_cons(&mut self, what: impl std::fmt::Display) {
        let p = self.cons.at(what);
        self.report.problems.push(p);
    }

    fn consumer_header(&mut self) -> Result<()> {
        match self.cons.next_line(&mut self.report.problems)? {
            None => self
                .report
                .problems
                .push(format!("{CONSUMER_LOG}: file is empty (no header line)")),
            Some(text) if text.starts_with("# ") => {}
            Some(_) => self.problem_cons("first line must be a '# ' header"),
        }
        Ok(())
    }

    fn line(&mut self, line: LogLine, text: &str) -> Result<()> {
        if self.exec.number == 1
            && !matches!(
                (&line.role, &line.event),
                (Role::Main, Event::Started(Some(_)))
            )
        {
            self.problem_exec("first line must be main's 'started: ...' line");
        }
        if self.summary.is_some() {
            self.problem_exec("line after main's summary (the summary must be the last line)");
        }
        if let Some(last) = self.last_time
            && line.time < last
        {
            self.problem_exec(format!(
                "timestamp goes backwards ({} < {})",
                line.time, last
            ));
        }
        self.last_time = Some(line.time);
        self.check_pid(line.role, line.pid);

        match (line.role, line.event) {
            (Role::Main, Event::Started(Some(params))) => {
                if self.params.is_some() {
                    self.problem_exec("a second 'started:' line from main");
                }
                self.params = Some(params);
            }
            (Role::Producer | Role::Consumer, Event::Started(None)) => {}
            (Role::Main, Event::Spawned { role, pid }) => self.check_pid(role, pid),
            (
                Role::Producer,
                Event::Sent {
                    value,
                    index,
                    total,
                },
            ) => self.sent(value, index, total),
            (Role::Producer, Event::EndSent { sent }) => {
                if sent != self.sent_lines {
                    self.problem_exec(format!(
                        "end marker announces {sent} values but {} were sent",
                        self.sent_lines
                    ));
                }
                self.end_sent = Some(sent);
            }
            (Role::Consumer, Event::Received { value, parity }) => self.received(value, parity)?,
            (
                Role::Consumer,
                Event::EndReceived {
                    announced,
                    received,
                },
            ) => {
                if Some(announced) != self.end_sent {
                    self.problem_exec(format!(
                        "consumer reports an end marker of {announced} values, the producer sent {}",
                        self.end_sent.map_or("none".to_string(), |s| s.to_string())
                    ));
                }
                if received != self.received {
                    self.problem_exec(format!(
                        "consumer says it received {received}, the log shows {}",
                        self.received
                    ));
                }
                self.end_received = Some((announced, received));
            }
            (role, Event::Interrupted { signal, .. }) => {
                self.report.notes.push(format!(
                    "{} interrupted by {signal} ({}:{})",
                    role, EXECUTION_LOG, self.exec.number
                ));
            }
            (Role::Producer, Event::BrokenPipe { sent, total }) => {
                // Values logged as sent after the first `sent` never entered the pipe: their
                // batch's write failed with EPIPE.
                let unsent = self.sent_lines.saturating_sub(sent);
                if self.sent_lines >= sent && self.in_flight.len() as u64 >= unsent {
                    for _ in 0..unsent {
                        if let Some(v) = self.in_flight.pop_back() {
                            self.sent_at.remove(&v);
                        }
                    }
                    self.delivered = sent;
                } else {
                    self.problem_exec(format!(
                        "EPIPE after {sent} values, but {} were logged as sent",
                        self.sent_lines
                    ));
                }
                if self.params.as_ref().is_some_and(|p| p.count != total) {
                    self.problem_exec(format!(
                        "EPIPE line names {total} values, the run asked for another count"
                    ));
                }
                self.stop(text);
            }
            (Role::Consumer, Event::PipeClosed { received, .. }) => {
                if received != self.received {
                    self.problem_exec(format!(
                        "consumer says {received} values arrived, the log shows {}",
                        self.received
                    ));
                }
                self.stop(text);
            }
            (_, Event::Fault { .. } | Event::Error(_)) => self.stop(text),
            (Role::Main, Event::ChildExited { role, pid, status }) => {
                self.check_pid(role, pid);
                if !status.succeeded() {
                    self.stop(text);
                }
                self.roles.entry(role).or_default().main_saw = Some(status);
            }
            (role, Event::Exiting { code }) => {
                if role != Role::Main {
                    self.roles.entry(role).or_default().exit_code = Some(code);
                }
            }
            (
                Role::Main,
                Event::Summary {
                    sent,
                    received,
                    lost,
                    ..
                },
            ) => {
                self.summary = Some((sent, received, lost, self.exec.number));
            }
            (role, event) => self.problem_exec(format!("{role} cannot log '{event}'")),
        }
        Ok(())
    }

    fn stop(&mut self, text: &str) {
        if self.stopped_at.is_none() {
            self.stopped_at = Some(format!("{EXECUTION_LOG}:{}: {text}", self.exec.number));
        }
    }

    fn check_pid(&mut self, role: Role, pid: i32) {
        let line = self.exec.number;
        let state = self.roles.entry(role).or_default();
        match state.pid {
            None => state.pid = Some((pid, line)),
            Some((first, at)) if first != pid => {
                self.problem_exec(format!(
                    "{role} pid {pid}, but {role} was pid {first} at line {at}"
                ));
            }
            Some(_) => {}
        }
    }

    fn sent(&mut self, value: i64, index: u64, total: u64) {
        self.sent_lines += 1;
        self.delivered = self.sent_lines;
        if index != self.sent_lines {
            self.problem_exec(format!("sent index {index}, expected {}", self.sent_lines));
        }
        if let Some(p) = self.params.clone() {
            if total != p.count {
                self.problem_exec(format!(
                    "sent line says {total} values, the run asked for {}",
                    p.count
                ));
            }
            if !(p.min..=p.max).contains(&value) {
                self.problem_exec(format!(
                    "value {value} is outside the run's range {}..={}",
                    p.min, p.max
                ));
            }
        }
        if self.end_sent.is_some() {
            self.problem_exec(format!("value {value} sent after the end marker"));
        }
        match self.sent_at.insert(value, self.exec.number) {
            Some(first) => {
                self.problem_exec(format!("value {value} sent twice (first at line {first})"))
            }
            None => self.in_flight.push_back(value),
        }
    }

    fn received(&mut self, value: i64, parity: Parity) -> Result<()> {
        self.received += 1;
        if parity != Parity::of(value) {
            self.problem_exec(format!(
                "{value} classified {parity}, but it is {}",
                Parity::of(value)
            ));
        }
        match self.in_flight.iter().position(|&v| v == value) {
            Some(0) => {
                self.in_flight.pop_front();
            }
            Some(pos) => {
                let expected = self.in_flight[0];
                self.problem_exec(format!(
                    "received {value} out of order: {expected} was sent before it"
                ));
                self.in_flight.remove(pos);
            }
            None if self.sent_at.contains_key(&value) => {
                self.problem_exec(format!("value {value} received twice"))
            }
            None => self.problem_exec(format!("received {value} before any 'sent {value}' line")),
        }
        self.consumer_value(value, parity)
    }

    /// The consumer log must hold the same values as the `received` lines, in the same order.
    fn consumer_value(&mut self, value: i64, parity: Parity) -> Result<()> {
        let Some(text) = self.cons.next_line(&mut self.report.problems)? else {
            self.report.problems.push(format!(
                "{CONSUMER_LOG}: ends before value {value} (received at {EXECUTION_LOG}:{})",
                self.exec.number
            ));
            return Ok(());
        };
        self.report.consumer_lines = self.cons.number;
        match ConsumerLine::parse_cached(&text, &mut self.cons_times) {
            Ok(ConsumerLine::Value {
                value: v,
                parity: p,
                ..
            }) => {
                if v != value {
                    self.problem_cons(format!(
                        "value {v}, but {EXECUTION_LOG}:{} received {value}",
                        self.exec.number
                    ));
                }
                if p != Parity::of(v) {
                    self.problem_cons(format!("{v} classified {p}, but it is {}", Parity::of(v)));
                }
                if p == Parity::Even {
                    self.consumer_even += 1;
                }
                let _ = parity;
            }
            Ok(other) => self.problem_cons(format!(
                "expected the line for value {value}, found '{other}'"
            )),
            Err(e) => self.problem_cons(format!("cannot parse line: {e}")),
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.report.exec_lines = self.exec.number;
        self.report.sent = self.delivered;
        self.report.received = self.received;
        self.report.lost = self.in_flight.iter().copied().collect();
        if self.exec.number == 0 {
            self.report.problems.push(format!(
                "{EXECUTION_LOG}: file is empty: no run has written it"
            ));
            return Ok(());
        }
        self.consumer_tail()?;
        let end = format!("{EXECUTION_LOG}:{}", self.exec.number);

        if let Some(p) = self.params.clone() {
            let span = range_len(p.min, p.max);
            if p.count > span {
                self.report.problems.push(format!(
                    "{EXECUTION_LOG}:1: count {} exceeds the range size {span}",
                    p.count
                ));
            }
        }
        for role in [Role::Producer, Role::Consumer] {
            let state = self.roles.entry(role).or_default();
            let (pid, main_saw, exit_code) = (state.pid, state.main_saw.clone(), state.exit_code);
            match (&main_saw, exit_code) {
                (None, _) => self
                    .report
                    .problems
                    .push(format!("{end}: main never reported how the {role} ended")),
                (Some(ChildStatus::Code(c)), Some(e)) if *c != e => self.report.problems.push(
                    format!("{end}: the {role} logged exit code {e}, main saw {c}"),
                ),
                (Some(ChildStatus::Code(c)), None) => self.report.problems.push(format!(
                    "{end}: the {role} exited with code {c} without logging 'exiting'"
                )),
                _ => {}
            }
            if pid.is_none() {
                self.report
                    .problems
                    .push(format!("{end}: no line from the {role}"));
            }
            match main_saw {
                Some(ChildStatus::Code(c)) if c != 0 => {
                    self.report
                        .problems
                        .push(format!("{end}: the {role} exited with code {c}"));
                }
                Some(ChildStatus::Signal(s)) => {
                    self.report
                        .problems
                        .push(format!("{end}: the {role} was killed by {s}"));
                }
                _ => {}
            }
        }
        if self.end_sent.is_none() {
            self.report
                .problems
                .push(format!("{end}: the producer never sent the end marker"));
        }
        if self.end_received.is_none() {
            self.report
                .problems
                .push(format!("{end}: the consumer never received the end marker"));
        }
        match self.summary {
            None => self
                .report
                .problems
                .push(format!("{end}: no summary line from main")),
            Some((sent, received, lost, at)) => {
                let lost_now = self.in_flight.len() as u64;
                if (sent, received, lost) != (self.delivered, self.received, lost_now) {
                    self.report.problems.push(format!(
                        "{EXECUTION_LOG}:{at}: summary says sent {sent}, received {received}, lost {lost}; \
                         the log shows sent {}, received {}, lost {lost_now}",
                        self.delivered, self.received
                    ));
                }
            }
        }
        if !self.report.lost.is_empty() {
            self.report.problems.push(format!(
                "{end}: {} values were sent but never received",
                self.report.lost.len()
            ));
        }
        if let Some(at) = self.stopped_at.clone() {
            self.report.notes.push(format!("the run stopped at {at}"));
        }
        if let Some(p) = self.params.clone()
            && self.delivered < p.count
            && self.report.problems.is_empty()
        {
            self.report.notes.push(format!(
                "{} of {} values were sent before the run was stopped; none was lost",
                self.delivered, p.count
            ));
        }
        Ok(())
    }

    /// After the last value: exactly one totals line that agrees with the values above it.
    fn consumer_tail(&mut self) -> Result<()> {
        while let Some(text) = self.cons.next_line(&mut self.report.problems)? {
            self.report.consumer_lines = self.cons.number;
            match ConsumerLine::parse_cached(&text, &mut self.cons_times) {
                Ok(ConsumerLine::Totals {
                    values,
                    even,
                    odd,
                    incomplete,
                }) => {
                    if self.consumer_totals.is_some() {
                        self.problem_cons("a second totals line");
                    }
                    let odd_seen = self.received - self.consumer_even;
                    if (values, even, odd) != (self.received, self.consumer_even, odd_seen) {
                        self.problem_cons(format!(
                            "totals say values {values}, even {even}, odd {odd}; the file shows {}, {}, {odd_seen}",
                            self.received, self.consumer_even
                        ));
                    }
                    if let Some(why) = &incomplete {
                        self.report.notes.push(format!(
                            "{CONSUMER_LOG}:{}: consumer stopped early: {why}",
                            self.cons.number
                        ));
                    }
                    self.consumer_totals = Some((values, even, odd, incomplete));
                }
                Ok(ConsumerLine::Value { value, .. }) => {
                    self.problem_cons(format!(
                        "value {value} has no 'received' line in {EXECUTION_LOG}"
                    ));
                }
                Ok(ConsumerLine::Header(_)) => self.problem_cons("header line after the values"),
                Err(e) => self.problem_cons(format!("cannot parse line: {e}")),
            }
        }
        if self.consumer_totals.is_none() {
            self.report.problems.push(format!(
                "{CONSUMER_LOG}:{}: no totals line (the consumer did not finish)",
                self.cons.number
            ));
        }
        Ok(())
    }
}

/// A multiplicative hash for the i64 keys of `sent_at`. SipHash's protection against crafted
/// keys buys nothing for a local audit and costs a third of its time on a million values.
#[derive(Default, Clone, Copy)]
struct BuildValueHasher;

#[derive(Default)]
struct ValueHasher(u64);

impl std::hash::BuildHasher for BuildValueHasher {
    type Hasher = ValueHasher;

    fn build_hasher(&self) -> ValueHasher {
        ValueHasher(0)
    }
}

impl std::hash::Hasher for ValueHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_i64(&mut self, v: i64) {
        // Fibonacci hashing; the high bits (which hashbrown uses) depend on every input bit.
        self.0 = (v as u64 ^ (v as u64 >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
