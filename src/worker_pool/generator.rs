//! The generator: random values 0..=100 at random intervals, each logged, then put on the work
//! queue, until `--items` is reached or an interrupt arrives.

use std::time::Duration;

use ipc_sys::queue::QueueEnd;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::PoolOptions;
use super::error::Result;
use super::event::{Event, GeneratorStop, Reporter, encode_item};

/// Largest value generated, as in the classic exercise.
const MAX_VALUE: i64 = 100;

pub fn run(opts: &PoolOptions, rep: &mut Reporter, work: &QueueEnd) -> Result<i32> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut generated = 0u64;
    let why = loop {
        if let Some(n) = opts.items
            && generated >= n
        {
            break GeneratorStop::ItemsReached(n);
        }
        if let Some(signal) = ipc_sys::signal::interrupted() {
            break GeneratorStop::Interrupted(signal as i32);
        }
        generated += 1;
        let value = rng.random_range(0..=MAX_VALUE);
        // Logged before it is queued, so the log shows every item before any worker takes it.
        rep.report(Event::Generated {
            id: generated,
            value,
        })?;
        work.send(&encode_item(generated, value))?;
        let gap = rng.random_range(0..=opts.max_gap_ms);
        if gap > 0 {
            ipc_sys::signal::sleep_unless_interrupted(Duration::from_millis(gap));
        }
    };
    rep.report(Event::GeneratorStopped { generated, why })?;
    Ok(0)
}
