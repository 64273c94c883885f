//! The task_pool fault campaign at length:
//! `cargo run --release --example chaos_task_pool -- --runs 1000 --seed S`, or `--replay N`
//! for the one scenario of seed N. The invariants are in tests/common/chaos_task_pool.rs; a
//! failing run prints the command that replays it.

#[path = "../tests/common/campaign.rs"]
mod campaign;
#[path = "../tests/common/chaos_task_pool.rs"]
mod chaos_task_pool;

fn main() -> std::process::ExitCode {
    chaos_task_pool::CAMPAIGN.main()
}
