//! The parallel (`hash`, `scan-logs`) fault campaign at length:
//! `cargo run --release --example chaos_parallel -- --runs 1000 --seed S`, or `--replay N`
//! for the one scenario of seed N. The invariants are in tests/common/chaos_parallel.rs; a
//! failing run prints the command that replays it.

#[path = "../tests/common/campaign.rs"]
mod campaign;
#[path = "../tests/common/chaos_parallel.rs"]
mod chaos_parallel;

fn main() -> std::process::ExitCode {
    chaos_parallel::CAMPAIGN.main()
}
