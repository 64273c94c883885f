//! Ctrl+C and SIGTERM, to the whole process group or to main alone: the producer stops and
//! sends the end marker, the consumer drains the pipe, main exits 130, nothing sent is lost.

use crate::common;

use std::time::Duration;

use common::{Bounded, Run, wait_with_deadline};
use ipc_desafio::desafio::record::{Event, Role};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

const DEADLINE: Duration = Duration::from_secs(30);

fn interrupt_mid_run(args: &[&str], after_sent: u64, deliver: impl FnOnce(Pid)) -> Run {
    let run = Run::new();
    let mut child = run.spawn(args);
    run.wait_for(
        &format!("{after_sent} values sent"),
        DEADLINE,
        |l| matches!(l.event, Event::Sent { index, .. } if index >= after_sent),
    );
    deliver(Pid::from_raw(child.id() as i32));
    assert_eq!(
        wait_with_deadline(&mut child, DEADLINE),
        130,
        "{}",
        run.exec_text()
    );
    run
}

fn assert_nothing_lost(run: &Run, total: u64) {
    let (sent, received, lost) = run.summary();
    assert_eq!(lost, 0, "{}", run.exec_text());
    assert_eq!(sent, received);
    assert!(sent < total, "the run was supposed to stop early");
    assert_eq!(run.sent_values(), run.received_values());
    assert!(
        run.messages(Role::Main)
            .iter()
            .any(|m| m.starts_with("interrupted by "))
    );
    let producer = run.messages(Role::Producer);
    assert!(
        producer.iter().any(|m| m.starts_with("interrupted by ")
            && m.ends_with(&format!("stopping after {sent} of {total} values"))),
        "{producer:?}"
    );
    assert!(producer.contains(&format!("end marker sent ({sent} values)")));
    assert!(run.messages(Role::Consumer).contains(&format!(
        "end marker received ({sent} values announced, {sent} received)"
    )));
    // Main exits 130; verify's verdict class is the same: INCOMPLETE (it sent less than it was
    // asked), with nothing lost, and says so.
    let verify = run.audit();
    let report = common::stdout(&verify);
    assert_eq!(common::code(&verify), 1, "{report}");
    let last = report.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("verify: INCOMPLETE: the logs are consistent")
            && last.contains(&format!("{sent} received, 0 lost")),
        "an interrupted run loses nothing:\n{report}"
    );
    assert!(
        report.contains(&format!(
            "after {sent} of {total} values sent; nothing lost"
        )),
        "{report}"
    );
}

#[test]
fn sigint_to_the_process_group_stops_cleanly_with_exit_130() {
    let run = interrupt_mid_run(
        &["-q", "-n", "60", "--max", "1000", "--pace", "30"],
        3,
        |pid| {
            killpg(pid, Signal::SIGINT).unwrap();
        },
    );
    assert_nothing_lost(&run, 60);
    assert!(
        run.messages(Role::Consumer)
            .contains(&"interrupted by SIGINT: draining the pipe".to_string())
    );
}

#[test]
fn sigint_to_main_alone_is_forwarded_and_loses_nothing() {
    let run = interrupt_mid_run(
        &["-q", "-n", "60", "--max", "1000", "--pace", "30"],
        3,
        |pid| {
            kill(pid, Signal::SIGINT).unwrap();
        },
    );
    assert_nothing_lost(&run, 60);
    assert!(
        run.messages(Role::Main)
            .contains(&"interrupted by SIGINT".to_string())
    );
    assert!(
        run.messages(Role::Producer)
            .iter()
            .any(|m| m.starts_with("interrupted by SIGTERM")),
        "main forwards SIGTERM"
    );
}

#[test]
fn sigterm_to_main_alone_stops_cleanly_with_exit_130() {
    let run = interrupt_mid_run(
        &["-q", "-n", "60", "--max", "1000", "--pace", "30"],
        3,
        |pid| {
            kill(pid, Signal::SIGTERM).unwrap();
        },
    );
    assert_nothing_lost(&run, 60);
}

#[test]
fn sigterm_to_the_process_group_stops_cleanly_with_exit_130() {
    let run = interrupt_mid_run(
        &["-q", "-n", "60", "--max", "1000", "--pace", "30"],
        3,
        |pid| {
            killpg(pid, Signal::SIGTERM).unwrap();
        },
    );
    assert_nothing_lost(&run, 60);
}

