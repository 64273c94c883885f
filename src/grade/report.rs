//! grade's output: the report (one line per criterion with its verdict and evidence, a score
//! line, the sandbox's evidence) and the JSON object, whose shape is an interface:
//! `{"command": [...], "runs": N, "criteria": [{"id", "verdict", "evidence"}], "passed": P,
//! "failed": F, "unknown": U}`.

use std::io::Write;

use serde::Serialize;

use super::Graded;
use super::error::{Error, Result};
use super::judge::{Criterion, Verdict};
use crate::desafio::lang::{Lang, count, decimal};

#[derive(Serialize)]
struct Json<'a> {
    command: &'a [String],
    runs: u32,
    criteria: &'a [Criterion],
    passed: usize,
    failed: usize,
    unknown: usize,
}

pub fn json(g: &Graded) -> String {
    let j = Json {
        command: &g.command,
        runs: g.times,
        criteria: &g.criteria,
        passed: g.count(Verdict::Pass),
        failed: g.count(Verdict::Fail),
        unknown: g.count(Verdict::Unknown),
    };
    serde_json::to_string(&j).unwrap_or_default() + "\n"
}

/// The verdict as a student reads it.
pub fn verdict_word(v: Verdict, lang: Lang) -> &'static str {
    match v {
        Verdict::Pass => lang.pick("pass", "passou"),
        Verdict::Fail => lang.pick("FAIL", "FALHOU"),
        Verdict::Unknown => lang.pick("unknown", "incerto"),
    }
}

pub fn text(g: &Graded, lang: Lang) -> String {
    let mut out = String::new();
    let elapsed = decimal(g.elapsed.as_secs_f64(), 1, lang);
    let (one, many, faults) = lang.pick(
        ("normal run", "normal runs", "contention and kill runs"),
        (
            "execução normal",
            "execuções normais",
            "execuções com disputa e com processos mortos",
        ),
    );
    let runs = format!(
        "{} + {faults}, {elapsed} s",
        count(u64::from(g.times), one, many)
    );
    out.push_str(&format!(
        "grade: {} ({runs})\n",
        crate::desafio::escape::terminal(&g.command.join(" "))
    ));
    if std::env::var_os("IPC_DESAFIO_GRADE_TIMES").is_some() {
        let times: Vec<String> = g
            .run_times
            .iter()
            .map(|(name, d)| format!("{name} {} s", decimal(d.as_secs_f64(), 2, lang)))
            .collect();
        out.push_str(&format!("runs: {}\n", times.join(", ")));
    }
    for c in &g.criteria {
        out.push_str(&format!(
            "{:<11} {:<7} {}\n",
            c.id,
            verdict_word(c.verdict, lang),
            c.evidence
        ));
    }
    let (p, f, u) = (
        g.count(Verdict::Pass),
        g.count(Verdict::Fail),
        g.count(Verdict::Unknown),
    );
    out.push_str(&lang.pick(
        format!(
            "score: {p} passed, {f} failed, {u} unknown (of {})\n",
            g.criteria.len()
        ),
        format!("nota: {} (de {})\n", score_pt(p, f, u), g.criteria.len()),
    ));
    if !g.missing.is_empty() {
        let missing = lang.pick("missing", "faltam");
        out.push_str(&format!("sandbox: {missing}: {}\n", g.missing.join("; ")));
    }
    for line in &g.sandbox {
        out.push_str(&format!("sandbox: {line}\n"));
    }
    for k in &g.kept {
        let kept = lang.pick("kept", "mantida");
        out.push_str(&format!("{kept}: {}\n", k.display()));
    }
    out
}

/// `8 passaram, 1 falhou, 1 incerto`: the score in Portuguese, each verb and adjective
/// agreeing with its count.
pub fn score_pt(passed: usize, failed: usize, unknown: usize) -> String {
    let n = |k: usize| k as u64;
    format!(
        "{}, {}, {}",
        count(n(passed), "passou", "passaram"),
        count(n(failed), "falhou", "falharam"),
        count(n(unknown), "incerto", "incertos")
    )
}

/// Writes to stdout; a reader that left (`| head`) is not an error, a full disk is.
pub fn print(text: &str) -> Result<()> {
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output {
            what: "standard output".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}
