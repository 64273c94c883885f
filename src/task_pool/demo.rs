//! The demo jobs of the `task_pool` binary: one of each outcome.

use std::time::Duration;

use super::{Job, Outcome, Registry};

fn ms(args: &[String], default: u64) -> u64 {
    args.first().and_then(|a| a.parse().ok()).unwrap_or(default)
}

/// Prints its callbacks, so the demo shows where (in the dispatcher) they run.
struct Demo {
    name: &'static str,
    run: fn(&[String]) -> Result<String, String>,
    panicking_callback: bool,
}

impl Job for Demo {
    fn run(&self, args: &[String]) -> Result<String, String> {
        (self.run)(args)
    }

    fn callback(&self, task: u64, output: &str) {
        if self.panicking_callback {
            panic!("the callback of task {task} panics on purpose");
        }
        println!("callback: task {task} ({}) -> {output}", self.name);
    }

    fn error_callback(&self, task: u64, outcome: &Outcome) {
        println!("error_callback: task {task} ({}) -> {outcome}", self.name);
    }
}

fn sleep(args: &[String]) -> Result<String, String> {
    let ms = ms(args, 200);
    std::thread::sleep(Duration::from_millis(ms));
    Ok(format!("slept {ms} ms"))
}

fn compute(args: &[String]) -> Result<String, String> {
    let n = ms(args, 1_000_000);
    let sum: u128 = (0..n as u128).map(|i| i * i).sum();
    Ok(format!("sum of squares below {n} = {sum}"))
}

fn fail(_: &[String]) -> Result<String, String> {
    Err("failing on purpose".into())
}

fn crash(_: &[String]) -> Result<String, String> {
    panic!("a job that panics takes its worker down");
}

fn abort(_: &[String]) -> Result<String, String> {
    std::process::abort()
}

fn stubborn(args: &[String]) -> Result<String, String> {
    // Ignores the polite SIGTERM of a timeout: only the SIGKILL after the grace period stops it.
    ipc_sys::signal::block_interrupts().map_err(|e| e.to_string())?;
    overrun(args)
}

fn overrun(args: &[String]) -> Result<String, String> {
    std::thread::sleep(Duration::from_millis(ms(args, 60_000)));
    Ok("overran but finished".into())
}

/// `sleep[:MS]`, `compute[:N]`, `fail`, `panic`, `abort`, `overrun[:MS]`, `stubborn[:MS]`,
/// `bad-callback[:MS]`.
pub fn registry() -> Registry {
    let mut r = Registry::default();
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
        ("bad-callback", sleep, true),
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

/// The default task list of `--tasks N`: the jobs in turn.
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
