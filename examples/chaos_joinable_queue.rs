//! The joinable_queue fault campaign at length:
//! `cargo run --release --example chaos_joinable_queue -- --runs 1000 --seed S`, or `--replay N`
//! for the one scenario of seed N. The invariants are in tests/common/chaos_joinable_queue.rs; a
//! failing run prints the command that replays it.

#[path = "../tests/common/campaign.rs"]
mod campaign;
#[path = "../tests/common/chaos_joinable_queue.rs"]
mod chaos_joinable_queue;

fn main() -> std::process::ExitCode {
    chaos_joinable_queue::CAMPAIGN.main()
}
