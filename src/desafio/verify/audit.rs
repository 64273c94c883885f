//! The audit: one pass over `execution_log.txt` on this thread while `consumer_log.txt` is read
//! on another (`consumer`), then the cross-checks between them. Every line goes through
//! `record`'s parser, the one `report` uses too; the hot lines (`sent`, `received`) are matched
//! against their own catalog template first, skipping the search through every message.
//!
//! Distinctness is proved by sorting the values sent (8 bytes each) rather than hashing them;
//! only when something is wrong is a log read a second time, to name the lines involved.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use chrono::{DateTime, FixedOffset};

use super::consumer::{self, ConsumerPass};
use super::foreign;
use super::judge;
use super::reader::{Line, LogReader, OpenError};
use super::{Problem, Report};
use crate::desafio::error::{Error, Result};
use crate::desafio::lang::Lang;
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG, LogPaths, invalid};
use crate::desafio::options::{Bug, FaultKind, range_len};
use crate::desafio::record::{
    ChildStatus, Event, LogLine, Parity, Role, RunParams, TimeCache, fields,
};

/// What the execution log said about one child role.
#[derive(Debug, Default, Clone)]
pub(crate) struct RoleState {
    pub pid: Option<(i32, usize)>,
    /// The role's own first line: whether it is `started`, and where.
    pub first: Option<(bool, usize)>,
    pub exit_code: Option<i32>,
    pub main_saw: Option<(ChildStatus, usize)>,
    pub last_line: usize,
}

/// Facts gathered for the judge and the rubric.
#[derive(Debug, Default)]
pub(crate) struct Evidence {
    pub params: Option<RunParams>,
    pub main_pid: Option<(i32, usize)>,
    pub main_exit: Option<(i32, usize)>,
    pub producer: RoleState,
    pub consumer: RoleState,
    pub spawned: Vec<(Role, i32, usize)>,
    pub sent_lines: u64,
    pub end_sent: Option<(u64, usize)>,
    pub end_received: Option<(u64, u64, usize)>,
    pub broken_pipe: Option<(u64, usize)>,
    pub pipe_closed: Option<(u64, usize)>,
    /// A child that gave up on a pipe that did not move after an interrupt: (role, values
    /// through before, line).
    pub gave_up: Vec<(Role, u64, usize)>,
    pub faults: Vec<(Role, String, usize)>,
    pub errors: Vec<(Role, String, usize)>,
    pub interrupts: Vec<(Role, String, usize)>,
    pub summary: Option<(u64, u64, u64, usize)>,
    pub distinct: u64,
    pub duplicates: u64,
    pub min_max: Option<(i64, i64)>,
    /// Values logged as sent that never entered the pipe (an EPIPE, a killed producer).
    pub undelivered: u64,
    /// Values the consumer logged as received but was killed before recording in its own log.
    pub unrecorded: u64,
    pub stall: Option<usize>,
    /// Lines whose timestamp is earlier than the line before.
    pub backwards: Vec<usize>,
    /// The run declared a lock that excludes nobody (`--bug no-lock`, `lock-before-fork`):
    /// timestamps that go backwards are that bug's doing, told in its line, not violations.
    pub lock_bug: bool,
    /// A run is still writing these logs: its processes hold their claim on them.
    pub live: bool,
    /// Main's `fault main-kill@K` line: main was killed on purpose there.
    pub main_kill_at: Option<usize>,
    /// Values logged as sent after main reported the consumer gone (no process reads the pipe
    /// any more: each such write must fail with EPIPE), and when the first and last were.
    pub sent_after_consumer_gone: u64,
    pub consumer_gone_time: Option<DateTime<FixedOffset>>,
    pub last_sent_after_gone: Option<DateTime<FixedOffset>>,
}

