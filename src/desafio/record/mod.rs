//! The text format of both logs, in one place: every line the program writes is rendered from an
//! `Event` or a `ConsumerLine` here, and `verify` parses it back with the same code, so the
//! writer and the grader cannot drift apart. Two languages, one grammar: every message is a row
//! of one table, its English and Portuguese templates (`catalog`). The grammar is documented in
//! docs/ipc_desafio.md.
//!
//! ```
//! use ipc_desafio::desafio::lang::Lang;
//! use ipc_desafio::desafio::record::{Event, LogLine, Parity};
//! let e = Event::Received { value: 41, parity: Parity::Odd };
//! assert_eq!(e.to_string(), "received 41: odd");
//! assert_eq!(e.render(Lang::Pt).to_string(), "recebeu 41: ímpar");
//! let line: LogLine = "2026-11-23T20:30:36.123+01:00 [consumidor 42] recebeu 41: ímpar".parse().unwrap();
//! assert_eq!((line.event, line.lang), (e, Lang::Pt));
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};

use crate::desafio::lang::Lang;

/// Timestamp format of both logs: RFC 3339, local time, milliseconds, numeric UTC offset.
pub use ipc_sys::linelog::TIMESTAMP_FORMAT;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Main,
    Producer,
    Consumer,
}

impl Role {
    /// The English name, as in the English log.
    pub fn name(self) -> &'static str {
        self.in_lang(Lang::En)
    }

    pub fn in_lang(self, lang: Lang) -> &'static str {
        let w = lang.words();
        match self {
            Role::Main => w.main,
            Role::Producer => w.producer,
            Role::Consumer => w.consumer,
        }
    }

    /// The role named `s` in `lang`.
    pub fn parse_in(s: &str, lang: Lang) -> Result<Role, String> {
        Role::named(s, lang).ok_or_else(|| format!("unknown role '{s}'"))
    }

    fn named(s: &str, lang: Lang) -> Option<Role> {
        [Role::Main, Role::Producer, Role::Consumer]
            .into_iter()
            .find(|r| r.in_lang(lang) == s)
    }

    /// The role named `s`, and the language that names it so (main is "main" in both: it
    /// counts as `None`).
    pub fn parse_any(s: &str) -> Result<(Role, Option<Lang>), String> {
        if s == "main" {
            return Ok((Role::Main, None));
        }
        Lang::ALL
            .into_iter()
            .find_map(|lang| Role::named(s, lang).map(|r| (r, Some(lang))))
            .ok_or_else(|| format!("unknown role '{s}'"))
    }

    /// `s` names a child (producer or consumer) in `lang`.
    pub(crate) fn is_child(s: &str, lang: Lang) -> bool {
        matches!(Role::named(s, lang), Some(Role::Producer | Role::Consumer))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    Even,
    Odd,
}

impl Parity {
    pub fn of(value: i64) -> Parity {
        if value.rem_euclid(2) == 0 {
            Parity::Even
        } else {
            Parity::Odd
        }
    }

    pub fn in_lang(self, lang: Lang) -> &'static str {
        match self {
            Parity::Even => lang.words().even,
            Parity::Odd => lang.words().odd,
        }
    }

    pub fn parse_in(s: &str, lang: Lang) -> Result<Parity, String> {
        let w = lang.words();
        match s {
            _ if s == w.even => Ok(Parity::Even),
            _ if s == w.odd => Ok(Parity::Odd),
            _ => Err(format!("expected '{}' or '{}', got '{s}'", w.even, w.odd)),
        }
    }
}

/// How a child ended, as main reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildStatus {
    Code(i32),
    /// The signal's name, e.g. `SIGKILL`.
    Signal(String),
}

impl ChildStatus {
    pub fn succeeded(&self) -> bool {
        *self == ChildStatus::Code(0)
    }

    /// `exited with code 3` / `terminou com código 3`.
    pub fn render(&self, lang: Lang) -> String {
        match self {
            ChildStatus::Code(c) => say(Msg::ExitedWithCode, lang, &[Arg::Int((*c).into())]),
            ChildStatus::Signal(s) => say(Msg::KilledBy, lang, &[Arg::Text(s)]),
        }
    }

    /// The status `render` wrote in `lang`.
    pub fn parse_in(s: &str, lang: Lang) -> Result<ChildStatus, String> {
        if let Some(code) = capture(Msg::ExitedWithCode, lang, s) {
            return Ok(ChildStatus::Code(code?.number(0)?));
        }
        match capture(Msg::KilledBy, lang, s) {
            Some(signal) => Ok(ChildStatus::Signal(signal?.get(0).to_string())),
            None => Err(format!(
                "expected '{}' at '{s}'",
                Msg::KilledBy.in_lang(lang).trim_end_matches(" {}")
            )),
        }
    }
}

impl From<ipc_sys::ExitStatus> for ChildStatus {
    fn from(status: ipc_sys::ExitStatus) -> ChildStatus {
        match status {
            ipc_sys::ExitStatus::Exited(c) => ChildStatus::Code(c),
            ipc_sys::ExitStatus::Signaled(s) => {
                ChildStatus::Signal(ipc_sys::signal::signal_name(s))
            }
        }
    }
}

impl fmt::Display for ChildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

mod catalog;
mod consumer_line;
mod event;

use catalog::capture;
pub(crate) use catalog::{Arg, Msg, counted, say, split_once};
pub use catalog::{EN, PT, Words};

pub use consumer_line::ConsumerLine;
pub use event::{Event, LogLine, RunParams};

