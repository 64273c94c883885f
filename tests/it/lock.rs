//! The lock really excludes: while another process holds an exclusive flock on
//! execution_log.txt, the run cannot log and so makes no progress; once released, it finishes.
//! Under contention, no writer's line lands between another's timestamp and its write. Once
//! interrupted, a process gives up a lock held by a stopped process after a bounded wait.

use crate::common;

use std::fs::OpenOptions;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Bounded, Run, code, wait_with_deadline};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Whether /proc/locks shows a process blocked waiting for a FLOCK on `inode`: blocked
/// waiters are the lines with ` -> ` (`1: -> FLOCK  ADVISORY  WRITE 4242 00:2d:1234 0 EOF`).
fn blocked_on(inode: u64) -> bool {
    std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" -> ") && l.contains("FLOCK"))
        .any(|l| {
            l.split_whitespace()
                .find(|w| w.matches(':').count() == 2)
                .and_then(|dev_ino| dev_ino.rsplit(':').next()?.parse::<u64>().ok())
                == Some(inode)
        })
}

/// Whether /proc/locks shows a FLOCK held (granted, not waited for) on `inode`.
fn held(inode: u64) -> bool {
    std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.contains(" -> ") && l.contains("FLOCK"))
        .any(|l| {
            l.split_whitespace()
                .find(|w| w.matches(':').count() == 2)
                .and_then(|dev_ino| dev_ino.rsplit(':').next()?.parse::<u64>().ok())
                == Some(inode)
        })
}

#[test]
fn a_foreign_exclusive_lock_on_the_execution_log_holds_the_run_until_released() {
    let run = Run::new();
    std::fs::write(run.exec_path(), "").unwrap();
    let holder = OpenOptions::new()
        .append(true)
        .open(run.exec_path())
        .unwrap();
    fs2::FileExt::lock_exclusive(&holder).unwrap();

    let mut child = run.spawn(&["-q"]);
    // The run's first write must block on our lock: /proc/locks shows a waiter ("->") on the
    // log's inode. No sleeping and hoping.
    let inode = std::os::unix::fs::MetadataExt::ino(&holder.metadata().unwrap());
    let main = child.pid();
    child.wait_until("a process of the run to wait for the lock", || {
        assert_ne!(
            common::state(main),
            Some('Z'),
            "the run finished while the log was locked"
        );
        blocked_on(inode)
    });
    assert_eq!(
        run.exec_text(),
        "",
        "a line was written while another process held the lock"
    );

    fs2::FileExt::unlock(&holder).unwrap();
    assert_eq!(wait_with_deadline(&mut child, Duration::from_secs(20)), 0);
    assert_eq!(code(&run.verify()), 0, "{}", common::stdout(&run.verify()));
}

/// Three writers appending concurrently, 5,000 values (10,000 lines, which go out in batches of up
/// to 4096, so a few dozen writes of up to a few hundred KiB each): every batch arrives whole —
/// one `write(2)` each, never split by a user-space buffer. (This is `O_APPEND` at work, not the
/// lock: appends to a file do not interleave even without it. The next test is the lock's.)
#[test]
fn batches_of_many_lines_from_three_writers_arrive_whole() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "-n", "5000", "--max", "1000000"])), 0);
    let lines = run.exec_lines();
    assert_eq!(lines.len(), 5000 * 2 + 13);
    assert_eq!(code(&run.verify()), 0);
}

/// What the lock is for: a writer takes its timestamp under the lock and writes before it lets
/// go, so no other writer's line can land in between, and the file's timestamps never go
/// backwards. A hook makes every writer linger in that window (the consumer 3 ms per batch,
/// main 1 ms), with values going one at a time: without the lock, the producer's lines land
/// while the consumer lingers — `--bug no-lock` in bugs.rs shows it happen with this very
/// pause — and this test fails. With it, they wait.
#[test]
fn with_the_lock_no_writer_lands_a_line_between_another_ones_timestamp_and_its_write() {
    let run = Run::new();
    let out = run
        .command(&["-q", "-n", "100", "--max", "1000", "--pace", "1"])
        .env("IPC_DESAFIO_TEST_LINGER_UNDER_LOCK", "1")
        .run();
    assert_eq!(code(&out), 0, "{}", common::stderr(&out));
    // The oracle is the text: RFC 3339 stamps of one length and offset sort as text.
    let text = run.exec_text();
    let stamps: Vec<&str> = text.lines().map(|l| &l[..29]).collect();
    assert_eq!(stamps.len(), 100 * 2 + 13);
    for (i, pair) in stamps.windows(2).enumerate() {
        assert!(
            pair[0] <= pair[1],
            "execution_log.txt:{}: timestamp goes backwards:\n{text}",
            i + 2
        );
    }
    assert_eq!(code(&run.audit()), 0, "{}", common::stdout(&run.audit()));
}

