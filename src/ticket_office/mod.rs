//! `ticket_office`: the mutex lesson. Buyer processes "search" a shared JSON state file without
//! the lock, then "buy" under an exclusive `flock`: read, pause, write the decremented count.
//! Without the lock (`--no-lock`) several buyers read the same count and the office oversells.
//!
//! The lock lives on a separate lock file: the state file is replaced by `rename` on every write
//! (crash-safe: a temp file in the same directory, fsync, rename, fsync of the directory), and a
//! lock on the replaced file would no longer exclude anyone. The kernel drops a flock when its
//! holder dies, even by SIGKILL, so a killed buyer cannot block the others.
//!
//! One state file, one run: main holds `FILE.pid` under an exclusive flock for the whole run
//! (`ipc_sys::runlock`), and a second run on the same state is refused before it touches
//! anything — its reset of the count would wipe the live run's sales under its buyers.
//!
//! Paths: the state file and its lock file must be regular files or not exist yet — never a
//! device, a directory, a FIFO (`--state /dev/null` must not replace /dev/null). A symbolic
//! link is written through: the run works on the file it points to (and locks beside it). The
//! state keeps its mode and owner across the rewrites. Temp files are
//! named `.<state>.<pid>.<random>.tmp` (created with O_EXCL by `tempfile`) and removed on every
//! path: by their writer on an error, by main when a buyer is killed before renaming its own.
//!
//! Ctrl+C / SIGTERM: every buyer stops where it is — before buying, or in the middle of a
//! purchase, which it abandons before writing anything — main waits for all of them (SIGKILL
//! after a grace period), prints the summary and exits 130.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, Failure, parse_between, parse_unsigned};
use ipc_sys::file::{Devices, writable};
use ipc_sys::linelog::{lock_exclusive, lock_exclusive_within, say};
use ipc_sys::pipe::Pipe;
use ipc_sys::runlock::{Acquired, RunLock};
use ipc_sys::signal::{interrupted, sleep_unless_interrupted};
use ipc_sys::{Children, Event as ChildEvent, ExitStatus, Fork, WindDown};
use nix::sys::signal::Signal;
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

    /// Another run is selling from the same state file: one state file, one run.
    #[error(
        "--state {}: another ticket_office run{} is selling from this state file; one state file, one run: try again once it ends",
        path.display(),
        pid.map_or(String::new(), |p| format!(" (pid {p})"))
    )]
    Busy { path: PathBuf, pid: Option<u32> },

    #[error("cannot read the ticket state {}: {source}", path.display())]
    ReadState { path: PathBuf, source: io::Error },

    #[error("cannot write the ticket state {}: {source}", path.display())]
    WriteState { path: PathBuf, source: io::Error },

    /// The summary line could not be written (a full disk, say): the run's outcome is unknown
    /// to its reader, so the exit code must say so.
    #[error("cannot write the summary to stdout: {0}")]
    Output(io::Error),

    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),
}

impl Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Path { .. } | Error::Busy { .. } => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A buyer's exit code when the tickets were sold out.
const EXIT_REFUSED: i32 = 3;
/// Longest default pause between reading and writing the count: the lesson's random delay
/// under one second.
const DEFAULT_MAX_DELAY_MS: u64 = 999;
/// How long buyers get to stop once interrupted, before SIGKILL. A buyer abandons its purchase
/// at once, so this only covers the queue of buyers waiting for the lock, each of which takes it
/// and lets it go.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Once interrupted, how long a buyer keeps waiting for the lock: shorter than `STOP_GRACE`,
/// so that behind a holder that never lets it go (stopped, SIGSTOP) the waiting buyers give up
/// by themselves and say so, and only the holder is SIGKILLed.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

#[derive(Debug, Parser)]
#[command(
    name = "ticket_office",
    version,
    about = "Buyer processes and one shared ticket counter: with the lock exactly N tickets are sold",
    after_help = "Examples:\n  ticket_office --buyers 10 --tickets 3\n  ticket_office --no-lock --delay-ms 200   watch the office oversell\n\n\
                  Exit codes: 0 nothing oversold and every buyer bought or was refused, 1 otherwise, 2 bad input,\n\
                  130 interrupted (SIGINT/SIGTERM)."
)]
pub struct OfficeCli {
    /// Buyer processes (1..=1000)
    #[arg(long, value_name = "N", default_value = "10", value_parser = |s: &str| parse_between(s, "the buyer count", 1, 1000), allow_negative_numbers = true)]
    pub buyers: u64,
    /// Tickets on sale
    #[arg(long, value_name = "N", default_value = "1", value_parser = |s: &str| parse_unsigned(s, "the ticket count"), allow_negative_numbers = true)]
    pub tickets: u64,
    /// Buy without the lock: shows the race
    #[arg(long)]
    pub no_lock: bool,
    /// The state file, `{"ticket_num": N}` (rewritten at start: a file that is not one is refused; its lock file is FILE.lock)
    #[arg(long, value_name = "FILE", default_value = "ticket_office.json")]
    pub state: PathBuf,
    /// Pause between reading and writing the count while buying (default: random, under 1 s, as in the lesson)
    #[arg(long, value_name = "MS", value_parser = |s: &str| parse_between(s, "the delay", 0, 60_000), allow_negative_numbers = true)]
    delay_ms: Option<u64>,
}