#[derive(Default)]
pub(super) struct Audit {
    pub(super) lang: Lang,
    pub(super) report: Report,
    pub(super) ev: Evidence,
    times: TimeCache,
    last_time: Option<DateTime<FixedOffset>>,
    /// The timestamp of the last hot line (the lines of one batch share theirs).
    last_stamp: String,
    /// The language of the log's first line that has one (main's name none).
    log_lang: Option<Lang>,
    number: usize,
    /// Every value sent, in order of sending (for the distinctness check by sorting).
    sent_values: Vec<i64>,
    /// Sent, not yet received, in order.
    pub(super) in_flight: VecDeque<i64>,
    pub(super) received: u64,
    /// An order-sensitive fingerprint of the received values, compared with the consumer log's.
    received_print: u64,
    /// `received` lines whose value was not in flight: named in a second pass.
    unmatched: Vec<(i64, usize)>,
    /// Lines that did not parse: a killed writer may leave one unfinished line each.
    unparsed: Vec<(usize, String)>,
    stopped: bool,
}

fn open(path: &Path) -> Result<LogReader> {
    LogReader::open(path).map_err(|e| match e {
        OpenError::NotRegular(path, what) => Error::log_dir(
            &path,
            invalid(format!("not a regular file ({what}): a log must be one")),
        ),
        OpenError::Io(path, source) if source.kind() == std::io::ErrorKind::NotFound => {
            Error::log_dir(&path, source)
        }
        OpenError::Io(path, source) => Error::read(&path, source),
    })
}

/// A run's processes hold their claim on the log `r` reads: they are still writing it.
fn live(r: &LogReader) -> bool {
    use std::os::fd::AsFd;
    ipc_sys::linelog::claimed_elsewhere(r.file().as_fd()).unwrap_or(false)
}

/// `English` / `inglês`: a language named in `speak`.
pub(super) fn lang_name(lang: Lang, speak: Lang) -> &'static str {
    match (lang, speak) {
        (Lang::En, Lang::En) => "English",
        (Lang::Pt, Lang::En) => "Portuguese",
        (Lang::En, Lang::Pt) => "inglês",
        (Lang::Pt, Lang::Pt) => "português",
    }
}

