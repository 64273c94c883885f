//! The lock really excludes: while another process holds an exclusive flock on
//! execution_log.txt, the run cannot log and so makes no progress; once released, it finishes.

mod common;

use std::fs::OpenOptions;
use std::thread::sleep;
use std::time::Duration;

use common::{Run, code, wait_with_deadline};

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
    sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run finished while the log was locked"
    );
    assert_eq!(
        run.exec_text(),
        "",
        "a line was written while another process held the lock"
    );

    fs2::FileExt::unlock(&holder).unwrap();
    assert_eq!(wait_with_deadline(&mut child, Duration::from_secs(20)), 0);
    assert_eq!(code(&run.verify()), 0, "{}", common::stdout(&run.verify()));
}

/// Three writers appending concurrently: with one locked write per line, no line is torn or
/// interleaved, even over thousands of lines.
#[test]
fn concurrent_writers_never_tear_a_line() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "-n", "5000", "--max", "1000000"])), 0);
    let lines = run.exec_lines();
    assert_eq!(lines.len(), 5000 * 2 + 13);
    assert_eq!(code(&run.verify()), 0);
}
