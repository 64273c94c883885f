//! SIGKILL of main leaves no child behind. This test makes itself a child subreaper, so the
//! orphaned producer and consumer are re-parented to it and it can prove they exit (and reap
//! them: no zombie either). The flag is process-wide: once these tests have run, an orphan of
//! any test of the `it` binary is re-parented to the test process.

use crate::common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Bounded, Run};
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

/// Starts a run in a session of its own, waits until `ready` holds for its log, SIGKILLs main,
/// and returns the run once every process of the session is gone (the test fails, naming what
/// is left, if one outlives the deadline — and kills it).
fn kill_main_when(args: &[&str], what: &str, mut ready: impl FnMut(&Run) -> bool) -> Run {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let run = Run::new();
    let mut cmd = run.command(args);
    cmd.stdout(std::process::Stdio::null());
    // In a session of its own: orphans stay in it, and a failing test kills them with it.
    let mut main = cmd.start_in_session();
    let sid = main.pid();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(&run) {
        assert!(
            Instant::now() < deadline,
            "{args:?}: timed out waiting for {what}; log so far:\n{}",
            run.exec_text()
        );
        sleep(Duration::from_millis(5));
    }
    kill(Pid::from_raw(sid), Signal::SIGKILL).unwrap();
    let _ = main.wait();
    common::wait_session_gone(sid, Duration::from_secs(30));
    run
}

/// Whether `pid` is blocked on its pipe, as /proc shows it: in `write`, or in `ppoll` on one
/// descriptor (a `--pace` sleep is a `ppoll` on none).
fn waits_on_one_descriptor(pid: i32) -> bool {
    let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let fields: Vec<&str> = syscall.split_whitespace().collect();
    let is = |n: libc::c_long| fields.first() == Some(&n.to_string().as_str());
    is(libc::SYS_write) || (is(libc::SYS_ppoll) && fields.get(2) == Some(&"0x1"))
}

fn logged(run: &Run, pred: impl Fn(&Event) -> bool) -> bool {
    run.parsed_lines().iter().any(|l| pred(&l.event))
}

/// `--bug parent-keeps-ends`, producer gone: the consumer holds the write end itself, so no end
/// of file can come. Its death signal (SIGTERM) must still end it: once told to stop, it waits
/// at most 5 s for the pipe to move, says so, and exits.
#[test]
fn the_death_signal_ends_a_consumer_that_waits_for_an_end_of_file_that_cannot_come() {
    let run = kill_main_when(
        &[
            "-q",
            "--pace",
            "100",
            "--fault",
            "producer-exit@4",
            "--bug",
            "parent-keeps-ends",
        ],
        "main to report the producer's exit",
        |run| {
            logged(run, |e| {
                matches!(
                    e,
                    Event::ChildExited {
                        role: Role::Producer,
                        ..
                    }
                )
            })
        },
    );
    let consumer = run.messages(Role::Consumer);
    assert!(
        consumer.iter().any(|m| m
            == "error: nothing came through the pipe for 5 s after the interrupt: giving up after 4 values, without the end marker"),
        "{consumer:?}"
    );
    assert_eq!(consumer.last().unwrap(), "exiting with code 1");
    let audit = common::stdout(&run.audit());
    assert!(audit.contains("verify: INCOMPLETE"), "{audit}");
}

/// The EPIPE side: the consumer gone, main and the producer still hold the read end, the pipe
/// is full: once told to stop, the producer waits at most 5 s on the full pipe and exits.
#[test]
fn the_death_signal_ends_a_producer_blocked_on_a_pipe_nobody_reads() {
    let run = kill_main_when(
        &[
            "-q",
            "-n",
            "20000",
            "--max",
            "100000",
            "--fault",
            "consumer-exit@3",
            "--bug",
            "parent-keeps-ends",
        ],
        "the consumer gone and the producer waiting on the full pipe",
        // The window lasts 2 s: then main calls the run stalled and ends it. Parsing the whole
        // log at every poll (thousands of lines by then) took longer than that with both cores
        // busy, so the consumer's exit is looked for only until seen, the producer's pid is read
        // once, and then only /proc is polled.
        {
            let mut consumer_gone = false;
            let mut producer = None;
            move |run: &Run| {
                if producer.is_none() {
                    producer = run.pid_of(Role::Producer);
                }
                consumer_gone = consumer_gone
                    || logged(run, |e| {
                        matches!(
                            e,
                            Event::ChildExited {
                                role: Role::Consumer,
                                ..
                            }
                        )
                    });
                consumer_gone && producer.is_some_and(waits_on_one_descriptor)
            }
        },
    );
    let producer = run.messages(Role::Producer);
    assert!(
        producer.iter().any(|m| m.starts_with(
            "error: the pipe stayed full for 5 s after the interrupt: giving up after "
        )),
        "{:?}",
        &producer[producer.len().saturating_sub(3)..]
    );
    let audit = common::stdout(&run.audit());
    assert!(audit.contains("verify: INCOMPLETE"), "{audit}");
}

/// "No orphan" in every mode: with each `--bug` (and none), main SIGKILLed mid-run leaves no
/// process behind.
#[test]
fn sigkill_of_main_leaves_no_process_behind_in_any_mode() {
    for bug in [
        None,
        Some("no-lock"),
        Some("lock-before-fork"),
        Some("parent-keeps-ends"),
    ] {
        let mut args = vec!["-q", "-n", "40", "--pace", "50"];
        if let Some(bug) = bug {
            args.extend(["--bug", bug]);
        }
        let run = kill_main_when(&args, "3 values received", |run| {
            run.parsed_lines()
                .iter()
                .filter(|l| matches!(l.event, Event::Received { .. }))
                .count()
                >= 3
        });
        assert!(
            run.messages(Role::Consumer)
                .last()
                .is_some_and(|m| m.starts_with("exiting with code")),
            "{bug:?}: {}",
            run.exec_text()
        );
    }
}
