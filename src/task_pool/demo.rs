//! The demo jobs of the `task_pool` binary: one of each outcome, and the checked parsing of a
//! demo task spec (`JOB[:ARG]`).

use std::io::{self, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Job, Outcome};

/// Longest sleep a demo job takes (`sleep:MS`, `overrun:MS`, …): an hour.
pub const MAX_MS: u64 = 3_600_000;
/// Largest `compute:N`: ten billion terms (seconds of work in a release build).
pub const MAX_TERMS: u64 = 10_000_000_000;

/// The demo's kinds of task: one of each outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Abort,
    BadCallback,
    Compute,
    Fail,
    Overrun,
    Panic,
    Sleep,
    SlowCallback,
    Stubborn,
}

/// How a demo job reads its one optional argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Millis(u64),
    Terms(u64),
}

impl Kind {
    /// Each kind with its name, in the enum's order (`name` indexes it) and the names' order
    /// (the order `unknown job` lists them in).
    const ALL: [(Kind, &'static str); 9] = [
        (Kind::Abort, "abort"),
        (Kind::BadCallback, "bad-callback"),
        (Kind::Compute, "compute"),
        (Kind::Fail, "fail"),
        (Kind::Overrun, "overrun"),
        (Kind::Panic, "panic"),
        (Kind::Sleep, "sleep"),
        (Kind::SlowCallback, "slow-callback"),
        (Kind::Stubborn, "stubborn"),
    ];

    pub fn name(self) -> &'static str {
        Kind::ALL[self as usize].1
    }

    /// The argument it takes, its default, and its bound.
    fn arg(self) -> Arg {
        match self {
            Kind::Sleep => Arg::Millis(200),
            Kind::Compute => Arg::Terms(1_000_000),
            Kind::Fail | Kind::Panic | Kind::Abort => Arg::None,
            Kind::Overrun | Kind::Stubborn => Arg::Millis(60_000),
            Kind::BadCallback | Kind::SlowCallback => Arg::Millis(200),
        }
    }
}

/// A demo task: its kind and its checked argument (milliseconds or terms; 0 when it takes none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoTask {
    pub kind: Kind,
    pub arg: u64,
}

/// A demo task spec, `JOB` or `JOB:ARG`, checked: the job exists and its argument is valid.
pub fn parse_spec(spec: &str) -> Result<DemoTask, String> {
    let (job, arg) = match spec.split_once(':') {
        Some((job, arg)) => (job, Some(arg)),
        None => (spec, None),
    };
    let Some(kind) = ipc_cli::named(&Kind::ALL, job) else {
        let known = ipc_cli::names(&Kind::ALL);
        return Err(format!("unknown job '{job}' (known: {known})"));
    };
    let (default, max, what) = match kind.arg() {
        Arg::None if arg.is_none() => return Ok(DemoTask { kind, arg: 0 }),
        Arg::None => return Err(format!("'{job}' takes no argument")),
        Arg::Millis(d) => (d, MAX_MS, "a duration in milliseconds"),
        Arg::Terms(d) => (d, MAX_TERMS, "a number of terms"),
    };
    let arg = match arg {
        None => default,
        Some(arg) => {
            ipc_cli::parse_between(arg, &format!("the argument of '{job}' ({what})"), 0, max)?
        }
    };
    Ok(DemoTask { kind, arg })
}

/// The demo's job. Its callbacks print, so the demo shows where (in the dispatcher) they run.
pub struct Demo;

/// One line on stdout in one write. A closed or full stdout is not the callback's business: the
/// line is lost, the pool goes on (the dispatcher notices a closed stdout itself).
fn say(line: String) {
    let _ = io::stdout().write_all(format!("{line}\n").as_bytes());
}

impl Job for Demo {
    type In = DemoTask;
    type Out = String;

    fn name(&self, task: &DemoTask) -> &'static str {
        task.kind.name()
    }

    fn run(&self, task: DemoTask) -> Result<String, String> {
        let ms = task.arg;
        let sleep = || std::thread::sleep(Duration::from_millis(ms));
        match task.kind {
            Kind::Sleep | Kind::BadCallback => {
                sleep();
                Ok(format!("slept {ms} ms"))
            }
            Kind::Compute => {
                let sum: u128 = (0..u128::from(ms)).map(|i| i * i).sum();
                Ok(format!("sum of squares below {ms} = {sum}"))
            }
            Kind::Fail => Err("failing on purpose".into()),
            Kind::Panic => panic!("a job that panics takes its worker down"),
            Kind::Abort => std::process::abort(),
            Kind::Overrun => {
                sleep();
                Ok("overran but finished".into())
            }
            Kind::Stubborn => {
                // Ignores the polite SIGTERM of a timeout: only the SIGKILL after the grace
                // period stops it.
                ipc_sys::signal::block_interrupts().map_err(|e| e.to_string())?;
                sleep();
                Ok("overran but finished".into())
            }
            // `slow-callback:MS`: the job returns at once, its callback takes MS — in the
            // dispatcher, which meanwhile hands out nothing and reads no result (the
            // article's warning about callbacks). The output is the callback's duration.
            Kind::SlowCallback => Ok(ms.to_string()),
        }
    }

    fn callback(&self, task: u64, job: &str, output: &String) {
        if job == Kind::SlowCallback.name() {
            let ms = output.parse().unwrap_or(0);
            std::thread::sleep(Duration::from_millis(ms));
            say(format!(
                "callback: task {task} (slow-callback) -> held the dispatcher {ms} ms"
            ));
            return;
        }
        if job == Kind::BadCallback.name() {
            panic!("the callback of task {task} panics on purpose");
        }
        say(format!("callback: task {task} ({job}) -> {output}"));
    }

    fn error_callback(&self, task: u64, job: &str, outcome: &Outcome) {
        if job != Kind::SlowCallback.name() {
            say(format!("error_callback: task {task} ({job}) -> {outcome}"));
        }
    }
}

/// The default task list of `--tasks N`: these ten in turn (every outcome; `stubborn` only
/// with `--task`, since it holds its worker for its whole grace period).
pub const ROTATION: [&str; 10] = [
    "sleep:200",
    "compute:1000000",
    "fail",
    "panic",
    "overrun",
    "sleep:100",
    "bad-callback:50",
    "abort",
    "compute:10",
    "sleep:50",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_checked_not_defaulted() {
        assert_eq!(
            parse_spec("sleep:10"),
            Ok(DemoTask {
                kind: Kind::Sleep,
                arg: 10
            })
        );
        assert_eq!(
            parse_spec("fail"),
            Ok(DemoTask {
                kind: Kind::Fail,
                arg: 0
            })
        );
        assert_eq!(
            parse_spec("compute"),
            Ok(DemoTask {
                kind: Kind::Compute,
                arg: 1_000_000
            })
        );
        for bad in [
            "sleep:abc",
            "sleep:",
            "sleep:1:2",
            "compute:-5",
            "fail:3",
            "nope",
            "sleep:3600001",
            "compute:1e20",
            "",
        ] {
            assert!(parse_spec(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(
            parse_spec("nope"),
            Err(
                "unknown job 'nope' (known: abort, bad-callback, compute, fail, overrun, \
                 panic, sleep, slow-callback, stubborn)"
                    .into()
            )
        );
        for spec in ROTATION {
            assert!(parse_spec(spec).is_ok(), "{spec}");
        }
        for (i, (kind, name)) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(
                (kind as usize, parse_spec(name).map(|t| t.kind)),
                (i, Ok(kind))
            );
        }
    }
}
