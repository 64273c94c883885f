//! The generator: random values 0..=100 at random intervals, each logged, then put on the work
//! queue, until `--items` is reached or an interrupt arrives.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::PoolOptions;
use super::event::{Reporter, encode_item};
use crate::error::Result;
use crate::process;
use crate::queue::QueueEnd;

/// Largest value generated, as in the classic exercise.
const MAX_VALUE: i64 = 100;

pub fn run(opts: &PoolOptions, rep: &mut Reporter, work: &QueueEnd) -> Result<i32> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut generated = 0u64;
    let reason = loop {
        if let Some(n) = opts.items
            && generated >= n
        {
            break format!("--items {n} reached");
        }
        if let Some(signal) = process::interrupted() {
            break format!("interrupted by {}", signal.as_str());
        }
        generated += 1;
        let value = rng.random_range(0..=MAX_VALUE);
        // Logged before it is queued, so the log shows every item before any worker takes it.
        rep.report(format!("generated item {generated} value {value}"))?;
        work.send(&encode_item(generated, value))?;
        let gap = rng.random_range(0..=opts.max_gap_ms);
        if gap > 0 {
            process::sleep_unless_interrupted(Duration::from_millis(gap));
        }
    };
    rep.report(format!("stopping after {generated} items: {reason}"))?;
    Ok(0)
}
