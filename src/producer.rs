//! The producer role: draws distinct values, logs each one *before* it enters the pipe, sends it,
//! and finishes with an end marker that says how many values it sent.

use std::io;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::channel::{Message, Sender};
use crate::error::{Error, Result};
use crate::log::ExecutionLog;
use crate::options::{FaultKind, RunOptions};
use crate::process;
use crate::record::Event;
use crate::sample::Sample;
use crate::tally::Tally;

/// Mixed into the seed for the pacing generator, so pauses never shift the values a seed gives.
const PACE_SEED_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// Runs the producer in the current (child) process and returns its exit code.
pub fn run(
    opts: &RunOptions,
    log: &mut ExecutionLog,
    mut sender: Sender,
    tally: &Tally,
) -> Result<i32> {
    let total = opts.count;
    let mut pace_rng = StdRng::seed_from_u64(opts.seed ^ PACE_SEED_SALT);
    let mut sent = 0u64;
    for value in Sample::new(opts.seed, opts.min, opts.max, total) {
        if sent > 0
            && let Some(pace) = opts.pace
        {
            let ms = pace_rng.random_range(pace.min_ms..=pace.max_ms);
            process::sleep_unless_interrupted(std::time::Duration::from_millis(ms));
        }
        if let Some(signal) = process::interrupted() {
            log.log(&Event::Interrupted {
                signal: signal.as_str().into(),
                note: Some(format!("stopping after {sent} of {total} values")),
            })?;
            break;
        }
        if fault_due(opts, sent, log)? {
            return Ok(0);
        }
        log.log(&Event::Sent {
            value,
            index: sent + 1,
            total,
        })?;
        sender
            .send(Message::Value(value))
            .map_err(|e| pipe_error(e, sent, total))?;
        sent += 1;
        tally.add_sent(1);
    }
    if fault_due(opts, sent, log)? {
        return Ok(0);
    }
    log.log(&Event::EndSent { sent })?;
    sender
        .send(Message::End { sent })
        .map_err(|e| pipe_error(e, sent, total))?;
    Ok(0)
}

/// Carries out a producer fault once `sent` values are out. Returns true if the producer must
/// now leave without the end marker (a kill never returns).
fn fault_due(opts: &RunOptions, sent: u64, log: &mut ExecutionLog) -> Result<bool> {
    let Some(fault) = opts.fault.filter(|f| f.after == sent) else {
        return Ok(false);
    };
    let note = match fault.kind {
        FaultKind::ProducerExit => format!("exiting without the end marker after {sent} values"),
        FaultKind::ProducerKill => format!("sending itself SIGKILL after {sent} values"),
        FaultKind::ConsumerExit | FaultKind::ConsumerKill => return Ok(false),
    };
    log.log(&Event::Fault { fault, note })?;
    if fault.kind == FaultKind::ProducerKill {
        process::kill_self();
    }
    Ok(true)
}

fn pipe_error(e: io::Error, sent: u64, total: u64) -> Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Error::BrokenPipe { sent, total }
    } else {
        Error::PipeIo {
            op: "write",
            source: e,
        }
    }
}
