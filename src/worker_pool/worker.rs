//! A worker: takes items from the work queue one at a time, "processes" each (sleeps
//! `--work-ms`), and fails — exits with `EXIT_ITEM_FAILED` after logging the failure — on values
//! below `--fail-below`. It leaves when the queue is closed and empty, or when asked to stop;
//! an item it has taken is always finished first.

use std::os::fd::AsFd;
use std::time::Duration;

use ipc_sys::queue::{QueueEnd, Received};
use ipc_sys::signal::Wake;

use super::error::{Error, Result};
use super::event::{Event, ITEM_LEN, Params, Reporter, decode_item};
use super::{EXIT_ITEM_FAILED, EXIT_STOPPED};

pub fn run(opts: &Params, rep: &mut Reporter, work: &QueueEnd) -> Result<i32> {
    let mut buf = [0u8; ITEM_LEN];
    loop {
        if let Some(signal) = ipc_sys::signal::interrupted() {
            rep.report(Event::WorkerStopping {
                signal: Some(signal as i32),
            })?;
            return Ok(EXIT_STOPPED);
        }
        if ipc_sys::signal::wait_unless_interrupted(Some(work.as_fd()), None)? == Wake::Interrupted
        {
            continue;
        }
        let (id, value) = match work.recv(&mut buf, false)? {
            // Another worker was faster, or a signal arrived: look again.
            Received::Empty => continue,
            Received::Closed => {
                rep.report(Event::WorkerStopping { signal: None })?;
                return Ok(0);
            }
            Received::Message(n) => decode_item(&buf[..n]).ok_or(Error::BadMessage {
                queue: "work",
                len: n,
            })?,
        };
        rep.report(Event::Took { id, value })?;
        // Finish the item even if an interrupt arrives meanwhile (std's sleep resumes on EINTR).
        std::thread::sleep(Duration::from_millis(opts.work_ms));
        if value < opts.fail_below {
            rep.report(Event::ItemFailed {
                id,
                value,
                below: opts.fail_below,
            })?;
            return Ok(EXIT_ITEM_FAILED);
        }
        rep.report(Event::Processed { id, value })?;
    }
}
