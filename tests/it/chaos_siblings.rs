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

/// Seed 20261208's office (39 buyers, 40 tickets; a second run of 2 buyers, 1 ticket, on the
/// same state file), with the first run stopped before it takes the run lock until the second
/// has ended: the second runs first, and the state file ends as the *first* says (1 left),
/// not the second (0). A loaded machine once did this by itself; the check took the run
/// started later for the one that ran later.
#[test]
fn ticket_office_a_second_run_that_takes_the_state_first_leaves_it_to_the_first() {
    crate::campaign::become_subreaper();
    let bin = Path::new(crate::common::TICKET_OFFICE);
    let s = chaos_ticket_office::Scenario {
        hold_first: true,
        ..chaos_ticket_office::scenario(20_261_208)
    };
    assert_eq!(s.fault, chaos_ticket_office::Fault::SecondRun);
    let mut tries = 0;
    loop {
        let dir = tempfile::tempdir().unwrap();
        match chaos_ticket_office::run(bin, &s, dir.path()) {
            Ok(how) => {
                assert_eq!(how, "exit 0");
                let first = std::fs::read_to_string(dir.path().join("run.stdout")).unwrap();
                let second = std::fs::read_to_string(dir.path().join("second/run.stdout")).unwrap();
                assert!(
                    first.ends_with("tickets 40, sold 39, refused 0, oversold 0\n"),
                    "{first}"
                );
                assert!(
                    second.ends_with("tickets 1, sold 1, refused 1, oversold 0\n"),
                    "{second}"
                );
                assert_eq!(
                    std::fs::read_to_string(dir.path().join("state.json")).unwrap(),
                    "{\"ticket_num\": 1}\n"
                );
                break;
            }
            // Stopped too late (it had its lock already): the order this test is about did not
            // happen; try again.
            Err(why) if why.starts_with("not held:") && tries < 10 => tries += 1,
            Err(why) => panic!("{why}"),
        }
    }
}
