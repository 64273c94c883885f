//! grade's output: the report (one line per criterion with its verdict and evidence, a score
//! line, the sandbox's evidence) and the JSON object, whose shape is an interface:
//! `{"command": [...], "runs": N, "criteria": [{"id", "verdict", "evidence"}], "passed": P,
//! "failed": F, "unknown": U}`.

use std::io::Write;

use serde::Serialize;

use super::Graded;
use super::error::{Error, Result};
use super::judge::{Criterion, Verdict};
use crate::desafio::lang::Lang;

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
    match (v, lang) {
        (Verdict::Pass, Lang::En) => "pass",
        (Verdict::Fail, Lang::En) => "FAIL",
        (Verdict::Unknown, Lang::En) => "unknown",
        (Verdict::Pass, Lang::Pt) => "passou",
        (Verdict::Fail, Lang::Pt) => "FALHOU",
        (Verdict::Unknown, Lang::Pt) => "incerto",
    }
}

pub fn text(g: &Graded, lang: Lang) -> String {
    let mut out = String::new();
    let runs = lang.pick(
        format!(
            "{} normal run(s) + contention and kill runs, {:.1} s",
            g.times,
            g.elapsed.as_secs_f64()
        ),
        format!(
            "{} execução(ões) normais + execuções com disputa e com processos mortos, {:.1} s",
            g.times,
            g.elapsed.as_secs_f64()
        ),
    );
    out.push_str(&format!("grade: {} ({runs})\n", g.command.join(" ")));
    if std::env::var_os("IPC_DESAFIO_GRADE_TIMES").is_some() {
        let times: Vec<String> = g
            .run_times
            .iter()
            .map(|(name, d)| format!("{name} {:.2} s", d.as_secs_f64()))
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
        format!(
            "nota: {p} passaram, {f} falharam, {u} incertos (de {})\n",
            g.criteria.len()
        ),
    ));
    if !g.missing.is_empty() {
        out.push_str(&lang.pick(
            format!("sandbox: missing: {}\n", g.missing.join("; ")),
            format!("sandbox: faltam: {}\n", g.missing.join("; ")),
        ));
    }
    for line in &g.sandbox {
        out.push_str(&format!("sandbox: {line}\n"));
    }
    for k in &g.kept {
        out.push_str(&lang.pick(
            format!("kept: {}\n", k.display()),
            format!("mantida: {}\n", k.display()),
        ));
    }
    out
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
