//! The integration tests: one binary (as ripgrep's `tests/tests.rs`), one module per program or
//! concern, each driving the real binaries in temporary directories through the deadline harness
//! (`common::deadline`). `pool_api` and `sandbox` stay binaries of their own: they fork from the
//! main thread (`harness = false`).
//!
//! How the suite runs: `cargo test` runs four tests of this binary at once (`RUST_TEST_THREADS`
//! in `.cargo/config.toml`; a value or `--test-threads` of your own wins), not libtest's one per
//! core: its tests mostly wait on the programs they start, and with two threads on the 2-core
//! project machine the binary used a quarter of the CPU. More at once slow each test down but
//! must not fail one: nothing here is timed, every wait is on a fact, under a deadline far above
//! a loaded machine's slowness (`common::deadline`). Tests start in name order, so a test that
//! makes others wait for it (docs.rs's `HEAVY_PAGES`) is named to start after them.

#[path = "../common/mod.rs"]
mod common;

// The campaigns' shared modules name these at the crate root (as examples/chaos*.rs do).
#[path = "../common/campaign.rs"]
mod campaign;
use common::deadline;

mod bugs;
mod chaos;
mod chaos_pools;
mod chaos_siblings;
mod desafio01;
mod desafio_minimal;
mod docs;
mod escaping;
mod faults;
mod fd_hygiene;
mod grade;
mod grade_sandbox;
mod harness;
mod joinable_queue;
mod joinable_queue_daemon;
mod lang;
mod layering;
mod lock;
mod orphans;
mod parallel;
mod parallel_faults;
mod progress;
mod races;
mod report;
mod run;
mod scale;
mod signals;
mod task_pool;
mod task_pool_commands;
mod task_pool_gnu;
mod task_pool_orphans;
mod ticket_office;
mod ticket_office_signals;
mod usage;
mod verify;
mod worker_pool;
mod worker_pool_faults;
