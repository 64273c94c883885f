//! The lines of `consumer_log.txt`: a `# ` header, one `<timestamp> <value> even|odd` line per
//! value, and a `# totals:` line.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};

use super::{Cursor, Parity, TIMESTAMP_FORMAT, TimeCache};
use crate::desafio::lang::Lang;

/// One line of `consumer_log.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerLine {
    /// `# ...` before any value.
    Header(String),
    /// `<timestamp> <value> even|odd`
    Value {
        time: DateTime<FixedOffset>,
        value: i64,
        parity: Parity,
    },
    /// `# totals: values N, even E, odd O` with an optional ` (incomplete: why)`.
    Totals {
        values: u64,
        even: u64,
        odd: u64,
        incomplete: Option<String>,
    },
}

impl ConsumerLine {
    /// The line in `lang`; `Display` is the English one.
    pub fn render(&self, lang: Lang) -> String {
        let w = lang.words();
        match self {
            ConsumerLine::Header(text) => format!("# {}", ipc_sys::escape::log(text)),
            ConsumerLine::Value {
                time,
                value,
                parity,
            } => format!(
                "{} {value} {}",
                time.format(TIMESTAMP_FORMAT),
                parity.in_lang(lang)
            ),
            ConsumerLine::Totals {
                values,
                even,
                odd,
                incomplete,
            } => {
                let mut line = format!(
                    "# {}: {} {values}, {} {even}, {} {odd}",
                    w.totals, w.tot_values, w.tot_even, w.tot_odd
                );
                if let Some(why) = incomplete {
                    let why = ipc_sys::escape::log(why);
                    line.push_str(&format!(" ({}: {why})", w.incomplete));
                }
                line
            }
        }
    }

    /// Parses a line in `lang`.
    pub fn parse_in(line: &str, lang: Lang, times: &mut TimeCache) -> Result<ConsumerLine, String> {
        let w = lang.words();
        if let Some(rest) = line.strip_prefix(&format!("# {}: ", w.totals)) {
            let mut c = Cursor(rest);
            c.tag(w.tot_values)?;
            c.tag(" ")?;
            let values = c.number(&format!(", {} ", w.tot_even))?;
            let even = c.number(&format!(", {} ", w.tot_odd))?;
            let (odd, incomplete) = match c.0.split_once(&format!(" ({}: ", w.incomplete)) {
                Some((odd, why)) => (
                    odd,
                    Some(why.strip_suffix(')').ok_or("unclosed '('")?.to_string()),
                ),
                None => (c.0, None),
            };
            let odd = odd
                .parse()
                .map_err(|_| format!("expected a number, got '{odd}'"))?;
            return Ok(ConsumerLine::Totals {
                values,
                even,
                odd,
                incomplete,
            });
        }
        if let Some(rest) = line.strip_prefix("# ") {
            return Ok(ConsumerLine::Header(rest.to_string()));
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let [time, value, parity] = fields[..] else {
            return Err(format!(
                "expected exactly three fields '<timestamp> <value> {}|{}', got {}",
                w.even,
                w.odd,
                fields.len()
            ));
        };
        let value = value
            .parse()
            .map_err(|_| format!("expected a number, got '{value}'"))?;
        Ok(ConsumerLine::Value {
            time: times.parse(time)?,
            value,
            parity: Parity::parse_in(parity, lang)?,
        })
    }

    /// Parses a line in either language; says which (a header says nothing: `None`).
    pub fn parse_any(
        line: &str,
        times: &mut TimeCache,
    ) -> Result<(ConsumerLine, Option<Lang>), String> {
        // A totals line is a `# ` line too: look for it in every language before calling a
        // `# ` line a header.
        if let Some(text) = line.strip_prefix("# ") {
            for lang in Lang::ALL {
                if line.starts_with(&format!("# {}: ", lang.words().totals)) {
                    return ConsumerLine::parse_in(line, lang, times).map(|l| (l, Some(lang)));
                }
            }
            return Ok((ConsumerLine::Header(text.to_string()), None));
        }
        let mut first_error = None;
        for lang in Lang::ALL {
            match ConsumerLine::parse_in(line, lang, times) {
                Ok(ConsumerLine::Header(h)) => return Ok((ConsumerLine::Header(h), None)),
                Ok(l) => return Ok((l, Some(lang))),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_default())
    }

    pub fn parse_cached(line: &str, times: &mut TimeCache) -> Result<ConsumerLine, String> {
        ConsumerLine::parse_in(line, Lang::En, times)
    }
}

impl fmt::Display for ConsumerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

impl FromStr for ConsumerLine {
    type Err = String;

    fn from_str(line: &str) -> Result<Self, String> {
        ConsumerLine::parse_cached(line, &mut TimeCache::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desafio::record::parse_time;

    #[test]
    fn consumer_lines_round_trip_and_need_exactly_three_fields() {
        let time = parse_time("2026-11-23T20:30:36.123+00:00").unwrap();
        for line in [
            ConsumerLine::Header("consumer pid 3".into()),
            ConsumerLine::Value {
                time,
                value: 8,
                parity: Parity::Even,
            },
            ConsumerLine::Totals {
                values: 3,
                even: 1,
                odd: 2,
                incomplete: None,
            },
            ConsumerLine::Totals {
                values: 3,
                even: 1,
                odd: 2,
                incomplete: Some("fault".into()),
            },
        ] {
            assert_eq!(line.to_string().parse::<ConsumerLine>(), Ok(line.clone()));
            let pt = line.render(Lang::Pt);
            let mut times = TimeCache::default();
            assert_eq!(
                ConsumerLine::parse_in(&pt, Lang::Pt, &mut times),
                Ok(line.clone()),
                "{pt}"
            );
            let lang = (!matches!(line, ConsumerLine::Header(_))).then_some(Lang::Pt);
            assert_eq!(
                ConsumerLine::parse_any(&pt, &mut times),
                Ok((line.clone(), lang)),
                "{pt}"
            );
        }
        assert!(
            "2026-11-23T20:30:36.123+00:00 8 even extra"
                .parse::<ConsumerLine>()
                .is_err()
        );
        assert!(
            "2026-11-23T20:30:36.123+00:00 8"
                .parse::<ConsumerLine>()
                .is_err()
        );
    }
}
