//! The consumer log's own pass, on its own thread: its header, one classified value per line,
//! its totals. It keeps counts and an order-sensitive fingerprint of the values, which the
//! audit compares with the execution log's `received` lines; only when they differ are the
//! two logs walked side by side (`compare`) to name the lines.

use super::Problem;
use super::audit::fingerprint;
use super::reader::{Line, LogReader};
use crate::desafio::error::{Error, Result};
use crate::desafio::lang::Lang;
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG, LogPaths};
use crate::desafio::record::{ConsumerLine, Event, LogLine, Parity, TimeCache, split_once};

#[derive(Debug, Default)]
pub struct ConsumerPass {
    pub lines: usize,
    pub values: u64,
    pub even: u64,
    pub print: u64,
    pub lang: Option<Lang>,
    /// (values, even, odd, line) of the totals line.
    pub totals_line: Option<(u64, u64, u64, usize)>,
    /// Why the consumer stopped early, as its totals line says, and where.
    pub incomplete: Option<(String, usize)>,
    /// The last line has no newline (the consumer was killed in the middle of a write?).
    pub unterminated: Option<usize>,
    pub problems: Vec<Problem>,
}

impl ConsumerPass {
    fn problem(&mut self, line: usize, text: String) {
        self.problems.push(Problem {
            file: CONSUMER_LOG,
            line,
            text,
        });
    }

    /// The log's language is its first value's or totals'; a line in the other is a problem.
    fn mark_lang(&mut self, line: usize, line_lang: Option<Lang>, speak: Lang) {
        match (self.lang, line_lang) {
            (Some(first), Some(this)) if first != this => {
                self.problem(line, super::mixed_langs(this, first, speak));
            }
            (None, Some(this)) => self.lang = Some(this),
            _ => {}
        }
    }
}

/// Reads the whole consumer log.
pub fn read(mut r: LogReader, lang: Lang) -> Result<ConsumerPass> {
    let mut pass = ConsumerPass::default();
    let mut times = TimeCache::default();
    let mut seen_values = false;
    let path = r.path().to_path_buf();
    while let Some((n, line)) = r.next_line().map_err(|e| Error::read(&path, e))? {
        let text = match line {
            Line::Text(t) => t,
            Line::Unterminated(t) => {
                pass.unterminated = Some(n);
                // A value line cut short is not counted; anything else is judged as usual.
                if ConsumerLine::parse_any(t, &mut times).is_err() {
                    continue;
                }
                t
            }
            other => {
                pass.problem(n, super::not_a_line(&other, lang));
                continue;
            }
        };
        if n == 1 {
            if !text.starts_with("# ") {
                pass.problem(
                    1,
                    lang.pick(
                        "first line must be a '# ' header",
                        "a primeira linha deve ser um cabeçalho '# '",
                    )
                    .into(),
                );
            } else {
                continue;
            }
        }
        if hot_value(text, n, &mut pass, &mut times, lang) {
            seen_values = true;
            continue;
        }
        match ConsumerLine::parse_any(text, &mut times) {
            Ok((ConsumerLine::Value { value, parity, .. }, line_lang)) => {
                seen_values = true;
                pass.mark_lang(n, line_lang, lang);
                value_line(&mut pass, n, value, parity, lang);
            }
            Ok((
                ConsumerLine::Totals {
                    values,
                    even,
                    odd,
                    incomplete,
                },
                line_lang,
            )) => {
                pass.mark_lang(n, line_lang, lang);
                if pass.totals_line.is_some() {
                    pass.problem(
                        n,
                        lang.pick("a second totals line", "uma segunda linha de totais")
                            .into(),
                    );
                }
                pass.totals_line = Some((values, even, odd, n));
                if let Some(why) = incomplete {
                    pass.incomplete = Some((why, n));
                }
            }
            Ok((ConsumerLine::Header(_), _)) => {
                let text = if seen_values || pass.totals_line.is_some() {
                    lang.pick(
                        "header line after the values",
                        "cabeçalho depois dos valores",
                    )
                } else {
                    lang.pick("a second header line", "um segundo cabeçalho")
                };
                pass.problem(n, text.into());
            }
            Err(e) => pass.problem(n, super::unparsable(&e, lang)),
        }
    }
    pass.lines = r.number;
    if pass.lines == 0 {
        pass.problem(
            0,
            lang.pick(
                "file is empty (no header line)",
                "arquivo vazio (sem cabeçalho)",
            )
            .into(),
        );
    }
    Ok(pass)
}

