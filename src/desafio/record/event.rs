//! The events of `execution_log.txt`: rendering (`Display`) and parsing (`FromStr`) of every
//! message, and of whole lines.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};

use super::{ChildStatus, Cursor, Parity, Role, TimeCache};
use crate::desafio::options::{Fault, Pace};

/// The parameters main announces in its `started:` line, so `verify` knows what was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunParams {
    pub count: u64,
    pub min: i64,
    pub max: i64,
    pub seed: u64,
    pub pace: Option<Pace>,
    pub fault: Option<Fault>,
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

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Started(None) => f.write_str("started"),
            Event::Started(Some(p)) => {
                write!(
                    f,
                    "started: count {}, range {}..={}, seed {}",
                    p.count, p.min, p.max, p.seed
                )?;
                match p.pace {
                    Some(pace) => write!(f, ", pace {pace} ms")?,
                    None => f.write_str(", pace none")?,
                }
                match p.fault {
                    Some(fault) => write!(f, ", fault {fault}"),
                    None => f.write_str(", fault none"),
                }
            }
            Event::Spawned { role, pid } => write!(f, "spawned {role} {pid}"),
            Event::Sent {
                value,
                index,
                total,
            } => write!(f, "sent {value} ({index}/{total})"),
            Event::EndSent { sent } => write!(f, "end marker sent ({sent} values)"),
            Event::Received { value, parity } => write!(f, "received {value}: {parity}"),
            Event::EndReceived {
                announced,
                received,
            } => {
                write!(
                    f,
                    "end marker received ({announced} values announced, {received} received)"
                )
            }
            Event::Interrupted { signal, note } => {
                write!(f, "interrupted by {signal}")?;
                match note {
                    Some(note) => write!(f, ": {note}"),
                    None => Ok(()),
                }
            }
            Event::Fault { fault, note } => write!(f, "fault {fault}: {note}"),
            Event::BrokenPipe { sent, total } => {
                write!(
                    f,
                    "error: consumer closed the pipe after {sent} of {total} values"
                )
            }
            Event::PipeClosed { received, detail } => {
                write!(
                    f,
                    "error: pipe closed before the end marker after {received} values"
                )?;
                match detail {
                    Some(d) => write!(f, " ({d})"),
                    None => Ok(()),
                }
            }
            Event::Error(msg) => write!(f, "error: {msg}"),
            Event::ChildExited { role, pid, status } => write!(f, "{role} {pid} {status}"),
            Event::Exiting { code } => write!(f, "exiting with code {code}"),
            Event::Summary {
                sent,
                received,
                lost,
                extra,
            } => {
                write!(f, "summary: sent {sent}, received {received}, lost {lost}")?;
                match extra {
                    Some(extra) => write!(f, "; {extra}"),
                    None => Ok(()),
                }
            }
        }
    }
}

fn parse_params(rest: &str) -> Result<RunParams, String> {
    let mut c = Cursor(rest);
    c.tag("count ")?;
    let count = c.number(", range ")?;
    let min = c.number("..=")?;
    let max = c.number(", seed ")?;
    let seed = c.number(", pace ")?;
    let pace = match c.until(", fault ")? {
        "none" => None,
        p => Some(
            p.strip_suffix(" ms")
                .ok_or("pace must end in ' ms'")?
                .parse()?,
        ),
    };
    let fault = match c.0 {
        "none" => None,
        f => Some(f.parse()?),
    };
    Ok(RunParams {
        count,
        min,
        max,
        seed,
        pace,
        fault,
    })
}

impl FromStr for Event {
    type Err = String;

