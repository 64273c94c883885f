//! The daemon consumer: `while True: item = q.get(); work(item); q.task_done()`.
//!
//! It keeps the items queue's receiving end and the doorbell's sending end, nothing else. It
//! dies with main whatever kills main (death signal SIGKILL: a daemon). SIGINT or SIGTERM (a
//! Ctrl+C, or main winding down) makes it stop taking items; the item in hand is finished and
//! marked done first. When the queue is closed and empty it rings the doorbell once (main needs
//! to know, to settle an item a killed producer may never have queued) and then waits, as the
//! original's consumer waits in `get()` forever, until main ends it.

use std::time::Duration;

use ipc_sys::linelog::say;
use ipc_sys::queue::QueueEnd;
use ipc_sys::signal::{kill_self, wait_unless_interrupted};

use super::board::{DRAINED, Got, Queue};
use super::{JoinCli, Result, item_name};

pub fn run(o: &JoinCli, q: Queue<'_>, items: &QueueEnd, doorbell: &QueueEnd) -> Result<()> {
    let pid = std::process::id();
    let mut taken = 0u64;
    loop {
        let id = match q.get(items)? {
            Got::Item(id) => id,
            Got::Interrupted => return Ok(()),
            Got::Drained => {
                doorbell.send(&DRAINED.to_le_bytes())?;
                // A daemon never leaves by itself: main ends it (SIGTERM), or its death does.
                while wait_unless_interrupted(None, None)? != ipc_sys::signal::Wake::Interrupted {}
                return Ok(());
            }
        };
        taken += 1;
        let name = item_name(id);
        say(&format!("consumer ({pid}): took {name}"));
        q.release_slot()?;
        if o.consumer_dies_at == Some(taken) {
            say(&format!("consumer ({pid}): dying while holding {name}"));
            kill_self();
        }
        // The work is finished even when an interrupt arrives meanwhile: it is settled, not lost.
        std::thread::sleep(JoinCli::pick(o.work_ms));
        if o.forget_task_done == Some(taken) {
            say(&format!(
                "consumer ({pid}): finished {name} but forgot task_done"
            ));
            q.forget_holding();
        } else {
            // Said before it is marked: once marked, join() may return and main end this daemon.
            say(&format!("consumer ({pid}): done {name}"));
            q.task_done(id, doorbell)?;
        }
        if ipc_sys::signal::interrupted().is_some() {
            return Ok(());
        }
    }
}

/// Whether an error of the consumer means main is gone: the doorbell has no reader left. Only
/// main reads it, and main only leaves once it has ended this daemon — unless it was killed.
pub fn main_gone(e: &super::Error) -> bool {
    matches!(
        e,
        super::Error::Sys(ipc_sys::Error::QueueIo {
            name: "done",
            source: nix::errno::Errno::EPIPE | nix::errno::Errno::ECONNRESET,
            ..
        })
    )
}

/// How long the consumer may take to settle the item in hand once told to stop: the longest
/// an item's work can take, and some.
pub fn settle_time(o: &JoinCli) -> Duration {
    Duration::from_millis(o.work_ms.unwrap_or(super::DEFAULT_MAX_MS)) + Duration::from_secs(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doorbell_whose_reader_is_gone_means_main_is_gone() {
        let (tx, rx) = ipc_sys::queue::pair("done", super::super::board::ITEM_LEN).unwrap();
        drop(rx);
        let e = super::super::Error::from(tx.send(&7u64.to_le_bytes()).unwrap_err());
        assert!(main_gone(&e), "{e}");
        let (items_tx, items_rx) =
            ipc_sys::queue::pair("items", super::super::board::ITEM_LEN).unwrap();
        drop(items_rx);
        let other = super::super::Error::from(items_tx.send(&7u64.to_le_bytes()).unwrap_err());
        assert!(!main_gone(&other), "only the doorbell is main's: {other}");
    }
}
