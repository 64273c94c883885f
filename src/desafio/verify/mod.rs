//! `ipc_desafio verify`: audits a run's two logs and grades it against the assignment.
//!
//! Three questions, answered in this order:
//! 1. **Are the logs consistent?** Every line parses; values are distinct, received in the order
//!    sent, classified right; counts, pids, timestamps and main's summary agree. A violation is
//!    reported as `file:line: what is wrong`.
//! 2. **Did the run complete?** If not, why — a fault injected on purpose (judged: was it handled
//!    as designed?), a process killed, an interruption. The same function of the same facts as
//!    main's own verdict (`verdict::Facts`), so the two never disagree.
//! 3. **Does it meet the assignment?** The five mandatory requirements, each PASS or FAIL with
//!    its evidence (`rubric`), unless `--audit-only`.
//!
//! Safe on any input: only regular files are read, lines are capped, and memory is bounded by
//! the number of values (8 bytes each), never by line length or file type. Both logs are read
//! at once, on two threads.

mod audit;
mod consumer;
mod judge;
mod reader;
mod rubric;

use std::fmt::Write as _;
use std::path::Path;

use crate::desafio::error::{Error, Result};
use crate::desafio::lang::Lang;
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG};
pub use reader::MAX_LINE;
pub use rubric::Requirement;

/// How many lost values a report lists by value before it only counts them.
const LOST_LISTED: usize = 20;
/// How many problems a report prints before it only counts them (a corrupt million-line log
/// would otherwise print a million lines).
const PROBLEMS_PRINTED: usize = 50;

/// One violation: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: &'static str,
    /// 0 when it concerns the whole file.
    pub line: usize,
    pub text: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file, self.text),
            n => write!(f, "{}:{n}: {}", self.file, self.text),
        }
    }
}

/// The outcome of an audit.
#[derive(Debug, Default)]
pub struct Report {
    /// The language this report speaks.
    pub lang: Lang,
    /// The language the logs are written in.
    pub log_lang: Option<Lang>,
    /// Violations, in file order.
    pub problems: Vec<Problem>,
    /// Facts about the run that are not violations (interruptions, where it stopped, a line
    /// cut short by a killed process).
    pub notes: Vec<String>,
    /// Why the run is incomplete, if it is (a process that failed or was killed, a missing end
    /// marker, no summary).
    pub outcomes: Vec<String>,
    /// The injected fault, judged: was it handled as designed?
    pub fault: Option<String>,
    /// The classic mistake the run made on purpose (`--bug`), and what it did.
    pub bug: Option<String>,
    pub rubric: Option<Vec<Requirement>>,
    /// Values that entered the pipe.
    pub sent: u64,
    pub received: u64,
    pub lost: Vec<i64>,
    pub exec_lines: usize,
    pub consumer_lines: usize,
    /// The run completed (see `verdict::Facts::complete`).
    pub complete: bool,
    /// What the rubric grades from.
    pub(crate) grading: judge::Grading,
}

impl Report {
    /// Values sent and not received (recorded), as main's summary counts them: the values lost
    /// in the pipe (`lost`, listed by value) and those a killed consumer took from the pipe
    /// without recording them.
    pub fn lost_count(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }

    pub fn consistent(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn rubric_passed(&self) -> bool {
        self.rubric
            .as_ref()
            .is_none_or(|r| r.iter().all(|req| req.passed))
    }

    /// Exit 0 only for consistent logs of a complete run that meets the assignment.
    pub fn passed(&self) -> bool {
        self.consistent() && self.complete && self.rubric_passed()
    }

    /// The human-readable verdict, one fact per line, ending with `verify: OK`,
    /// `verify: INCOMPLETE` or `verify: FAILED`.
    pub fn render(&self) -> String {
        let lang = self.lang;
        let mut out = String::new();
        for p in self.problems.iter().take(PROBLEMS_PRINTED) {
            let _ = writeln!(out, "{p}");
        }
        if self.problems.len() > PROBLEMS_PRINTED {
            let more = self.problems.len() - PROBLEMS_PRINTED;
            let _ = writeln!(
                out,
                "{}",
                lang.pick(
                    format!("... and {more} more problems"),
                    format!("... e mais {more} problemas")
                )
            );
        }
        if let Some(log_lang) = self.log_lang {
            let _ = writeln!(
                out,
                "{}",
                lang.pick(
                    format!(
                        "note: the logs are written in {}",
                        log_lang.pick("English", "Portuguese")
                    ),
                    format!(
                        "nota: os logs estão em {}",
                        log_lang.pick("inglês", "português")
                    ),
                )
            );
        }
        let note = lang.pick("note", "nota");
        for n in &self.notes {
            let _ = writeln!(out, "{note}: {n}");
        }
        let outcome = lang.pick("outcome", "desfecho");
        for o in &self.outcomes {
            let _ = writeln!(out, "{outcome}: {o}");
        }
        if !self.lost.is_empty() {
            let listed: Vec<String> = self
                .lost
                .iter()
                .take(LOST_LISTED)
                .map(i64::to_string)
                .collect();
            let more = self.lost.len().saturating_sub(LOST_LISTED);
            let n = self.lost.len();
            let (head, and) = lang.pick(
                (format!("lost: {n} values sent but never received"), "and"),
                (
                    format!("perdidos: {n} valores enviados e nunca recebidos"),
                    "e mais",
                ),
            );
            let tail = if more > 0 {
                format!(" {and} {more}")
            } else {
                String::new()
            };
            let _ = writeln!(out, "{head}: {}{tail}", listed.join(", "));
        }
        if let Some(fault) = &self.fault {
            let _ = writeln!(out, "{fault}");
        }
        if let Some(bug) = &self.bug {
            let _ = writeln!(out, "{bug}");
        }
        if let Some(rubric) = &self.rubric {
            for req in rubric {
                let _ = writeln!(out, "{}", req.render(lang));
            }
        }
        let _ = writeln!(out, "{}", self.verdict_line());
        out
    }

    fn verdict_line(&self) -> String {
        let lang = self.lang;
        let plural = |n: u64, one: &str, many: &str| {
            if n == 1 {
                one.to_string()
            } else {
                many.to_string()
            }
        };
        let counts = lang.pick(
            format!(
                "{} {} sent, {} received, {} lost ({EXECUTION_LOG}: {} lines, {CONSUMER_LOG}: {} lines)",
                self.sent,
                plural(self.sent, "value", "values"),
                self.received,
                self.lost_count(),
                self.exec_lines,
                self.consumer_lines
            ),
            format!(
                "{} {}, {} {}, {} {} ({EXECUTION_LOG}: {} linhas, {CONSUMER_LOG}: {} linhas)",
                self.sent,
                plural(self.sent, "valor enviado", "valores enviados"),
                self.received,
                plural(self.received, "recebido", "recebidos"),
                self.lost_count(),
                plural(self.lost_count(), "perdido", "perdidos"),
                self.exec_lines,
                self.consumer_lines
            ),
        );
        if !self.consistent() {
            let n = self.problems.len();
            lang.pick(
                format!(
                    "verify: FAILED: {n} {}; {counts}",
                    if n == 1 { "problem" } else { "problems" }
                ),
                format!(
                    "verify: FALHOU: {n} {}; {counts}",
                    if n == 1 { "problema" } else { "problemas" }
                ),
            )
        } else if !self.complete {
            lang.pick(
                format!("verify: INCOMPLETE: the logs are consistent, but the run did not complete; {counts}"),
                format!("verify: INCOMPLETO: os logs são consistentes, mas a execução não terminou; {counts}"),
            )
        } else if !self.rubric_passed() {
            let failed: Vec<String> = self
                .rubric
                .iter()
                .flatten()
                .filter(|r| !r.passed)
                .map(|r| r.number.to_string())
                .collect();
            lang.pick(
                format!(
                    "verify: FAILED: the run does not meet requirement {} of the assignment; {counts}",
                    failed.join(", ")
                ),
                format!(
                    "verify: FALHOU: a execução não atende ao requisito {} do desafio; {counts}",
                    failed.join(", ")
                ),
            )
        } else {
            format!("verify: OK: {counts}")
        }
    }
}

/// Audits the logs in `dir` (and grades them unless `audit_only`), speaking `lang`. `Err` only
/// when a log cannot be read at all.
pub fn verify(dir: &Path, lang: Lang, audit_only: bool) -> Result<Report> {
    ipc_sys::cli::existing_dir(dir).map_err(|source| Error::LogDir {
        path: dir.into(),
        source,
    })?;
    let mut report = audit::run(dir, lang)?;
    if !audit_only {
        report.rubric = Some(rubric::grade(&report));
    }
    Ok(report)
}