/// Reads `{"ticket_num": N}`.
fn read_state(path: &Path) -> Result<u64> {
    let read_error = |source| Error::ReadState {
        path: path.into(),
        source,
    };
    let text = fs::read_to_string(path).map_err(read_error)?;
    parse_state(&text).ok_or_else(|| {
        read_error(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a ticket state: {text:?}"),
        ))
    })
}

/// The count of a JSON object with a non-negative integer `ticket_num` (other keys ignored, as
/// the original's `json.load(f)["ticket_num"]` ignores them).
fn parse_state(text: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()?
        .as_object()?
        .get("ticket_num")?
        .as_u64()
}

/// The directory a path's file lives in (`.` for a bare name).
fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The prefix of every temp file beside `state`: `.<state>.`, then the writer's pid.
fn temp_prefix(state: &Path) -> String {
    let name = state
        .file_name()
        .map_or_else(|| "state".into(), |n| n.to_string_lossy().into_owned());
    format!(".{name}.")
}

/// Test hooks, as `ipc_desafio`'s `IPC_DESAFIO_TEST_*`: moments a test cannot otherwise hit.
pub mod hooks {
    /// `TICKET_OFFICE_TEST_DIE_BEFORE_RENAME=main` (or `buyer`): that process SIGKILLs itself
    /// once its temp file is written and synced, before the rename.
    pub(super) const DIE_BEFORE_RENAME: &str = "TICKET_OFFICE_TEST_DIE_BEFORE_RENAME";
    /// `TICKET_OFFICE_TEST_PAUSE_BEFORE_RENAME_MS=<ms>`: a buyer sleeps that long, deaf to
    /// signals, between writing its temp file and the rename.
    pub(super) const PAUSE_BEFORE_RENAME: &str = "TICKET_OFFICE_TEST_PAUSE_BEFORE_RENAME_MS";
}

/// Replaces the state file atomically: a reader sees the old or the new count, never half. The
/// temp file is created with O_EXCL beside the state (same file system, so the rename is atomic)
/// and removed on any error; the data is synced before the rename, the directory after it.
///
/// The new file keeps the old one's mode, owner and group (where this process may set them),
/// as an editor saving a file does; a new state file gets 0666 less the umask, as any file a
/// program creates. (`tempfile` creates its files 0600, which the rename would otherwise
/// carry over to the state.)
/// `who` (`main` or `buyer`) names the writer for the test hooks.
fn write_state_as(path: &Path, tickets: u64, who: &str) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let io_err = |source| Error::WriteState {
        path: path.into(),
        source,
    };
    let dir = directory_of(path);
    let old = fs::metadata(path).ok().filter(|m| m.is_file());
    let mode = old.as_ref().map_or(0o666, |m| m.mode() & 0o7777);
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{}{}.", temp_prefix(path), std::process::id()))
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| {
            let what = format!("cannot create a temp file in {}", dir.display());
            io_err(within(what, &os_error(&e)))
        })?;
    let file = tmp.as_file();
    if let Some(old) = &old {
        // The umask applied at creation; the old file's mode is restored exactly. A chown
        // refused (not root, another owner) leaves this process's own.
        let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err)?;
    }
    // Written through the `File`, not the `NamedTempFile`, whose errors name the temp file: a
    // full disk is reported against the state file the user named.
    // The same bytes as Python's json.dump({"ticket_num": n}), plus a final newline.
    (&*file)
        .write_all(format!("{{\"ticket_num\": {tickets}}}\n").as_bytes())
        .map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    if !who.is_empty() {
        if std::env::var(hooks::DIE_BEFORE_RENAME).is_ok_and(|w| w == who) {
            ipc_sys::signal::kill_self();
        }
        if who == "buyer"
            && let Some(ms) = std::env::var(hooks::PAUSE_BEFORE_RENAME)
                .ok()
                .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
    tmp.persist(path).map_err(|e| io_err(os_error(&e.error)))?;
    // The rename itself is durable only once the directory is synced.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)
}

