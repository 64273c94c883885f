//! `ticket_office`: the mutex lesson. Buyer processes "search" a shared JSON state file without
//! the lock, then "buy" under an exclusive `flock`: read, pause, write the decremented count.
//! Without the lock (`--no-lock`) several buyers read the same count and the office oversells.
//!
//! The lock lives on a separate lock file: the state file is replaced by `rename` on every write
//! (crash-safe: temp file, fsync, rename, fsync of the directory), and a lock on the replaced file
//! would no longer exclude anyone. The kernel drops a flock when its holder dies, even by
//! SIGKILL, so a killed buyer cannot block the others.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use ipc_sys::cli::{EXIT_FAILURE, EXIT_USAGE, Failure, parse_unsigned};
use ipc_sys::linelog::{lock_exclusive, say};
use ipc_sys::pipe::Pipe;
use ipc_sys::{Children, Event as ChildEvent, ExitStatus, Fork};
use rand::RngExt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path given on the command line that cannot be used; the message names the flag.
    #[error("{flag} {}: {source}", path.display())]
    Path {
        flag: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("cannot read the ticket state {}: {source}", path.display())]
    ReadState { path: PathBuf, source: io::Error },

    #[error("cannot write the ticket state {}: {source}", path.display())]
    WriteState { path: PathBuf, source: io::Error },

    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),
}

impl Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Path { .. } => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A buyer's exit code when the tickets were sold out.
const EXIT_REFUSED: i32 = 3;
/// Longest default pause between reading and writing the count (the classic exercise's 0.1 s).
const DEFAULT_MAX_DELAY_MS: u64 = 100;

#[derive(Debug, Parser)]
#[command(
    name = "ticket_office",
    version,
    about = "Buyer processes and one shared ticket counter: with the lock exactly N tickets are sold",
    after_help = "Examples:\n  ticket_office --buyers 10 --tickets 3\n  ticket_office --no-lock --delay-ms 200   watch the office oversell\n\n\
                  Exit codes: 0 nothing oversold and every buyer bought or was refused, 1 otherwise, 2 bad input."
)]
pub struct OfficeCli {
    /// Buyer processes
    #[arg(long, value_name = "N", default_value = "10", value_parser = |s: &str| between(s, "the buyer count", 1, 1000), allow_negative_numbers = true)]
    pub buyers: u64,
    /// Tickets on sale
    #[arg(long, value_name = "N", default_value = "1", value_parser = |s: &str| parse_unsigned(s, "the ticket count"), allow_negative_numbers = true)]
    pub tickets: u64,
    /// Buy without the lock: shows the race
    #[arg(long)]
    pub no_lock: bool,
    /// The state file, `{"ticket_num": N}` (rewritten at start; its lock file is FILE.lock)
    #[arg(long, value_name = "FILE", default_value = "ticket_office.json")]
    pub state: PathBuf,
    /// Pause between reading and writing the count while buying (default: random, up to 100 ms)
    #[arg(long, value_name = "MS", value_parser = |s: &str| between(s, "the delay", 0, 60_000), allow_negative_numbers = true)]
    pub delay_ms: Option<u64>,
}

fn between(s: &str, what: &str, min: u64, max: u64) -> Result<u64, String> {
    match parse_unsigned(s, what)? {
        n if (min..=max).contains(&n) => Ok(n),
        n => Err(format!("{what} must be between {min} and {max}, got {n}")),
    }
}

/// Reads `{"ticket_num": N}`.
pub fn read_state(path: &Path) -> Result<u64> {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|source| Error::ReadState {
            path: path.into(),
            source,
        })?;
    parse_state(&text).ok_or_else(|| Error::ReadState {
        path: path.into(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a ticket state: {text:?}"),
        ),
    })
}

fn parse_state(text: &str) -> Option<u64> {
    let rest = text.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    let (key, value) = rest.split_once(':')?;
    (key.trim() == "\"ticket_num\"").then_some(())?;
    value.trim().parse().ok()
}

/// Replaces the state file atomically: a reader sees the old or the new count, never half.
pub fn write_state(path: &Path, tickets: u64) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let io_err = |source| Error::WriteState {
        path: path.into(),
        source,
    };
    let mut file = File::create(&tmp).map_err(io_err)?;
    file.write_all(format!("{{\"ticket_num\": {tickets}}}\n").as_bytes())
        .map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    fs::rename(&tmp, path).map_err(io_err)?;
    // The rename itself is durable only once the directory is synced.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)
}

fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Runs the office and returns main's exit code.
pub fn run(cli: &OfficeCli) -> Result<u8> {
    let state = &cli.state;
    write_state(state, cli.tickets).map_err(|e| match e {
        Error::WriteState { path, source } => Error::Path {
            flag: "--state",
            path,
            source,
        },
        e => e,
    })?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(state))
        .map_err(|source| Error::Path {
            flag: "--state",
            path: lock_path(state),
            source,
        })?;
    say(&format!(
        "office: {} ticket(s), {} buyers, {}",
        cli.tickets,
        cli.buyers,
        if cli.no_lock {
            "NO LOCK"
        } else {
            "with the lock"
        }
    ));

    // The start gun: buyers block reading this pipe until main closes the write end, so all of
    // them start at the same moment and the race (without the lock) is real, not luck. A buyer
    // keeps only the read end: holding the write end it would never hear the gun (no EOF).
    let gun = Pipe::new()?;
    let mut buyers = Children::new();
    let mut numbers = Vec::new();
    for k in 1..=cli.buyers {
        let child = Fork::new(format!("buyer {k}")).spawn([gun.read.as_fd()], |[wait]| {
            let _ = io::copy(&mut File::from(wait), &mut io::sink());
            match buy(cli, k) {
                Ok(code) => code,
                Err(e) => {
                    say(&format!("buyer {k} ({}): error: {e}", std::process::id()));
                    EXIT_FAILURE.into()
                }
            }
        })?;
        numbers.push((k, child.pid()));
        buyers.push(child);
    }
    // Closing both ends in main fires the gun: every buyer's read returns end of file.
    drop(gun);

    let (mut sold, mut refused, mut broken) = (0u64, 0u64, 0u64);
    loop {
        match buyers.wait(&mut [], None, false)? {
            ChildEvent::Exited(r) => {
                let k = numbers
                    .iter()
                    .find(|(_, p)| *p == r.pid)
                    .map_or(0, |(k, _)| *k);
                match r.status {
                    ExitStatus::Exited(0) => sold += 1,
                    ExitStatus::Exited(EXIT_REFUSED) => refused += 1,
                    status => {
                        broken += 1;
                        say(&format!("office: buyer {k} ({}) {status}", r.pid));
                        remove_stale_temp(state, r.pid.as_raw());
                    }
                }
            }
            ChildEvent::Empty => break,
            _ => {}
        }
    }
    let oversold = sold.saturating_sub(cli.tickets);
    let left = read_state(state)?;
    say(&format!(
        "office: the state file says {left} ticket(s) left"
    ));
    say(&format!(
        "tickets {}, sold {sold}, refused {refused}, oversold {oversold}",
        cli.tickets
    ));
    Ok(if oversold == 0 && broken == 0 {
        0
    } else {
        EXIT_FAILURE
    })
}

/// A buyer killed between creating its temp file and renaming it leaves the temp behind; the
/// state file itself is intact (that is what the rename is for).
fn remove_stale_temp(state: &Path, pid: i32) {
    let _ = fs::remove_file(state.with_extension(format!("tmp.{pid}")));
}

/// One buyer: search without the lock, then buy (under the lock unless `--no-lock`).
fn buy(cli: &OfficeCli, k: u64) -> Result<i32> {
    let pid = std::process::id();
    let seen = read_state(&cli.state)?;
    say(&format!(
        "buyer {k} ({pid}): searching: sees {seen} ticket(s) left"
    ));
    let lock = if cli.no_lock {
        None
    } else {
        let file = OpenOptions::new()
            .write(true)
            .open(lock_path(&cli.state))
            .map_err(|source| ipc_sys::Error::Open {
                path: lock_path(&cli.state),
                source,
            })?;
        lock_exclusive(&file, &lock_path(&cli.state))?;
        say(&format!("buyer {k} ({pid}): holding the lock"));
        Some(file)
    };
    let left = read_state(&cli.state)?;
    if left == 0 {
        say(&format!("buyer {k} ({pid}): refused: sold out"));
        return Ok(EXIT_REFUSED);
    }
    let delay = cli
        .delay_ms
        .unwrap_or_else(|| rand::rng().random_range(0..=DEFAULT_MAX_DELAY_MS));
    std::thread::sleep(Duration::from_millis(delay));
    write_state(&cli.state, left - 1)?;
    say(&format!(
        "buyer {k} ({pid}): bought a ticket ({left} -> {})",
        left - 1
    ));
    // The lock is released when its descriptor closes — or by the kernel if this process dies.
    drop(lock);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        write_state(&path, 7).unwrap();
        assert_eq!(read_state(&path).unwrap(), 7);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"ticket_num\": 7}\n");
        for bad in [
            "",
            "{}",
            "{\"tickets\": 1}",
            "{\"ticket_num\": -1}",
            "{\"ticket_num\": 1",
            "[1]",
        ] {
            assert_eq!(parse_state(bad), None, "{bad}");
        }
        assert_eq!(parse_state(" { \"ticket_num\" :3 } "), Some(3));
    }
}