    fn from_str(msg: &str) -> Result<Self, String> {
        let mut c = Cursor(msg);
        let (head, _) = msg.split_once(' ').unwrap_or((msg, ""));
        let event = match head {
            "started" if msg == "started" => return Ok(Event::Started(None)),
            "started:" => {
                c.tag("started: ")?;
                return Ok(Event::Started(Some(parse_params(c.0)?)));
            }
            "spawned" => {
                c.tag("spawned ")?;
                let role = c.until(" ")?.parse()?;
                Event::Spawned {
                    role,
                    pid: c.number("")?,
                }
            }
            "sent" => {
                c.tag("sent ")?;
                let value = c.number(" (")?;
                let index = c.number("/")?;
                let total = c.number(")")?;
                Event::Sent {
                    value,
                    index,
                    total,
                }
            }
            "received" => {
                c.tag("received ")?;
                let value = c.number(": ")?;
                Event::Received {
                    value,
                    parity: std::mem::take(&mut c.0).parse()?,
                }
            }
            "end" if msg.starts_with("end marker sent") => {
                c.tag("end marker sent (")?;
                Event::EndSent {
                    sent: c.number(" values)")?,
                }
            }
            "end" => {
                c.tag("end marker received (")?;
                let announced = c.number(" values announced, ")?;
                Event::EndReceived {
                    announced,
                    received: c.number(" received)")?,
                }
            }
            "interrupted" => {
                c.tag("interrupted by ")?;
                let (signal, note) = match c.0.split_once(": ") {
                    Some((s, n)) => (s, Some(n.to_string())),
                    None => (c.0, None),
                };
                return Ok(Event::Interrupted {
                    signal: signal.to_string(),
                    note,
                });
            }
            "fault" => {
                c.tag("fault ")?;
                let fault = c.until(": ")?.parse()?;
                return Ok(Event::Fault {
                    fault,
                    note: c.0.to_string(),
                });
            }
            "error:" => return Ok(parse_error(&msg["error: ".len()..])),
            "exiting" => {
                c.tag("exiting with code ")?;
                Event::Exiting {
                    code: c.number("")?,
                }
            }
            "summary:" => {
                c.tag("summary: sent ")?;
                let sent = c.number(", received ")?;
                let received = c.number(", lost ")?;
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
            }
            "producer" | "consumer" => {
                let role = c.until(" ")?.parse()?;
                let pid = c.number(" ")?;
                let status = if c.0.starts_with("exited") {
                    c.tag("exited with code ")?;
                    ChildStatus::Code(c.number("")?)
                } else {
                    c.tag("killed by ")?;
                    ChildStatus::Signal(std::mem::take(&mut c.0).to_string())
                };
                Event::ChildExited { role, pid, status }
            }
            _ => return Err(format!("unrecognised message '{msg}'")),
        };
        c.end()?;
        Ok(event)
    }
}

fn parse_error(text: &str) -> Event {
    let broken = || -> Result<Event, String> {
        let mut c = Cursor(text);
        c.tag("consumer closed the pipe after ")?;
        let sent = c.number(" of ")?;
        let total = c.number(" values")?;
        c.end()?;
        Ok(Event::BrokenPipe { sent, total })
    };
    let closed = || -> Result<Event, String> {
        let mut c = Cursor(text);
        c.tag("pipe closed before the end marker after ")?;
        let (count, detail) = match c.0.split_once(" values") {
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
}

impl FromStr for LogLine {
    type Err = String;

    /// `<timestamp> [<role> <pid>] <message>`
    fn from_str(line: &str) -> Result<Self, String> {
        LogLine::parse_cached(line, &mut TimeCache::default())
    }
}

impl LogLine {
    pub fn parse_cached(line: &str, times: &mut TimeCache) -> Result<LogLine, String> {
        let mut c = Cursor(line);
        let time = times.parse(c.until(" [")?)?;
        let role = c.until(" ")?.parse()?;
        let pid = c.number("] ")?;
        let event = c.0.parse()?;
        Ok(LogLine {
            time,
            role,
            pid,
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desafio::record::TIMESTAMP_FORMAT;

    fn round_trip(event: Event) {
        let text = event.to_string();
        assert_eq!(text.parse::<Event>(), Ok(event), "{text}");
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
        };
        for event in [
            Event::Started(None),
            Event::Started(Some(params.clone())),
            Event::Started(Some(RunParams {
                pace: None,
                fault: None,
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
            Event::Error("cannot write /x: No space left on device (os error 28)".into()),
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
