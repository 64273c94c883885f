//! Desafio 01 on one page: main forks a producer and a consumer joined by a pipe; 12 distinct
//! random values and an end marker go through it, the consumer classifies each as even or odd, and
//! all three log under one `flock`. Shown: unused pipe ends closed (so EPIPE and EOF happen), a log
//! descriptor per process opened after fork, one `write(2)` per line, PDEATHSIG, `_exit`, reaping.
//! `cargo run --example desafio_minimal -- DIR`, then `ipc_desafio verify --log-dir DIR`. The full
//! program adds batching, pacing, faults, signals, Portuguese logs, `verify` and `report`.

use std::{fmt::Display, fs::File, io, io::Read, io::Write, ops::RangeInclusive, os::fd::OwnedFd};
use std::{num::NonZeroUsize, sync::atomic::AtomicU64, sync::atomic::Ordering::SeqCst};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous};
use nix::sys::{prctl, signal::Signal, wait::WaitStatus, wait::waitpid};
use nix::{errno::Errno, unistd::ForkResult, unistd::Pid, unistd::fork, unistd::getppid};
use {chrono::Local, fs2::FileExt, rand::SeedableRng, rand::rngs::StdRng};

const COUNT: u64 = 12;
const RANGE: RangeInclusive<i64> = 1..=100;
const TIME: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z"; // RFC 3339, local, milliseconds: both logs
const FRAME: usize = 9; // tag (1 value, 2 end marker) + 8 bytes LE: under PIPE_BUF, so atomic
type Counts = [AtomicU64; 2]; // shared by all three: [values into the pipe, values received]

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("consumer closed the pipe after {sent} of {COUNT} values", COUNT = COUNT)]
    BrokenPipe { sent: u64 },
    #[error("pipe closed before the end marker after {received} values{detail}")]
    PipeClosed { received: u64, detail: String },
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Sys(#[from] Errno),
}
impl Error {
    /// The full program's exit codes: 3 EPIPE, 4 end of file before the end marker, 5 protocol.
    fn code(&self) -> i32 {
        match self {
            Error::BrokenPipe { .. } => 3,
            Error::PipeClosed { .. } => 4,
            Error::Protocol(_) => 5,
            Error::Io(_) | Error::Sys(_) => 1,
        }
    }
}

/// `execution_log.txt` via this process's own descriptor: flock locks an open file description.
struct Log(File, String);
impl Log {
    fn open(role: &str) -> Result<Log, Error> {
        let file = File::options().append(true).open("execution_log.txt")?;
        Ok(Log(file, format!("[{role} {}]", std::process::id())))
    }
    /// One line, one `write(2)`, under the lock; the timestamp too, so it never goes backwards.
    fn line(&mut self, msg: impl Display) -> Result<(), Error> {
        self.0.lock_exclusive()?;
        let line = format!("{} {} {msg}\n", Local::now().format(TIME), self.1);
        let written = self.0.write_all(line.as_bytes());
        FileExt::unlock(&self.0)?;
        let _ = io::stdout().write_all(line.as_bytes()); // an echo; a closed stdout is no error
        Ok(written?)
    }
}

fn producer(log: &mut Log, pipe: OwnedFd, seed: u64, counts: &Counts) -> Result<(), Error> {
    let mut pipe = File::from(pipe);
    let mut send = |tag: u8, n: [u8; 8], sent| match pipe.write_all(&[&[tag], &n[..]].concat()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Error::BrokenPipe { sent }),
        other => Ok(other?),
    };
    let span = RANGE.count(); // sampled without replacement: distinct by construction
    let picks = rand::seq::index::sample(&mut StdRng::seed_from_u64(seed), span, COUNT as usize);
    for (i, value) in picks.iter().map(|k| RANGE.start() + k as i64).enumerate() {
        log.line(format_args!("sent {value} ({}/{COUNT})", i + 1))?; // before it enters the pipe
        send(1, value.to_le_bytes(), i as u64)?;
        counts[0].fetch_add(1, SeqCst);
    }
    log.line(format_args!("end marker sent ({COUNT} values)"))?;
    send(2, COUNT.to_le_bytes(), COUNT)
}

