//! Desafio 01 — Comunicação entre Processos: main forks a producer and a consumer joined by a
//! pipe; the producer sends distinct random integers and an end marker; the consumer classifies
//! each as even or odd into `consumer_log.txt`; all three append to `execution_log.txt` under an
//! exclusive lock. `verify` audits a run from its two logs.
//!
//! Only `record` knows the text of a log line; only `log` writes the logs; only `wire` knows the
//! bytes on the pipe.

pub mod cli;
pub mod cli_pt;
pub mod consumer;
pub mod error;
pub use ipc_sys::escape;
pub mod lang;
pub mod log;
pub mod options;
pub mod producer;
pub mod record;
pub mod report;
pub mod sample;
pub mod supervisor;
pub mod tally;
pub mod verdict;
pub mod verify;
pub mod wire;

pub use error::{Error, Result};

use std::io::Write;

use cli::{Cli, Command};

/// The whole `main` of the binary: the language first (so that help and errors already speak
/// it), then parsing, then the run. Returns the process exit code.
pub fn main(args: Vec<std::ffi::OsString>) -> u8 {
    let lang = lang::Lang::from_args(&args);
    let parsed = cli_pt::parse(&args, lang);
    match parsed {
        ipc_cli::Parsed::Run(cli) => run(cli, lang),
        ipc_cli::Parsed::Exit(code) => code,
    }
}

/// The result of writing a verdict or a picture to stdout: a closed pipe is the reader's
/// choice; any other failure is an error naming stdout.
pub(crate) fn written(result: std::io::Result<()>) -> Result<(), error::Error> {
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error::Error::from(ipc_sys::Error::Write {
                path: "standard output".into(),
                source: e,
            }))
        }
        _ => Ok(()),
    }
}

/// Runs what the command line asked for and returns the process exit code.
/// Errors are printed here as one `error: ...` line on stderr (`erro: ...` in Portuguese).
pub fn run(cli: Cli, lang: lang::Lang) -> u8 {
    let result = match cli.command {
        Some(Command::Verify(args)) => {
            verify::verify(&args.log_dir, lang, args.audit_only).and_then(|report| {
                // The verdict is the product: one that cannot be written (a full disk) is an
                // error, not a silent pass. A reader that left (`| head`) is not.
                let text = report.render();
                written(std::io::stdout().write_all(escape::terminal_lines(&text).as_bytes()))?;
                Ok(if report.passed() {
                    0
                } else {
                    error::EXIT_FAILURE
                })
            })
        }
        Some(Command::Report(args)) => {
            report::report(&args.log_dir, args.output.as_deref(), lang).map(|()| 0)
        }
        Some(Command::Grade(args)) => {
            return match (*args).into_options(lang).and_then(crate::grade::main) {
                Ok(code) => code,
                Err(e) => {
                    let text = match lang {
                        lang::Lang::En => e.to_string(),
                        lang::Lang::Pt => cli_pt::translate(&e.to_string()),
                    };
                    let _ = writeln!(std::io::stderr(), "{} {text}", lang.pick("error:", "erro:"));
                    e.exit_code()
                }
            };
        }
        None => cli
            .run
            .into_options(lang)
            .and_then(|opts| supervisor::run(&opts)),
    };
    result.unwrap_or_else(|e| {
        let text = match lang {
            lang::Lang::En => e.to_string(),
            lang::Lang::Pt => cli_pt::translate(&e.render(lang)),
        };
        let line = format!(
            "{} {}\n",
            lang.pick("error:", "erro:"),
            escape::terminal(&text)
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        e.exit_code()
    })
}
