//! The fault campaign, seeded and bounded for CI: a few dozen random runs (sizes, paces, faults,
//! signals at random moments), each checked against every invariant of `common::chaos`. The
//! same campaign runs a thousand times with `cargo run --release --example chaos`.

mod common;

#[path = "common/chaos.rs"]
mod chaos;

use std::path::Path;
use std::time::{Duration, Instant};

/// Fixed, so a failure here is a failure every time: its replay command is printed.
const SEED: u64 = 20_261_125;
/// Runs, and the time they may take together (debug build, 2 busy cores).
const RUNS: u64 = 250;
const BUDGET: Duration = Duration::from_secs(30);

#[test]
fn a_seeded_fault_campaign_breaks_no_invariant() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut ran = 0;
    for i in 0..RUNS {
        if start.elapsed() > BUDGET {
            break;
        }
        let scenario = chaos::Scenario::from_seed(SEED.wrapping_add(i));
        let dir = tempfile::tempdir().unwrap();
        if let Err(why) = chaos::run(Path::new(common::BIN), &scenario, dir.path()) {
            failures.push(format!("{}\n  {why}", scenario.replay()));
        }
        ran += 1;
    }
    assert!(ran >= 20, "only {ran} runs fitted in the budget");
    assert!(
        failures.is_empty(),
        "{} of {ran} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
