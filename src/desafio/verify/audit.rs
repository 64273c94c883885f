//! The audit: one pass over `execution_log.txt` on this thread while `consumer_log.txt` is read
//! on another (`consumer`), then the cross-checks between them. Hot lines (`sent`, `received`)
//! take a fast path; everything else goes through `record`'s parser.
//!
//! Distinctness is proved by sorting the values sent (8 bytes each) rather than hashing them;
//! only when something is wrong is a log read a second time, to name the lines involved.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use chrono::{DateTime, FixedOffset};

use super::consumer::{self, ConsumerPass};
use super::judge;
use super::reader::{Line, LogReader, OpenError};
use super::{Problem, Report};
use crate::desafio::error::{Error, Result};
use crate::desafio::lang::Lang;
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG, LogPaths};
use crate::desafio::options::range_len;
use crate::desafio::record::{ChildStatus, Event, LogLine, Parity, Role, RunParams, TimeCache};

/// What the execution log said about one child role.
#[derive(Debug, Default, Clone)]
pub(super) struct RoleState {
    pub pid: Option<(i32, usize)>,
    pub exit_code: Option<i32>,
    pub main_saw: Option<(ChildStatus, usize)>,
    pub last_line: usize,
}

/// Facts gathered for the judge and the rubric.
#[derive(Debug, Default)]
pub(super) struct Evidence {
    pub params: Option<RunParams>,
    pub main_pid: Option<(i32, usize)>,
    pub main_exit: Option<(i32, usize)>,
    pub main_last_line: usize,
    pub producer: RoleState,
    pub consumer: RoleState,
    pub spawned: Vec<(Role, i32, usize)>,
    pub sent_lines: u64,
    pub end_sent: Option<(u64, usize)>,
    pub end_received: Option<(u64, u64, usize)>,
    pub broken_pipe: Option<(u64, usize)>,
    pub pipe_closed: Option<(u64, usize)>,
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
    pub consumer_pass: Option<ConsumerPass>,
    pub cut_lines: Vec<usize>,
    pub stall: Option<usize>,
    /// Lines whose timestamp is earlier than the line before.
    pub backwards: Vec<usize>,
}

pub(super) struct Audit {
    pub(super) lang: Lang,
    pub(super) report: Report,
    pub(super) ev: Evidence,
    times: TimeCache,
    last_time: Option<DateTime<FixedOffset>>,
    last_stamp: String,
    log_langs: [bool; 2],
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

fn open(path: &Path, name: &'static str) -> Result<LogReader> {
    LogReader::open(path, name).map_err(|e| match e {
        OpenError::NotRegular(path, what) => Error::LogDir {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("not a regular file ({what}): a log must be one"),
            ),
        },
        OpenError::Io(path, source) if source.kind() == std::io::ErrorKind::NotFound => {
            Error::LogDir { path, source }
        }
        OpenError::Io(path, source) => Error::Sys(ipc_sys::Error::Read { path, source }),
    })
}

fn read_error(path: &Path, source: std::io::Error) -> Error {
    Error::Sys(ipc_sys::Error::Read {
        path: path.into(),
        source,
    })
}

/// Order-sensitive fingerprint step shared with the consumer pass.
pub(super) fn fingerprint(print: u64, value: i64) -> u64 {
    (print ^ value as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29)
}

