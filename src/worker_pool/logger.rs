//! The logger: the only writer of the pool's log file. It receives one typed event per
//! datagram, renders each as one line written with one `write(2)` (echoed to stdout unless
//! quiet), keeps the item ledger, and runs until *every* sending end of the log queue is closed
//! — so no record sent by a process that exited first is ever dropped. Interrupts do not stop
//! it. Its first line is its own start, with its pid, as the original's logger announces itself.

use std::io::Write;
use std::path::Path;

use ipc_sys::linelog::{Clock, LineLog};
use ipc_sys::queue::{QueueEnd, Received};

use super::error::Result;
use super::event::{Accounting, Envelope, Event, MAX_RECORD, PoolRole};

pub fn run(path: &Path, echo: bool, queue: &QueueEnd) -> Result<i32> {
    let mut out = LineLog::append(path)?;
    let mut echo = echo;
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
    let mut write = |text: &str, out: &mut LineLog| -> Result<()> {
        out.write(text)?;
        if echo && std::io::stdout().lock().write_all(text.as_bytes()).is_err() {
            echo = false;
        }
        Ok(())
    };
    write(
        &own(Event::LoggerStarted {
            pid,
            log: path.display().to_string(),
        }),
        &mut out,
    )?;
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
                write(&envelope.line(), &mut out)?;
                ledger.observe(&envelope);
            }
            Err(n) => {
                let what = if n > MAX_RECORD {
                    format!("a record longer than {MAX_RECORD} bytes was cut short")
                } else {
                    format!("malformed record of {n} bytes")
                };
                write(&own(Event::Error(what)), &mut out)?;
            }
        }
        for failure in ledger.take_failures() {
            write(&own(Event::Note(failure)), &mut out)?;
        }
    }
    let closing: String = ledger
        .closing()
        .into_iter()
        .map(|m| own(Event::Note(m)))
        .collect();
    write(&closing, &mut out)?;
    Ok(0)
}
