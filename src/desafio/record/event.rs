//! The events of `execution_log.txt`: rendering (`Display`) and parsing (`FromStr`) of every
//! message, and of whole lines.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};

use super::{ChildStatus, Cursor, Parity, Role, TimeCache};
use crate::desafio::lang::{Lang, Words};
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

impl Event {
    /// Appends the message in `lang` to `out`: the same text as `render`, written without the
    /// formatting machinery for the two events a run writes a million times (`sent`,
    /// `received`), which are most of the time a large run spends rendering.
    pub fn render_into(&self, lang: Lang, out: &mut String) {
        let mut digits = itoa::Buffer::new();
        match *self {
            Event::Sent {
                value,
                index,
                total,
            } => {
                out.push_str(lang.words().sent);
                out.push(' ');
                out.push_str(digits.format(value));
                out.push_str(" (");
                out.push_str(digits.format(index));
                out.push('/');
                out.push_str(digits.format(total));
                out.push(')');
            }
            Event::Received { value, parity } => {
                out.push_str(lang.words().received);
                out.push(' ');
                out.push_str(digits.format(value));
                out.push_str(": ");
                out.push_str(parity.in_lang(lang));
            }
            _ => {
                use std::fmt::Write as _;
                let _ = write!(out, "{}", self.render(lang));
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
        let (lang, w) = (self.lang, self.lang.words());
        match self.event {
            Event::Started(None) => f.write_str(w.started),
            Event::Started(Some(p)) => {
                write!(
                    f,
                    "{}: {} {}, {} {}..={}, {} {}",
                    w.started, w.count, p.count, w.range, p.min, p.max, w.seed, p.seed
                )?;
                match p.pace {
                    Some(pace) => write!(f, ", {} {pace} ms", w.pace)?,
                    None => write!(f, ", {} {}", w.pace, w.none)?,
                }
                match p.fault {
                    Some(fault) => write!(f, ", {} {fault}", w.fault)?,
                    None => write!(f, ", {} {}", w.fault, w.none)?,
                }
                match p.bug {
                    Some(bug) => write!(f, ", {} {bug}", w.bug),
                    None => Ok(()),
                }
            }
            Event::Spawned { role, pid } => write!(f, "{} {} {pid}", w.spawned, role.in_lang(lang)),
            Event::Sent {
                value,
                index,
                total,
            } => write!(f, "{} {value} ({index}/{total})", w.sent),
            Event::EndSent { sent } => {
                write!(f, "{} ({sent} {})", w.end_sent, w.values_n(*sent))
            }
            Event::Received { value, parity } => {
                write!(f, "{} {value}: {}", w.received, parity.in_lang(lang))
            }
            Event::EndReceived {
                announced,
                received,
            } => write!(
                f,
                "{} ({announced} {}, {received} {})",
                w.end_received,
                w.announced_n(*announced),
                w.received_n(*received)
            ),
            Event::Interrupted { signal, note } => {
                write!(f, "{} {}", w.interrupted_by, esc(signal))?;
                match note {
                    Some(note) => write!(f, ": {}", esc(note)),
                    None => Ok(()),
                }
            }
            Event::Fault { fault, note } => write!(f, "{} {fault}: {}", w.fault, esc(note)),
            Event::BrokenPipe { sent, total } => write!(
                f,
                "{}: {} {sent} {} {total} {}",
                w.error,
                w.broken_pipe,
                w.of,
                w.values_n(*total)
            ),
            Event::PipeClosed { received, detail } => {
                write!(
                    f,
                    "{}: {} {received} {}",
                    w.error,
                    w.pipe_closed,
                    w.values_n(*received)
                )?;
                match detail {
                    Some(d) => write!(f, " ({})", esc(d)),
                    None => Ok(()),
                }
            }
            Event::GaveUp { secs, count, total } => {
                let stuck = if total.is_some() {
                    w.stuck_full
                } else {
                    w.stuck_empty
                };
                write!(
                    f,
                    "{}: {stuck} {secs} {} {count}",
                    w.error, w.after_interrupt
                )?;
                match total {
                    Some(total) => write!(f, " {} {total} {}", w.of, w.values_n(*total))?,
                    None => write!(f, " {}", w.values_n(*count))?,
                }
                write!(f, ", {}", w.without_end)
            }
            Event::Error(msg) => write!(f, "{}: {}", w.error, esc(msg)),
            Event::ChildExited { role, pid, status } => {
                write!(f, "{} {pid} {}", role.in_lang(lang), status.render(lang))
            }
            Event::Exiting { code } => write!(f, "{} {code}", w.exiting_with_code),
            Event::Summary {
                sent,
                received,
                lost,
                extra,
            } => {
                write!(
                    f,
                    "{}: {} {sent}, {} {received}, {} {lost}",
                    w.summary, w.sum_sent, w.sum_received, w.sum_lost
                )?;
                match extra {
                    Some(extra) => write!(f, "; {}", esc(extra)),
                    None => Ok(()),
                }
            }
        }
    }
}

fn parse_params(rest: &str, w: &Words) -> Result<RunParams, String> {
    let mut c = Cursor(rest);
    c.tag(w.count)?;
    c.tag(" ")?;
    let count = c.number(&format!(", {} ", w.range))?;
    let min = c.number("..=")?;
    let max = c.number(&format!(", {} ", w.seed))?;
    let seed = c.number(&format!(", {} ", w.pace))?;
    let pace = match c.until(&format!(", {} ", w.fault))? {
        p if p == w.none => None,
        p => Some(
            p.strip_suffix(" ms")
                .ok_or("pace must end in ' ms'")?
                .parse()?,
        ),
    };
    let (fault, bug) = match c.0.split_once(&format!(", {} ", w.bug)) {
        Some((fault, bug)) => (fault, Some(bug.parse()?)),
        None => (c.0, None),
    };
    let fault = match fault {
        f if f == w.none => None,
        f => Some(f.parse()?),
    };
    Ok(RunParams {
        count,
        min,
        max,
        seed,
        pace,
        fault,
        bug,
    })
}

impl FromStr for Event {
    type Err = String;

    /// Parses an English message (the language of the original grammar).
    fn from_str(msg: &str) -> Result<Self, String> {
        Event::parse_in(msg, Lang::En)
    }
}

impl Event {
    /// Parses a message in `lang`.
    pub fn parse_in(msg: &str, lang: Lang) -> Result<Event, String> {
        let w = lang.words();
        let mut c: Cursor<'_>;
        let after = |prefix: &str| msg.strip_prefix(prefix).and_then(|r| r.strip_prefix(' '));
        let error_prefix = format!("{}: ", w.error);
        let event = if msg == w.started {
            return Ok(Event::Started(None));
        } else if let Some(rest) = msg.strip_prefix(&format!("{}: ", w.started)) {
            return Ok(Event::Started(Some(parse_params(rest, w)?)));
        } else if let Some(rest) = after(w.spawned) {
            let mut c = Cursor(rest);
            let role = Role::parse_in(c.until(" ")?, lang)?;
            let event = Event::Spawned {
                role,
                pid: c.number("")?,
            };
            c.end()?;
            return Ok(event);
        } else if let Some(rest) = after(w.end_sent) {
            c = Cursor(rest);
            c.tag("(")?;
            let sent = c.number(" ")?;
            c.tag_any(&[w.values, w.value])?;
            c.tag(")")?;
            Event::EndSent { sent }
        } else if let Some(rest) = after(w.end_received) {
            c = Cursor(rest);
            c.tag("(")?;
            let announced = c.number(" ")?;
            c.tag_any(&[w.values_announced, w.value_announced])?;
            c.tag(", ")?;
            let received = c.number(" ")?;
            c.tag_any(&[w.received_count, w.received_one])?;
            c.tag(")")?;
            Event::EndReceived {
                announced,
                received,
            }
        } else if let Some(rest) = after(w.sent) {
            c = Cursor(rest);
            let value = c.number(" (")?;
            let index = c.number("/")?;
            let total = c.number(")")?;
            Event::Sent {
                value,
                index,
                total,
            }
        } else if let Some(rest) = after(w.received) {
            c = Cursor(rest);
            let value = c.number(": ")?;
            Event::Received {
                value,
                parity: Parity::parse_in(std::mem::take(&mut c.0), lang)?,
            }
        } else if let Some(rest) = after(w.interrupted_by) {
            let (signal, note) = match rest.split_once(": ") {
                Some((s, n)) => (s, Some(n.to_string())),
                None => (rest, None),
            };
            return Ok(Event::Interrupted {
                signal: signal.to_string(),
                note,
            });
        } else if let Some(rest) = after(w.fault) {
            let (fault, note) = rest
                .split_once(": ")
                .ok_or_else(|| format!("expected ': ' in '{rest}'"))?;
            return Ok(Event::Fault {
                fault: fault.parse()?,
                note: note.to_string(),
            });
        } else if let Some(rest) = msg.strip_prefix(&error_prefix) {
            return Ok(parse_error(rest, w));
        } else if let Some(rest) = after(w.exiting_with_code) {
            c = Cursor(rest);
            Event::Exiting {
                code: c.number("")?,
            }
        } else if let Some(rest) = msg.strip_prefix(&format!("{}: ", w.summary)) {
            let mut c = Cursor(rest);
            c.tag(w.sum_sent)?;
            c.tag(" ")?;
            let sent = c.number(&format!(", {} ", w.sum_received))?;
            let received = c.number(&format!(", {} ", w.sum_lost))?;
            let (lost, extra) = match c.0.split_once("; ") {
                Some((l, e)) => (l, Some(e.to_string())),
                None => (c.0, None),
            };
            let lost = lost
                .parse()
                .map_err(|_| format!("expected a number, got '{lost}'"))?;
            return Ok(Event::Summary {
                sent,
                received,
                lost,
                extra,
            });
        } else if let Some((who, rest)) = msg.split_once(' ')
            && let Ok(role @ (Role::Producer | Role::Consumer)) = Role::parse_in(who, lang)
        {
            c = Cursor(rest);
            let pid = c.number(" ")?;
            let status = if let Some(code) = c.0.strip_prefix(w.exited_with_code) {
                c = Cursor(code);
                c.tag(" ")?;
                ChildStatus::Code(c.number("")?)
            } else {
                c.tag(w.killed_by)?;
                c.tag(" ")?;
                ChildStatus::Signal(std::mem::take(&mut c.0).to_string())
            };
            Event::ChildExited { role, pid, status }
        } else {
            return Err(format!("unrecognised message '{msg}'"));
        };
        c.end()?;
        Ok(event)
    }
}

fn parse_error(text: &str, w: &Words) -> Event {
    let broken = || -> Result<Event, String> {
        let mut c = Cursor(text);
        c.tag(w.broken_pipe)?;
        c.tag(" ")?;
        let sent = c.number(&format!(" {} ", w.of))?;
        let total = c.number(" ")?;
        c.tag_any(&[w.values, w.value])?;
        c.end()?;
        Ok(Event::BrokenPipe { sent, total })
    };
    let gave_up = || -> Result<Event, String> {
        let mut c = Cursor(text);
        let full = match c.tag(w.stuck_full) {
            Ok(()) => true,
            Err(_) => {
                c.tag(w.stuck_empty)?;
                false
            }
        };
        c.tag(" ")?;
        let secs = c.number(" ")?;
        c.tag(w.after_interrupt)?;
        c.tag(" ")?;
        let count = c.number(" ")?;
        let total = if full {
            c.tag(w.of)?;
            c.tag(" ")?;
            Some(c.number(" ")?)
        } else {
            None
        };
        c.tag_any(&[w.values, w.value])?;
        c.tag(", ")?;
        c.tag(w.without_end)?;
        c.end()?;
        Ok(Event::GaveUp { secs, count, total })
    };
    let closed = || -> Result<Event, String> {
        let mut c = Cursor(text);
        c.tag(w.pipe_closed)?;
        c.tag(" ")?;
        let split =
            c.0.split_once(&format!(" {}", w.values))
                .or_else(|| c.0.split_once(&format!(" {}", w.value)));
        let (count, detail) = match split {
            Some((n, "")) => (n, None),
            Some((n, d)) => (
                n,
                Some(
                    d.strip_prefix(" (")
                        .and_then(|d| d.strip_suffix(')'))
                        .ok_or("bad detail")?
                        .to_string(),
                ),
            ),
            None => return Err("no count".into()),
        };
        let received = count.parse().map_err(|_| "bad count")?;
        Ok(Event::PipeClosed { received, detail })
    };
    broken()
        .or_else(|_| gave_up())
        .or_else(|_| closed())
        .unwrap_or_else(|_| Event::Error(text.to_string()))
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
            Event::Started(None),
            Event::Started(Some(params.clone())),
            Event::Started(Some(RunParams {
                pace: None,
                fault: None,
                ..params.clone()
            })),
            Event::Started(Some(RunParams {
                bug: Some(Bug::ParentKeepsEnds),
                ..params.clone()
            })),
            Event::Started(Some(RunParams {
                fault: None,
                bug: Some(Bug::NoLock),
                ..params
            })),
            Event::Spawned {
                role: Role::Consumer,
                pid: 77,
            },
            Event::Sent {
                value: 42,
                index: 3,
                total: 12,
            },
            Event::EndSent { sent: 12 },
            Event::Received {
                value: 41,
                parity: Parity::Odd,
            },
            Event::EndReceived {
                announced: 12,
                received: 11,
            },
            Event::Interrupted {
                signal: "SIGINT".into(),
                note: None,
            },
            Event::Interrupted {
                signal: "SIGTERM".into(),
                note: Some("draining the pipe".into()),
            },
            Event::Fault {
                fault: "producer-exit@4".parse().unwrap(),
                note: "leaving".into(),
            },
            Event::BrokenPipe { sent: 4, total: 12 },
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
            Event::EndSent { sent: 1 },
            Event::EndReceived {
                announced: 1,
                received: 1,
            },
            Event::GaveUp {
                secs: 5,
                count: 120,
                total: Some(20000),
            },
            Event::GaveUp {
                secs: 5,
                count: 1,
                total: None,
            },
            Event::Error("cannot write /x: No space left on device (os error 28)".into()),
            Event::Error("a path with an ESC \\u{1b} and a newline \\n, escaped".into()),
            Event::ChildExited {
                role: Role::Producer,
                pid: 9,
                status: ChildStatus::Code(3),
            },
            Event::ChildExited {
                role: Role::Consumer,
                pid: 9,
                status: ChildStatus::Signal("SIGKILL".into()),
            },
            Event::Exiting { code: 130 },
            Event::Summary {
                sent: 12,
                received: 12,
                lost: 0,
                extra: None,
            },
            Event::Summary {
                sent: 12,
                received: 12,
                lost: 0,
                extra: Some("1.2 ms".into()),
            },
        ] {
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
