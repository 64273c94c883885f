//! The verdicts: each criterion judged pass / fail / unknown from what the runs showed, with
//! the evidence in words a student understands (pids, roles, file:line, calls, times).
//! `unknown` is said where the observation cannot decide; a cause is named only when it was
//! observed.

use std::collections::{BTreeMap, BTreeSet};

use ipc_sys::trace::{Detail, Event, FdTable, InCall, Intervention, LockOp, Object, Status, Sys};
use serde::Serialize;

use crate::desafio::lang::{Lang, count, decimal};

use super::classify::{Class, read_line};
use super::model::{Conduit, Model, Roles};
use super::run::Outcome;
use super::scenario::{
    SNAP_EOF, SNAP_EOF_BUSY, SNAP_EOF_SIGNAL, SNAP_EOF_STARVED, SNAP_EPIPE_BUSY, SNAP_EPIPE_OVER,
    SNAP_EPIPE_STARVED, SNAP_EPIPE_WROTE, SNAP_LEFT,
};

/// Every criterion, in the order of the report (and of the table).
pub const IDS: [&str; 10] = [
    "processes",
    "channel",
    "exchanges",
    "distinct",
    "classified",
    "shared_log",
    "lock",
    "eof",
    "epipe",
    "cleanup",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Unknown,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        }
    }
}

/// A criterion's verdict and its evidence, before `judge` names it (in the order of `IDS`).
type Judged = (Verdict, String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Criterion {
    pub id: &'static str,
    pub verdict: Verdict,
    pub evidence: String,
}

macro_rules! say {
    ($lang:expr, $en:literal, $pt:literal $(, $arg:expr)* $(,)?) => {
        match $lang {
            Lang::En => format!($en $(, $arg)*),
            Lang::Pt => format!($pt $(, $arg)*),
        }
    };
}

mod cleanup;
mod faults;
mod normal;

pub use cleanup::sandbox_lines;
use cleanup::*;
use faults::*;
use normal::*;
pub use normal::{ConsumerLine, Readings, consumer_readings, shared_log_of};

/// `3 writes`, `3 escritas`: a count in the words of `lang` (singular, plural).
fn counted(lang: Lang, n: usize, en: [&str; 2], pt: [&str; 2]) -> String {
    let [one, many] = lang.pick(en, pt);
    count(n as u64, one, many)
}

/// A time since the run began, `+0.16 s` (`+0,16 s` in Portuguese).
fn secs(lang: Lang, us: u64) -> String {
    format!("+{}", dur(lang, us))
}

/// A duration, `0.16 s` (`0,16 s` in Portuguese).
fn dur(lang: Lang, us: u64) -> String {
    format!("{} s", decimal(us as f64 / 1e6, 2, lang))
}

/// The runs of one grading.
pub struct Runs<'a> {
    pub normal: &'a [Outcome],
    pub lock: Option<&'a Outcome>,
    pub eof: Option<&'a Outcome>,
    pub epipe: Option<&'a Outcome>,
    /// The shared log chosen in the reference run (relative path), if any file was written by
    /// two or more processes.
    pub log: Option<String>,
    pub k: u32,
}

/// Names processes as a student would: "main 101", "producer 102", "pid 105 (sleep 300)".
pub struct Namer<'a> {
    lang: Lang,
    model: &'a Model,
    /// (main, producer, consumer)
    roles: Option<(i32, i32, i32)>,
}

