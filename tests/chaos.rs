//! The fault campaign, seeded and bounded for CI: a fixed few dozen random runs (sizes, paces, faults,
//! signals at random moments), each checked against every invariant of `common::chaos`. The
//! same campaign runs a thousand times with `cargo run --release --example chaos`.

mod common;

#[path = "common/chaos.rs"]
mod chaos;

use std::path::Path;

use common::deadline;

/// Fixed, so a failure here is a failure every time: its replay command is printed.
const SEED: u64 = 20_261_125;
/// Scenarios, always these: each has its own deadline (`Scenario::bound`), enforced by
/// `chaos::run`, which kills the run's session when it passes and counts a hang as a failure.
const RUNS: u64 = 60;

#[test]
fn a_seeded_fault_campaign_breaks_no_invariant() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let mut failures = Vec::new();
    for i in 0..RUNS {
        let scenario = chaos::Scenario::from_seed(SEED.wrapping_add(i));
        let dir = tempfile::tempdir().unwrap();
        if let Err(why) = chaos::run(Path::new(common::BIN), &scenario, dir.path()) {
            failures.push(format!("{}\n  {why}", scenario.replay()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {RUNS} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
