//! The lines of `consumer_log.txt`: a `# ` header, one `<timestamp> <value> even|odd` line per
//! value, and a `# totals:` line.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};

use super::{Cursor, Parity, TIMESTAMP_FORMAT, TimeCache};

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

impl fmt::Display for ConsumerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsumerLine::Header(text) => write!(f, "# {text}"),
            ConsumerLine::Value {
                time,
                value,
                parity,
            } => {
                write!(f, "{} {value} {parity}", time.format(TIMESTAMP_FORMAT))
            }
            ConsumerLine::Totals {
                values,
                even,
                odd,
                incomplete,
            } => {
                write!(f, "# totals: values {values}, even {even}, odd {odd}")?;
                match incomplete {
                    Some(why) => write!(f, " (incomplete: {why})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl FromStr for ConsumerLine {
    type Err = String;

    fn from_str(line: &str) -> Result<Self, String> {
        ConsumerLine::parse_cached(line, &mut TimeCache::default())
    }
}

impl ConsumerLine {
    pub fn parse_cached(line: &str, times: &mut TimeCache) -> Result<ConsumerLine, String> {
        if let Some(rest) = line.strip_prefix("# totals: ") {
            let mut c = Cursor(rest);
            c.tag("values ")?;
            let values = c.number(", even ")?;
            let even = c.number(", odd ")?;
            let (odd, incomplete) = match c.0.split_once(" (incomplete: ") {
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
                "expected exactly three fields '<timestamp> <value> even|odd', got {}",
                fields.len()
            ));
        };
        let value = value
            .parse()
            .map_err(|_| format!("expected a number, got '{value}'"))?;
        Ok(ConsumerLine::Value {
            time: times.parse(time)?,
            value,
            parity: parity.parse()?,
        })
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
