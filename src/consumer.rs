//! The consumer role: blocks on the pipe, classifies each value as even or odd, writes one
//! `consumer_log.txt` line per value as it arrives, and checks its count against the end marker.
//! On SIGINT/SIGTERM it keeps reading: the producer stops and sends the end marker, so draining
//! the pipe is what guarantees that no value already sent is lost.

use crate::channel::{Message, Receiver};
use crate::error::{Error, Result};
use crate::log::{ConsumerLog, ExecutionLog};
use crate::options::{FaultKind, RunOptions};
use crate::process;
use crate::record::{ConsumerLine, Event, Parity};
use crate::tally::Tally;

#[derive(Default)]
struct Counts {
    values: u64,
    even: u64,
    odd: u64,
}

impl Counts {
    fn totals(&self, incomplete: Option<String>) -> ConsumerLine {
        ConsumerLine::Totals { values: self.values, even: self.even, odd: self.odd, incomplete }
    }
}

/// Runs the consumer in the current (child) process and returns its exit code.
pub fn run<R: std::io::Read>(
    opts: &RunOptions,
    log: &mut ExecutionLog,
    out: &mut ConsumerLog,
    mut receiver: Receiver<R>,
    tally: &Tally,
) -> Result<i32> {
    out.comment(&ConsumerLine::Header(format!(
        "consumer_log.txt: run started {}, consumer pid {}",
        crate::log::now_text(),
        std::process::id()
    )))?;
    let mut counts = Counts::default();
    let result = consume(opts, log, out, &mut receiver, tally, &mut counts);
    let incomplete = match &result {
        Ok(Some(note)) => Some(note.clone()),
        Ok(None) => None,
        Err(e) => Some(e.to_string()),
    };
    // The totals line is written on every path that still runs code, so a reader can tell a
    // finished log from one whose writer was killed.
    out.comment(&counts.totals(incomplete))?;
    result.map(|_| 0)
}

/// Reads until the end marker. `Ok(Some(note))` means it stopped early on purpose (a fault).
fn consume<R: std::io::Read>(
    opts: &RunOptions,
    log: &mut ExecutionLog,
    out: &mut ConsumerLog,
    receiver: &mut Receiver<R>,
    tally: &Tally,
    counts: &mut Counts,
) -> Result<Option<String>> {
    let mut told_interrupt = false;
    loop {
        if let Some(fault) = opts.fault.filter(|f| f.after == counts.values) {
            match fault.kind {
                FaultKind::ConsumerExit => {
                    let note = format!("closing the pipe after {} values", counts.values);
                    log.log(&Event::Fault { fault, note })?;
                    return Ok(Some(format!("fault {fault}")));
                }
                FaultKind::ConsumerKill => {
                    let note = format!("sending itself SIGKILL after {} values", counts.values);
                    log.log(&Event::Fault { fault, note })?;
                    process::kill_self();
                }
                FaultKind::ProducerExit | FaultKind::ProducerKill => {}
            }
        }
        let message = match receiver.recv() {
            Ok(Some(message)) => message,
            Ok(None) => return Err(Error::PipeClosed { received: counts.values, truncated: None }),
            Err(Error::Truncated { got }) => {
                return Err(Error::PipeClosed { received: counts.values, truncated: Some(got) });
            }
            Err(e) => return Err(e),
        };
        if !told_interrupt && let Some(signal) = process::interrupted() {
            told_interrupt = true;
            log.log(&Event::Interrupted { signal: signal.as_str().into(), note: Some("draining the pipe".into()) })?;
        }
        match message {
            Message::Value(value) => {
                let parity = Parity::of(value);
                log.log(&Event::Received { value, parity })?;
                out.values(&[(value, parity)])?;
                counts.values += 1;
                match parity {
                    Parity::Even => counts.even += 1,
                    Parity::Odd => counts.odd += 1,
                }
                tally.add_received(1);
            }
            Message::End { sent } => {
                log.log(&Event::EndReceived { announced: sent, received: counts.values })?;
                if sent != counts.values {
                    return Err(Error::CountMismatch { announced: sent, received: counts.values });
                }
                return Ok(None);
            }
        }
    }
}
