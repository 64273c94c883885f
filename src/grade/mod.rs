//! `ipc_desafio grade`: judges any Desafio 01 submission, in any language, by what its
//! processes do. Each submission is run several times in fresh scratch copies of its folder,
//! traced by `ipc_sys::trace` inside a box (`sandbox`), and provoked: its log writers are
//! slowed down until they contend, its producer is killed mid-run, its consumer is killed
//! mid-run. `judge` turns what was seen into ten verdicts with evidence; `class` grades a whole
//! class on `task_pool`.
//!
//! Modules: `cli` (flags, grade.toml), `run` (one run: scratch copy, box, tracer, records),
//! `scenario` (the interventions), `model` (tree, roles, flows), `values` (decoding what crossed
//! the channel), `classify` (reading what the consumer recorded), `judge` (the verdicts),
//! `report` (text and JSON), `class` (CSV and HTML), `scratch` (the scratch folders, and those
//! of killed gradings). Every run happens in `ipc_sys::sandbox`'s box; `check_sandbox` refuses
//! a weaker box before anything is graded, unless allowed.

pub mod class;
pub mod classify;
pub mod cli;
pub mod error;
pub mod judge;
pub mod model;
pub mod report;
pub mod run;
pub mod scenario;
pub mod scratch;
pub mod values;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipc_sys::sandbox::{Policy, Protection, Sandbox};

use crate::desafio::lang::Lang;

pub use error::{Error, Result};
use judge::{Criterion, Runs, Verdict};
use run::{Outcome, Spec};
use scenario::{Fault, Scenario, Target};

/// How long each process is held at each of its first writes to the shared log.
const LOCK_HOLD: Duration = Duration::from_millis(150);
/// Writes held per process in the contention run.
const LOCK_HOLDS: u32 = 3;
/// How long the consumer (eof) or producer (epipe) is watched after the other side died.
const FAULT_WATCH: Duration = Duration::from_millis(2500);
/// The producer's write at which the fault runs act.
const FAULT_WRITE: u32 = 3;

/// The grading of one submission.
#[derive(Debug)]
pub struct Graded {
    pub command: Vec<String>,
    pub times: u32,
    pub criteria: Vec<Criterion>,
    pub elapsed: Duration,
    /// Scratch copies kept (`--keep`).
    pub kept: Vec<PathBuf>,
    pub sandbox: Vec<String>,
    pub missing: Vec<String>,
    /// Each run's scenario and wall time, in order.
    pub run_times: Vec<(&'static str, Duration)>,
}

impl Graded {
    pub fn count(&self, v: Verdict) -> usize {
        self.criteria.iter().filter(|c| c.verdict == v).count()
    }
}

/// What every run of a submission gets besides its command and folder.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    /// Its environment besides HOME (see `cli::Options::env`).
    pub env: &'a [(String, String)],
    /// The sandbox protections it may run without.
    pub skip: &'a [Protection],
}

/// Grades the submission in `dir` run as `command`.
pub fn grade(
    dir: &Path,
    command: &[String],
    times: u32,
    timeout: Duration,
    keep: bool,
    lang: Lang,
    setup: Setup<'_>,
) -> Result<Graded> {
    let started = Instant::now();
    let Setup { env, skip } = setup;
    let spec = |scenario| Spec {
        argv: command,
        source: dir,
        timeout,
        keep,
        env,
        scenario,
        skip,
    };
    let mut normal: Vec<Outcome> = Vec::new();
    for i in 0..times {
        let out = run::run(&spec(Scenario::Plain))?;
        if i == 0 {
            refused_tracing(&out)?;
            if !out.model.started() {
                normal.push(out);
                break;
            }
        }
        normal.push(out);
    }
    let reference = normal.iter().find(|r| r.model.roles.is_some());
    // The shared log needs no roles: processes that talk through shared memory may still
    // share a log, and contend for it.
    let log = reference.or(normal.first()).and_then(judge::shared_log_of);
    let lock = match &log {
        Some(log) => Some(run::run(&spec(Scenario::Lock {
            log: log.clone(),
            per_process: LOCK_HOLDS,
            hold: LOCK_HOLD,
        }))?),
        None => None,
    };
    let mut k = FAULT_WRITE;
    let (mut eof, mut epipe) = (None, None);
    if let Some(r) = reference.and_then(|o| o.model.roles.as_ref().map(|r| (o, r))) {
        let (out, roles) = r;
        let lineage = |pid: i32| {
            out.model
                .procs
                .get(&pid)
                .map(|p| p.lineage.clone())
                .unwrap_or_default()
        };
        let producer = Target {
            lineage: lineage(roles.producer),
            fd: roles.flow.write_fd,
        };
        let consumer = Target {
            lineage: lineage(roles.consumer),
            fd: roles.flow.read_fd,
        };
        // The middle of the run, at most the third write. A producer that batches its values
        // may write fewer times in another run: then the fault run is made again, acting at its
        // first write.
        k = (roles.flow.writes as u32 / 2).clamp(1, FAULT_WRITE);
        let fault = |eof: bool, k: u32| {
            let f = Fault {
                producer: producer.clone(),
                consumer: consumer.clone(),
                k,
                watch: FAULT_WATCH,
            };
            run::run(&spec(if eof {
                Scenario::Eof(f)
            } else {
                Scenario::Epipe(f)
            }))
        };
        for is_eof in [true, false] {
            let mut out = fault(is_eof, k)?;
            if !held(&out) && k > 1 {
                out = fault(is_eof, 1)?;
            }
            if is_eof {
                eof = Some(out);
            } else {
                epipe = Some(out);
            }
        }
    }
    let runs = Runs {
        normal: &normal,
        lock: lock.as_ref(),
        eof: eof.as_ref(),
        epipe: epipe.as_ref(),
        log,
        k,
    };
    let criteria = judge::judge(&runs, lang);
    let all: Vec<&Outcome> = normal
        .iter()
        .chain(lock.iter())
        .chain(eof.iter())
        .chain(epipe.iter())
        .collect();
    let kept = all
        .iter()
        .filter(|o| o.kept)
        .filter_map(|o| o.scratch.parent().map(Path::to_path_buf))
        .collect();
    let missing = normal
        .first()
        .map(|o| {
            o.missing
                .iter()
                .map(|m| format!("{} ({})", m.protection, m.reason))
                .collect()
        })
        .unwrap_or_default();
    let run_times = all.iter().map(|o| (o.scenario.name(), o.elapsed)).collect();
    Ok(Graded {
        run_times,
        command: command.to_vec(),
        times,
        criteria,
        elapsed: started.elapsed(),
        kept,
        sandbox: judge::sandbox_lines(lang, &all),
        missing,
    })
}

