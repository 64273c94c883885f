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
pub(crate) mod foreign;
mod judge;
pub(crate) mod reader;
mod rubric;

use std::fmt::Write as _;
use std::path::Path;

use crate::desafio::error::{self, Error, Result};
use crate::desafio::lang::{Lang, count};
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG};
pub use reader::MAX_LINE;
pub use rubric::Requirement;

/// How many lost values a report lists by value before it only counts them.
const LOST_LISTED: usize = 20;
/// How many problems a report prints before it only counts them (a corrupt million-line log
/// would otherwise print a million lines).
const PROBLEMS_PRINTED: usize = 50;

/// The class of a verdict — the last line's first word — with the exit codes that go with it.
/// The table of docs/ipc_desafio.md ("The last line is the verdict") is this, row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Consistent logs of a complete run (that meets the assignment, unless `--audit-only`).
    Ok,
    /// Consistent logs of a run that did not complete: told, not blamed.
    Incomplete,
    /// Violations in the logs, or a requirement not met.
    Failed,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Ok, Verdict::Incomplete, Verdict::Failed];

    /// `OK`, `INCOMPLETE` (`INCOMPLETO`), `FAILED` (`FALHOU`): the word after `verify: `.
    pub fn word(self, lang: Lang) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Incomplete => lang.pick("INCOMPLETE", "INCOMPLETO"),
            Verdict::Failed => lang.pick("FAILED", "FALHOU"),
        }
    }

    /// verify's exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Incomplete | Verdict::Failed => error::EXIT_FAILURE,
        }
    }

    /// The exit codes main can have ended the run with (`verdict::Facts::exit_code`): the same
    /// function of the same facts gives OK only with 0, INCOMPLETE only with 1 or 130; a
    /// violation or a requirement not met may come with any of them.
    pub fn main_exits(self) -> &'static [u8] {
        match self {
            Verdict::Ok => &[0],
            Verdict::Incomplete => &[error::EXIT_FAILURE, error::EXIT_INTERRUPTED],
            Verdict::Failed => &[0, error::EXIT_FAILURE, error::EXIT_INTERRUPTED],
        }
    }
}

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
    /// Values the consumer took from the pipe and logged as received, but was killed before
    /// recording in its own log: neither received (recorded) nor lost in the pipe.
    pub unrecorded: u64,
    pub lost: Vec<i64>,
    pub exec_lines: usize,
    pub consumer_lines: usize,
    /// The run completed (see `verdict::Facts::complete`).
    pub complete: bool,
    /// A run held the logs' claim while they were read: they are a snapshot of a run still
    /// writing them (see `still_in_progress`).
    pub live: bool,
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
        self.verdict() == Verdict::Ok
    }

    /// The verdict's class: FAILED for a violation or a requirement not met (complete or not),
    /// else INCOMPLETE for a run that did not complete, else OK.
    pub fn verdict(&self) -> Verdict {
        if !self.consistent() || !self.rubric_passed() {
            Verdict::Failed
        } else if !self.complete {
            Verdict::Incomplete
        } else {
            Verdict::Ok
        }
    }

    /// The report of logs a live run is still writing. They were read while they grew, the
    /// two at different moments: a missing totals line, values in the pipe counted lost, a
    /// requirement the run has not reached yet are facts of the moment, not of the run. So
    /// nothing is judged: the verdict is INCOMPLETE, the run still in progress.
    fn still_in_progress(&mut self) {
        self.problems.clear();
        self.notes.clear();
        self.outcomes = vec![self.lang.pick(
            "the run is still in progress (its processes hold execution_log.txt): its logs are still being written, so nothing is judged; verify it again once it has ended".to_string(),
            "a execução continua (seus processos seguram execution_log.txt): seus logs ainda estão sendo escritos, então nada é avaliado; verifique de novo quando ela acabar".to_string(),
        )];
        self.fault = None;
        self.bug = None;
        self.rubric = None;
        self.lost.clear();
        self.unrecorded = 0;
        self.complete = false;
    }

    /// The human-readable verdict, one fact per line, ending with `verify: OK`,
    /// `verify: INCOMPLETE` or `verify: FAILED`.
    pub fn render(&self) -> String {
        let lang = self.lang;
        let mut out = String::new();
        for p in self.problems.iter().take(PROBLEMS_PRINTED) {
            let _ = writeln!(out, "{p}");
        }
        let more = self.problems.len().saturating_sub(PROBLEMS_PRINTED);
        if more > 0 {
            out += &lang.pick(
                format!("... and {more} more problems\n"),
                format!("... e mais {more} problemas\n"),
            );
        }
        if let Some(log_lang) = self.log_lang {
            let name = audit::lang_name(log_lang, lang);
            out += &lang.pick(
                format!("note: the logs are written in {name}\n"),
                format!("nota: os logs estão em {name}\n"),
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
            let n = self.lost.len() as u64;
            let (head, and) = lang.pick(
                (
                    count(
                        n,
                        "value sent but never received",
                        "values sent but never received",
                    ),
                    "and",
                ),
                (
                    count(
                        n,
                        "valor enviado e nunca recebido",
                        "valores enviados e nunca recebidos",
                    ),
                    "e mais",
                ),
            );
            let lost = lang.pick("lost", "perdidos");
            let tail = if more > 0 {
                format!(" {and} {more}")
            } else {
                String::new()
            };
            let _ = writeln!(out, "{lost}: {head}: {}{tail}", listed.join(", "));
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
        let plural = |n: u64, one: &'static str, many| if n == 1 { one } else { many };
        let lost = self.lost_count();
        // The third state, named when there is one: taken from the pipe and logged as
        // received, never recorded. Lost all the same (main counts what was recorded), so
        // sent = received + lost still holds; the values lost in the pipe are the `lost:` line's.
        let third = match self.unrecorded {
            0 => String::new(),
            n => {
                let (piped, s) = (lost - n, judge::plural_s(n));
                lang.pick(
                    format!(" ({piped} in the pipe, {n} received but never recorded in {CONSUMER_LOG})"),
                    format!(" ({piped} no pipe, {n} recebido{s} mas nunca registrado{s} em {CONSUMER_LOG})"),
                )
            }
        };
        let counts = lang.pick(
            format!(
                "{} {} sent, {} received, {lost} lost{third} ({EXECUTION_LOG}: {} {}, {CONSUMER_LOG}: {} {})",
                self.sent,
                plural(self.sent, "value", "values"),
                self.received,
                self.exec_lines,
                plural(self.exec_lines as u64, "line", "lines"),
                self.consumer_lines,
                plural(self.consumer_lines as u64, "line", "lines"),
            ),
            format!(
                "{} {}, {} {}, {lost} {}{third} ({EXECUTION_LOG}: {} {}, {CONSUMER_LOG}: {} {})",
                self.sent,
                plural(self.sent, "valor enviado", "valores enviados"),
                self.received,
                plural(self.received, "recebido", "recebidos"),
                plural(lost, "perdido", "perdidos"),
                self.exec_lines,
                plural(self.exec_lines as u64, "linha", "linhas"),
                self.consumer_lines,
                plural(self.consumer_lines as u64, "linha", "linhas"),
            ),
        );
        let word = self.verdict().word(lang);
        if self.live {
            // The counts of a snapshot, read while they changed: not a fact of the run.
            lang.pick(
                format!("verify: {word}: the run is still in progress"),
                format!("verify: {word}: a execução continua"),
            )
        } else if !self.consistent() {
            let n = self.problems.len() as u64;
            let problems = lang.pick(
                count(n, "problem", "problems"),
                count(n, "problema", "problemas"),
            );
            format!("verify: {word}: {problems}; {counts}")
        } else if !self.rubric_passed() {
            // A requirement not met fails the run, complete or not: the verdict never reads
            // INCOMPLETE under a FAIL.
            let failed: Vec<String> = self
                .rubric
                .iter()
                .flatten()
                .filter(|r| !r.passed)
                .map(|r| r.number.to_string())
                .collect();
            let n = failed.len() as u64;
            let incomplete = if self.complete {
                ""
            } else {
                lang.pick(", and it did not complete", ", e não terminou")
            };
            lang.pick(
                format!(
                    "verify: {word}: the run does not meet {} {} of the assignment{incomplete}; {counts}",
                    plural(n, "requirement", "requirements"),
                    join_and(&failed, "and")
                ),
                format!(
                    "verify: {word}: a execução não atende {} {} do desafio{incomplete}; {counts}",
                    plural(n, "ao requisito", "aos requisitos"),
                    join_and(&failed, "e")
                ),
            )
        } else if !self.complete {
            lang.pick(
                format!("verify: {word}: the logs are consistent, but the run did not complete; {counts}"),
                format!("verify: {word}: os logs são consistentes, mas a execução não terminou; {counts}"),
            )
        } else {
            format!("verify: {word}: {counts}")
        }
    }
}

/// `2`, `2 and 5`, `1, 2 and 5`.
fn join_and(items: &[String], and: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {and} {last}", rest.join(", ")),
    }
}