/// Without a pause the pipe is full when the interrupt lands: the consumer must drain all of it.
#[test]
fn sigint_with_a_full_pipe_still_delivers_every_value_sent() {
    let run = Run::new();
    let mut child = run.spawn(&["-q", "-n", "5000000", "--max", "1000000000"]);
    let start = std::time::Instant::now();
    while std::fs::metadata(run.exec_path()).map_or(0, |m| m.len()) < 256 * 1024 {
        assert!(start.elapsed() < DEADLINE, "the run never got going");
        std::thread::sleep(Duration::from_millis(2));
    }
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_with_deadline(&mut child, DEADLINE), 130);
    assert_nothing_lost(&run, 5_000_000);
}

/// Each pause is the longest `--pace` accepts (a minute): a producer that slept through
/// Ctrl+C would keep the run going past the test's deadline, which fails it.
#[test]
fn a_long_pause_is_cut_short_by_the_interrupt() {
    let run = interrupt_mid_run(&["-q", "-n", "5", "--pace", "60000"], 1, |pid| {
        killpg(pid, Signal::SIGINT).unwrap();
    });
    assert_eq!(run.summary(), (1, 1, 0));
}

/// Ctrl+C must end a run whose stdout nobody reads (`| less` on a page the user is reading).
/// The echo of the log fills the pipe and blocks — under the log's lock, so the whole run
/// waits on it, which is right: the reader sets the pace. But a blocking write retried after
/// every signal would hold the lock forever and no Ctrl+C could end the run. Once told to stop,
/// a process echoes only what stdout takes at once.
#[test]
fn ctrl_c_ends_a_run_whose_stdout_nobody_reads() {
    let run = Run::new();
    let mut child = run
        .command(&["-n", "200000", "--max", "1000000"])
        .stdout(std::process::Stdio::piped()) // held open, never read
        .stderr(std::process::Stdio::null())
        .start();
    // Wait until the run is held up by the full pipe: the log stops growing.
    let start = std::time::Instant::now();
    let (mut last, mut still) = (0, 0);
    while still < 5 {
        assert!(start.elapsed() < DEADLINE, "the run never filled stdout");
        std::thread::sleep(Duration::from_millis(50));
        let size = std::fs::metadata(run.exec_path()).map_or(0, |m| m.len());
        (still, last) = if size == last && size > 0 {
            (still + 1, size)
        } else {
            (0, size)
        };
    }
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(wait_with_deadline(&mut child, DEADLINE), 130);
    let (sent, received, lost) = run.summary();
    assert_eq!((received, lost), (sent, 0));
    assert!(sent < 200_000);
}

/// A child that is stopped (SIGSTOP) — or stuck — cannot keep an interrupted run from ending:
/// main gives the children a grace period, then SIGKILLs them, logs why, and exits 130; the
/// logs stay consistent for verify.
#[test]
fn a_stopped_child_cannot_keep_an_interrupted_run_from_ending() {
    for stopped in [Role::Consumer, Role::Producer] {
        let run = Run::new();
        let mut child = run.spawn(&["-q", "-n", "100", "--max", "1000", "--pace", "50"]);
        run.wait_for("3 values received", DEADLINE, |l| {
            matches!(l.event, Event::Received { .. })
                && run
                    .exec_lines()
                    .iter()
                    .filter(|l| matches!(l.event, Event::Received { .. }))
                    .count()
                    >= 3
        });
        let pid = run.pid_of(stopped).expect("the child's pid is logged");
        kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
        let main = Pid::from_raw(child.id() as i32);
        killpg(main, Signal::SIGINT).unwrap();
        assert_eq!(
            wait_with_deadline(&mut child, DEADLINE),
            130,
            "{}",
            run.exec_text()
        );
        let text = run.exec_text();
        assert!(
            text.contains("after the interrupt (stopped or stuck?): killing them"),
            "{stopped:?}: {text}"
        );
        assert!(!common::alive(pid), "main reaped the child it killed");
        let audit = common::stdout(&run.audit());
        assert!(
            audit
                .lines()
                .last()
                .unwrap()
                .starts_with("verify: INCOMPLETE: the logs are consistent"),
            "{stopped:?}: {audit}"
        );
    }
}
