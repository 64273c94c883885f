//! The lock really excludes: while another process holds an exclusive flock on
//! execution_log.txt, the run cannot log and so makes no progress; once released, it finishes.

mod common;

use std::fs::OpenOptions;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Run, code, wait_with_deadline};

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
    let start = Instant::now();
    while !blocked_on(inode) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no process ever waited for the lock:\n{}",
            std::fs::read_to_string("/proc/locks").unwrap_or_default()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished while the log was locked"
        );
        sleep(Duration::from_millis(5));
    }
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
/// to 4096, so a few dozen locked writes of up to a few hundred KiB each): no line is torn or
/// interleaved.
#[test]
fn concurrent_writers_never_tear_a_line() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "-n", "5000", "--max", "1000000"])), 0);
    let lines = run.exec_lines();
    assert_eq!(lines.len(), 5000 * 2 + 13);
    assert_eq!(code(&run.verify()), 0);
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
            "outcome: main has not finished: no summary line yet — the run is still in progress"
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
