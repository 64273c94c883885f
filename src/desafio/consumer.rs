//! The consumer role: blocks on the pipe, classifies each value as even or odd, writes one
//! `consumer_log.txt` line per value as it arrives, and checks its count against the end marker.
//! On SIGINT/SIGTERM it keeps reading: the producer stops and sends the end marker, so draining
//! the pipe is what guarantees that no value already sent is lost.

use crate::desafio::error::{Error, Result};
use crate::desafio::log::{ConsumerLog, ExecutionLog};
use crate::desafio::options::{FaultKind, RunOptions};
use crate::desafio::producer::MAX_BATCH;
use crate::desafio::record::{Arg, ConsumerLine, Event, Msg, Parity, counted, say};
use crate::desafio::tally::Tally;
use crate::desafio::wire::{Message, Receiver};
use ipc_sys::signal as process;

#[derive(Default)]
struct Counts {
    values: u64,
    even: u64,
    odd: u64,
}

impl Counts {
    fn totals(&self, incomplete: Option<String>) -> ConsumerLine {
        ConsumerLine::Totals {
            values: self.values,
            even: self.even,
            odd: self.odd,
            incomplete,
        }
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
    let lang = log.lang();
    let (now, pid) = (ipc_sys::linelog::now_text(), std::process::id());
    out.comment(&ConsumerLine::Header(say(
        Msg::ConsumerHeader,
        lang,
        &[Arg::Text(&now), Arg::Int(pid.into())],
    )))?;
    let mut counts = Counts::default();
    let result = consume(opts, log, out, &mut receiver, tally, &mut counts);
    let incomplete = match &result {
        Ok(Some(note)) => Some(note.clone()),
        Ok(None) => None,
        Err(e) => Some(e.render(lang)),
    };
    // The totals line is written on every path that still runs code, so a reader can tell a
    // finished log from one whose writer was killed.
    out.comment(&counts.totals(incomplete))?;
    result.map(|_| 0)
}

/// Reads until the end marker. `Ok(Some(note))` means it stopped early on purpose (a fault).
///
/// Everything one read returns is handled as a batch (bounded by `MAX_BATCH`): its `received`
/// lines go out with one locked write and its `consumer_log.txt` lines with one write. When
/// values arrive one at a time, batches are single lines.
fn consume<R: std::io::Read>(
    opts: &RunOptions,
    log: &mut ExecutionLog,
    out: &mut ConsumerLog,
    receiver: &mut Receiver<R>,
    tally: &Tally,
    counts: &mut Counts,
) -> Result<Option<String>> {
    let mut told_interrupt = false;
    let kill_before_count = crate::desafio::log::hooks::kill_before_count();
    if let Some(n) = crate::desafio::log::hooks::consumer_waits_for_sent() {
        while tally.sent() < n && process::interrupted().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let mut batches = 0u64;
    let mut events = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut limit = MAX_BATCH as u64;
        if let Some(fault) = opts
            .fault
            .filter(|f| matches!(f.kind, FaultKind::ConsumerExit | FaultKind::ConsumerKill))
        {
            if fault.after == counts.values {
                let lang = log.lang();
                if fault.kind == FaultKind::ConsumerKill {
                    let note = crate::desafio::producer::kill_note(lang, counts.values);
                    log.log(&Event::Fault { fault, note })?;
                    process::kill_self();
                }
                let note = say(Msg::NoteClosingPipe, lang, &counted(counts.values, lang));
                log.log(&Event::Fault { fault, note })?;
                return Ok(Some(format!("{} {fault}", lang.words().fault)));
            }
            if fault.after > counts.values {
                limit = limit.min(fault.after - counts.values);
            }
        }
        let first = match receiver.recv() {
            Ok(Some(message)) => message,
            Ok(None) => {
                return Err(Error::PipeClosed {
                    received: counts.values,
                    truncated: None,
                });
            }
            Err(Error::Truncated { got }) => {
                return Err(Error::PipeClosed {
                    received: counts.values,
                    truncated: Some(got),
                });
            }
            Err(e) => {
                // Gave up on a pipe that did not move after an interrupt: say first that the
                // interrupt came, as when a value arrives.
                if let Error::Stuck { secs, total, .. } = e {
                    if !told_interrupt {
                        tell_interrupt(log)?;
                    }
                    return Err(Error::Stuck {
                        secs,
                        count: counts.values,
                        total,
                    });
                }
                return Err(e);
            }
        };
        if !told_interrupt && process::interrupted().is_some() {
            told_interrupt = true;
            tell_interrupt(log)?;
        }
        events.clear();
        lines.clear();
        let mut next = Some(Ok(first));
        let mut end = None;
        while let Some(message) = next {
            match message? {
                Message::Value(value) => {
                    let parity = Parity::of(value);
                    events.push(Event::Received { value, parity });
                    lines.push((value, parity));
                }
                Message::End { sent } => {
                    end = Some(sent);
                    break;
                }
            }
            next = if (lines.len() as u64) < limit {
                receiver.try_recv_buffered()
            } else {
                None
            };
        }
        log.log_all(&events)?;
        out.values(&lines)?;
        batches += 1;
        if kill_before_count == Some(batches) {
            process::kill_self();
        }
        let even = lines.iter().filter(|(_, p)| *p == Parity::Even).count() as u64;
        counts.values += lines.len() as u64;
        counts.even += even;
        counts.odd += lines.len() as u64 - even;
        tally.add_received(lines.len() as u64);
        if let Some(sent) = end {
            tally.mark_end_received();
            log.log(&Event::EndReceived {
                announced: sent,
                received: counts.values,
            })?;
            if sent != counts.values {
                return Err(Error::CountMismatch {
                    announced: sent,
                    received: counts.values,
                });
            }
            return Ok(None);
        }
    }
}

/// `interrupted by <SIGNAL>: draining the pipe`.
fn tell_interrupt(log: &mut ExecutionLog) -> Result<()> {
    let Some(signal) = process::interrupted() else {
        return Ok(());
    };
    let note = say(Msg::NoteDraining, log.lang(), &[]);
    log.log(&Event::Interrupted {
        signal: signal.as_str().into(),
        note: Some(note),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desafio::cli::RunArgs;
    use crate::desafio::error::EXIT_PIPE_CLOSED;
    use crate::desafio::log::LogPaths;
    use crate::desafio::options::RunOptions;

    fn consume_bytes(bytes: Vec<u8>) -> (Result<i32>, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let paths = LogPaths::claim_fresh(dir.path()).unwrap().0;
        let raw = RunArgs {
            count: 12,
            min: 1,
            max: 100,
            seed: Some(1),
            pace: None,
            log_dir: dir.path().into(),
            quiet: true,
            fault: None,
            bug: None,
            lang: None,
        };
        let opts = RunOptions::validate(raw, crate::desafio::lang::Lang::En, || 0).unwrap();
        let mut log = ExecutionLog::open(
            &paths.execution,
            crate::desafio::record::Role::Consumer,
            false,
            crate::desafio::lang::Lang::En,
        )
        .unwrap();
        let mut out = ConsumerLog::open(&paths.consumer, crate::desafio::lang::Lang::En).unwrap();
        let tally = Tally::new().unwrap();
        let result = run(&opts, &mut log, &mut out, Receiver::new(&bytes[..]), &tally);
        let exec = std::fs::read_to_string(&paths.execution).unwrap();
        let cons = std::fs::read_to_string(&paths.consumer).unwrap();
        (result, exec, cons)
    }

    #[test]
    fn a_truncated_frame_takes_the_eof_path_and_says_so() {
        let mut bytes: Vec<u8> = Message::Value(8).encode().to_vec();
        bytes.extend_from_slice(&Message::Value(9).encode()[..4]);
        let (result, exec, cons) = consume_bytes(bytes);
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), EXIT_PIPE_CLOSED);
        assert_eq!(
            err.to_string(),
            "pipe closed before the end marker after 1 value (truncated message: 4 of 9 bytes)"
        );
        assert!(exec.contains("received 8: even"));
        assert!(
            cons.lines()
                .last()
                .unwrap()
                .starts_with("# totals: values 1, even 1, odd 0 (incomplete: ")
        );
    }

    #[test]
    fn an_end_marker_that_disagrees_with_the_count_is_a_protocol_error() {
        let mut bytes: Vec<u8> = Message::Value(3).encode().to_vec();
        bytes.extend_from_slice(&Message::End { sent: 2 }.encode());
        let (result, exec, _) = consume_bytes(bytes);
        assert!(matches!(
            result,
            Err(Error::CountMismatch {
                announced: 2,
                received: 1
            })
        ));
        assert!(exec.contains("end marker received (2 values announced, 1 received)"));
    }

    #[test]
    fn a_clean_stream_is_classified_and_totalled() {
        let bytes: Vec<u8> = [
            Message::Value(1),
            Message::Value(2),
            Message::Value(5),
            Message::End { sent: 3 },
        ]
        .iter()
        .flat_map(|m| m.encode())
        .collect();
        let (result, _, cons) = consume_bytes(bytes);
        assert_eq!(result.unwrap(), 0);
        assert_eq!(
            cons.lines().last().unwrap(),
            "# totals: values 3, even 1, odd 2"
        );
    }
}
