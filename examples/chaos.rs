//! The fault campaign, at length: `cargo run --release --example chaos -- --runs 1000 --seed S`
//! runs that many random scenarios (sizes, paces, faults, outside signals at random moments)
//! against the release `ipc_desafio` and checks every invariant on each (see
//! tests/common/chaos.rs). `--replay N` runs the one scenario of campaign seed N again. A failing
//! run prints the command that replays it. The driver is the one every campaign shares
//! (tests/common/campaign.rs).

#[path = "../tests/common/campaign.rs"]
mod campaign;
#[path = "../tests/common/chaos.rs"]
mod chaos;
#[path = "../tests/common/deadline.rs"]
mod deadline;

fn main() -> std::process::ExitCode {
    campaign::Campaign {
        program: "ipc_desafio",
        example: "chaos",
        scenario: chaos::Scenario::from_seed,
        describe: |s| {
            format!(
                "ipc_desafio {}, then {:?} at {:?}",
                s.args.join(" "),
                s.action,
                s.at
            )
        },
        fault: |s| format!("{:?}", s.action),
        run: chaos::run,
    }
    .main()
}
