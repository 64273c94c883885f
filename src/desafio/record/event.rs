//! The events of `execution_log.txt`, and whole lines: each event is one template of the
//! catalog (`super::catalog::Msg`), filled to render it (`Display`, `render_into`) and matched
//! to parse it (`FromStr`, `parse_in`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};

use super::catalog::Arg::{self, Text};
use super::catalog::{Caps, Msg, capture, fill, say};
use super::{ChildStatus, Cursor, Parity, Role, TimeCache};
use crate::desafio::lang::Lang;
use crate::desafio::options::{Bug, Fault, Pace};

/// The parameters main announces in its `started:` line, so `verify` knows what was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunParams {
    pub count: u64,
    pub min: i64,
    pub max: i64,
    pub seed: u64,
    pub pace: Option<Pace>,
    pub fault: Option<Fault>,
    /// A classic mistake made on purpose (`--bug`); the line names it only when there is one,
    /// so every other run's line reads exactly as before.
    pub bug: Option<Bug>,
}

/// One event of `execution_log.txt`: the message part of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Main's first line carries the run's parameters; the children's `started` carries none.
    Started(Option<RunParams>),
    Spawned {
        role: Role,
        pid: i32,
    },
    Sent {
        value: i64,
        index: u64,
        total: u64,
    },
    EndSent {
        sent: u64,
    },
    Received {
        value: i64,
        parity: Parity,
    },
    EndReceived {
        announced: u64,
        received: u64,
    },
    /// `interrupted by SIGINT` with an optional note on what the role does about it.
    Interrupted {
        signal: String,
        note: Option<String>,
    },
    Fault {
        fault: Fault,
        note: String,
    },
    BrokenPipe {
        sent: u64,
        total: u64,
    },
    PipeClosed {
        received: u64,
        detail: Option<String>,
    },
    /// After an interrupt the pipe did not move for `secs` seconds and the role gave up: the
    /// producer on a pipe that stayed full (`total` is its count), the consumer on one that
    /// stayed empty (`total` is `None`). `count` values went through before.
    GaveUp {
        secs: u64,
        count: u64,
        total: Option<u64>,
    },
    /// Any other error, as its message.
    Error(String),
    ChildExited {
        role: Role,
        pid: i32,
        status: ChildStatus,
    },
    Exiting {
        code: i32,
    },
    Summary {
        sent: u64,
        received: u64,
        lost: u64,
        extra: Option<String>,
    },
}

/// Free text inside a log line (an error naming a path, say): control characters escaped, so
/// that a newline cannot split the line and no terminal sequence reaches whoever reads it.
fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    ipc_sys::escape::log(text)
}

/// An event rendered in one language (`Event::render`).
pub struct Rendered<'a> {
    event: &'a Event,
    lang: Lang,
}

impl Event {
    /// The message in `lang`; `Display` is the English one.
    pub fn render(&self, lang: Lang) -> Rendered<'_> {
        Rendered { event: self, lang }
    }

    /// Parses a message in either language; says which.
    pub fn parse_any(msg: &str) -> Result<(Event, Lang), String> {
        let mut first_error = None;
        for lang in Lang::ALL {
            match Event::parse_in(msg, lang) {
                Ok(event) => return Ok((event, lang)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_default())
    }
}

/// A number for a slot.
fn n(x: impl Into<i128>) -> Arg<'static> {
    Arg::Int(x.into())
}

