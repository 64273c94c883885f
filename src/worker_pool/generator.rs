//! The generator: random values 0..=100 at random intervals, each logged, then put on the work
//! queue, until `--items` is reached, an interrupt arrives or nobody takes work any more.

use std::os::fd::AsFd;
use std::time::Duration;

use ipc_sys::queue::QueueEnd;
use ipc_sys::signal::{Wake, Watch, wait_event};
use nix::poll::{PollFd, PollFlags};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::EXIT_STOPPED;
use super::error::Result;
use super::event::{Event, GeneratorStop, Params, Reporter, encode_item, peer_gone};

/// Largest value generated, as in the classic exercise.
const MAX_VALUE: i64 = 100;

pub fn run(opts: &Params, rep: &mut Reporter, work: &QueueEnd) -> Result<i32> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut generated = 0u64;
    let (why, unsent) = loop {
        if let Some(n) = opts.items
            && generated >= n
        {
            break (GeneratorStop::ItemsReached(n), None);
        }
        if let Some(signal) = ipc_sys::signal::interrupted() {
            break (GeneratorStop::Interrupted(signal as i32), None);
        }
        generated += 1;
        let value = rng.random_range(0..=MAX_VALUE);
        // Logged before it is queued, so the log shows every item before any worker takes it.
        rep.report(Event::Generated {
            id: generated,
            value,
        })?;
        if let Some(why) = put(work, &encode_item(generated, value))? {
            break (why, Some(generated));
        }
        let gap = rng.random_range(0..=opts.max_gap_ms);
        if gap > 0 {
            ipc_sys::signal::sleep_unless_interrupted(Duration::from_millis(gap));
        }
    };
    let code = match why {
        GeneratorStop::ItemsReached(_) => 0,
        GeneratorStop::Interrupted(_) | GeneratorStop::NoTaker => EXIT_STOPPED,
    };
    rep.report(Event::GeneratorStopped {
        generated,
        why,
        unsent,
    })?;
    Ok(code)
}

/// Puts one item on the work queue, waiting while it is full — but not past an interrupt: a
/// blocking send would sit out Ctrl+C for as long as the workers take nothing (and at shutdown
/// they take nothing more). `Some(why)` when the item could not be queued.
fn put(work: &QueueEnd, item: &[u8]) -> Result<Option<GeneratorStop>> {
    loop {
        match work.try_send(item) {
            Ok(true) => return Ok(None),
            Ok(false) => {}
            Err(ipc_sys::Error::QueueIo { source, .. }) if peer_gone(source) => {
                return Ok(Some(GeneratorStop::NoTaker));
            }
            Err(e) => return Err(e.into()),
        }
        let mut fds = [PollFd::new(work.as_fd(), PollFlags::POLLOUT)];
        if wait_event(&mut fds, None, Watch::INTERRUPTS)? == Wake::Interrupted
            && let Some(signal) = ipc_sys::signal::interrupted()
        {
            return Ok(Some(GeneratorStop::Interrupted(signal as i32)));
        }
    }
}
