//! The `task_pool` command line: `task_pool [OPTIONS] -- CMD …` runs commands (see `command`);
//! `task_pool [demo] [--workers N] [--tasks N | --task JOB[:ARG]…] …` runs the built-in demo
//! jobs and prints a table of their outcomes.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use ipc_cli::{EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED, Failure, Parsed, parse_between};

use super::{Error, Partial, Pool, PoolConfig, Stopped, Task, command, demo};

/// Largest `--tasks`: the demo keeps one report per task for its table.
pub const MAX_TASKS: u64 = 100_000;

#[derive(Debug, Parser)]
#[command(
    name = "task_pool",
    version,
    about = "A process pool with per-task timeouts and callbacks that survives crashes",
    override_usage = "task_pool [OPTIONS] -- CMD [ARG...] [::: INPUT...]   (run commands; see --help-commands)\n       task_pool [demo] [DEMO OPTIONS]                       (the built-in demo jobs)",
    after_help = "Demo jobs: sleep[:MS], compute[:N], fail, panic, abort, overrun[:MS], stubborn[:MS], bad-callback[:MS],\n\
                  slow-callback[:MS] (its callback holds the dispatcher for MS).\n\
                  Without --task, --tasks N cycles through sleep:200, compute:1000000, fail, panic, overrun,\n\
                  sleep:100, bad-callback:50, abort, compute:10, sleep:50 (stubborn only with --task).\n\
                  Example: task_pool --workers 4 --task sleep:300 --task overrun --timeout 500 --joblog jobs.tsv\n\n\
                  Running commands: task_pool -j 4 --timeout 10s -- gzip -9 {} ::: *.log\n\
                  (options: -j/--jobs, --timeout DUR, --grace DUR, --joblog FILE, --retries K, -k/--keep-order;\n\
                  task_pool --help-commands for the details)\n\n\
                  Exit codes: 0 done, 1 a failure, 2 bad input, 130 interrupted (SIGINT/SIGTERM),\n\
                  141 standard output closed."
)]
pub struct DemoArgs {
    /// Worker processes in the pool
    #[arg(long, value_name = "N", default_value = "10", value_parser = |s: &str| parse_between(s, "--workers", 1, 256), allow_negative_numbers = true)]
    workers: u64,
    /// How many demo tasks to run, cycling through the rotation below (ignored with --task)
    #[arg(long, value_name = "N", default_value = "10", value_parser = |s: &str| parse_between(s, "--tasks", 1, MAX_TASKS), allow_negative_numbers = true)]
    tasks: u64,
    /// Run exactly these tasks, in order: JOB or JOB:ARG (repeatable)
    #[arg(long = "task", value_name = "JOB[:ARG]", value_parser = |s: &str| demo::parse_spec(s).map(|_| s.to_string()))]
    task: Vec<String>,
    /// Per-task timeout in milliseconds
    #[arg(long, value_name = "MS", default_value = "1000", value_parser = |s: &str| parse_between(s, "--timeout (milliseconds)", 1, demo::MAX_MS), allow_negative_numbers = true)]
    timeout: u64,
    /// Between SIGTERM and SIGKILL for a task that overran its timeout, in milliseconds
    #[arg(long, value_name = "MS", default_value = "500", value_parser = |s: &str| parse_between(s, "--grace-ms", 0, demo::MAX_MS), allow_negative_numbers = true)]
    grace_ms: u64,
    /// Write one tab-separated line per task here
    #[arg(long, value_name = "FILE")]
    joblog: Option<PathBuf>,
    /// Show how to run commands (task_pool [OPTIONS] -- CMD ...)
    #[arg(long)]
    help_commands: bool,
}

