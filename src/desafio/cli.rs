//! The Desafio's command line: clap definitions and the conversion into validated options.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ipc_cli::parse_unsigned;

use super::error::Result;
use super::lang::Lang;
use super::options::{Bug, Fault, Pace, RunOptions, parse_bound};

const EXAMPLES: &str = "\
Examples:
  ipc_desafio                          12 distinct values from 1..=100, as the assignment asks
  ipc_desafio --pace 500..1500         the original's random pause between sends
  mkdir -p /tmp/run && ipc_desafio -n 20 --max 1000 --seed 7 --log-dir /tmp/run
  ipc_desafio --pace 50 --fault consumer-exit@3   watch the producer hit EPIPE
  ipc_desafio --fault producer-exit@4 --bug parent-keeps-ends   the classic pipe mistake
  ipc_desafio verify                   audit execution_log.txt and consumer_log.txt
  ipc_desafio report -o run.svg        draw the run (open run.svg in a browser)

Exit codes: 0 ok, 1 run failed or incomplete (a child failed, a value was lost), 2 bad input
(or another run is writing the logs of --log-dir), 130 interrupted (SIGINT/SIGTERM; every value
already sent is still received).";

#[derive(Debug, Parser)]
#[command(
    name = "ipc_desafio",
    version,
    about = "A producer and a consumer process joined by a Unix pipe, with a locked shared log",
    long_about = "Desafio 01 (inter-process communication): main forks a producer and a consumer \
        joined by a Unix pipe. The producer sends distinct random integers and an end marker; the \
        consumer classifies each value as even or odd into consumer_log.txt; all three processes \
        append to execution_log.txt under an exclusive file lock.",
    after_help = EXAMPLES,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit the two logs of a run and grade the assignment's five requirements; exit 0 only
    /// if all is well
    Verify(VerifyArgs),
    /// Draw a run from its two logs: an SVG (or, with -o FILE.html, a web page)
    Report(ReportArgs),
    /// Grade any Desafio 01 submission (any language) by what its processes do: run it, trace
    /// it, kill its producer and its consumer mid-run; ten verdicts with evidence
    Grade(Box<crate::grade::cli::GradeArgs>),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Directory holding execution_log.txt and consumer_log.txt
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub log_dir: PathBuf,

    /// Write the picture here (FILE.html for a web page); default: the SVG on stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Directory holding execution_log.txt and consumer_log.txt
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub log_dir: PathBuf,

    /// Only audit the logs; skip the assignment's rubric (for runs that are lossy or short by
    /// design, e.g. fault demos)
    #[arg(long)]
    pub audit_only: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// How many distinct values the producer sends (at least 1; at most the size of the range)
    #[arg(short = 'n', long, value_name = "N", default_value = "12", value_parser = count_parser, allow_negative_numbers = true)]
    pub count: u64,

    /// Smallest value that may be drawn (non-negative)
    #[arg(long, value_name = "A", default_value = "1", value_parser = parse_bound, allow_negative_numbers = true)]
    pub min: i64,

    /// Largest value that may be drawn, inclusive
    #[arg(long, value_name = "B", default_value = "100", value_parser = parse_bound, allow_negative_numbers = true)]
    pub max: i64,

    /// Seed for the values (and pauses): the same seed gives the same run. Default: random,
    /// and logged in main's first line so any run can be repeated
    #[arg(long, value_name = "S", value_parser = seed_parser, allow_negative_numbers = true)]
    pub seed: Option<u64>,

    /// Pause between sends in milliseconds: a fixed MS, or a random MIN..MAX per value
    /// (e.g. --pace 500..1500 reproduces the original exercise). Default: no pause
    #[arg(long, value_name = "MS|MIN..MAX", allow_negative_numbers = true)]
    pub pace: Option<Pace>,

    /// Directory for execution_log.txt and consumer_log.txt (must exist; both start fresh)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub log_dir: PathBuf,

    /// Do not echo execution-log lines to stdout
    #[arg(short, long)]
    pub quiet: bool,

    /// Inject a fault after K values: consumer-exit@K (consumer closes the pipe, exits cleanly),
    /// producer-exit@K (producer exits without the end marker), consumer-kill@K or
    /// producer-kill@K (the process SIGKILLs itself), main-kill@K (main SIGKILLs itself once K
    /// values are received)
    #[arg(long, value_name = "KIND@K")]
    pub fault: Option<Fault>,

    /// Make a classic mistake on purpose: parent-keeps-ends (EOF and EPIPE can never happen),
    /// lock-before-fork (the lock excludes nobody) or no-lock
    #[arg(long, value_name = "BUG")]
    pub bug: Option<Bug>,

    /// Language of the logs and messages: pt or en (default: from LC_ALL, LC_MESSAGES, LANG)
    #[arg(long, value_name = "pt|en", global = true)]
    pub lang: Option<Lang>,
}

