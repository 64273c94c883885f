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