fn consumer(log: &mut Log, pipe: OwnedFd, counts: &Counts) -> Result<(), Error> {
    let pipe = File::from(pipe);
    let mut out = File::options().append(true).open("consumer_log.txt")?;
    let mut put = |line: String| out.write_all(line.as_bytes());
    let (start, pid) = (Local::now().format(TIME), std::process::id());
    let head = format!("# consumer_log.txt: run started {start}, consumer pid {pid}\n");
    put(head)?;
    let (mut received, mut even) = (0u64, 0u64);
    let mut consume = || loop {
        let mut frame = Vec::with_capacity(FRAME);
        let got = (&pipe).take(FRAME as u64).read_to_end(&mut frame)?; // loops on short reads
        let Ok([tag, payload @ ..]) = <[u8; FRAME]>::try_from(frame) else {
            let detail = format!(" (truncated message: {got} of {FRAME} bytes)");
            let detail = if got == 0 { String::new() } else { detail };
            return Err(Error::PipeClosed { received, detail });
        };
        match (tag, u64::from_le_bytes(payload)) {
            (1, n) => {
                let (value, parity) = (n as i64, if n % 2 == 0 { "even" } else { "odd" });
                log.line(format_args!("received {value}: {parity}"))?;
                put(format!("{} {value} {parity}\n", Local::now().format(TIME)))?;
                counts[1].fetch_add(1, SeqCst);
                (received, even) = (received + 1, even + u64::from(n % 2 == 0));
            }
            (2, n) => {
                let msg = format!("{n} values announced, {received} received");
                log.line(format_args!("end marker received ({msg})"))?;
                return (n == received).then_some(()).ok_or(Error::Protocol(msg));
            }
            (tag, _) => return Err(Error::Protocol(format!("unknown message tag {tag}"))),
        }
    };
    let result = consume();
    let why = result.as_ref().err().map(|e| format!(" (incomplete: {e})"));
    let odd = received - even;
    let totals = format!("# totals: values {received}, even {even}, odd {odd}");
    put(totals + &why.unwrap_or_default() + "\n")?;
    result
}

/// A child's life after fork: die with main, log, run `body`, leave by `_exit`, never return.
fn child(role: &str, main: Pid, body: impl FnOnce(&mut Log) -> Result<(), Error>) -> ! {
    let life = || -> Result<i32, Error> {
        prctl::set_pdeathsig(Signal::SIGKILL)?; // or a killed main would leave an orphan
        (getppid() == main).then_some(()).ok_or(Errno::ESRCH)?; // main died before the prctl
        let mut log = Log::open(role)?;
        log.line("started")?;
        let code = match body(&mut log) {
            Ok(()) => 0,
            Err(e) => log.line(format_args!("error: {e}")).map(|()| e.code())?,
        };
        log.line(format_args!("exiting with code {code}"))?;
        Ok(code)
    };
    let code = life().unwrap_or_else(|e| fail(format_args!("{role}: {e}")));
    // SAFETY: `_exit` ends the child at once: main's destructors and buffers never run twice.
    unsafe { libc::_exit(code) }
}

fn run() -> Result<i32, Error> {
    std::env::set_current_dir(std::env::args_os().nth(1).unwrap_or_else(|| ".".into()))?;
    File::create("execution_log.txt")?;
    File::create("consumer_log.txt")?;
    let len = NonZeroUsize::new(size_of::<Counts>()).ok_or(Errno::EINVAL)?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let shared = MapFlags::MAP_SHARED;
    // SAFETY: a new shared mapping, aligned, zeroed (valid atomics), never unmapped: 'static.
    let counts: &Counts = unsafe { mmap_anonymous(None, len, rw, shared)?.cast().as_ref() };
    let (seed, main) = (rand::random::<u64>(), nix::unistd::getpid());
    let started = format!("count {COUNT}, range {RANGE:?}, seed {seed}, pace none, fault none");
    Log::open("main")?.line(format_args!("started: {started}"))?; // closed here, before fork
    let (read, write) = nix::unistd::pipe()?;
    let _ = io::stdout().flush(); // or text buffered here would print once per process
    // SAFETY: main has no other thread; the child only runs `child`, which never returns.
    let producer = match unsafe { fork() }? {
        ForkResult::Child => {
            drop(read); // a reader of its own would keep EPIPE from ever happening
            child("producer", main, |log| producer(log, write, seed, counts))
        }
        ForkResult::Parent { child } => child,
    };
    drop(write); // main never writes, and the consumer must not inherit a writer: EOF needs none
    // SAFETY: as above; the consumer inherits only the read end.
    let consumer = match unsafe { fork() }? {
        ForkResult::Child => child("consumer", main, |log| consumer(log, read, counts)),
        ForkResult::Parent { child } => child,
    };
    drop(read); // main never reads: the producer gets EPIPE once the consumer is gone
    let mut log = Log::open("main")?;
    log.line(format_args!("spawned producer {producer}"))?;
    log.line(format_args!("spawned consumer {consumer}"))?;
    let mut clean = true;
    for (role, pid) in [("producer", producer), ("consumer", consumer)] {
        let status = waitpid(pid, None)?;
        let how = match status {
            WaitStatus::Exited(_, code) => format!("exited with code {code}"),
            WaitStatus::Signaled(_, signal, _) => format!("killed by {}", signal.as_str()),
            other => return Err(Error::Protocol(format!("unexpected wait status {other:?}"))),
        };
        clean &= matches!(status, WaitStatus::Exited(_, 0));
        log.line(format_args!("{role} {pid} {how}"))?;
    }
    let (sent, received) = (counts[0].load(SeqCst), counts[1].load(SeqCst));
    let lost = sent.saturating_sub(received);
    let code = if clean && lost == 0 { 0 } else { 1 };
    log.line(format_args!("exiting with code {code}"))?;
    let summary = format!("sent {sent}, received {received}, lost {lost}");
    log.line(format_args!("summary: {summary}"))?;
    Ok(code)
}

fn fail(e: impl Display) -> i32 {
    let _ = writeln!(io::stderr(), "error: {e}");
    1
}

fn main() {
    std::process::exit(run().unwrap_or_else(fail))
}