/// The whole `main` of the binary.
pub fn main() -> ExitCode {
    // First of all, so that a Ctrl+C or a SIGTERM that comes while the program starts is seen
    // (the run then ends at once with its summary and exit 130) instead of killing it with no
    // word. Only the instants before `main` (the process's start-up) remain a default death.
    if let Err(e) = ipc_sys::signal::install_interrupt_handlers() {
        ipc_cli::report(&e);
        return ExitCode::from(ipc_cli::EXIT_FAILURE);
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = if args.get(1).is_some_and(|a| a == "demo") {
        let mut rest = args.clone();
        rest.remove(1);
        run_parsed::<DemoArgs>(rest, run_demo)
    } else if let Some(split) = args.iter().position(|a| a == "--") {
        let (options, cmd) = args.split_at(split);
        let cmd = cmd[1..].to_vec();
        run_parsed::<command::CommandArgs>(options.to_vec(), |opts| command::run(opts, cmd))
    } else if let Some(message) = forgotten_dashes(&args) {
        ipc_cli::report(&message);
        ipc_cli::EXIT_USAGE
    } else {
        run_parsed::<DemoArgs>(args, run_demo)
    };
    ExitCode::from(code)
}

/// The usage line an error without `--` ends with.
const USAGE: &str =
    "usage: task_pool [OPTIONS] -- CMD [ARG...] [::: INPUT...], or task_pool [demo] [DEMO OPTIONS]";

/// For a command line without `--` that the demo refuses: what the user most likely meant,
/// as one error message — a command (or a command's option) that must follow `--`, or a flag
/// that neither mode knows — with the usage line. `None` if the demo takes it.
fn forgotten_dashes(args: &[OsString]) -> Option<String> {
    let error = DemoArgs::try_parse_from(args).err()?;
    if !error.use_stderr() {
        return None;
    }
    let words: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // The first word that starts a command: not a flag, and not the value of the flag before it.
    let takes_value = |w: &str| {
        let name = w.split_once('=').map_or(w, |(n, _)| n);
        !w.contains('=')
            && DemoArgs::command()
                .get_arguments()
                .chain(command::CommandArgs::command().get_arguments())
                .any(|a| {
                    a.get_action().takes_values()
                        && (a.get_long().is_some_and(|l| name == format!("--{l}"))
                            || a.get_short().is_some_and(|s| name == format!("-{s}")))
                })
    };
    let mut i = 0;
    let mut command_at = None;
    while i < words.len() {
        let w = &words[i];
        if !w.starts_with('-') || w == "-" {
            command_at = Some(i);
            break;
        }
        i += if takes_value(w) { 2 } else { 1 };
    }
    let shown = |ws: &[String]| ws.join(" ");
    if let Some(at) = command_at {
        let (options, command) = words.split_at(at);
        let options = if options.is_empty() {
            String::new()
        } else {
            format!("{} ", shown(options))
        };
        return Some(format!(
            "'{}' is not a demo option: a command must follow '--' (task_pool {options}-- {}); {USAGE}",
            words[at],
            shown(command)
        ));
    }
    let unknown = words
        .iter()
        .find(|w| w.starts_with('-') && !known_demo_flag(w))
        .cloned()
        .unwrap_or_default();
    if command::is_command_option(&unknown) {
        return Some(format!(
            "{unknown} is an option for running a command, which must follow '--' (task_pool {unknown} ... -- CMD ...); {USAGE}"
        ));
    }
    let first = ipc_cli::first_line(&error.to_string());
    Some(format!("{first}; {USAGE}"))
}

/// Whether `word` is one of the demo's flags.
fn known_demo_flag(word: &str) -> bool {
    let name = word.split_once('=').map_or(word, |(n, _)| n);
    DemoArgs::command().get_arguments().any(|a| {
        a.get_long().is_some_and(|l| name == format!("--{l}"))
            || a.get_short().is_some_and(|s| name == format!("-{s}"))
    }) || matches!(name, "-h" | "--help" | "-V" | "--version")
}

fn run_parsed<P: Parser>(args: Vec<OsString>, run: impl FnOnce(P) -> Result<u8, Error>) -> u8 {
    match ipc_cli::parse::<P, _, _>(args) {
        Parsed::Run(parsed) => run(parsed).unwrap_or_else(|e| {
            ipc_cli::report(&e);
            e.exit_code()
        }),
        Parsed::Exit(code) => code,
    }
}

/// Lines for stdout, each in one write; the first failure is kept and nothing more is written.
pub(crate) struct Out {
    pub failed: Option<io::Error>,
}

impl Out {
    pub fn new() -> Out {
        Out { failed: None }
    }

    pub fn line(&mut self, line: &str) {
        if self.failed.is_none()
            && let Err(e) = io::stdout().write_all(format!("{line}\n").as_bytes())
        {
            self.failed = Some(e);
        }
    }

    pub fn closed(&self) -> bool {
        self.failed
            .as_ref()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    }
}

fn run_demo(args: DemoArgs) -> Result<u8, Error> {
    if args.help_commands {
        return command::print_help();
    }
    let config = PoolConfig {
        workers: args.workers as usize,
        grace: Duration::from_millis(args.grace_ms),
        joblog: args.joblog,
        announce: true,
    };
    let timeout = Duration::from_millis(args.timeout);
    // Streamed, not collected: --tasks may be large, and only the reports are kept.
    let specs: Box<dyn Iterator<Item = String>> = if args.task.is_empty() {
        Box::new(
            (0..args.tasks as usize).map(|i| demo::ROTATION[i % demo::ROTATION.len()].to_string()),
        )
    } else {
        Box::new(args.task.into_iter())
    };
    // Ctrl+C (to the whole group) or SIGTERM (to main alone) winds the pool down: a flag (set
    // up first thing in `main`), acted on by `push` and `stop`.
    let mut pool = Pool::start(config, demo::Demo)?;
    let mut out = Out::new();
    out.line(&format!(
        "pool: dispatcher {}, {} worker{}",
        pool.dispatcher_pid(),
        args.workers,
        if args.workers == 1 { "" } else { "s" }
    ));
    for spec in specs {
        let task = demo::parse_spec(&spec).map_err(Error::Usage)?;
        match pool.push(Task::new(timeout, task)) {
            Ok(_) => {}
            Err(Error::Interrupted { .. } | Error::DispatcherGone) => break,
            Err(e) => return Err(e),
        }
    }
    let result = if ipc_sys::signal::interrupted().is_some() {
        pool.wind_down()
    } else {
        pool.stop()
    };
    let (stopped, interrupted) = match result {
        Ok(stopped) => {
            let by =
                ipc_sys::signal::interrupted().map(|s| format!("interrupted by {}", s.as_str()));
            (stopped, by)
        }
        Err(Error::Interrupted { signal, partial }) => {
            let by = match signal.or_else(ipc_sys::signal::interrupted) {
                Some(s) => format!("interrupted by {}", s.as_str()),
                None => "interrupted (the dispatcher was told to stop)".to_string(),
            };
            (partial.take(), Some(by))
        }
        Err(Error::OutputClosed) => return Ok(EXIT_OUTPUT_CLOSED),
        Err(Error::DispatcherFailed { why, partial }) => {
            print_table(&mut out, &partial.take(), None);
            return Err(Error::DispatcherFailed {
                why,
                partial: Partial::default(),
            });
        }
        Err(e) => return Err(e),
    };
    print_table(&mut out, &stopped, interrupted.as_deref());
    match out.failed {
        Some(_) if out.closed() => Ok(EXIT_OUTPUT_CLOSED),
        Some(e) => Err(Error::Output(e)),
        None if interrupted.is_some() => Ok(EXIT_INTERRUPTED),
        None => Ok(0),
    }
}

/// The table of reports and the summary line (`interrupted by …: ` first if it was).
fn print_table(out: &mut Out, stopped: &Stopped, interrupted: Option<&str>) {
    let reports = &stopped.reports;
    out.line(&format!(
        "\n{:<5} {:<13} {:>7} {:>9}  outcome",
        "task", "job", "worker", "runtime"
    ));
    for r in reports {
        let note = if r.callback_panicked {
            " (callback panicked)"
        } else {
            ""
        };
        let worker = if r.worker == 0 {
            "-".to_string()
        } else {
            r.worker.to_string()
        };
        out.line(&format!(
            "{:<5} {:<13} {:>7} {:>7.3} s  {}{note}",
            r.id,
            r.job,
            worker,
            r.runtime.as_secs_f64(),
            r.outcome
        ));
    }
    let not_started = reports.iter().filter(|r| r.worker == 0).count();
    let count = |kind: &str| {
        reports
            .iter()
            .filter(|r| r.worker != 0 && r.outcome.kind() == kind)
            .count()
    };
    let panicked = reports.iter().filter(|r| r.callback_panicked).count();
    let prefix = interrupted.map(|i| format!("{i}: ")).unwrap_or_default();
    let not_started = if not_started > 0 {
        format!(", not started {not_started}")
    } else {
        String::new()
    };
    out.line(&format!(
        "\n{prefix}tasks {}: ok {}, failed {}, timed out {}, crashed {}{not_started}; callbacks {} ({} panicked)",
        reports.len(),
        count("ok"),
        count("failed"),
        count("timed-out"),
        count("crashed"),
        reports.len(),
        panicked
    ));
    for w in &stopped.workers {
        out.line(&w.describe());
    }
}
