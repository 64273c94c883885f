//! SIGKILL of main leaves no child behind. This test makes itself a child subreaper, so the
//! orphaned producer and consumer are re-parented to it and it can prove they exit (and reap
//! them: no zombie either). It lives in its own test binary because it changes process state.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Run;
use ipc_desafio::desafio::record::{Event, Role};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

#[test]
fn sigkill_of_main_leaves_no_child_behind() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let run = Run::new();
    let mut main = run.spawn(&["-q", "-n", "1000", "--max", "100000", "--pace", "50"]);
    run.wait_for("3 values sent", Duration::from_secs(30), |l| {
        matches!(l.event, Event::Sent { index: 3, .. })
    });
    let producer = Pid::from_raw(run.pid_of(Role::Producer).unwrap());
    let consumer = Pid::from_raw(run.pid_of(Role::Consumer).unwrap());
    kill(Pid::from_raw(main.id() as i32), Signal::SIGKILL).unwrap();
    assert_eq!(main.wait().code(), None, "main must die by the signal");

    let deadline = Instant::now() + common::default_deadline();
    let mut statuses = Vec::new();
    for pid in [producer, consumer] {
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap() {
                WaitStatus::StillAlive if Instant::now() < deadline => {
                    sleep(Duration::from_millis(10))
                }
                WaitStatus::StillAlive => {
                    panic!("{pid} still alive a deadline after main was killed")
                }
                status => {
                    statuses.push(status);
                    break;
                }
            }
        }
    }
    // The death signal is SIGTERM, so both wind down cleanly: the producer sends the end
    // marker and the consumer drains the pipe.
    assert_eq!(
        statuses,
        vec![
            WaitStatus::Exited(producer, 0),
            WaitStatus::Exited(consumer, 0)
        ]
    );
    assert!(!common::alive(producer.as_raw()) && !common::alive(consumer.as_raw()));
    assert!(
        run.messages(Role::Producer)
            .iter()
            .any(|m| m.starts_with("interrupted by SIGTERM"))
    );
    assert_eq!(
        run.sent_values(),
        run.received_values(),
        "nothing sent is lost even when main dies"
    );
}

/// `--fault main-kill@K`: main SIGKILLs itself once K values are received. Its children get
/// their death signal and wind down as on Ctrl+C, nothing is lost, and verify says what happened.
#[test]
fn main_kill_fault_leaves_children_to_wind_down_and_verify_says_main_was_killed() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let run = Run::new();
    let mut main = run.spawn(&["-q", "-n", "40", "--pace", "20", "--fault", "main-kill@5"]);
    let status = main.wait();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "main killed itself"
    );
    let producer = Pid::from_raw(run.pid_of(Role::Producer).unwrap());
    let consumer = Pid::from_raw(run.pid_of(Role::Consumer).unwrap());
    let deadline = Instant::now() + common::default_deadline();
    for pid in [producer, consumer] {
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap() {
                WaitStatus::StillAlive if Instant::now() < deadline => {
                    sleep(Duration::from_millis(10))
                }
                WaitStatus::Exited(_, 0) => break,
                other => panic!("{pid}: {other:?}"),
            }
        }
    }
    assert!(
        run.messages(Role::Main)
            .last()
            .unwrap()
            .starts_with("fault main-kill@5: sending itself SIGKILL after 5 values")
    );
    assert_eq!(run.sent_values(), run.received_values(), "nothing lost");
    let audit = common::stdout(&run.audit());
    assert!(
        audit.contains(
            "fault main-kill@5 injected — handled: main was killed after 5 values were received"
        ),
        "{audit}"
    );
    assert!(audit.contains("both exited 0"), "{audit}");
    assert!(audit.contains("verify: INCOMPLETE"), "{audit}");
}
