//! `ipc_desafio grade`'s command line (a subcommand of the Desafio's), and its validation into
//! `Options`. Bad input is one `error:` line and exit 2, before anything is copied or forked.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ipc_cli::{parse_between, parse_duration};
use ipc_sys::sandbox::Protection;
use serde::Deserialize;

use super::error::{Error, Result};
use crate::desafio::lang::Lang;

#[derive(Debug, Args)]
pub struct GradeArgs {
    /// The submission's folder (copied afresh for every run; never written)
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Normal runs (besides the three fault runs: lock contention, producer killed, consumer
    /// killed); 2 or more also checks that values differ between runs
    #[arg(long, value_name = "N", default_value = "3", value_parser = times_parser)]
    pub times: u32,

    /// Time limit of each run; the whole tree is killed when it passes
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = timeout_parser)]
    pub timeout: Duration,

    /// Keep each run's scratch copy (its path is printed) instead of removing it
    #[arg(long)]
    pub keep: bool,

    /// Hand the submission a variable of this environment (NAME) or a value (NAME=VALUE);
    /// repeatable. Otherwise it gets only PATH, LANG and TERM from here and HOME set to its
    /// scratch copy: never the grader's whole environment, which may hold secrets
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,

    /// Print one JSON object instead of the report
    #[arg(long)]
    pub json: bool,

    /// Grade every submission folder of DIR (a class); writes grade.csv and grade.html
    #[arg(long, value_name = "DIR")]
    pub class: Option<PathBuf>,

    /// Build grade.csv and grade.html from the `--json` outputs in DIR (one STUDENT.json per
    /// submission, graded elsewhere: on other machines, in a job array)
    #[arg(long, value_name = "DIR", conflicts_with = "class")]
    pub merge: Option<PathBuf>,

    /// With --class: the command of every submission, `{}` standing for its folder (e.g.
    /// 'python3 {}/ipc.py'); a folder's own grade.toml wins
    #[arg(long, value_name = "COMMAND")]
    pub run: Option<String>,

    /// With --class: submissions graded at once (default: the number of CPUs)
    #[arg(long, value_name = "N", value_parser = jobs_parser)]
    pub jobs: Option<u64>,

    /// With --class or --merge: where grade.csv and grade.html go (default: the current
    /// directory)
    #[arg(short = 'o', long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Refuse to grade unless every run's sandbox has every protection (the default when run as
    /// root); what this machine refuses is named in one error line
    #[arg(long, value_name = "WHAT", value_parser = ["sandbox"])]
    pub require: Option<String>,

    /// Grade even in a sandbox this machine makes weaker (the default for an ordinary user);
    /// every report names what is missing
    #[arg(long, conflicts_with = "require")]
    allow_weaker_sandbox: bool,

    /// Protections the sandbox does not attempt, comma-separated (tests of a weaker box)
    #[arg(long, value_name = "LIST", hide = true, value_parser = skip_parser)]
    pub sandbox_skip: Option<SkipList>,

    /// The submission's command, after `--` (default: the `command` of DIR/grade.toml)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Protections named by their keys (`network,pid-namespace`).
#[derive(Debug, Clone)]
pub struct SkipList(pub Vec<Protection>);

fn skip_parser(s: &str) -> std::result::Result<SkipList, String> {
    s.split(',')
        .map(|k| {
            Protection::from_key(k.trim()).ok_or_else(|| {
                let keys: Vec<&str> = Protection::ALL.iter().map(|p| p.key()).collect();
                format!("'{k}' is not a protection ({})", keys.join(", "))
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(SkipList)
}

fn times_parser(s: &str) -> std::result::Result<u32, String> {
    parse_between(s, "the number of runs", 1, 20).map(|n| n as u32)
}

fn jobs_parser(s: &str) -> std::result::Result<u64, String> {
    parse_between(s, "the number of jobs", 1, 256)
}

fn timeout_parser(s: &str) -> std::result::Result<Duration, String> {
    let d = parse_duration(s, "the timeout", Duration::from_secs(3600))?;
    if d < Duration::from_secs(1) {
        return Err(format!("the timeout must be at least 1s, got '{s}'"));
    }
    Ok(d)
}

/// What to grade, validated.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    /// The command; `None` in class mode (each folder has its own).
    pub command: Vec<String>,
    pub times: u32,
    pub timeout: Duration,
    pub keep: bool,
    /// The submission's environment (besides HOME, its scratch copy): PATH, LANG, TERM, then
    /// every `--env`.
    pub env: Vec<(String, String)>,
    pub json: bool,
    pub lang: Lang,
    pub class: Option<PathBuf>,
    pub merge: Option<PathBuf>,
    pub run: Option<String>,
    pub jobs: usize,
    pub output: PathBuf,
    /// Refuse a sandbox with a protection missing (`--require sandbox`; the default as root).
    pub require_sandbox: bool,
    pub sandbox_skip: Vec<Protection>,
}

/// A folder's `grade.toml`: `command = "python3 ipc.py"` (run by `sh -c`) or
/// `command = ["python3", "ipc.py"]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    command: CommandSpec,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CommandSpec {
    Shell(String),
    Argv(Vec<String>),
}

/// The command of a folder's `grade.toml`, if it has one.
fn command_of(dir: &std::path::Path) -> Result<Option<Vec<String>>> {
    let path = dir.join("grade.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Path {
                flag: "grade.toml",
                path,
                source,
            });
        }
    };
    let config: Config = toml::from_str(&text).map_err(|e| Error::Config {
        path: path.clone(),
        message: e.message().to_string(),
    })?;
    let argv = match config.command {
        CommandSpec::Shell(s) => vec!["sh".into(), "-c".into(), s],
        CommandSpec::Argv(v) => v,
    };
    if argv.is_empty() || argv[0].is_empty() {
        return Err(Error::Config {
            path,
            message: "`command` is empty".into(),
        });
    }
    Ok(Some(argv))
}