/// Once interrupted, a process waits for the log's lock `LOCK_PATIENCE_AFTER_INTERRUPT` (5 s)
/// at most: a holder that is stopped (SIGSTOP) cannot keep it from ending. The fact checked is
/// that the run ends — with the error that says why — while the holder is still stopped and
/// still holds the lock; a run that waited for it would hang until the test's deadline.
#[test]
fn an_interrupted_run_gives_up_a_lock_whose_holder_is_stopped_and_says_why() {
    let run = Run::new();
    std::fs::write(run.exec_path(), "").unwrap();
    let mut holder = Command::new("flock")
        .arg("--exclusive")
        .arg(run.exec_path())
        .args(["sleep", "3600"])
        .stdin(Stdio::null())
        .start();
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(run.exec_path()).unwrap());
    holder.wait_until("flock to hold the log's lock", || held(inode));
    let holder_pid = Pid::from_raw(holder.pid());
    kill(holder_pid, Signal::SIGSTOP).unwrap();

    let mut child = run
        .command(&["-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .start()
        .expecting("the interrupted run to give up the lock and end");
    let main = child.pid();
    child.wait_until("the run to wait for the lock", || {
        assert_ne!(
            common::state(main),
            Some('Z'),
            "the run ended while a stopped process held the log's lock"
        );
        blocked_on(inode)
    });
    killpg(Pid::from_raw(child.pid()), Signal::SIGINT).unwrap();
    let out = child.finish();
    assert_eq!(
        common::stderr(&out),
        format!(
            "error: cannot lock {}: still held 5 s after the interrupt by a process that does not \
             release it (stopped?)\n",
            run.exec_path().display()
        )
    );
    assert_eq!(code(&out), 1);
    assert_eq!(
        common::state(holder.pid()),
        Some('T'),
        "the holder is still stopped"
    );
    assert!(held(inode), "and still holds the lock");
    assert_eq!(run.exec_text(), "", "nothing was written without the lock");
}

/// Kills the group of a spawned run when dropped (a failing test leaves nothing running).
struct KillGroupOnDrop(i32);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Two runs in one directory would truncate each other's logs. While a run is live (any of its
/// processes holds the run's claim on execution_log.txt), a second run in the same `--log-dir`
/// refuses — one line naming the live run's main pid, exit 2, before touching anything — and
/// the live run finishes undisturbed. A run in another directory goes ahead side by side.
#[test]
fn a_second_run_in_a_live_runs_directory_refuses_naming_its_pid_and_touches_nothing() {
    let run = Run::new();
    let mut first = run.spawn(&["-q", "--seed", "7", "--pace", "50"]);
    let _guard = KillGroupOnDrop(first.id() as i32);
    run.wait_for(
        "the first run's second value",
        Duration::from_secs(30),
        |l| {
            matches!(
                l.event,
                ipc_desafio::desafio::record::Event::Received { .. }
            ) && run.received_values().len() >= 2
        },
    );
    let before = (run.exec_text(), std::fs::read(run.consumer_path()).unwrap());
    let second = run.run(&["-q", "-n", "10"]);
    assert_eq!(code(&second), 2, "{}", common::stderr(&second));
    let main_pid = run
        .pid_of(ipc_desafio::desafio::record::Role::Main)
        .unwrap();
    assert_eq!(
        common::stderr(&second),
        format!(
            "error: --log-dir {}: another run (main pid {main_pid}) is writing these logs; wait for it to end or choose another --log-dir\n",
            run.path().display()
        )
    );
    let after = run.exec_text();
    assert!(
        after.starts_with(&before.0),
        "the live run's log was only appended to"
    );
    let consumer_after = std::fs::read(run.consumer_path()).unwrap();
    assert!(consumer_after.starts_with(&before.1));

    // Another directory is another run: it goes ahead while the first is still live.
    let other = Run::new();
    assert_eq!(code(&other.run(&["-q", "-n", "10"])), 0);
    assert_eq!(code(&other.verify()), 0);

    assert_eq!(wait_with_deadline(&mut first, Duration::from_secs(60)), 0);
    assert_eq!(code(&run.verify()), 0, "{}", common::stdout(&run.verify()));
    assert_eq!(
        run.sent_values().len(),
        12,
        "the first run's 12 values, all there"
    );
}

/// verify during a live run says what the log shows — main has not finished, the run is still
/// in progress — and never invents a cause ("main was killed"). Once main is killed from
/// outside, verify still only says what it can see: no summary line.
#[test]
fn verify_on_a_live_run_says_main_has_not_finished_and_invents_no_cause() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let run = Run::new();
    let mut live = run.spawn(&["-q", "-n", "40", "--pace", "100"]);
    let group = live.id() as i32;
    let _guard = KillGroupOnDrop(group);
    run.wait_for("two values received", Duration::from_secs(30), |_| {
        run.received_values().len() >= 2
    });
    let audit = run.audit();
    let report = common::stdout(&audit);
    assert_eq!(code(&audit), 1, "{report}");
    assert!(
        report.contains(
            "outcome: the run is still in progress (its processes hold execution_log.txt)"
        ),
        "{report}"
    );
    assert!(!report.contains("killed"), "{report}");

    // main SIGKILLed from outside: its children wind down; the log has no summary, and that
    // is all verify says about main.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(group),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = live.wait();
    common::wait_until_group_gone(group, Duration::from_secs(30));
    let report = common::stdout(&run.audit());
    assert!(
        report.contains("outcome: main has not finished: no summary line\n"),
        "{report}"
    );
    assert!(!report.contains("main was killed"), "{report}");
}