pub(super) fn run(dir: &Path, lang: Lang) -> Result<Report> {
    let paths = LogPaths::in_dir(dir);
    let mut exec = open(&paths.execution, EXECUTION_LOG)?;
    let cons = open(&paths.consumer, CONSUMER_LOG)?;
    let mut audit = Audit {
        lang,
        report: Report {
            lang,
            ..Report::default()
        },
        ev: Evidence::default(),
        times: TimeCache::default(),
        last_time: None,
        last_stamp: String::new(),
        log_langs: [false; 2],
        number: 0,
        sent_values: Vec::new(),
        in_flight: VecDeque::new(),
        received: 0,
        received_print: 0,
        unmatched: Vec::new(),
        unparsed: Vec::new(),
        stopped: false,
    };
    let consumer_pass = std::thread::scope(|scope| -> Result<ConsumerPass> {
        let pass = scope.spawn(move || consumer::read(cons, lang));
        let path = exec.path().to_path_buf();
        while let Some((number, line)) = exec.next_line().map_err(|e| read_error(&path, e))? {
            audit.number = number;
            match line {
                Line::Text(text) => audit.line(text),
                Line::Unterminated(text) => {
                    let text = text.to_string();
                    audit.problem(lang.pick(
                        "last line is not terminated by a newline (a torn write?)",
                        "a última linha não termina com uma quebra de linha (escrita interrompida?)",
                    ));
                    audit.line(&text);
                }
                Line::TooLong => audit.problem(lang.pick(
                    format!("line longer than {} bytes: not a log line", super::MAX_LINE),
                    format!(
                        "linha com mais de {} bytes: não é uma linha de log",
                        super::MAX_LINE
                    ),
                )),
                Line::NotUtf8 => audit
                    .problem(lang.pick("line is not valid UTF-8", "a linha não é UTF-8 válido")),
            }
        }
        pass.join()
            .unwrap_or_else(|_| Err(Error::BadLog("the consumer log reader panicked".into())))
    })?;
    audit.report.exec_lines = exec.number;
    audit.finish(&paths, consumer_pass)?;
    let mut report = audit.report;
    report
        .problems
        .sort_by_key(|p| (p.file != EXECUTION_LOG, p.line));
    Ok(report)
}

impl Audit {
    fn problem(&mut self, text: impl Into<String>) {
        self.report.problems.push(Problem {
            file: EXECUTION_LOG,
            line: self.number,
            text: text.into(),
        });
    }

    pub(super) fn problem_at(&mut self, file: &'static str, line: usize, text: impl Into<String>) {
        self.report.problems.push(Problem {
            file,
            line,
            text: text.into(),
        });
    }

    fn line(&mut self, text: &str) {
        if self.fast_line(text) {
            return;
        }
        match LogLine::parse_cached(text, &mut self.times) {
            Ok(line) => self.event(line, text),
            Err(e) => self.unparsed.push((self.number, e)),
        }
    }