impl Event {
    /// Appends the message in `lang` to `out`: its template (`catalog::Msg`) with the slots
    /// filled. Allocation-free for the two events a run writes a million times (`sent`,
    /// `received`).
    pub fn render_into(&self, lang: Lang, out: &mut String) {
        let w = lang.words();
        let mut put = |msg: Msg, args: &[Arg<'_>]| fill(out, msg, lang, args);
        match self {
            // The two hot events fill their templates' pieces straight from their fields (no
            // slot list, no 128-bit numbers): a million of each per large run.
            &Event::Sent {
                value,
                index,
                total,
            } => {
                let mut digits = itoa::Buffer::new();
                if let [a, b, c, d] = Msg::Sent.pieces(lang) {
                    out.push_str(a);
                    out.push_str(digits.format(value));
                    out.push_str(b);
                    out.push_str(digits.format(index));
                    out.push_str(c);
                    out.push_str(digits.format(total));
                    out.push_str(d);
                } else {
                    put(Msg::Sent, &[n(value), n(index), n(total)]);
                }
            }
            &Event::Received { value, parity } => {
                let mut digits = itoa::Buffer::new();
                if let [a, b, c] = Msg::Received.pieces(lang) {
                    out.push_str(a);
                    out.push_str(digits.format(value));
                    out.push_str(b);
                    out.push_str(parity.in_lang(lang));
                    out.push_str(c);
                } else {
                    put(Msg::Received, &[n(value), Text(parity.in_lang(lang))]);
                }
            }
            Event::Started(None) => put(Msg::Started, &[]),
            Event::Started(Some(p)) => {
                let none = || w.none.to_string();
                let pace = p
                    .pace
                    .map_or_else(none, |ms| say(Msg::PaceMs, lang, &[Text(&ms.to_string())]));
                let fault = p.fault.map_or_else(none, |f| f.to_string());
                let bug = p.bug.map(|b| b.to_string()).unwrap_or_default();
                let (count, min, max, seed) = (n(p.count), n(p.min), n(p.max), n(p.seed));
                let args = [count, min, max, seed, Text(&pace), Text(&fault), Text(&bug)];
                match p.bug {
                    None => put(Msg::StartedParams, &args[..6]),
                    Some(_) => put(Msg::StartedParamsBug, &args),
                }
            }
            Event::Spawned { role, pid } => put(Msg::Spawned, &[Text(role.in_lang(lang)), n(*pid)]),
            Event::EndSent { sent } => put(Msg::EndSent, &[n(*sent), Text(w.values_n(*sent))]),
            Event::EndReceived {
                announced: a,
                received: r,
            } => put(
                Msg::EndReceived,
                &[
                    n(*a),
                    Text(w.announced_n(*a)),
                    n(*r),
                    Text(w.received_n(*r)),
                ],
            ),
            Event::Interrupted { signal, note } => match note {
                None => put(Msg::Interrupted, &[Text(&esc(signal))]),
                Some(note) => put(
                    Msg::InterruptedNote,
                    &[Text(&esc(signal)), Text(&esc(note))],
                ),
            },
            Event::Fault { fault, note } => {
                put(Msg::Fault, &[Text(&fault.to_string()), Text(&esc(note))])
            }
            Event::BrokenPipe { sent, total } => put(
                Msg::BrokenPipe,
                &[n(*sent), n(*total), Text(w.values_n(*total))],
            ),
            Event::PipeClosed {
                received: r,
                detail,
            } => match detail {
                None => put(Msg::PipeClosed, &[n(*r), Text(w.values_n(*r))]),
                Some(d) => put(
                    Msg::PipeClosedDetail,
                    &[n(*r), Text(w.values_n(*r)), Text(&esc(d))],
                ),
            },
            Event::GaveUp { secs, count, total } => match total {
                Some(total) => put(
                    Msg::GaveUpFull,
                    &[n(*secs), n(*count), n(*total), Text(w.values_n(*total))],
                ),
                None => put(
                    Msg::GaveUpEmpty,
                    &[n(*secs), n(*count), Text(w.values_n(*count))],
                ),
            },
            Event::Error(msg) => put(Msg::Error, &[Text(&esc(msg))]),
            Event::ChildExited { role, pid, status } => {
                let status = status.render(lang);
                put(
                    Msg::ChildExited,
                    &[Text(role.in_lang(lang)), n(*pid), Text(&status)],
                )
            }
            Event::Exiting { code } => put(Msg::Exiting, &[n(*code)]),
            Event::Summary {
                sent,
                received,
                lost,
                extra,
            } => {
                let counts = [n(*sent), n(*received), n(*lost)];
                match extra {
                    None => put(Msg::Summary, &counts),
                    Some(extra) => {
                        let [s, r, l] = counts;
                        put(Msg::SummaryExtra, &[s, r, l, Text(&esc(extra))])
                    }
                }
            }
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(Lang::En).fmt(f)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.event.render_into(self.lang, &mut out);
        f.write_str(&out)
    }
}

impl FromStr for Event {
    type Err = String;

    /// Parses an English message (the language of the original grammar).
    fn from_str(msg: &str) -> Result<Self, String> {
        Event::parse_in(msg, Lang::En)
    }
}

impl Event {
    /// Parses a message in `lang`: the first template of the catalog it fits. When none does,
    /// the reason is the first one's whose slots it fills with something wrong, else the first
    /// one's whose opening text it has (`unrecognised` when none has).
    pub fn parse_in(msg: &str, lang: Lang) -> Result<Event, String> {
        let (mut misfit, mut wrong_slot) = (None, None);
        for &kind in Msg::PARSE_ORDER {
            // The one template that opens with a slot opens with a child's role.
            if kind == Msg::ChildExited
                && !msg
                    .split_once(' ')
                    .is_some_and(|(who, _)| Role::is_child(who, lang))
            {
                continue;
            }
            match capture(kind, lang, msg) {
                None => {}
                Some(Err(why)) => {
                    misfit.get_or_insert(why);
                }
                Some(Ok(caps)) => match Event::build(kind, &caps, lang) {
                    Ok(event) => return Ok(event),
                    Err(why) => {
                        wrong_slot.get_or_insert(why);
                    }
                },
            }
        }
        Err(wrong_slot
            .or(misfit)
            .unwrap_or_else(|| format!("unrecognised message '{msg}'")))
    }

    /// A child's hot line — the producer's `sent`, the consumer's `received`, nearly all of a
    /// large log — matched against that one template (what `parse_in` would find first),
    /// without allocating. `None`: anything else, or malformed (the full parser words why).
    pub(crate) fn parse_hot(role: Role, msg: &str, lang: Lang) -> Option<Event> {
        let kind = match role {
            Role::Producer => Msg::Sent,
            Role::Consumer => Msg::Received,
            Role::Main => return None,
        };
        let caps = capture(kind, lang, msg)?.ok()?;
        Event::build(kind, &caps, lang).ok()
    }

    /// The event a matched template's slots describe.
    fn build(kind: Msg, c: &Caps<'_>, lang: Lang) -> Result<Event, String> {
        let w = lang.words();
        let text = |i| c.get(i).to_string();
        let values = [w.values, w.value];
        Ok(match kind {
            Msg::Sent => Event::Sent {
                value: c.number(0)?,
                index: c.number(1)?,
                total: c.number(2)?,
            },
            Msg::Received => Event::Received {
                value: c.number(0)?,
                parity: Parity::parse_in(c.get(1), lang)?,
            },
            Msg::Started => Event::Started(None),
            Msg::StartedParams | Msg::StartedParamsBug => Event::Started(Some(RunParams {
                count: c.number(0)?,
                min: c.number(1)?,
                max: c.number(2)?,
                seed: c.number(3)?,
                pace: match c.get(4) {
                    p if p == w.none => None,
                    p => match capture(Msg::PaceMs, lang, p) {
                        Some(Ok(ms)) => Some(ms.get(0).parse()?),
                        _ => return Err("pace must end in ' ms'".into()),
                    },
                },
                fault: match c.get(5) {
                    f if f == w.none => None,
                    f => Some(f.parse()?),
                },
                bug: match kind {
                    Msg::StartedParamsBug => Some(c.get(6).parse()?),
                    _ => None,
                },
            })),
            Msg::Spawned => Event::Spawned {
                role: Role::parse_in(c.get(0), lang)?,
                pid: c.number(1)?,
            },
            Msg::EndSent => {
                c.word(1, &values)?;
                Event::EndSent { sent: c.number(0)? }
            }
            Msg::EndReceived => {
                let announced = c.number(0)?;
                c.word(1, &[w.values_announced, w.value_announced])?;
                let received = c.number(2)?;
                c.word(3, &[w.received_count, w.received_one])?;
                Event::EndReceived {
                    announced,
                    received,
                }
            }
            Msg::InterruptedNote | Msg::Interrupted => Event::Interrupted {
                signal: text(0),
                note: (kind == Msg::InterruptedNote).then(|| text(1)),
            },
            Msg::Fault => Event::Fault {
                fault: c.get(0).parse()?,
                note: text(1),
            },
            Msg::BrokenPipe => {
                let (sent, total) = (c.number(0)?, c.number(1)?);
                c.word(2, &values)?;
                Event::BrokenPipe { sent, total }
            }
            Msg::GaveUpFull => {
                let (secs, count, total) = (c.number(0)?, c.number(1)?, c.number(2)?);
                c.word(3, &values)?;
                Event::GaveUp {
                    secs,
                    count,
                    total: Some(total),
                }
            }
            Msg::GaveUpEmpty => {
                let (secs, count) = (c.number(0)?, c.number(1)?);
                c.word(2, &values)?;
                Event::GaveUp {
                    secs,
                    count,
                    total: None,
                }
            }
            Msg::PipeClosedDetail | Msg::PipeClosed => {
                let received = c.number(0)?;
                c.word(1, &values)?;
                Event::PipeClosed {
                    received,
                    detail: (kind == Msg::PipeClosedDetail).then(|| text(2)),
                }
            }
            Msg::Error => Event::Error(text(0)),
            Msg::Exiting => Event::Exiting { code: c.number(0)? },
            Msg::SummaryExtra | Msg::Summary => Event::Summary {
                sent: c.number(0)?,
                received: c.number(1)?,
                lost: c.number(2)?,
                extra: (kind == Msg::SummaryExtra).then(|| text(3)),
            },
            Msg::ChildExited => Event::ChildExited {
                role: Role::parse_in(c.get(0), lang)?,
                pid: c.number(1)?,
                status: ChildStatus::parse_in(c.get(2), lang)?,
            },
            // Not in `PARSE_ORDER`: parts of a line, or lines of the consumer log.
            _ => return Err(format!("not a message of execution_log.txt: {kind:?}")),
        })
    }
}

/// One parsed line of `execution_log.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub time: DateTime<FixedOffset>,
    pub role: Role,
    pub pid: i32,
    pub event: Event,
    /// The language the line is written in.
    pub lang: Lang,
}

impl FromStr for LogLine {
    type Err = String;