/// A value line, `<timestamp> <value> <parity>` — nearly all of the log — read without
/// allocating, its parity word from the catalog (`Words`); `false` sends the line to the full
/// parser (which also words what is wrong with it).
fn hot_value(
    text: &str,
    n: usize,
    pass: &mut ConsumerPass,
    times: &mut TimeCache,
    lang: Lang,
) -> bool {
    let Some((stamp, rest)) = text.split_at_checked(29) else {
        return false;
    };
    let Some((value, label)) = rest.strip_prefix(' ').and_then(|r| split_once(r, " ")) else {
        return false;
    };
    let Ok(value) = value.parse::<i64>() else {
        return false;
    };
    let Some((parity, line_lang)) = Lang::ALL.into_iter().find_map(|l| {
        let w = l.words();
        (label == w.even)
            .then_some((Parity::Even, l))
            .or((label == w.odd).then_some((Parity::Odd, l)))
    }) else {
        return false;
    };
    // Parsed once per distinct stamp: the lines of one batch share theirs.
    if times.parse(stamp).is_err() {
        return false;
    }
    pass.mark_lang(n, Some(line_lang), lang);
    value_line(pass, n, value, parity, lang);
    true
}

fn value_line(pass: &mut ConsumerPass, line: usize, value: i64, parity: Parity, lang: Lang) {
    pass.values += 1;
    pass.print = fingerprint(pass.print, value);
    if parity == Parity::Even {
        pass.even += 1;
    }
    if parity != Parity::of(value) {
        let (p, q) = (parity.in_lang(lang), Parity::of(value).in_lang(lang));
        pass.problem(
            line,
            lang.pick(
                format!("{value} classified {p}, but it is {q}"),
                format!("{value} classificado como {p}, mas é {q}"),
            ),
        );
    }
}

/// Walks both logs side by side: each `received` line of the execution log against the next
/// value line of the consumer log, naming every difference with its lines.
///
/// A consumer killed between its two writes (it logs `received` first, then records the values
/// in its own log) may leave the last values received but not recorded: with `killed`, a
/// consumer log that simply ends early is not a violation, and the values it lacks are
/// returned (they were taken from the pipe and never recorded: lost with the consumer).
pub fn compare(
    paths: &LogPaths,
    lang: Lang,
    killed: bool,
    problems: &mut Vec<Problem>,
) -> std::io::Result<u64> {
    let open = |path| LogReader::open(path).map_err(|_| std::io::Error::other("cannot reopen"));
    let mut exec = open(&paths.execution)?;
    let mut cons = open(&paths.consumer)?;
    let (mut exec_times, mut cons_times) = (TimeCache::default(), TimeCache::default());
    // The consumer log's next value line (number, value); `None` at its end, or at its totals
    // line with `to_totals`.
    let mut next_value = |to_totals: bool| -> std::io::Result<Option<(usize, i64)>> {
        while let Some((cn, line)) = cons.next_line()? {
            let (Line::Text(text) | Line::Unterminated(text)) = line else {
                continue;
            };
            if cn == 1 && text.starts_with("# ") {
                continue;
            }
            match ConsumerLine::parse_any(text, &mut cons_times) {
                Ok((ConsumerLine::Value { value, .. }, _)) => return Ok(Some((cn, value))),
                Ok((ConsumerLine::Totals { .. }, _)) if to_totals => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    };
    let (mut ended, mut cons_ended) = (Vec::new(), false);
    let mut mismatched = false;
    let mut problem = |line, text: String| {
        mismatched = true;
        problems.push(Problem {
            file: CONSUMER_LOG,
            line,
            text,
        })
    };
    while let Some((at, line)) = exec.next_line()? {
        let (Line::Text(text) | Line::Unterminated(text)) = line else {
            continue;
        };
        let Ok(LogLine {
            event: Event::Received { value, .. },
            ..
        }) = LogLine::parse_cached(text, &mut exec_times)
        else {
            continue;
        };
        match if cons_ended { None } else { next_value(true)? } {
            Some((cn, v)) if v != value => problem(
                cn,
                lang.pick(
                    format!("value {v}, but {EXECUTION_LOG}:{at} received {value}"),
                    format!("valor {v}, mas {EXECUTION_LOG}:{at} recebeu {value}"),
                ),
            ),
            Some(_) => {}
            None => {
                cons_ended = true;
                ended.push(Problem {
                    file: CONSUMER_LOG,
                    line: 0,
                    text: lang.pick(
                        format!("ends before value {value} (received at {EXECUTION_LOG}:{at})"),
                        format!(
                            "termina antes do valor {value} (recebido em {EXECUTION_LOG}:{at})"
                        ),
                    ),
                });
            }
        }
    }
    while let Some((cn, value)) = next_value(false)? {
        problem(
            cn,
            lang.pick(
                format!("value {value} has no 'received' line in {EXECUTION_LOG}"),
                format!("o valor {value} não tem linha de recebimento em {EXECUTION_LOG}"),
            ),
        );
    }
    if killed && !mismatched {
        return Ok(ended.len() as u64);
    }
    problems.extend(ended);
    Ok(0)
}