/// What is wrong with a line the reader could not hand over as text (too long, not UTF-8).
fn not_a_line(line: &reader::Line, lang: Lang) -> String {
    match line {
        reader::Line::TooLong => lang.pick(
            format!("line longer than {MAX_LINE} bytes: not a log line"),
            format!("linha com mais de {MAX_LINE} bytes: não é uma linha de log"),
        ),
        _ => lang
            .pick("line is not valid UTF-8", "a linha não é UTF-8 válido")
            .into(),
    }
}

/// A line that does not parse, and why.
pub(crate) fn unparsable(why: &str, lang: Lang) -> String {
    lang.pick(
        format!("cannot parse line: {why}"),
        format!(
            "linha ilegível: {}",
            crate::desafio::record::reason_in(why, lang)
        ),
    )
}

/// A log's last line without its newline.
fn torn(lang: Lang) -> &'static str {
    lang.pick(
        "last line is not terminated by a newline (a torn write?)",
        "a última linha não termina com uma quebra de linha (escrita interrompida?)",
    )
}

/// A line in `this` language in a log written in `first`, said in `speak`.
fn mixed_langs(this: Lang, first: Lang, speak: Lang) -> String {
    let (l, f) = (
        audit::lang_name(this, speak),
        audit::lang_name(first, speak),
    );
    speak.pick(
        format!("a line in {l} in a log written in {f}: one run writes one language"),
        format!("uma linha em {l} num log escrito em {f}: uma execução escreve num só idioma"),
    )
}

/// Audits the logs in `dir` (and grades them unless `audit_only`), speaking `lang`. `Err` only
/// when a log cannot be read at all.
pub fn verify(dir: &Path, lang: Lang, audit_only: bool) -> Result<Report> {
    Error::check_log_dir(dir)?;
    let mut report = audit::run(dir, lang)?;
    if report.live {
        report.still_in_progress();
        return Ok(report);
    }
    if !audit_only {
        report.rubric = Some(rubric::grade(&report));
    }
    Ok(report)
}