/// A log that is a link to a live run's log (consumer_log.txt to its execution log or its consumer
/// log) would be emptied by a second run and then written into: both logs of a run are its
/// claim, so the second run refuses — one line naming the live run's main, exit 2 — and the
/// live run's logs are only ever appended to by that run.
#[test]
fn a_log_linked_to_a_live_runs_log_is_refused_and_that_log_stays_whole() {
    let run = Run::new();
    let mut first = run.spawn(&["-q", "--seed", "7", "--pace", "50"]);
    let _guard = KillGroupOnDrop(first.id() as i32);
    run.wait_for(
        "the first run's second value",
        Duration::from_secs(30),
        |l| {
            matches!(
                l.event,
                ipc_desafio::desafio::record::Event::Received { .. }
            ) && run.received_values().len() >= 2
        },
    );
    let main_pid = run
        .pid_of(ipc_desafio::desafio::record::Role::Main)
        .unwrap();
    for (target, at_consumer) in [
        (run.exec_path(), true),
        (run.consumer_path(), true),
        (run.consumer_path(), false),
    ] {
        let before = (run.exec_text(), std::fs::read(run.consumer_path()).unwrap());
        let other = Run::new();
        let (link, other_log) = if at_consumer {
            (other.consumer_path(), other.exec_path())
        } else {
            (other.exec_path(), other.consumer_path())
        };
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let second = other.run(&["-q", "-n", "10"]);
        assert_eq!(code(&second), 2, "{}", common::stderr(&second));
        assert_eq!(
            common::stderr(&second),
            format!(
                "error: --log-dir {}: another run (main pid {main_pid}) is writing these logs; wait for it to end or choose another --log-dir\n",
                other.path().display()
            ),
            "link to {}",
            target.display()
        );
        assert!(!other_log.exists(), "nothing created");
        assert!(run.exec_text().starts_with(&before.0), "only appended to");
        assert!(
            std::fs::read(run.consumer_path())
                .unwrap()
                .starts_with(&before.1)
        );
    }
    assert_eq!(wait_with_deadline(&mut first, Duration::from_secs(60)), 0);
    assert_eq!(code(&run.verify()), 0, "{}", common::stdout(&run.verify()));
    assert_eq!(run.sent_values().len(), 12);
}

/// verify reads a live run's two logs while they grow, at different moments: what it would find
/// (no totals line yet, values in the pipe counted lost, a requirement the run has not reached
/// yet) is a fact of the moment, not of the run. While a run holds its claim on the logs, the
/// verdict is INCOMPLETE, the run still in progress — never a violation, never the rubric —
/// also when verify is asked to grade; once the run has ended, its logs are judged as usual.
#[test]
fn verify_on_a_live_run_is_incomplete_still_in_progress_never_a_violation_nor_graded() {
    let run = Run::new();
    let mut paced = run.spawn(&["-q", "--pace", "300"]);
    let _guard = KillGroupOnDrop(paced.id() as i32);
    run.wait_for("two values received", Duration::from_secs(30), |_| {
        run.received_values().len() >= 2
    });
    for out in [run.verify(), run.audit()] {
        let report = common::stdout(&out);
        assert_eq!(code(&out), 1, "{report}");
        assert!(
            report.ends_with("verify: INCOMPLETE: the run is still in progress\n"),
            "{report}"
        );
        assert!(
            !report.contains("requirement"),
            "the rubric graded: {report}"
        );
        assert!(!report.contains("lost"), "{report}");
    }
    assert_eq!(wait_with_deadline(&mut paced, Duration::from_secs(60)), 0);
    let out = run.verify();
    assert_eq!(code(&out), 0, "{}", common::stdout(&out));

    // Unpaced, the logs grow fast and the two are read at different moments of the run.
    let run = Run::new();
    let mut fast = run.spawn(&["-q", "-n", "200000", "--max", "1000000000000"]);
    let _guard = KillGroupOnDrop(fast.id() as i32);
    run.wait_for("a value sent", Duration::from_secs(30), |l| {
        matches!(l.event, ipc_desafio::desafio::record::Event::Sent { .. })
    });
    let mut verdicts = 0;
    while fast.running() && verdicts < 5 {
        let report = common::stdout(&run.audit());
        let last = report.lines().last().unwrap_or_default().to_string();
        assert!(
            last == "verify: INCOMPLETE: the run is still in progress"
                || last.starts_with("verify: OK"),
            "{report}"
        );
        verdicts += 1;
    }
    assert_eq!(wait_with_deadline(&mut fast, Duration::from_secs(120)), 0);
    assert_eq!(code(&run.audit()), 0);
}