impl Cli {
    /// The command line of a plain run — the defaults, with at most `-q`/`--quiet` and
    /// `--log-dir DIR` (or `--log-dir=DIR`), each once — read without clap: building clap's
    /// `Command` and matching against it cost about as much as the rest of main's work before
    /// its first fork (135 k of main's 727 k instructions, callgrind; benches/README.md).
    /// Anything else, well formed or not, is `None` and goes to clap, so every help text and
    /// every error stays clap's; the tests below hold this parse to clap's.
    pub fn plain(args: &[OsString]) -> Option<Cli> {
        let mut quiet = false;
        let mut log_dir: Option<PathBuf> = None;
        let mut words = args.iter().skip(1);
        while let Some(word) = words.next() {
            match word.to_str()? {
                "-q" | "--quiet" if !quiet => quiet = true,
                "--log-dir" if log_dir.is_none() => {
                    // A value clap would take for a flag (or find empty) is clap's to refuse.
                    let value = words.next()?;
                    if value.is_empty() || value.as_encoded_bytes().starts_with(b"-") {
                        return None;
                    }
                    log_dir = Some(PathBuf::from(value));
                }
                other => {
                    let value = other.strip_prefix("--log-dir=")?;
                    if log_dir.is_some() || value.is_empty() {
                        return None;
                    }
                    log_dir = Some(PathBuf::from(value));
                }
            }
        }
        Some(Cli {
            command: None,
            run: RunArgs {
                count: 12,
                min: 1,
                max: 100,
                seed: None,
                pace: None,
                log_dir: log_dir.unwrap_or_else(|| PathBuf::from(".")),
                quiet,
                fault: None,
                bug: None,
                lang: None,
            },
        })
    }
}

fn count_parser(s: &str) -> Result<u64, String> {
    match parse_unsigned(s, "the count")? {
        0 => Err("the count must be at least 1".into()),
        n => Ok(n),
    }
}

fn seed_parser(s: &str) -> Result<u64, String> {
    parse_unsigned(s, "the seed")
}

impl RunArgs {
    /// The validated options; `lang` is the language chosen before parsing (the locale's when
    /// `--lang` is absent).
    pub fn into_options(self, lang: Lang) -> Result<RunOptions> {
        RunOptions::validate(self, lang, rand::random::<u64>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use ipc_cli::{Parsed, parse};

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_plain_run_reads_as_clap_reads_it_and_anything_else_goes_to_clap() {
        use std::os::unix::ffi::OsStringExt;
        let words = |line: &[&str]| -> Vec<OsString> {
            std::iter::once("ipc_desafio")
                .chain(line.iter().copied())
                .map(OsString::from)
                .collect()
        };
        let plain: [&[&str]; 8] = [
            &[],
            &["--quiet"],
            &["-q"],
            &["--log-dir", "/tmp/x"],
            &["--log-dir=/tmp/x", "-q"],
            &["--quiet", "--log-dir", "verify"],
            &["--log-dir", "a b", "--quiet"],
            &["--log-dir=--quiet"],
        ];
        for line in plain {
            let args = words(line);
            let fast = Cli::plain(&args).unwrap_or_else(|| panic!("{line:?} is plain"));
            let Parsed::Run(slow) = parse::<Cli, _, _>(args.clone()) else {
                panic!("clap refused {line:?}")
            };
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{line:?}");
        }
        let mut odd_bytes = words(&["--log-dir"]);
        odd_bytes.push(OsString::from_vec(b"dir\xff".to_vec()));
        assert!(Cli::plain(&odd_bytes).is_some());
        let for_clap: [&[&str]; 14] = [
            &["--quiet", "--quiet"],
            &["-q", "--quiet"],
            &["-qq"],
            &["--log-dir"],
            &["--log-dir", ""],
            &["--log-dir="],
            &["--log-dir", "-q"],
            &["--log-dir", "a", "--log-dir", "b"],
            &["--log-dir=a", "--log-dir=b"],
            &["-n", "5"],
            &["--lang", "pt"],
            &["verify"],
            &["--help"],
            &["--quiet=yes"],
        ];
        for line in for_clap {
            assert!(Cli::plain(&words(line)).is_none(), "{line:?} is clap's");
        }
    }

    #[test]
    fn defaults_reproduce_the_assignment() {
        let Parsed::Run(cli) = parse::<Cli, _, _>(["ipc_desafio"]) else {
            panic!("defaults must parse")
        };
        let opts = cli.run.into_options(Lang::En).unwrap();
        assert_eq!((opts.count, opts.min, opts.max), (12, 1, 100));
        assert!(opts.pace.is_none() && opts.fault.is_none() && !opts.quiet);
    }
}