/// The operating system's error behind an `io::Error` that `tempfile` wrapped with a path
/// (`No space left on device (os error 28) at path "/…/.state.123.tmp"`): the path of a temp
/// file means nothing to the user, who named the state file.
fn os_error(e: &io::Error) -> io::Error {
    if let Some(code) = e.raw_os_error() {
        return io::Error::from_raw_os_error(code);
    }
    let mut inner = e.get_ref().map(|i| i as &(dyn std::error::Error + 'static));
    while let Some(err) = inner {
        if let Some(code) = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return io::Error::from_raw_os_error(code);
        }
        inner = err.source();
    }
    io::Error::new(e.kind(), e.kind().to_string())
}

/// `what: e`, of `e`'s kind.
fn within(what: impl std::fmt::Display, e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Whether a write failed for want of a resource (a full disk, a quota, an I/O error) rather
/// than because the path cannot be used: the first is a failed run (exit 1), the second bad
/// input (exit 2).
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        os_error(e).raw_os_error(),
        Some(libc::ENOSPC | libc::EDQUOT | libc::EIO | libc::EFBIG)
    )
}

fn lock_path(state: &Path) -> PathBuf {
    with_suffix(state, ".lock")
}

/// The run lock's pid file: `FILE.pid`, held by main for the whole run (see `ipc_sys::runlock`).
fn pid_path(state: &Path) -> PathBuf {
    with_suffix(state, ".pid")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Checks `--state` before anything is created: a file name (not ending with '/'), in an
/// existing directory, that is a regular file or does not exist yet — and the same for its lock
/// file. A trailing slash gets the error the path would get without it when that names a
/// directory.
fn check_state_path(state: &Path) -> io::Result<()> {
    let text = state.as_os_str().as_encoded_bytes();
    if text.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an empty path"));
    }
    if text.ends_with(b"/") {
        writable(state, Devices::Refused)?;
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ends with '/': that names a directory, not a file",
        ));
    }
    writable(state, Devices::Refused)?;
    ipc_cli::existing_dir(directory_of(state)).map_err(|e| within("its directory", &e))?;
    writable(&lock_path(state), Devices::Refused).map_err(|e| within("its lock file", &e))?;
    writable(&pid_path(state), Devices::Refused).map_err(|e| within("its pid file", &e))?;
    // The state is rewritten at start: only a file that already is a ticket state (or an empty
    // one) may be replaced, never some other file given by mistake.
    if let Ok(meta) = fs::metadata(state)
        && meta.is_file()
        && meta.len() > 0
    {
        let is_state = meta.len() <= 4096 && read_state(state).is_ok();
        if !is_state {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "exists and is not a ticket state file ({\"ticket_num\": N}): refusing to replace it",
            ));
        }
    }
    Ok(())
}

