//! The lines of `consumer_log.txt`: a `# ` header, one `<timestamp> <value> even|odd` line per
//! value, and a `# totals:` line.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};

use super::catalog::{Arg, Msg, capture, fill};
use super::{Parity, TIMESTAMP_FORMAT, TimeCache};
use crate::desafio::lang::Lang;

/// The opening of the totals line in `lang` (`# totals: `): a `# ` line that opens so is the
/// totals line, well-formed or not, never a header.
fn totals_key(lang: Lang) -> &'static str {
    let template = Msg::Totals.in_lang(lang);
    template
        .find(": ")
        .map_or(template, |colon| &template[..colon + 2])
}

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
                let mut line = String::new();
                let counts = [
                    Arg::Int((*values).into()),
                    Arg::Int((*even).into()),
                    Arg::Int((*odd).into()),
                ];
                match incomplete {
                    None => fill(&mut line, Msg::Totals, lang, &counts),
                    Some(why) => {
                        let [v, e, o] = counts;
                        let why = ipc_sys::escape::log(why);
                        fill(
                            &mut line,
                            Msg::TotalsIncomplete,
                            lang,
                            &[v, e, o, Arg::Text(&why)],
                        );
                    }
                }
                line
            }
        }
    }

    /// Parses a line in `lang`.
    pub fn parse_in(line: &str, lang: Lang, times: &mut TimeCache) -> Result<ConsumerLine, String> {
        let w = lang.words();
        if line.starts_with("# ") && line.starts_with(totals_key(lang)) {
            let (mut misfit, mut wrong_slot) = (None, None);
            for kind in [Msg::TotalsIncomplete, Msg::Totals] {
                let c = match capture(kind, lang, line) {
                    None => continue,
                    // An `(incomplete: …` opened and never closed.
                    Some(Err(_))
                        if kind == Msg::TotalsIncomplete
                            && Msg::TotalsIncomplete
                                .pieces(lang)
                                .get(3)
                                .is_some_and(|open| line.contains(open)) =>
                    {
                        return Err("unclosed '('".into());
                    }
                    Some(Err(why)) => {
                        misfit.get_or_insert(why);
                        continue;
                    }
                    Some(Ok(c)) => c,
                };
                let totals = (|| {
                    Ok(ConsumerLine::Totals {
                        values: c.number(0)?,
                        even: c.number(1)?,
                        odd: c.number(2)?,
                        incomplete: (kind == Msg::TotalsIncomplete).then(|| c.get(3).to_string()),
                    })
                })();
                match totals {
                    Ok(totals) => return Ok(totals),
                    Err(why) => {
                        wrong_slot.get_or_insert(why);
                    }
                }
            }
            return Err(wrong_slot.or(misfit).unwrap_or_else(|| {
                format!("expected '{}' at '{line}'", Msg::Totals.in_lang(lang))
            }));
        }
        if let Some(rest) = line.strip_prefix("# ") {
            return Ok(ConsumerLine::Header(rest.to_string()));
        }
        let mut fields = line.split(' ');
        let (Some(time), Some(value), Some(parity), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(format!(
                "expected exactly three fields '<timestamp> <value> {}|{}', got {}",
                w.even,
                w.odd,
                line.split(' ').count()
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
                if line.starts_with(totals_key(lang)) {
                    return ConsumerLine::parse_in(line, lang, times).map(|l| (l, Some(lang)));
                }
            }
            return Ok((ConsumerLine::Header(text.to_string()), None));
        }
        // A value line's last word, its parity, says its language.
        let label = line.rsplit(' ').next().unwrap_or_default();
        let langs = Lang::ALL.into_iter().filter(|lang| {
            let w = lang.words();
            label == w.even || label == w.odd
        });
        let mut first_error = None;
        for lang in langs.chain(Lang::ALL) {
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
}

impl fmt::Display for ConsumerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

impl FromStr for ConsumerLine {
    type Err = String;

    fn from_str(line: &str) -> Result<Self, String> {
        ConsumerLine::parse_in(line, Lang::En, &mut TimeCache::default())
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
        assert_eq!(
            "# totals: values 1, even 0, odd 1 (incomplete: x".parse::<ConsumerLine>(),
            Err("unclosed '('".to_string())
        );
    }
}