/// A tiny cursor for the fixed phrases of the grammar.
pub(crate) struct Cursor<'a>(pub(crate) &'a str);

impl<'a> Cursor<'a> {
    /// The text up to (not including) `end`, consuming `end` too.
    pub(crate) fn until(&mut self, end: &str) -> Result<&'a str, String> {
        match catalog::split_once(self.0, end) {
            Some((word, rest)) => {
                self.0 = rest;
                Ok(word)
            }
            None => Err(format!("expected '{end}' in '{}'", self.0)),
        }
    }

    pub(crate) fn number<T: FromStr>(&mut self, end: &str) -> Result<T, String> {
        let word = self.until(end)?;
        word.parse()
            .map_err(|_| format!("expected a number, got '{word}'"))
    }
}

/// A line of `execution_log.txt` cut at its fields, `<timestamp> [<role> <pid>] <message>`,
/// none of them judged: the 29-byte timestamp, the role's name, the pid's text, the message.
pub(crate) fn fields(line: &str) -> Option<(&str, &str, &str, &str)> {
    let (stamp, rest) = line.split_at_checked(29)?;
    let (who, rest) = split_once(rest.strip_prefix(" [")?, " ")?;
    let (pid, msg) = split_once(rest, "] ")?;
    Some((stamp, who, pid, msg))
}

/// Why a line does not parse, in `lang`: the parser words its reasons in English; this says
/// them in Portuguese, phrase by phrase (quoted text is left as it is).
pub fn reason_in(reason: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return reason.to_string();
    }
    const PHRASES: [(&str, &str); 20] = [
        ("expected a number, got '", "esperado um número; recebido '"),
        (
            "expected exactly three fields '",
            "esperados exatamente três campos '",
        ),
        ("unexpected trailing text '", "texto sobrando no fim: '"),
        ("unrecognised message '", "mensagem desconhecida '"),
        ("unknown role '", "papel desconhecido '"),
        ("bad timestamp '", "horário inválido '"),
        (
            "': expected YYYY-MM-DDTHH:MM:SS.mmm+HH:MM",
            "': esperado AAAA-MM-DDTHH:MM:SS.mmm+HH:MM",
        ),
        ("expected one of", "esperado um de"),
        ("expected '", "esperado '"),
        ("' at '", "' em '"),
        ("' in '", "' em '"),
        ("' or '", "' ou '"),
        ("', got '", "'; recebido '"),
        ("', got ", "'; recebidos "),
        ("unclosed '('", "'(' sem fechamento"),
        ("pace must end in ' ms'", "a pausa deve terminar em ' ms'"),
        ("bad detail", "detalhe inválido"),
        ("no count", "sem contagem"),
        ("bad count", "contagem inválida"),
        ("unknown fault kind '", "tipo de falha desconhecido '"),
    ];
    let mut out = reason.to_string();
    for (en, pt) in PHRASES {
        out = out.replace(en, pt);
    }
    out
}

/// Parses timestamps, remembering the last one. The lines of one batch share a timestamp, so
/// a streaming reader parses each distinct timestamp once instead of once per line.
#[derive(Default)]
pub struct TimeCache {
    last: Option<(String, DateTime<FixedOffset>)>,
}

impl TimeCache {
    pub fn parse(&mut self, s: &str) -> Result<DateTime<FixedOffset>, String> {
        if let Some((text, time)) = &self.last
            && text == s
        {
            return Ok(*time);
        }
        let time = parse_time(s)?;
        self.last = Some((s.to_string(), time));
        Ok(time)
    }
}

pub fn parse_time(s: &str) -> Result<DateTime<FixedOffset>, String> {
    // chrono would also accept a missing fraction or other precisions; the grammar is
    // exactly `YYYY-MM-DDTHH:MM:SS.mmm+HH:MM` (29 bytes, milliseconds always present).
    let shaped = s.len() == 29
        && s.as_bytes()[19] == b'.'
        && s.as_bytes()[20..23].iter().all(u8::is_ascii_digit);
    if !shaped {
        return Err(format!(
            "bad timestamp '{s}': expected YYYY-MM-DDTHH:MM:SS.mmm+HH:MM"
        ));
    }
    DateTime::parse_from_str(s, TIMESTAMP_FORMAT).map_err(|e| format!("bad timestamp '{s}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reasons_are_said_in_portuguese() {
        let line = "2026-11-23T20:30:36.123+00:00 [main 1] danced";
        let reason = line.parse::<LogLine>().unwrap_err();
        assert_eq!(
            reason_in(&reason, Lang::Pt),
            "mensagem desconhecida 'danced'"
        );
        assert_eq!(
            reason_in("expected a number, got 'x'", Lang::Pt),
            "esperado um número; recebido 'x'"
        );
    }

    /// A table written out: positive odd and even (below and above 50), negative, zero and
    /// both extremes of i64.
    #[test]
    fn parity_table() {
        use Parity::{Even, Odd};
        for (value, want) in [
            (i64::MIN, Even),
            (i64::MIN + 1, Odd),
            (-101, Odd),
            (-4, Even),
            (-3, Odd),
            (-2, Even),
            (-1, Odd),
            (0, Even),
            (1, Odd),
            (2, Even),
            (49, Odd),
            (50, Even),
            (51, Odd),
            (52, Even),
            (99, Odd),
            (100, Even),
            (i64::MAX - 1, Even),
            (i64::MAX, Odd),
        ] {
            assert_eq!(Parity::of(value), want, "{value}");
        }
    }
}