impl<'a> Namer<'a> {
    pub fn new(lang: Lang, model: &'a Model) -> Namer<'a> {
        Namer {
            lang,
            model,
            roles: model
                .roles
                .as_ref()
                .map(|r: &Roles| (r.main, r.producer, r.consumer)),
        }
    }

    /// Names the roles given (a fault run's, found by their place in the tree).
    pub fn with(lang: Lang, model: &'a Model, producer: i32, consumer: i32) -> Namer<'a> {
        let main = model.main_of(producer, consumer).unwrap_or(model.root);
        Namer {
            lang,
            model,
            roles: Some((main, producer, consumer)),
        }
    }

    /// Where a process comes in a list: main, producer, consumer, then every other one.
    pub fn rank(&self, pid: i32) -> u8 {
        match self.roles {
            Some((main, _, _)) if pid == main => 0,
            Some((_, producer, _)) if pid == producer => 1,
            Some((_, _, consumer)) if pid == consumer => 2,
            _ => 3,
        }
    }

    pub fn name(&self, pid: i32) -> String {
        let role = match self.rank(pid) {
            0 => Some("main"),
            1 => Some(self.lang.pick("producer", "produtor")),
            2 => Some(self.lang.pick("consumer", "consumidor")),
            _ => None,
        };
        if let Some(role) = role {
            return format!("{role} {pid}");
        }
        let proc = self.model.procs.get(&pid);
        if let Some(p) = proc.filter(|p| p.helper) {
            let joined = p.argv.join(" ");
            let kind = if joined.contains("forkserver") {
                "forkserver"
            } else {
                self.lang.pick("resource tracker", "rastreador de recursos")
            };
            return format!("{kind} {pid}");
        }
        let argv = proc.map(|p| short_argv(&p.argv)).unwrap_or_default();
        if argv.is_empty() {
            format!("pid {pid}")
        } else {
            format!("pid {pid} ({argv})")
        }
    }
}

/// The first words of a command line, cut at 40 characters.
pub fn short_argv(argv: &[String]) -> String {
    let mut s = argv
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 {
                a.rsplit('/').next().unwrap_or(a).to_string()
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    if s.chars().count() > 40 {
        s = s.chars().take(39).collect::<String>() + "…";
    }
    s
}

fn status_text(lang: Lang, s: Status) -> String {
    let (exited, killed) = lang.pick(("exit", "killed by"), ("saída", "morto por"));
    s.worded(exited, killed)
}

fn conduit_text(lang: Lang, c: &Conduit, model: &Model) -> String {
    match c {
        Conduit::Pipe(ino) => say!(
            lang,
            "anonymous pipe pipe:[{}]",
            "pipe anônimo pipe:[{}]",
            ino
        ),
        Conduit::Socket(ino) => {
            let peer = model.peers.get(ino).copied().unwrap_or(0);
            say!(
                lang,
                "socket pair socket:[{}]–socket:[{}]",
                "par de sockets socket:[{}]–socket:[{}]",
                ino,
                peer
            )
        }
        Conduit::Fifo(path) => format!("FIFO {}", base(path)),
    }
}

fn base(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn ordinal(lang: Lang, k: u32) -> String {
    match lang {
        Lang::En => match k {
            1 => "1st".into(),
            2 => "2nd".into(),
            3 => "3rd".into(),
            k => format!("{k}th"),
        },
        Lang::Pt => format!("{k}ª"),
    }
}

/// All ten verdicts.
pub fn judge(runs: &Runs<'_>, lang: Lang) -> Vec<Criterion> {
    let reference = runs
        .normal
        .iter()
        .find(|r| r.model.roles.is_some())
        .or(runs.normal.first());
    let Some(reference) = reference else {
        return IDS
            .iter()
            .map(|id| Criterion {
                id,
                verdict: Verdict::Unknown,
                evidence: say!(lang, "no run was made", "nenhuma execução foi feita"),
            })
            .collect();
    };
    if !reference.model.started() {
        let why = String::from_utf8_lossy(&reference.stderr)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        let evidence = say!(
            lang,
            "the command did not start: {}",
            "o comando não começou: {}",
            if why.is_empty() {
                status_or(lang, &reference.model)
            } else {
                why
            }
        );
        return IDS
            .iter()
            .map(|id| criterion(id, Verdict::Fail, evidence.clone()))
            .collect();
    }
    let judged = [
        processes(lang, reference),
        channel(lang, reference),
        exchanges(lang, runs.normal),
        distinct(lang, runs.normal),
        classified(lang, runs.normal),
        shared_log(lang, reference),
        lock(lang, runs),
        eof(lang, runs),
        epipe(lang, runs),
        cleanup(lang, runs.normal),
    ];
    IDS.iter()
        .zip(judged)
        .map(|(id, (verdict, evidence))| criterion(id, verdict, evidence))
        .collect()
}

fn status_or(lang: Lang, model: &Model) -> String {
    model
        .root_exit()
        .map(|s| status_text(lang, s))
        .unwrap_or_else(|| say!(lang, "no exit seen", "nenhum fim observado"))
}

/// A verdict and its evidence. The evidence quotes what the submission wrote (lines of its
/// files, its command lines): control characters are escaped, so none can act on the
/// terminal, the CSV or the page that shows it, nor split the report's line.
fn criterion(id: &'static str, verdict: Verdict, evidence: String) -> Criterion {
    Criterion {
        id,
        verdict,
        evidence: crate::desafio::escape::terminal(&evidence).into_owned(),
    }
}