/// The command for a class member: its grade.toml, else the `--run` template with `{}` as its
/// folder (the run's scratch copy is the working directory, so `{}` becomes `.`).
pub fn class_command(dir: &std::path::Path, template: Option<&str>) -> Result<Vec<String>> {
    if let Some(argv) = command_of(dir)? {
        return Ok(argv);
    }
    match template {
        Some(t) => Ok(vec!["sh".into(), "-c".into(), t.replace("{}", ".")]),
        None => Err(Error::Usage(format!(
            "{}: no grade.toml and no --run template",
            dir.display()
        ))),
    }
}

/// The variables every submission gets from the grader's environment, with the value used
/// where the grader has none.
const PASSED: [(&str, &str); 3] = [
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("LANG", "C.UTF-8"),
    ("TERM", "dumb"),
];

/// The submission's environment: PATH, LANG and TERM, then each `--env NAME[=VALUE]` (a later
/// one wins).
fn environment(given: &[String]) -> Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = PASSED
        .iter()
        .map(|(k, default)| {
            let v = std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| (*default).to_string());
            (k.to_string(), v)
        })
        .collect();
    for arg in given {
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let bad = name.is_empty()
            || name.contains('\0')
            || value.as_deref().is_some_and(|v| v.contains('\0'));
        if bad {
            return Err(Error::Usage(format!(
                "--env takes NAME or NAME=VALUE (a name, no NUL), got '{}'",
                arg.escape_debug()
            )));
        }
        let value = match value {
            Some(v) => v,
            None => std::env::var(name).map_err(|_| {
                Error::Usage(format!(
                    "--env {name}: {name} is not set here (give --env {name}=VALUE)"
                ))
            })?,
        };
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value));
    }
    Ok(env)
}

fn existing_dir(flag: &'static str, path: &std::path::Path) -> Result<()> {
    ipc_cli::existing_dir(path).map_err(|source| Error::Path {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

impl GradeArgs {
    pub fn into_options(self, lang: Lang) -> Result<Options> {
        let jobs = self.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(2, |n| n.get()),
            |j| j as usize,
        );
        if self.class.is_none() {
            for (given, flag) in [
                (self.run.is_some(), "--run"),
                (self.jobs.is_some(), "--jobs"),
                (self.output.is_some() && self.merge.is_none(), "--output"),
            ] {
                if given {
                    return Err(Error::Usage(format!("{flag} goes with --class")));
                }
            }
        }
        let env = environment(&self.env)?;
        let mut command = self.command;
        if let Some(merge) = &self.merge {
            existing_dir("--merge", merge)?;
            if let Some(out) = &self.output {
                existing_dir("--output", out)?;
            }
            if !command.is_empty() {
                return Err(Error::Usage(
                    "--merge runs nothing: no command after --".into(),
                ));
            }
        } else if let Some(class) = &self.class {
            existing_dir("--class", class)?;
            if !command.is_empty() {
                return Err(Error::Usage(
                    "--class takes the command from --run or each folder's grade.toml, not after --"
                        .into(),
                ));
            }
            if let Some(out) = &self.output {
                existing_dir("--output", out)?;
            }
        } else {
            existing_dir("--dir", &self.dir)?;
            if command.is_empty() {
                command = command_of(&self.dir)?.ok_or_else(|| {
                    Error::Usage(format!(
                        "nothing to grade: give the command after -- (e.g. ipc_desafio grade --dir {} -- python3 ipc.py) or write a grade.toml in {}",
                        self.dir.display(),
                        self.dir.display()
                    ))
                })?;
            }
            if command[0].is_empty() {
                return Err(Error::Usage("the command is empty".into()));
            }
        }
        Ok(Options {
            dir: self.dir,
            command,
            times: self.times,
            timeout: self.timeout,
            keep: self.keep,
            env,
            json: self.json,
            lang,
            class: self.class,
            merge: self.merge,
            run: self.run,
            jobs,
            output: self.output.unwrap_or_else(|| PathBuf::from(".")),
            require_sandbox: self.require.is_some()
                || (!self.allow_weaker_sandbox && nix::unistd::geteuid().is_root()),
            sandbox_skip: self.sandbox_skip.map(|s| s.0).unwrap_or_default(),
        })
    }
}