/// Order-sensitive fingerprint step shared with the consumer pass.
pub(super) fn fingerprint(print: u64, value: i64) -> u64 {
    (print ^ value as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
}

pub(super) fn run(dir: &Path, lang: Lang) -> Result<Report> {
    let paths = LogPaths::in_dir(dir);
    let mut exec = open(&paths.execution)?;
    let cons = open(&paths.consumer)?;
    foreign::check(&paths)?;
    let was_live = live(&exec);
    let mut audit = Audit {
        lang,
        report: Report {
            lang,
            ..Report::default()
        },
        ..Audit::default()
    };
    let consumer_pass = std::thread::scope(|scope| -> Result<ConsumerPass> {
        let pass = scope.spawn(move || consumer::read(cons, lang));
        let path = exec.path().to_path_buf();
        while let Some((number, line)) = exec.next_line().map_err(|e| Error::read(&path, e))? {
            audit.number = number;
            match line {
                Line::Text(text) => audit.line(text),
                Line::Unterminated(text) => {
                    let text = text.to_string();
                    audit.problem(super::torn(lang));
                    audit.line(&text);
                }
                other => audit.problem(super::not_a_line(&other, lang)),
            }
        }
        pass.join()
            .unwrap_or_else(|_| Err(Error::BadLog("the consumer log reader panicked".into())))
    })?;
    audit.report.exec_lines = exec.number;
    // Live before or after the reading: a run that ended, or began, while the two logs were
    // being read leaves them read at different moments of it.
    let live = was_live || live(&exec);
    audit.ev.live = live;
    audit.finish(&paths, consumer_pass)?;
    let mut report = audit.report;
    report.live = live;
    report
        .problems
        .sort_by_key(|p| (p.file != EXECUTION_LOG, p.line));
    Ok(report)
}

impl Audit {
    fn problem(&mut self, text: impl Into<String>) {
        self.problem_at(EXECUTION_LOG, self.number, text);
    }

    pub(super) fn problem_at(&mut self, file: &'static str, line: usize, text: impl Into<String>) {
        self.report.problems.push(Problem {
            file,
            line,
            text: text.into(),
        });
    }

    fn line(&mut self, text: &str) {
        if self.hot_line(text) {
            return;
        }
        // A line the full parser reads may move the clock: the next hot line's time is checked.
        self.last_stamp.clear();
        match LogLine::parse_cached(text, &mut self.times) {
            Ok(line) => self.event(line, text),
            Err(e) => self.unparsed.push((self.number, e)),
        }
    }

    /// A child's `sent` or `received` line — nearly all of a large log — read through
    /// `Event::parse_hot` (the same catalog template the full parser would match) with its
    /// timestamp parsed once per batch. `false`: anything else, for the full parser (which
    /// also words what is wrong).
    fn hot_line(&mut self, text: &str) -> bool {
        let Some((stamp, who, pid, msg)) = fields(text) else {
            return false;
        };
        // A child's line names its role in its language (main's, `None`, is not a hot line).
        let Ok((role, Some(lang))) = Role::parse_any(who) else {
            return false;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            return false;
        };
        let Some(event) = Event::parse_hot(role, msg, lang) else {
            return false;
        };
        if stamp != self.last_stamp {
            let Ok(time) = self.times.parse(stamp) else {
                return false;
            };
            self.check_time(time);
            self.last_stamp.clear();
            self.last_stamp.push_str(stamp);
        }
        self.mark_lang(lang);
        self.common(role, pid, false);
        match event {
            Event::Sent {
                value,
                index,
                total,
            } => self.sent(value, index, total),
            Event::Received { value, parity } => self.received(value, parity),
            _ => {}
        }
        true
    }

    /// One run writes in one language: a line in the other is a line from somewhere else.
    fn mark_lang(&mut self, lang: Lang) {
        match self.log_lang {
            Some(first) if first != lang => {
                self.problem(super::mixed_langs(lang, first, self.lang))
            }
            Some(_) => {}
            None => self.log_lang = Some(lang),
        }
    }

    fn check_time(&mut self, time: DateTime<FixedOffset>) {
        if let Some(last) = self.last_time
            && time < last
        {
            self.ev.backwards.push(self.number);
            if !self.ev.lock_bug {
                let lang = self.lang;
                self.problem(lang.pick(
                    format!("timestamp goes backwards ({time} < {last})"),
                    format!("o horário volta para trás ({time} < {last})"),
                ));
            }
        }
        self.last_time = Some(time);
    }

    /// What every line is checked for, whatever it says. `started`: the line is the role's
    /// `started` line.
    fn common(&mut self, role: Role, pid: i32, started: bool) {
        let lang = self.lang;
        if role != Role::Main {
            let r = role.in_lang(lang);
            let state = match role {
                Role::Producer => &mut self.ev.producer,
                _ => &mut self.ev.consumer,
            };
            let first = state.first.is_none();
            if first {
                state.first = Some((started, self.number));
            }
            let reported = state.main_saw.is_some();
            if first && !started {
                let word = Event::Started(None).render(lang);
                self.problem(lang.pick(
                    format!("the {r}'s first line must be '{word}'"),
                    format!("a primeira linha do {r} deve ser '{word}'"),
                ));
            }
            if reported {
                self.problem(lang.pick(
                    format!("a line from the {r} after main reported how it ended"),
                    format!("uma linha do {r} depois de o main relatar como ele terminou"),
                ));
            } else if self.ev.main_exit.is_some() {
                self.problem(lang.pick(
                    format!("a line from the {r} after main's 'exiting' (main exits only once both children have ended)"),
                    format!("uma linha do {r} depois da saída do main (o main só sai depois que os dois filhos terminam)"),
                ));
            }
        }
        if self.number == 1 {
            self.problem(self.lang.pick(
                "first line must be main's 'started: ...' line",
                "a primeira linha deve ser a 'iniciado: ...' do main",
            ));
        }
        if self.ev.summary.is_some() {
            self.problem(self.lang.pick(
                "line after main's summary (the summary must be the last line)",
                "linha depois do resumo do main (o resumo deve ser a última linha)",
            ));
        }
        self.check_pid(role, pid);
    }

    fn check_pid(&mut self, role: Role, pid: i32) {
        let line = self.number;
        let seen = match role {
            Role::Main => &mut self.ev.main_pid,
            Role::Producer | Role::Consumer => {
                let state = match role {
                    Role::Producer => &mut self.ev.producer,
                    _ => &mut self.ev.consumer,
                };
                state.last_line = line;
                &mut state.pid
            }
        };
        match *seen {
            None => *seen = Some((pid, line)),
            Some((first, at)) if first != pid => self.pid_problem(role, pid, first, at),
            Some(_) => {}
        }
    }

    fn pid_problem(&mut self, role: Role, pid: i32, first: i32, at: usize) {
        let lang = self.lang;
        let r = role.in_lang(lang);
        self.problem(lang.pick(
            format!("{r} pid {pid}, but {r} was pid {first} at line {at}"),
            format!("{r} com pid {pid}, mas o {r} tinha pid {first} na linha {at}"),
        ));
    }

    fn event(&mut self, line: LogLine, text: &str) {
        let lang = self.lang;
        // Two problems of one line are listed in the order verify has always listed them: a
        // `sent` or `received` line's timestamp first, any other line's language first.
        if matches!(line.event, Event::Sent { .. } | Event::Received { .. }) {
            self.check_time(line.time);
            self.mark_lang(line.lang);
        } else {
            self.mark_lang(line.lang);
            self.check_time(line.time);
        }
        let first = self.number == 1;
        if !first
            || !matches!(
                (line.role, &line.event),
                (Role::Main, Event::Started(Some(_)))
            )
        {
            let started = matches!(line.event, Event::Started(None));
            self.common(line.role, line.pid, started);
        } else {
            self.check_pid(line.role, line.pid);
        }
        let at = self.number;
        match (line.role, line.event) {
            (Role::Main, Event::Started(Some(params))) => {
                if self.ev.params.is_some() {
                    self.problem(lang.pick(
                        "a second 'started:' line from main",
                        "uma segunda linha 'iniciado:' do main",
                    ));
                }
                self.sent_values
                    .reserve(usize::try_from(params.count.min(1 << 22)).unwrap_or(0));
                self.ev.lock_bug = matches!(params.bug, Some(Bug::NoLock | Bug::LockBeforeFork));
                self.ev.params = Some(params);
            }
            (Role::Producer | Role::Consumer, Event::Started(None)) => {}
            (Role::Main, Event::Spawned { role, pid }) => {
                self.check_pid(role, pid);
                self.ev.spawned.push((role, pid, at));
            }
            (
                Role::Producer,
                Event::Sent {
                    value,
                    index,
                    total,
                },
            ) => self.sent(value, index, total),
            (Role::Producer, Event::EndSent { sent }) => {
                if sent != self.ev.sent_lines {
                    let n = self.ev.sent_lines;
                    let sent_values = lang.words().n_values(sent);
                    self.problem(lang.pick(
                        format!("end marker announces {sent_values} but {n} were sent"),
                        format!("o marcador de fim anuncia {sent_values}, mas {n} foram enviados"),
                    ));
                }
                self.ev.end_sent = Some((sent, at));
            }
            (Role::Consumer, Event::Received { value, parity }) => self.received(value, parity),
            (
                Role::Consumer,
                Event::EndReceived {
                    announced,
                    received,
                },
            ) => {
                let producer_sent = self.ev.end_sent.map(|(s, _)| s);
                if Some(announced) != producer_sent {
                    let sent = producer_sent
                        .map_or(lang.pick("none", "nenhum").to_string(), |s| s.to_string());
                    let announced_values = lang.words().n_values(announced);
                    self.problem(lang.pick(format!("consumer reports an end marker of {announced_values}, the producer sent {sent}"), format!("o consumidor relata um marcador de fim de {announced_values}; o produtor enviou {sent}")));
                }
                if received != self.received {
                    let n = self.received;
                    self.problem(lang.pick(
                        format!("consumer says it received {received}, the log shows {n}"),
                        format!("o consumidor diz que recebeu {received}; o log mostra {n}"),
                    ));
                }
                self.ev.end_received = Some((announced, received, at));
            }
            (role, Event::Interrupted { signal, .. }) => {
                let r = role.in_lang(lang);
                self.report.notes.push(lang.pick(
                    format!("{r} interrupted by {signal} ({EXECUTION_LOG}:{at})"),
                    format!("{r} interrompido por {signal} ({EXECUTION_LOG}:{at})"),
                ));
                self.ev.interrupts.push((role, signal, at));
            }
            (Role::Producer, Event::BrokenPipe { sent, total }) => {
                self.ev.broken_pipe = Some((sent, at));
                // Values logged as sent after the first `sent` never entered the pipe: their
                // batch's write failed with EPIPE.
                if self.ev.sent_lines >= sent {
                    self.undeliver(self.ev.sent_lines - sent);
                } else {
                    let (n, sent_values) = (self.ev.sent_lines, lang.words().n_values(sent));
                    self.problem(lang.pick(
                        format!("EPIPE after {sent_values}, but {n} were logged as sent"),
                        format!(
                            "EPIPE após {sent} valores, mas {n} foram registrados como enviados"
                        ),
                    ));
                }
                if self.ev.params.as_ref().is_some_and(|p| p.count != total) {
                    let total_values = lang.words().n_values(total);
                    self.problem(lang.pick(format!("EPIPE line names {total_values}, the run asked for another count"), format!("a linha de EPIPE cita {total_values}; a execução pediu outra quantidade")));
                }
                self.stop(text);
            }
            (Role::Consumer, Event::PipeClosed { received, .. }) => {
                if received != self.received {
                    let (n, received_values) = (self.received, lang.words().n_values(received));
                    self.problem(lang.pick(
                        format!("consumer says {received_values} arrived, the log shows {n}"),
                        format!(
                            "o consumidor diz que chegaram {received} valores; o log mostra {n}"
                        ),
                    ));
                }
                self.ev.pipe_closed = Some((received, at));
                self.stop(text);
            }
            (
                Role::Producer,
                Event::GaveUp {
                    count,
                    total: Some(total),
                    ..
                },
            ) => {
                // Like EPIPE: values logged as sent after the first `count` never entered the
                // pipe (the write that would have taken them gave up).
                if self.ev.sent_lines >= count {
                    self.undeliver(self.ev.sent_lines - count);
                } else {
                    let n = self.ev.sent_lines;
                    let count_values = lang.words().n_values(count);
                    self.problem(lang.pick(format!("the producer says {count_values} went through, but {n} were logged as sent"), format!("o produtor diz que {count_values} passaram, mas {n} foram registrados como enviados")));
                }
                if self.ev.params.as_ref().is_some_and(|p| p.count != total) {
                    let total_values = lang.words().n_values(total);
                    self.problem(lang.pick(
                        format!("the line names {total_values}, the run asked for another count"),
                        format!("a linha cita {total_values}; a execução pediu outra quantidade"),
                    ));
                }
                self.ev.gave_up.push((Role::Producer, count, at));
                self.stop(text);
            }
            (
                Role::Consumer,
                Event::GaveUp {
                    count, total: None, ..
                },
            ) => {
                if count != self.received {
                    let n = self.received;
                    let count_values = lang.words().n_values(count);
                    self.problem(lang.pick(
                        format!("consumer says {count_values} arrived, the log shows {n}"),
                        format!("o consumidor diz que chegaram {count_values}; o log mostra {n}"),
                    ));
                }
                self.ev.gave_up.push((Role::Consumer, count, at));
                self.stop(text);
            }
            (role, Event::Fault { fault, .. }) => {
                if role == Role::Main && fault.kind == FaultKind::MainKill {
                    self.ev.main_kill_at = Some(at);
                }
                self.ev.faults.push((role, fault.to_string(), at));
                self.stop(text);
            }
            (role, Event::Error(e)) => {
                if role == Role::Main && (e.starts_with("stall") || e.starts_with("travamento")) {
                    self.ev.stall = Some(at);
                }
                self.ev.errors.push((role, e, at));
                self.stop(text);
            }
            (Role::Main, Event::ChildExited { role, pid, status }) => {
                self.check_pid(role, pid);
                if !status.succeeded() {
                    self.stop(text);
                }
                if role == Role::Consumer {
                    self.ev.consumer_gone_time = self.last_time;
                }
                let state = match role {
                    Role::Producer => &mut self.ev.producer,
                    _ => &mut self.ev.consumer,
                };
                state.main_saw = Some((status, at));
            }
            (role, Event::Exiting { code }) => match role {
                Role::Main => self.ev.main_exit = Some((code, at)),
                Role::Producer => self.ev.producer.exit_code = Some(code),
                Role::Consumer => self.ev.consumer.exit_code = Some(code),
            },
            (
                Role::Main,
                Event::Summary {
                    sent,
                    received,
                    lost,
                    ..
                },
            ) => {
                self.ev.summary = Some((sent, received, lost, at));
            }
            (role, event) => {
                let r = role.in_lang(lang);
                let e = event.render(lang).to_string();
                self.problem(lang.pick(
                    format!("{r} cannot log '{e}'"),
                    format!("o {r} não pode registrar '{e}'"),
                ));
            }
        }
    }

    fn stop(&mut self, text: &str) {
        if !self.stopped {
            self.stopped = true;
            let at = self.number;
            self.report.notes.push(self.lang.pick(
                format!("the run stopped at {EXECUTION_LOG}:{at}: {text}"),
                format!("a execução parou em {EXECUTION_LOG}:{at}: {text}"),
            ));
        }
    }

    /// The last `n` values logged as sent never entered the pipe.
    fn undeliver(&mut self, n: u64) {
        for _ in 0..n {
            if self.in_flight.pop_back().is_some() {
                self.sent_values.pop();
                self.ev.undelivered += 1;
            }
        }
    }

    fn sent(&mut self, value: i64, index: u64, total: u64) {
        let lang = self.lang;
        self.ev.sent_lines += 1;
        let n = self.ev.sent_lines;
        if index != n {
            self.problem(lang.pick(
                format!("sent index {index}, expected {n}"),
                format!("índice de envio {index}; esperado {n}"),
            ));
        }
        if let Some(p) = &self.ev.params {
            let (count, min, max) = (p.count, p.min, p.max);
            if total != count {
                let total_values = lang.words().n_values(total);
                self.problem(lang.pick(
                    format!("sent line says {total_values}, the run asked for {count}"),
                    format!("a linha de envio diz {total_values}; a execução pediu {count}"),
                ));
            }
            if !(min..=max).contains(&value) {
                self.problem(lang.pick(
                    format!("value {value} is outside the run's range {min}..={max}"),
                    format!("o valor {value} está fora do intervalo da execução {min}..={max}"),
                ));
            }
        }
        if self.ev.end_sent.is_some() {
            self.problem(lang.pick(
                format!("value {value} sent after the end marker"),
                format!("valor {value} enviado depois do marcador de fim"),
            ));
        }
        self.sent_values.push(value);
        self.in_flight.push_back(value);
        if self.ev.consumer.main_saw.is_some() {
            self.ev.sent_after_consumer_gone += 1;
            self.ev.last_sent_after_gone = self.last_time;
        }
    }

    fn received(&mut self, value: i64, parity: Parity) {
        let lang = self.lang;
        self.received += 1;
        self.received_print = fingerprint(self.received_print, value);
        if parity != Parity::of(value) {
            let (p, q) = (parity.in_lang(lang), Parity::of(value).in_lang(lang));
            self.problem(lang.pick(
                format!("{value} classified {p}, but it is {q}"),
                format!("{value} classificado como {p}, mas é {q}"),
            ));
        }
        match self.in_flight.iter().position(|&v| v == value) {
            Some(0) => {
                self.in_flight.pop_front();
            }
            Some(pos) => {
                let expected = self.in_flight[0];
                self.problem(lang.pick(
                    format!("received {value} out of order: {expected} was sent before it"),
                    format!("{value} recebido fora de ordem: {expected} foi enviado antes"),
                ));
                self.in_flight.remove(pos);
            }
            None => self.unmatched.push((value, self.number)),
        }
    }

    fn finish(&mut self, paths: &LogPaths, cons: ConsumerPass) -> Result<()> {
        let lang = self.lang;
        let end_line = self.report.exec_lines;
        self.report.consumer_lines = cons.lines;
        if self.report.exec_lines == 0 {
            self.problem_at(
                EXECUTION_LOG,
                0,
                lang.pick(
                    "file is empty: no run has written it",
                    "arquivo vazio: nenhuma execução o escreveu",
                ),
            );
            self.report.problems.extend(cons.problems.iter().cloned());
            return Ok(());
        }
        self.log_lang_check(&cons);
        self.cut_lines();
        self.distinct(paths)?;
        self.unmatched_receives(paths)?;
        if let Some(p) = &self.ev.params {
            let span = range_len(p.min, p.max);
            if p.count > span {
                let count = p.count;
                self.problem_at(
                    EXECUTION_LOG,
                    1,
                    lang.pick(
                        format!("count {count} exceeds the range size {span}"),
                        format!("a quantidade {count} excede o tamanho do intervalo {span}"),
                    ),
                );
            }
        } else if self.report.problems.is_empty() {
            self.problem_at(
                EXECUTION_LOG,
                1,
                lang.pick(
                    "no 'started:' line from main",
                    "nenhuma linha 'iniciado:' do main",
                ),
            );
        }
        // The consumer log must hold the values the execution log says were received, in the
        // same order: compared by fingerprint, named line by line only when they differ.
        let consumer_gone = matches!(self.ev.consumer.main_saw, Some((ChildStatus::Signal(_), _)))
            || self.main_unfinished();
        if cons.values != self.received || cons.print != self.received_print {
            self.ev.unrecorded =
                consumer::compare(paths, lang, consumer_gone, &mut self.report.problems)
                    .map_err(|e| Error::read(&paths.consumer, e))?;
        }
        self.report.problems.extend(
            cons.problems
                .iter()
                .filter(|p| !(consumer_gone && cons.lines == 0 && p.line == 0))
                .cloned(),
        );
        if let Some((values, even, odd, line)) = cons.totals_line
            && (values, even, odd) != (cons.values, cons.even, cons.values - cons.even)
        {
            let (v, e, o) = (cons.values, cons.even, cons.values - cons.even);
            self.problem_at(
                CONSUMER_LOG,
                line,
                lang.pick(
                    format!("totals say values {values}, even {even}, odd {odd}; the file shows {v}, {e}, {o}"),
                    format!("os totais dizem valores {values}, pares {even}, ímpares {odd}; o arquivo mostra {v}, {e}, {o}"),
                ),
            );
        }
        judge::judge(self, &cons, end_line)
    }

    /// Both logs in one language (each log's stray lines are named by its own pass); which
    /// one goes in the report.
    fn log_lang_check(&mut self, cons: &ConsumerPass) {
        self.report.log_lang = match (self.log_lang, cons.lang) {
            (Some(a), Some(b)) if a != b => {
                let (b, a) = (lang_name(b, self.lang), lang_name(a, self.lang));
                let text = self.lang.pick(
                    format!("written in {b}, {EXECUTION_LOG} in {a}: the two logs of one run speak one language"),
                    format!("escrito em {b}, e {EXECUTION_LOG} em {a}: os dois logs de uma execução falam um só idioma"),
                );
                self.problem_at(CONSUMER_LOG, 0, text);
                None
            }
            (a, b) => a.or(b),
        };
    }

    /// A line that does not parse is a violation — unless a writer was killed: it may leave its
    /// last, unfinished line (the next writer starts on a fresh line), one per killed writer.
    fn cut_lines(&mut self) {
        let lang = self.lang;
        let mut allowed = [&self.ev.producer, &self.ev.consumer]
            .iter()
            .filter(|s| matches!(s.main_saw, Some((ChildStatus::Signal(_), _))))
            .count()
            + usize::from(self.main_unfinished());
        for (line, why) in std::mem::take(&mut self.unparsed) {
            if allowed > 0 && line > 1 {
                allowed -= 1;
                self.report.notes.push(lang.pick(
                    format!("{EXECUTION_LOG}:{line}: a line cut short by a killed process"),
                    format!("{EXECUTION_LOG}:{line}: uma linha interrompida por um processo morto"),
                ));
            } else {
                self.problem_at(EXECUTION_LOG, line, super::unparsable(&why, lang));
            }
        }
    }

    /// Main's log has no summary, its last line: main was killed (by `--fault main-kill@K` or
    /// from outside), could not write it, or is still running. Which, the log alone cannot
    /// tell; it cannot be asked for lines main never got to write.
    pub(super) fn main_unfinished(&self) -> bool {
        self.ev.summary.is_none()
    }

    /// Values are distinct: proved by sorting; a repeated value is named with both lines by a
    /// second pass over the log.
    fn distinct(&mut self, paths: &LogPaths) -> Result<()> {
        let mut sorted = std::mem::take(&mut self.sent_values);
        sorted.sort_unstable();
        let (mut repeated, mut duplicates) = (Vec::new(), 0);
        for pair in sorted.windows(2).filter(|pair| pair[0] == pair[1]) {
            duplicates += 1;
            if repeated.last() != Some(&pair[0]) {
                repeated.push(pair[0]);
            }
        }
        self.ev.distinct = sorted.len() as u64 - duplicates;
        self.ev.duplicates = duplicates;
        self.ev.min_max = sorted.first().zip(sorted.last()).map(|(a, b)| (*a, *b));
        drop(sorted);
        if repeated.is_empty() {
            return Ok(());
        }
        let lang = self.lang;
        let mut first: HashMap<i64, usize> = HashMap::new();
        self.each_sent(paths, |line, value| {
            if repeated.binary_search(&value).is_err() {
                return None;
            }
            match first.get(&value) {
                Some(at) => Some((
                    line,
                    lang.pick(
                        format!("value {value} sent twice (first at line {at})"),
                        format!("valor {value} enviado duas vezes (primeiro na linha {at})"),
                    ),
                )),
                None => {
                    first.insert(value, line);
                    None
                }
            }
        })
    }

    /// `received` lines whose value was not in flight: sent earlier (received twice) or never
    /// before that line.
    fn unmatched_receives(&mut self, paths: &LogPaths) -> Result<()> {
        if self.unmatched.is_empty() {
            return Ok(());
        }
        let lang = self.lang;
        let unmatched = std::mem::take(&mut self.unmatched);
        let mut first_sent: HashMap<i64, usize> = HashMap::new();
        let wanted: std::collections::HashSet<i64> = unmatched.iter().map(|(v, _)| *v).collect();
        self.each_sent(paths, |line, value| {
            if wanted.contains(&value) {
                first_sent.entry(value).or_insert(line);
            }
            None
        })?;
        for (value, line) in unmatched {
            let text = match first_sent.get(&value) {
                Some(&at) if at < line => lang.pick(
                    format!("value {value} received twice"),
                    format!("valor {value} recebido duas vezes"),
                ),
                _ => lang.pick(
                    format!("received {value} before any 'sent {value}' line"),
                    format!("{value} recebido antes de qualquer linha de envio de {value}"),
                ),
            };
            self.problem_at(EXECUTION_LOG, line, text);
        }
        Ok(())
    }

    /// Reads the execution log again, calling `f(line, value)` for every `sent` line; what `f`
    /// returns is a problem at that line.
    fn each_sent(
        &mut self,
        paths: &LogPaths,
        mut f: impl FnMut(usize, i64) -> Option<(usize, String)>,
    ) -> Result<()> {
        let mut exec = open(&paths.execution)?;
        let mut times = TimeCache::default();
        let path = exec.path().to_path_buf();
        while let Some((number, line)) = exec.next_line().map_err(|e| Error::read(&path, e))? {
            let (Line::Text(text) | Line::Unterminated(text)) = line else {
                continue;
            };
            if let Ok(LogLine {
                event: Event::Sent { value, .. },
                ..
            }) = LogLine::parse_cached(text, &mut times)
                && let Some((at, problem)) = f(number, value)
            {
                self.problem_at(EXECUTION_LOG, at, problem);
            }
        }
        Ok(())
    }
}