/// Runs the office and returns main's exit code.
pub fn run(cli: &OfficeCli) -> Result<u8> {
    let bad_path = |path: &Path, source| Error::Path {
        flag: "--state",
        path: path.into(),
        source,
    };
    check_state_path(&cli.state).map_err(|e| bad_path(&cli.state, e))?;
    let resolved =
        ipc_sys::runlock::resolve_links(&cli.state).map_err(|e| bad_path(&cli.state, e))?;
    let state = &resolved;
    if state != &cli.state {
        check_state_path(state).map_err(|e| bad_path(&cli.state, e))?;
    }
    // One state file, one run: a second run on it would reset the count under the first one's
    // buyers. Refused before anything is touched, naming the live run.
    let _run = match RunLock::acquire(&pid_path(state)) {
        Ok(Acquired::Mine(lock)) => lock,
        Ok(Acquired::Held(pid)) => {
            return Err(Error::Busy {
                path: cli.state.clone(),
                pid,
            });
        }
        // The pid file sits beside the state: what keeps it from being made (an unwritable
        // directory) keeps the state from being written too, and is said of the state.
        Err(ipc_sys::Error::Open { source, .. }) => return Err(bad_path(&cli.state, source)),
        Err(ipc_sys::Error::Lock { source, .. }) => {
            let what = format!("cannot lock its pid file {}", pid_path(state).display());
            return Err(bad_path(&cli.state, within(what, &source)));
        }
        Err(ipc_sys::Error::Write { path, source }) => {
            return Err(Error::WriteState {
                path: cli.state.clone(),
                source: within(format!("its pid file {}", path.display()), &source),
            });
        }
        Err(e) => return Err(e.into()),
    };
    ipc_sys::signal::install_interrupt_handlers()?;
    let lock = lock_path(state);
    let lock_existed = fs::symlink_metadata(&lock).is_ok();
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| {
            let what = format!("cannot create its lock file {}", lock.display());
            bad_path(&cli.state, within(what, &e))
        })?;
    // The reset of the count is made under the buyers' lock. A buyer of an earlier run whose
    // main was killed may still be finishing a purchase (past its pause, it renames even as
    // its death signal arrives): its write then lands before this reset, never over it. And
    // what such a run left behind — a temp file whose writer is dead — goes.
    if fs2::FileExt::try_lock_exclusive(&lock_file).is_err() {
        say(&format!(
            "office: waiting for {}: a buyer of an earlier run still holds it",
            lock.display()
        ));
        lock_exclusive(&lock_file, &lock)?;
    }
    // A writer still alive (perhaps another program's process that got its pid) keeps its file.
    remove_temps(state, |pid| !Path::new(&format!("/proc/{pid}")).exists());
    if let Err(e) = write_state_as(state, cli.tickets, "main") {
        // Nothing created on a failed start: the lock file goes if this run made it.
        if !lock_existed {
            let _ = fs::remove_file(&lock);
        }
        return Err(match e {
            // A full disk is a failed run, named against the state file (exit 1); a path that
            // cannot be written is bad input (exit 2).
            Error::WriteState { source, .. } if out_of_resources(&source) => Error::WriteState {
                path: cli.state.clone(),
                source,
            },
            Error::WriteState { source, .. } => bad_path(&cli.state, source),
            e => e,
        });
    }
    drop(lock_file);
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
        if interrupted().is_some() {
            break;
        }
        // Death signal SIGTERM: if main dies, a buyer stops like on Ctrl+C, and removes its
        // own temp file, which nobody else would.
        let child = Fork::new(format!("buyer {k}")).spawn([gun.read.as_fd()], |[wait]| {
            let _ = io::copy(&mut File::from(wait), &mut io::sink());
            match buy(cli, state, k) {
                Ok(code) => code,
                Err(e) => {
                    say(&format!(
                        "buyer {k} ({}): error: {}",
                        std::process::id(),
                        ipc_sys::escape::terminal(&e.to_string())
                    ));
                    EXIT_FAILURE.into()
                }
            }
        })?;
        numbers.push((k, child.pid()));
        buyers.push(child);
    }
    // Closing both ends in main fires the gun: every buyer's read returns end of file.
    drop(gun);

    let mut tally = Tally::default();
    let mut stopping: Option<WindDown> = None;
    loop {
        let deadline = stopping.and_then(|wind| wind.deadline());
        let event = buyers.wait(&mut [], deadline, stopping.is_none())?;
        if stopping.is_none()
            && let Some(signal) = interrupted()
        {
            say(&format!(
                "office: interrupted by {}: every buyer stops; a purchase in progress is abandoned before it writes",
                signal.as_str()
            ));
            buyers.signal_all(Signal::SIGTERM);
            stopping = Some(WindDown::new(STOP_GRACE));
        }
        match event {
            ChildEvent::Exited(r) => {
                let k = numbers
                    .iter()
                    .find(|(_, p)| *p == r.pid)
                    .map_or(0, |(k, _)| *k);
                match r.status {
                    ExitStatus::Exited(0) => tally.sold += 1,
                    ExitStatus::Exited(EXIT_REFUSED) => tally.refused += 1,
                    ExitStatus::Exited(c) if c == i32::from(EXIT_INTERRUPTED) => {
                        tally.unserved += 1
                    }
                    status => {
                        tally.unserved += 1;
                        tally.broken += 1;
                        say(&format!("office: buyer {k} ({}) {status}", r.pid));
                        let pid = r.pid.as_raw() as u32;
                        remove_temps(state, |writer| writer == pid);
                    }
                }
            }
            ChildEvent::Empty => break,
            ChildEvent::TimedOut => {
                if let Some(wind) = &mut stopping
                    && wind.kill_if_due(&buyers).is_some()
                {
                    say("office: buyers still running after the grace period: SIGKILL");
                }
            }
            _ => {}
        }
    }
    // Buyers never forked (an interrupt arrived while main was starting them) are unserved too:
    // the summary accounts for every buyer asked for.
    tally.unserved += cli.buyers - numbers.len() as u64;
    let left = read_state(state)?;
    say(&format!(
        "office: the state file says {left} ticket(s) left"
    ));
    let written = cli.tickets.saturating_sub(left);
    if !cli.no_lock && written > tally.sold {
        say(&format!(
            "office: the state file shows {} sale(s) no buyer confirmed: a buyer killed after writing its purchase",
            written - tally.sold
        ));
    }
    let oversold = tally.sold.saturating_sub(cli.tickets);
    let mut summary = format!(
        "tickets {}, sold {}, refused {}, oversold {oversold}",
        cli.tickets, tally.sold, tally.refused
    );
    if tally.unserved > 0 {
        summary.push_str(&format!(", unserved {}", tally.unserved));
    }
    // The summary is the run's result: failing to write it is an error, unless the reader left
    // (`| head`), which asked for no more.
    let mut out = io::stdout().lock();
    if let Err(e) = out
        .write_all(format!("{summary}\n").as_bytes())
        .and_then(|()| out.flush())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(Error::Output(e));
    }
    Ok(if stopping.is_some() {
        EXIT_INTERRUPTED
    } else if oversold == 0 && tally.broken == 0 && tally.unserved == 0 {
        0
    } else {
        EXIT_FAILURE
    })
}

