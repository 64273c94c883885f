//! `ipc_desafio verify`: audits a run's two logs, streaming, and says exactly what is wrong and
//! where (`file:line: problem`), or what was lost and where a faulty run stopped.
//!
//! Memory is bounded by the values in flight (sent, not yet received) plus one set of the
//! values sent, needed to prove they are distinct.

mod audit;
mod lines;

use std::fmt::Write as _;
use std::path::Path;

use crate::desafio::error::Result;
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG};

/// How many lost values a report lists by value before it only counts them.
const LOST_LISTED: usize = 20;
/// How many problems a report prints before it only counts them (a corrupt million-line log
/// would otherwise print a million lines).
const PROBLEMS_PRINTED: usize = 50;

/// The outcome of an audit.
#[derive(Debug, Default)]
pub struct Report {
    /// `file:line: what is wrong`, in file order.
    pub problems: Vec<String>,
    /// Facts about the run that are not violations (interruptions, faults, where it stopped).
    pub notes: Vec<String>,
    pub sent: u64,
    pub received: u64,
    pub lost: Vec<i64>,
    pub exec_lines: usize,
    pub consumer_lines: usize,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The human-readable verdict, one fact per line, ending with `verify: OK` or `verify: FAILED`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for p in self.problems.iter().take(PROBLEMS_PRINTED) {
            let _ = writeln!(out, "{p}");
        }
        if self.problems.len() > PROBLEMS_PRINTED {
            let _ = writeln!(
                out,
                "... and {} more problems",
                self.problems.len() - PROBLEMS_PRINTED
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        if !self.lost.is_empty() {
            let listed: Vec<String> = self
                .lost
                .iter()
                .take(LOST_LISTED)
                .map(i64::to_string)
                .collect();
            let more = self.lost.len().saturating_sub(LOST_LISTED);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "lost: {} values sent but never received: {}{more}",
                self.lost.len(),
                listed.join(", ")
            );
        }
        let counts = format!(
            "{} values sent, {} received, {} lost ({EXECUTION_LOG}: {} lines, {CONSUMER_LOG}: {} lines)",
            self.sent,
            self.received,
            self.lost.len(),
            self.exec_lines,
            self.consumer_lines
        );
        if self.passed() {
            let _ = writeln!(out, "verify: OK: {counts}");
        } else {
            let _ = writeln!(
                out,
                "verify: FAILED: {} problems; {counts}",
                self.problems.len()
            );
        }
        out
    }
}

/// Audits the logs in `dir`. `Err` only when a log cannot be read at all.
pub fn verify(dir: &Path) -> Result<Report> {
    audit::run(dir)
}
