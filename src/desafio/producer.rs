//! The producer role: draws distinct values, logs each one *before* it enters the pipe, sends it,
//! and finishes with an end marker that says how many values it sent.

use std::io;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::desafio::error::{Error, Result};
use crate::desafio::log::ExecutionLog;
use crate::desafio::options::{FaultKind, RunOptions};
use crate::desafio::record::{Arg, Event, Msg, counted, say};
use crate::desafio::sample::Sample;
use crate::desafio::tally::Tally;
use crate::desafio::wire::{Message, Sender};
use ipc_sys::signal as process;
use nix::sys::signal::Signal;

/// Mixed into the seed for the pacing generator, so pauses never shift the values a seed gives.
const PACE_SEED_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// Most values handled per batch. At about 75 bytes of log text per value one locked write
/// stays near 300 KiB, and 4096 frames (36 KiB) fit in the pipe's 64 KiB buffer at once.
pub const MAX_BATCH: usize = 4096;

/// Runs the producer in the current (child) process and returns its exit code.
///
/// Values go out in batches: all `sent` lines of a batch with one locked write, *then* the
/// batch's frames with one pipe write, so every value is still logged before it is sent.
/// Batches start at one value and double up to `MAX_BATCH`, so a short run logs exactly as an
/// unbatched one would; with `--pace` every batch is a single value.
pub fn run(
    opts: &RunOptions,
    log: &mut ExecutionLog,
    mut sender: Sender,
    tally: &Tally,
) -> Result<i32> {
    // EPIPE is this role's way of learning that the consumer is gone; were SIGPIPE not ignored
    // the first write after that would kill the producer instead, unlogged.
    ipc_sys::signal::require_sigpipe_ignored()?;
    let total = opts.count;
    let mut values = Sample::new(opts.seed, opts.min, opts.max, total);
    let mut pace_rng = StdRng::seed_from_u64(opts.seed ^ PACE_SEED_SALT);
    let mut batch_limit = 1u64;
    let mut events = Vec::new();
    let mut frames = Vec::new();
    let mut sent = 0u64;
    let pause_before_send = crate::desafio::log::hooks::pause_between_log_and_send();
    while sent < total {
        if sent > 0
            && let Some(pace) = opts.pace
        {
            let ms = pace_rng.random_range(pace.min_ms..=pace.max_ms);
            process::sleep_unless_interrupted(std::time::Duration::from_millis(ms));
        }
        if let Some(signal) = process::interrupted() {
            log_interrupt(log, signal, sent, total)?;
            break;
        }
        if fault_due(opts, sent, log)? {
            return Ok(0);
        }
        let mut size = if opts.pace.is_some() { 1 } else { batch_limit };
        if let Some(fault) = opts.fault.filter(|f| f.after > sent) {
            size = size.min(fault.after - sent);
        }
        events.clear();
        frames.clear();
        for value in values.by_ref().take(size as usize) {
            events.push(Event::Sent {
                value,
                index: sent + events.len() as u64 + 1,
                total,
            });
            frames.extend_from_slice(&Message::Value(value).encode());
        }
        log.log_all(&events)?;
        if let Some(pause) = pause_before_send {
            std::thread::sleep(pause);
        }
        let (delivered, result) = sender.send_all(&frames);
        sent += delivered as u64;
        tally.add_sent(delivered as u64);
        result
            .map_err(|e| pipe_error(e, sent, total))
            .or_else(|e| tell_interrupt_before(log, e, sent, total))?;
        batch_limit = (batch_limit * 2).min(MAX_BATCH as u64);
    }
    if fault_due(opts, sent, log)? {
        return Ok(0);
    }
    log.log(&Event::EndSent { sent })?;
    let announced = sent + crate::desafio::log::hooks::end_marker_adds();
    sender
        .send(Message::End { sent: announced })
        .map_err(|e| pipe_error(e, sent, total))
        .or_else(|e| tell_interrupt_before(log, e, sent, total))?;
    tally.mark_end_sent();
    Ok(0)
}

/// A producer that gives up on a full pipe after an interrupt says first that the interrupt
/// came (as it does when the interrupt finds it between two sends), then fails with `e`.
fn tell_interrupt_before(log: &mut ExecutionLog, e: Error, sent: u64, total: u64) -> Result<()> {
    if let (Error::Stuck { .. }, Some(signal)) = (&e, process::interrupted()) {
        log_interrupt(log, signal, sent, total)?;
    }
    Err(e)
}

/// `interrupted by SIGINT: stopping after 3 of 12 values`.
fn log_interrupt(log: &mut ExecutionLog, signal: Signal, sent: u64, total: u64) -> Result<()> {
    let lang = log.lang();
    let [total, values] = counted(total, lang);
    let note = say(
        Msg::NoteStopping,
        lang,
        &[Arg::Int(sent.into()), total, values],
    );
    let signal = signal.as_str().into();
    log.log(&Event::Interrupted {
        signal,
        note: Some(note),
    })
}

/// Carries out a producer fault once `sent` values are out. Returns true if the producer must
/// now leave without the end marker (a kill never returns).
fn fault_due(opts: &RunOptions, sent: u64, log: &mut ExecutionLog) -> Result<bool> {
    let Some(fault) = opts.fault.filter(|f| f.after == sent) else {
        return Ok(false);
    };
    let lang = log.lang();
    let note = match fault.kind {
        FaultKind::ProducerExit => say(Msg::NoteExitingEarly, lang, &counted(sent, lang)),
        FaultKind::ProducerKill => kill_note(lang, sent),
        FaultKind::ConsumerExit | FaultKind::ConsumerKill | FaultKind::MainKill => {
            return Ok(false);
        }
    };
    log.log(&Event::Fault { fault, note })?;
    if fault.kind == FaultKind::ProducerKill {
        process::kill_self();
    }
    Ok(true)
}

/// The note of a `*-kill@K` fault, in the log's language.
pub fn kill_note(lang: crate::desafio::lang::Lang, after: u64) -> String {
    say(Msg::NoteKillingItself, lang, &counted(after, lang))
}

fn pipe_error(e: io::Error, sent: u64, total: u64) -> Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Error::BrokenPipe { sent, total }
    } else if e.kind() == io::ErrorKind::TimedOut {
        Error::Stuck {
            secs: ipc_sys::pipe::PATIENCE_AFTER_INTERRUPT.as_secs(),
            count: sent,
            total: Some(total),
        }
    } else {
        ipc_sys::Error::PipeIo {
            op: "write",
            source: e,
        }
        .into()
    }
}