/// What became of the buyers.
#[derive(Debug, Default)]
struct Tally {
    sold: u64,
    refused: u64,
    /// Neither bought nor refused: interrupted, killed, or failed.
    unserved: u64,
    /// Killed or failed.
    broken: u64,
}

/// Removes the temp files beside `state` whose writer `dead` says is dead. The pid in each
/// name says who wrote it. A buyer killed between creating its temp file and renaming it
/// leaves the temp behind (the state file itself is intact: that is what the rename is for);
/// so does a main killed while writing the first count, or a buyer killed after its main.
fn remove_temps(state: &Path, dead: impl Fn(u32) -> bool) {
    let Ok(entries) = fs::read_dir(directory_of(state)) else {
        return;
    };
    let prefix = temp_prefix(state);
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let pid = file
            .strip_prefix(&prefix)
            .filter(|_| file.ends_with(".tmp"))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(&dead) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// One buyer: search without the lock, then buy (under the lock unless `--no-lock`). Returns
/// its exit code: 0 bought, `EXIT_REFUSED` sold out, 130 interrupted (nothing bought).
fn buy(cli: &OfficeCli, state: &Path, k: u64) -> Result<i32> {
    let pid = std::process::id();
    let stop = |when: &str| {
        say(&format!(
            "buyer {k} ({pid}): interrupted {when}: nothing bought"
        ));
        Ok(i32::from(EXIT_INTERRUPTED))
    };
    if interrupted().is_some() {
        return stop("before searching");
    }
    let seen = read_state(state)?;
    say(&format!(
        "buyer {k} ({pid}): searching: sees {seen} ticket(s) left"
    ));
    let lock = if cli.no_lock {
        None
    } else {
        let path = lock_path(state);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|source| ipc_sys::Error::Open {
                path: path.clone(),
                source,
            })?;
        // Blocks while another buyer holds it. An interrupt then reaches the holder too, which
        // lets the lock go at once, so this wait ends promptly — unless the holder is stopped:
        // then this buyer gives up after `LOCK_PATIENCE`, before main's grace runs out.
        match lock_exclusive_within(&file, &path, LOCK_PATIENCE) {
            Ok(()) => {}
            Err(ipc_sys::Error::Lock { source, .. })
                if interrupted().is_some() && source.kind() == io::ErrorKind::TimedOut =>
            {
                return stop(&format!(
                    "while waiting for the lock, which its holder did not release within {} (stopped?)",
                    ipc_cli::describe_duration(LOCK_PATIENCE)
                ));
            }
            Err(e) => return Err(e.into()),
        }
        if interrupted().is_some() {
            return stop("while waiting for the lock");
        }
        say(&format!("buyer {k} ({pid}): holding the lock"));
        Some(file)
    };
    let left = read_state(state)?;
    if left == 0 {
        say(&format!("buyer {k} ({pid}): refused: sold out"));
        return Ok(EXIT_REFUSED);
    }
    let delay = cli
        .delay_ms
        .unwrap_or_else(|| rand::rng().random_range(0..=DEFAULT_MAX_DELAY_MS));
    if sleep_unless_interrupted(Duration::from_millis(delay)) {
        return stop("in the middle of buying (the count was read, nothing written)");
    }
    write_state_as(state, left - 1, "buyer")?;
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
        write_state_as(&path, 7, "").unwrap();
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
        assert_eq!(parse_state("{\"ticket_num\": 2, \"other\": true}"), Some(2));
        assert_eq!(
            parse_state("{\"ticket_num\": 18446744073709551615}"),
            Some(u64::MAX)
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }
}