    /// `sent` and `received` lines — nearly all of a large log — parsed without allocating.
    /// Anything unexpected falls back to the full parser, which also words the error.
    fn fast_line(&mut self, text: &str) -> bool {
        let Some((stamp, rest)) = text.split_at_checked(29) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix(" [") else {
            return false;
        };
        let Some((who, rest)) = rest.split_once(' ') else {
            return false;
        };
        let Some((pid, msg)) = rest.split_once("] ") else {
            return false;
        };
        let lang = match who {
            "producer" | "consumer" => Lang::En,
            "produtor" | "consumidor" => Lang::Pt,
            _ => return false,
        };
        let Ok(pid) = pid.parse::<i32>() else {
            return false;
        };
        let w = lang.words();
        let role = if who == w.producer {
            Role::Producer
        } else {
            Role::Consumer
        };
        let event = if role == Role::Producer {
            let Some(rest) = msg.strip_prefix(w.sent).and_then(|r| r.strip_prefix(' ')) else {
                return false;
            };
            let Some((value, rest)) = rest.split_once(" (") else {
                return false;
            };
            let Some((index, total)) = rest.strip_suffix(')').and_then(|r| r.split_once('/'))
            else {
                return false;
            };
            match (value.parse(), index.parse(), total.parse()) {
                (Ok(value), Ok(index), Ok(total)) => Event::Sent {
                    value,
                    index,
                    total,
                },
                _ => return false,
            }
        } else {
            let Some(rest) = msg
                .strip_prefix(w.received)
                .and_then(|r| r.strip_prefix(' '))
            else {
                return false;
            };
            let Some((value, label)) = rest.split_once(": ") else {
                return false;
            };
            let Ok(parity) = Parity::parse_in(label, lang) else {
                return false;
            };
            match value.parse() {
                Ok(value) => Event::Received { value, parity },
                Err(_) => return false,
            }
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
        self.common(role, pid);
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

    fn mark_lang(&mut self, lang: Lang) {
        self.log_langs[usize::from(lang == Lang::Pt)] = true;
    }

    fn check_time(&mut self, time: DateTime<FixedOffset>) {
        if let Some(last) = self.last_time
            && time < last
        {
            self.ev.backwards.push(self.number);
            let lang = self.lang;
            self.problem(lang.pick(
                format!("timestamp goes backwards ({time} < {last})"),
                format!("o horário volta para trás ({time} < {last})"),
            ));
        }
        self.last_time = Some(time);
    }

    /// What every line is checked for, whatever it says.
    fn common(&mut self, role: Role, pid: i32) {
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
        let state = match role {
            Role::Main => {
                self.ev.main_last_line = line;
                match self.ev.main_pid {
                    None => {
                        self.ev.main_pid = Some((pid, line));
                        return;
                    }
                    Some((first, at)) => {
                        if first != pid {
                            self.pid_problem(role, pid, first, at);
                        }
                        return;
                    }
                }
            }
            Role::Producer => &mut self.ev.producer,
            Role::Consumer => &mut self.ev.consumer,
        };
        state.last_line = line;
        match state.pid {
            None => state.pid = Some((pid, line)),
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
        self.mark_lang(line.lang);
        self.check_time(line.time);
        self.last_stamp.clear();
        let first = self.number == 1;
        if !first
            || !matches!(
                (line.role, &line.event),
                (Role::Main, Event::Started(Some(_)))
            )
        {
            self.common(line.role, line.pid);
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
                self.ev.params = Some(params);
            }
            (Role::Producer | Role::Consumer, Event::Started(None)) => {}
            (Role::Main, Event::Spawned { role, pid }) => {
                self.check_pid(role, pid);
                self.ev.spawned.push((role, pid, at));
                self.ev.main_last_line = at;
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
                    self.problem(lang.pick(
                        format!("end marker announces {sent} values but {n} were sent"),
                        format!("o marcador de fim anuncia {sent} valores, mas {n} foram enviados"),
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
                    self.problem(lang.pick(
                        format!("consumer reports an end marker of {announced} values, the producer sent {sent}"),
                        format!("o consumidor relata um marcador de fim de {announced} valores; o produtor enviou {sent}"),
                    ));
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
                self.report.notes.push(lang.pick(
                    format!(
                        "{} interrupted by {signal} ({EXECUTION_LOG}:{at})",
                        role.in_lang(lang)
                    ),
                    format!(
                        "{} interrompido por {signal} ({EXECUTION_LOG}:{at})",
                        role.in_lang(lang)
                    ),
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
                    let n = self.ev.sent_lines;
                    self.problem(lang.pick(
                        format!("EPIPE after {sent} values, but {n} were logged as sent"),
                        format!(
                            "EPIPE após {sent} valores, mas {n} foram registrados como enviados"
                        ),
                    ));
                }
                if self.ev.params.as_ref().is_some_and(|p| p.count != total) {
                    self.problem(lang.pick(
                        format!("EPIPE line names {total} values, the run asked for another count"),
                        format!("a linha de EPIPE cita {total} valores; a execução pediu outra quantidade"),
                    ));
                }
                self.stop(text);
            }
            (Role::Consumer, Event::PipeClosed { received, .. }) => {
                if received != self.received {
                    let n = self.received;
                    self.problem(lang.pick(
                        format!("consumer says {received} values arrived, the log shows {n}"),
                        format!(
                            "o consumidor diz que chegaram {received} valores; o log mostra {n}"
                        ),
                    ));
                }
                self.ev.pipe_closed = Some((received, at));
                self.stop(text);
            }
            (role, Event::Fault { fault, .. }) => {
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
                self.ev.main_last_line = at;
                if !status.succeeded() {
                    self.stop(text);
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
                self.problem(lang.pick(
                    format!("sent line says {total} values, the run asked for {count}"),
                    format!("a linha de envio diz {total} valores; a execução pediu {count}"),
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
            || self.main_was_killed();
        if cons.values != self.received || cons.print != self.received_print {
            self.ev.unrecorded =
                consumer::compare(paths, lang, consumer_gone, &mut self.report.problems).map_err(
                    |e| {
                        Error::Sys(ipc_sys::Error::Read {
                            path: paths.consumer.clone(),
                            source: e,
                        })
                    },
                )?;
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
        judge::judge(self, &cons, end_line)?;
        self.ev.consumer_pass = Some(cons);
        Ok(())
    }

    /// Both logs in one language; which one goes in the report.
    fn log_lang_check(&mut self, cons: &ConsumerPass) {
        let mut langs = self.log_langs;
        if let Some(l) = cons.lang {
            langs[usize::from(l == Lang::Pt)] = true;
        }
        self.report.log_lang = match langs {
            [true, false] => Some(Lang::En),
            [false, true] => Some(Lang::Pt),
            [true, true] => {
                self.problem_at(
                    EXECUTION_LOG,
                    0,
                    self.lang.pick(
                        "the logs mix two languages: they cannot come from one run",
                        "os logs misturam dois idiomas: não podem ser de uma mesma execução",
                    ),
                );
                None
            }
            _ => None,
        };
    }

    /// A line that does not parse is a violation — unless a writer was killed: it may leave its
    /// last, unfinished line (the next writer starts on a fresh line), one per killed writer.
    fn cut_lines(&mut self) {
        let lang = self.lang;
        let killed = [&self.ev.producer, &self.ev.consumer]
            .iter()
            .filter(|s| matches!(s.main_saw, Some((ChildStatus::Signal(_), _))))
            .count()
            + usize::from(self.main_was_killed());
        let mut allowed = killed;
        for (line, why) in std::mem::take(&mut self.unparsed) {
            if allowed > 0 && line > 1 {
                allowed -= 1;
                self.ev.cut_lines.push(line);
                self.report.notes.push(lang.pick(
                    format!("{EXECUTION_LOG}:{line}: a line cut short by a killed process"),
                    format!("{EXECUTION_LOG}:{line}: uma linha interrompida por um processo morto"),
                ));
            } else {
                self.problem_at(
                    EXECUTION_LOG,
                    line,
                    lang.pick(
                        format!("cannot parse line: {why}"),
                        format!("linha ilegível: {why}"),
                    ),
                );
            }
        }
    }

    /// Main ended without its summary, its last line: it was killed (by `--fault main-kill@K`
    /// or from outside). Its log cannot be asked for lines it never got to write.
    pub(super) fn main_was_killed(&self) -> bool {
        self.ev.summary.is_none()
    }

    /// Values are distinct: proved by sorting; a repeated value is named with both lines by a
    /// second pass over the log.
    fn distinct(&mut self, paths: &LogPaths) -> Result<()> {
        let mut sorted = std::mem::take(&mut self.sent_values);
        sorted.sort_unstable();
        let mut repeated = Vec::new();
        for pair in sorted.windows(2) {
            if pair[0] == pair[1] && repeated.last() != Some(&pair[0]) {
                repeated.push(pair[0]);
            }
        }
        let mut distinct = sorted.len() as u64;
        for pair in sorted.windows(2) {
            if pair[0] == pair[1] {
                distinct -= 1;
            }
        }
        self.ev.distinct = distinct;
        self.ev.duplicates = sorted.len() as u64 - distinct;
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
        let mut exec = open(&paths.execution, EXECUTION_LOG)?;
        let mut times = TimeCache::default();
        let path = exec.path().to_path_buf();
        while let Some((number, line)) = exec.next_line().map_err(|e| read_error(&path, e))? {
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
