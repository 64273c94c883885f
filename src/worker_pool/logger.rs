//! The logger: the only writer of the pool's log file. It receives one typed event per
//! datagram, renders each as one line written with one `write(2)` (echoed to stdout unless
//! quiet), keeps the item ledger, and runs until *every* sending end of the log queue is closed
//! — so no record sent by a process that exited first is ever dropped. Interrupts do not stop
//! it. Its first line is its own start, with its pid, as the original's logger announces itself.
//!
//! The echo on stdout is a convenience, never the record: a reader that stops reading (a pager,
//! `| sleep`, a terminal paused with Ctrl+S) holds the run back, as any pipeline does — but once
//! an interrupt has arrived, a stdout that takes nothing for `STALL` is dropped, so that Ctrl+C
//! always ends the run.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use ipc_sys::linelog::{Clock, LineLog};
use ipc_sys::queue::{QueueEnd, Received};
use ipc_sys::signal::{Wake, Watch, wait_event};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};

use super::error::Result;
use super::event::{Accounting, Envelope, Event, MAX_RECORD, PoolRole};

/// After an interrupt, how long stdout may take nothing before the echo is dropped.
const STALL: Duration = Duration::from_millis(200);
const STALLED: &str = "stdout is not being read";
/// The reader left (`| head`): the echo ends quietly.
const CLOSED: &str = "stdout is closed";
/// A full disk or a device error: said once, in the file.
const FAILED: &str = "stdout cannot be written (a full disk or a device error)";
/// At most this much is written to stdout at once: a pipe that polls writable has room for it,
/// so the write does not block.
const CHUNK: usize = libc::PIPE_BUF;

/// Echoes `text` on stdout, waiting while stdout is full unless an interrupt has arrived and
/// it stays full for `STALL`. `Err(reason)` when the echo must stop.
fn echo(text: &str) -> std::result::Result<(), &'static str> {
    let stdout = std::io::stdout();
    let fd = stdout.as_fd();
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let interrupted = ipc_sys::signal::interrupted().is_some();
        let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
        let watch = Watch {
            interrupts: !interrupted,
            children: false,
        };
        match wait_event(&mut fds, interrupted.then(|| Instant::now() + STALL), watch) {
            Ok(Wake::Ready) => {}
            Ok(Wake::Interrupted | Wake::ChildChanged) => continue,
            Ok(Wake::TimedOut) => return Err(STALLED),
            Err(_) => return Err("stdout cannot be watched"),
        }
        match nix::unistd::write(fd, &rest[..rest.len().min(CHUNK)]) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(Errno::EPIPE) => return Err(CLOSED),
            Err(_) => return Err(FAILED),
        }
    }
    Ok(())
}

/// Where the logger's lines go: the file, always; stdout, while it takes them.
struct Output {
    file: LineLog,
    echo: bool,
}

impl Output {
    fn write(&mut self, text: &str, own: &mut impl FnMut(Event) -> String) -> Result<()> {
        self.file.write(text)?;
        if self.echo
            && let Err(why) = echo(text)
        {
            self.echo = false;
            // In the file only: stdout is the reader that stopped.
            let when = match why {
                STALLED => " after an interrupt",
                FAILED => "",
                _ => return Ok(()),
            };
            self.file.write(&own(Event::Note(format!(
                "{why}{when}: echo stopped (this file has every line)"
            ))))?;
        }
        Ok(())
    }
}

pub fn run(path: &Path, echo: bool, queue: &QueueEnd) -> Result<i32> {
    let mut out = Output {
        file: LineLog::append(path)?,
        echo,
    };
    let mut ledger = Accounting::default();
    let mut clock = Clock::default();
    let pid = std::process::id();
    let mut own = |event: Event| {
        let mut time = String::new();
        clock.stamp(&mut time);
        Envelope {
            role: PoolRole::Logger,
            num: None,
            pid,
            time,
            event,
        }
        .line()
    };
    let mut buf = vec![0u8; MAX_RECORD];
    let start = own(Event::LoggerStarted {
        pid,
        log: path.display().to_string(),
    });
    out.write(&start, &mut own)?;
    loop {
        let envelope = match queue.recv(&mut buf, true) {
            Ok(Received::Message(n)) => Envelope::decode(&buf[..n]).ok_or(n),
            Ok(Received::Empty) => continue,
            Ok(Received::Closed) => break,
            Err(ipc_sys::Error::MessageTruncated { .. }) => Err(MAX_RECORD + 1),
            Err(e) => return Err(e.into()),
        };
        match envelope {
            Ok(envelope) => {
                out.write(&envelope.line(), &mut own)?;
                ledger.observe(&envelope);
            }
            Err(n) => {
                let what = if n > MAX_RECORD {
                    format!("a record longer than {MAX_RECORD} bytes was cut short")
                } else {
                    format!("malformed record of {n} bytes")
                };
                let line = own(Event::Error(what));
                out.write(&line, &mut own)?;
            }
        }
        for failure in ledger.take_failures() {
            let line = own(Event::Note(failure));
            out.write(&line, &mut own)?;
        }
    }
    let closing: String = ledger
        .closing()
        .into_iter()
        .map(|m| own(Event::Note(m)))
        .collect();
    out.write(&closing, &mut own)?;
    Ok(0)
}
