//! The demo jobs of the `task_pool` binary: one of each outcome, and the checked parsing of a
//! demo task spec (`JOB[:ARG]`).

use std::io::{self, Write};
use std::time::Duration;

use super::{Job, Outcome, Registry};

/// Longest sleep a demo job takes (`sleep:MS`, `overrun:MS`, …): an hour.
pub const MAX_MS: u64 = 3_600_000;
/// Largest `compute:N`: ten billion terms (seconds of work in a release build).
pub const MAX_TERMS: u64 = 10_000_000_000;

/// How a demo job reads its one optional argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Millis(u64),
    Terms(u64),
}

/// The argument a job takes, its default, and its bound.
fn arg_kind(job: &str) -> Option<Arg> {
    Some(match job {
        "sleep" => Arg::Millis(200),
        "compute" => Arg::Terms(1_000_000),
        "fail" | "panic" | "abort" => Arg::None,
        "overrun" | "stubborn" => Arg::Millis(60_000),
        "bad-callback" | "slow-callback" => Arg::Millis(200),
        _ => return None,
    })
}

/// The job's argument, checked: a number within its bound, or none for jobs that take none.
fn number(job: &str, args: &[String]) -> Result<u64, String> {
    let kind = arg_kind(job).ok_or_else(|| format!("unknown job '{job}'"))?;
    let (default, max, what) = match kind {
        Arg::None if args.is_empty() => return Ok(0),
        Arg::None => return Err(format!("'{job}' takes no argument")),
        Arg::Millis(d) => (d, MAX_MS, "a duration in milliseconds"),
        Arg::Terms(d) => (d, MAX_TERMS, "a number of terms"),
    };
    match args {
        [] => Ok(default),
        [arg] => ipc_cli::parse_between(arg, &format!("the argument of '{job}' ({what})"), 0, max),
        _ => Err(format!("'{job}' takes one argument")),
    }
}

/// A demo task spec, `JOB` or `JOB:ARG`, checked: the job exists and its argument is valid.
/// Returns the job's name and its arguments.
pub fn parse_spec(spec: &str) -> Result<(String, Vec<String>), String> {
    let (job, args) = match spec.split_once(':') {
        Some((job, arg)) => (job, vec![arg.to_string()]),
        None => (spec, Vec::new()),
    };
    if arg_kind(job).is_none() {
        let registry = registry();
        let known: Vec<&str> = registry.names().collect();
        return Err(format!("unknown job '{job}' (known: {})", known.join(", ")));
    }
    number(job, &args)?;
    Ok((job.to_string(), args))
}

/// Prints its callbacks, so the demo shows where (in the dispatcher) they run.
struct Demo {
    name: &'static str,
    run: fn(&[String]) -> Result<String, String>,
    panicking_callback: bool,
}

/// `slow-callback:MS`: the job returns at once, its callback takes MS — in the dispatcher, which
/// meanwhile hands out nothing and reads no result (the article's warning about callbacks).
struct SlowCallback;

impl Job for SlowCallback {
    /// The output is the callback's duration, in milliseconds.
    fn run(&self, args: &[String]) -> Result<String, String> {
        number("slow-callback", args).map(|ms| ms.to_string())
    }

    fn callback(&self, task: u64, output: &str) {
        let ms = output.parse().unwrap_or(0);
        std::thread::sleep(Duration::from_millis(ms));
        say(format!(
            "callback: task {task} (slow-callback) -> held the dispatcher {ms} ms"
        ));
    }
}

/// One line on stdout in one write. A closed or full stdout is not the callback's business: the
/// line is lost, the pool goes on (the dispatcher notices a closed stdout itself).
fn say(line: String) {
    let _ = io::stdout().write_all(format!("{line}\n").as_bytes());
}

impl Job for Demo {
    fn run(&self, args: &[String]) -> Result<String, String> {
        (self.run)(args)
    }

    fn callback(&self, task: u64, output: &str) {
        if self.panicking_callback {
            panic!("the callback of task {task} panics on purpose");
        }
        say(format!("callback: task {task} ({}) -> {output}", self.name));
    }

    fn error_callback(&self, task: u64, outcome: &Outcome) {
        say(format!(
            "error_callback: task {task} ({}) -> {outcome}",
            self.name
        ));
    }
}

fn sleep(args: &[String]) -> Result<String, String> {
    let ms = number("sleep", args)?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(format!("slept {ms} ms"))
}

fn compute(args: &[String]) -> Result<String, String> {
    let n = number("compute", args)?;
    let sum: u128 = (0..u128::from(n)).map(|i| i * i).sum();
    Ok(format!("sum of squares below {n} = {sum}"))
}

fn fail(args: &[String]) -> Result<String, String> {
    number("fail", args)?;
    Err("failing on purpose".into())
}

fn crash(_: &[String]) -> Result<String, String> {
    panic!("a job that panics takes its worker down");
}

fn abort(_: &[String]) -> Result<String, String> {
    std::process::abort()
}

fn stubborn(args: &[String]) -> Result<String, String> {
    let ms = number("stubborn", args)?;
    // Ignores the polite SIGTERM of a timeout: only the SIGKILL after the grace period stops it.
    ipc_sys::signal::block_interrupts().map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok("overran but finished".into())
}

fn overrun(args: &[String]) -> Result<String, String> {
    let ms = number("overrun", args)?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok("overran but finished".into())
}

fn bad_callback(args: &[String]) -> Result<String, String> {
    let ms = number("bad-callback", args)?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(format!("slept {ms} ms"))
}

/// `sleep[:MS]`, `compute[:N]`, `fail`, `panic`, `abort`, `overrun[:MS]`, `stubborn[:MS]`,
/// `bad-callback[:MS]`, `slow-callback[:MS]`.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.register("slow-callback", SlowCallback);
    for (name, run, panicking_callback) in [
        (
            "sleep",
            sleep as fn(&[String]) -> Result<String, String>,
            false,
        ),
        ("compute", compute, false),
        ("fail", fail, false),
        ("panic", crash, false),
        ("abort", abort, false),
        ("overrun", overrun, false),
        ("stubborn", stubborn, false),
        ("bad-callback", bad_callback, true),
    ] {
        r.register(
            name,
            Demo {
                name,
                run,
                panicking_callback,
            },
        );
    }
    r
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
            Ok(("sleep".into(), vec!["10".into()]))
        );
        assert_eq!(parse_spec("fail"), Ok(("fail".into(), vec![])));
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
        for spec in ROTATION {
            assert!(parse_spec(spec).is_ok(), "{spec}");
        }
    }
}