    /// `<timestamp> [<role> <pid>] <message>`
    fn from_str(line: &str) -> Result<Self, String> {
        LogLine::parse_cached(line, &mut TimeCache::default())
    }
}

impl LogLine {
    /// `<timestamp> [<role> <pid>] <message>`, in either language: the role's name says which
    /// (main's lines, "main" in both, are read in English first).
    pub fn parse_cached(line: &str, times: &mut TimeCache) -> Result<LogLine, String> {
        let mut c = Cursor(line);
        let time = times.parse(c.until(" [")?)?;
        let (role, named_in) = Role::parse_any(c.until(" ")?)?;
        let pid = c.number("] ")?;
        let (event, lang) = match named_in {
            Some(lang) => (Event::parse_in(c.0, lang)?, lang),
            None => Event::parse_any(c.0)?,
        };
        Ok(LogLine {
            time,
            role,
            pid,
            event,
            lang,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desafio::record::TIMESTAMP_FORMAT;

    fn round_trip(event: Event) {
        let text = event.to_string();
        assert_eq!(text.parse::<Event>(), Ok(event.clone()), "{text}");
        let pt = event.render(Lang::Pt).to_string();
        assert_eq!(Event::parse_in(&pt, Lang::Pt), Ok(event.clone()), "{pt}");
        if !matches!(event, Event::Error(_) | Event::Interrupted { .. }) {
            assert_ne!(pt, text, "the Portuguese line differs from the English one");
        }
        assert_eq!(
            Event::parse_any(&pt).map(|(e, _)| e),
            Ok(event.clone()),
            "{pt}"
        );
        // The fast path writes exactly what Display writes, in both languages.
        for lang in Lang::ALL {
            let mut fast = String::from("x");
            event.render_into(lang, &mut fast);
            assert_eq!(fast, format!("x{}", event.render(lang)));
        }
    }

    /// Every event parses back to itself in both languages: the shapes the table of
    /// `every_message_reads_as_the_logs_have_always_read` lacks here, its own cases there.
    #[test]
    fn every_event_parses_back_to_itself() {
        let params = RunParams {
            count: 12,
            min: 1,
            max: 100,
            seed: 99,
            pace: Some(Pace {
                min_ms: 500,
                max_ms: 1500,
            }),
            fault: Some("consumer-kill@3".parse().unwrap()),
            bug: None,
        };
        for event in [
            Event::Started(Some(params.clone())),
            Event::Started(Some(RunParams {
                pace: None,
                fault: None,
                ..params.clone()
            })),
            Event::Started(Some(RunParams {
                bug: Some(Bug::ParentKeepsEnds),
                ..params
            })),
            Event::EndSent { sent: 12 },
            Event::EndReceived {
                announced: 12,
                received: 11,
            },
            Event::EndReceived {
                announced: 1,
                received: 1,
            },
            Event::Interrupted {
                signal: "SIGINT".into(),
                note: None,
            },
            Event::PipeClosed {
                received: 4,
                detail: None,
            },
            Event::PipeClosed {
                received: 4,
                detail: Some("truncated message: 3 of 9 bytes".into()),
            },
            Event::PipeClosed {
                received: 1,
                detail: None,
            },
            Event::BrokenPipe { sent: 0, total: 1 },
            Event::Error("a path with an ESC \\u{1b} and a newline \\n, escaped".into()),
            Event::Summary {
                sent: 12,
                received: 12,
                lost: 0,
                extra: None,
            },
        ] {
            round_trip(event);
        }
    }

    /// The bytes of every message in both languages, written out (the lines of runs made
    /// before the catalog existed): the catalog may change how a line is made, never the line.
    #[test]
    fn every_message_reads_as_the_logs_have_always_read() {
        let params = RunParams {
            count: 12,
            min: 1,
            max: 100,
            seed: 7,
            pace: Some(Pace {
                min_ms: 5,
                max_ms: 10,
            }),
            fault: None,
            bug: Some(Bug::NoLock),
        };
        let cases = [
            (Event::Started(None), "started", "iniciado"),
            (
                Event::Started(Some(params)),
                "started: count 12, range 1..=100, seed 7, pace 5..10 ms, fault none, bug no-lock",
                "iniciado: quantidade 12, intervalo 1..=100, semente 7, pausa 5..10 ms, falha nenhuma, bug no-lock",
            ),
            (
                Event::Spawned {
                    role: Role::Producer,
                    pid: 7,
                },
                "spawned producer 7",
                "criou produtor 7",
            ),
            (
                Event::Sent {
                    value: -4,
                    index: 3,
                    total: 12,
                },
                "sent -4 (3/12)",
                "enviou -4 (3/12)",
            ),
            (
                Event::Received {
                    value: 41,
                    parity: Parity::Odd,
                },
                "received 41: odd",
                "recebeu 41: ímpar",
            ),
            (
                Event::EndSent { sent: 1 },
                "end marker sent (1 value)",
                "marcador de fim enviado (1 valor)",
            ),
            (
                Event::EndReceived {
                    announced: 12,
                    received: 1,
                },
                "end marker received (12 values announced, 1 received)",
                "marcador de fim recebido (12 valores anunciados, 1 recebido)",
            ),
            (
                Event::Interrupted {
                    signal: "SIGTERM".into(),
                    note: Some("x".into()),
                },
                "interrupted by SIGTERM: x",
                "interrompido por SIGTERM: x",
            ),
            (
                Event::Fault {
                    fault: "consumer-exit@3".parse().unwrap(),
                    note: "x".into(),
                },
                "fault consumer-exit@3: x",
                "falha consumer-exit@3: x",
            ),
            (
                Event::BrokenPipe { sent: 3, total: 12 },
                "error: consumer closed the pipe after 3 of 12 values",
                "erro: o consumidor fechou o pipe após 3 de 12 valores",
            ),
            (
                Event::PipeClosed {
                    received: 1,
                    detail: Some("x".into()),
                },
                "error: pipe closed before the end marker after 1 value (x)",
                "erro: pipe fechado antes do marcador de fim após 1 valor (x)",
            ),
            (
                Event::GaveUp {
                    secs: 5,
                    count: 1,
                    total: Some(7),
                },
                "error: the pipe stayed full for 5 s after the interrupt: giving up after 1 of 7 values, without the end marker",
                "erro: o pipe continuou cheio por 5 s após a interrupção: desistindo após 1 de 7 valores, sem o marcador de fim",
            ),
            (
                Event::GaveUp {
                    secs: 5,
                    count: 1,
                    total: None,
                },
                "error: nothing came through the pipe for 5 s after the interrupt: giving up after 1 value, without the end marker",
                "erro: nada passou pelo pipe por 5 s após a interrupção: desistindo após 1 valor, sem o marcador de fim",
            ),
            (Event::Error("x".into()), "error: x", "erro: x"),
            (
                Event::ChildExited {
                    role: Role::Consumer,
                    pid: 9,
                    status: ChildStatus::Signal("SIGKILL".into()),
                },
                "consumer 9 killed by SIGKILL",
                "consumidor 9 morto por SIGKILL",
            ),
            (
                Event::ChildExited {
                    role: Role::Producer,
                    pid: 9,
                    status: ChildStatus::Code(1),
                },
                "producer 9 exited with code 1",
                "produtor 9 terminou com código 1",
            ),
            (
                Event::Exiting { code: 130 },
                "exiting with code 130",
                "saindo com código 130",
            ),
            (
                Event::Summary {
                    sent: 4,
                    received: 3,
                    lost: 1,
                    extra: Some("x".into()),
                },
                "summary: sent 4, received 3, lost 1; x",
                "resumo: enviados 4, recebidos 3, perdidos 1; x",
            ),
        ];
        for (event, en, pt) in cases {
            assert_eq!(event.render(Lang::En).to_string(), en);
            assert_eq!(event.render(Lang::Pt).to_string(), pt);
            round_trip(event);
        }
    }

    #[test]
    fn control_characters_in_free_text_cannot_split_or_colour_a_line() {
        let event = Event::Error("cannot write /tmp/a\nb\u{1b}[31m/consumer_log.txt".into());
        for lang in Lang::ALL {
            let line = event.render(lang).to_string();
            assert!(!line.chars().any(char::is_control), "{line:?}");
            assert!(
                line.ends_with("/tmp/a\\nb\\u{1b}[31m/consumer_log.txt"),
                "{line}"
            );
        }
    }

    #[test]
    fn a_full_log_line_parses_into_its_parts() {
        let line: LogLine = "2026-11-23T20:30:36.123+01:00 [producer 4242] sent 17 (2/12)"
            .parse()
            .unwrap();
        assert_eq!(line.role, Role::Producer);
        assert_eq!(line.pid, 4242);
        assert_eq!(
            line.event,
            Event::Sent {
                value: 17,
                index: 2,
                total: 12
            }
        );
        assert_eq!(
            line.time.format(TIMESTAMP_FORMAT).to_string(),
            "2026-11-23T20:30:36.123+01:00"
        );
    }

    #[test]
    fn malformed_lines_are_rejected_with_a_reason() {
        for bad in [
            "",
            "2026-11-23T20:30:36+00:00 [main 1] started",
            "2026-11-23T20:30:36.123+00:00 [boss 1] started",
            "2026-11-23T20:30:36.123+00:00 [main x] started",
            "2026-11-23T20:30:36.123+00:00 [main 1] sent 17",
            "2026-11-23T20:30:36.123+00:00 [main 1] received 4: maybe",
            "2026-11-23T20:30:36.123+00:00 [main 1] danced",
            "2026-11-23T20:30:36.123+00:00 [main 1] sent 1 (1/2) extra",
        ] {
            assert!(bad.parse::<LogLine>().is_err(), "accepted: {bad}");
        }
    }
}