/// Whether a fault run reached the producer's chosen write (and acted there).
pub(crate) fn held(out: &Outcome) -> bool {
    out.model.records.iter().any(|r| {
        matches!(
            r.event,
            ipc_sys::trace::Event::Intervention(ipc_sys::trace::Intervention::Held { .. })
        )
    })
}

/// The kernel or the container refused ptrace: nothing can be observed.
fn refused_tracing(out: &Outcome) -> Result<()> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The tracer says so in a note when PTRACE_SEIZE is refused.
    let note = out.model.records.iter().find_map(|r| match &r.event {
        ipc_sys::trace::Event::Note { text } if text.contains("cannot be traced") => {
            Some(text.as_str())
        }
        _ => None,
    });
    if let Some(line) = note.or_else(|| stderr.lines().find(|l| l.contains("cannot be traced"))) {
        return Err(Error::NoTracing(format!(
            "grade needs ptrace, which is refused here ({}): allow it (kernel.yama.ptrace_scope 0 or 1; in a container, no seccomp profile that forbids ptrace)",
            line.trim_start_matches("error: ")
        )));
    }
    Ok(())
}

/// Builds a trial box before anything is graded: with a protection missing, refuses (one
/// `error:` line, exit 2) unless a weaker box is allowed; the reports name what is missing.
fn check_sandbox(options: &cli::Options) -> Result<()> {
    // Named as a scratch folder of this grade, so that the next grade removes it if this one
    // is killed meanwhile.
    let dir = scratch::create(false)?;
    let mut policy = Policy::new(dir.path());
    policy.skip = options.sandbox_skip.clone();
    let sandbox = Sandbox::prepare(policy)?;
    if sandbox.missing().is_empty() || !options.require_sandbox {
        return Ok(());
    }
    let lacks: Vec<String> = sandbox.missing().iter().map(|m| m.to_string()).collect();
    Err(Error::WeakSandbox(format!(
        "the sandbox here lacks {} ({}): grading needs every protection when run as root or with --require sandbox; --allow-weaker-sandbox grades without them",
        sandbox
            .missing()
            .iter()
            .map(|m| m.protection.key())
            .collect::<Vec<_>>()
            .join(", "),
        lacks.join("; ")
    )))
}

/// `grade` from the command line: one submission or a class. Returns the exit code.
pub fn main(options: cli::Options) -> Result<u8> {
    ipc_sys::signal::install_interrupt_handlers()?;
    // Scratch copies of gradings killed before they could remove them.
    scratch::sweep(&std::env::temp_dir());
    if options.merge.is_some() {
        return class::merge(&options);
    }
    check_sandbox(&options)?;
    if options.class.is_some() {
        return class::grade_class(&options);
    }
    let graded = grade(
        &options.dir,
        &options.command,
        options.times,
        options.timeout,
        options.keep,
        options.lang,
        Setup {
            env: &options.env,
            skip: &options.sandbox_skip,
        },
    )?;
    let text = if options.json {
        report::json(&graded)
    } else {
        report::text(&graded, options.lang)
    };
    report::print(&text)?;
    Ok(if graded.count(Verdict::Fail) > 0 {
        error::EXIT_FAILURE
    } else {
        0
    })
}
