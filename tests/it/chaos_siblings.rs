//! The seeded fault campaigns of worker_pool, joinable_queue and ticket_office, a fixed slice
//! of each (a fixed seed, a fixed number of scenarios, each with its own deadline): a failure
//! here is a failure every time, and its replay command is printed. The same campaigns run at
//! length with `cargo run --release --example chaos_<program>`. The three tests run at once,
//! each run in a session of its own; this process is a child subreaper (see
//! tests/common/campaign.rs).

#[path = "../common/chaos_joinable_queue.rs"]
mod chaos_joinable_queue;
#[path = "../common/chaos_ticket_office.rs"]
mod chaos_ticket_office;
#[path = "../common/chaos_worker_pool.rs"]
mod chaos_worker_pool;

use std::path::Path;

/// Fixed, so that a failure here is a failure every time.
const SEED: u64 = 20_261_206;

#[test]
fn worker_pool_under_random_faults_keeps_every_invariant() {
    chaos_worker_pool::CAMPAIGN.slice(Path::new(crate::common::WORKER_POOL), SEED, 20);
}

#[test]
fn joinable_queue_under_random_faults_keeps_every_invariant() {
    chaos_joinable_queue::CAMPAIGN.slice(Path::new(crate::common::JOINABLE_QUEUE), SEED, 25);
}

#[test]
fn ticket_office_under_random_faults_keeps_every_invariant() {
    chaos_ticket_office::CAMPAIGN.slice(Path::new(crate::common::TICKET_OFFICE), SEED, 25);
}
