//! The ticket_office fault campaign at length:
//! `cargo run --release --example chaos_ticket_office -- --runs 1000 --seed S`, or `--replay N`
//! for the one scenario of seed N. The invariants are in tests/common/chaos_ticket_office.rs; a
//! failing run prints the command that replays it.

#[path = "../tests/common/campaign.rs"]
mod campaign;
#[path = "../tests/common/chaos_ticket_office.rs"]
mod chaos_ticket_office;

fn main() -> std::process::ExitCode {
    chaos_ticket_office::CAMPAIGN.main()
}
