//! The seeded fault campaigns of task_pool (running commands) and parallel (`hash`,
//! `scan-logs`), a fixed slice of each: a fixed seed, a fixed number of scenarios, each with its
//! own deadline — a failure here is a failure every time, and its replay command is printed.
//! The same campaigns run at length with `cargo run --release --example chaos_task_pool` and
//! `chaos_parallel`. Each run is in a session of its own; this process is a child subreaper
//! (see tests/common/campaign.rs).

#[path = "../common/chaos_parallel.rs"]
mod chaos_parallel;
#[path = "../common/chaos_task_pool.rs"]
mod chaos_task_pool;

use std::path::Path;

/// Fixed, so that a failure here is a failure every time.
const SEED: u64 = 20_261_207;

#[test]
fn task_pool_under_random_faults_keeps_every_invariant() {
    chaos_task_pool::CAMPAIGN.slice(Path::new(crate::common::TASK_POOL), SEED, 20);
}

#[test]
fn parallel_under_random_faults_keeps_every_invariant() {
    chaos_parallel::CAMPAIGN.slice(Path::new(crate::common::PARALLEL), SEED, 16);
}
