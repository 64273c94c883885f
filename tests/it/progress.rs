//! Progress on stderr: shown for a long `--quiet` run on a terminal, never otherwise.

use crate::common;

use std::process::Command;

use common::{Bounded, Run, code, stderr};

/// Runs the binary under `script`, which gives it a pseudo-terminal as stdin/stdout/stderr.
fn run_on_a_terminal(run: &Run, args: &str) -> String {
    let cmd = format!("{} --log-dir {} {args}", common::BIN, run.path().display());
    let out = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .run();
    // -e: script exits with the program's own status; anything else means the run failed (or
    // script itself did), and the screen would prove nothing.
    assert_eq!(
        out.status.code(),
        Some(0),
        "the run under script failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_long_quiet_run_on_a_terminal_shows_progress() {
    let run = Run::new();
    let screen = run_on_a_terminal(&run, "-q -n 150 --max 1000 --pace 10");
    assert!(
        screen.contains("values received"),
        "no progress bar on the terminal:\n{screen}"
    );
    assert_eq!(code(&run.verify()), 0);
}

/// The bar speaks the run's language.
#[test]
fn the_progress_bar_speaks_portuguese_in_a_portuguese_run() {
    let run = Run::new();
    let screen = run_on_a_terminal(&run, "-q -n 150 --max 1000 --pace 10 --lang pt");
    assert!(
        screen.contains("valores recebidos") && !screen.contains("values received"),
        "{screen}"
    );
}

#[test]
fn a_short_quiet_run_on_a_terminal_prints_nothing() {
    let run = Run::new();
    let screen = run_on_a_terminal(&run, "-q");
    assert_eq!(
        screen.trim(),
        "",
        "a 12-value run must stay silent with --quiet"
    );
}

#[test]
fn no_progress_when_stderr_is_not_a_terminal() {
    let run = Run::new();
    let out = run.run(&["-q", "-n", "150", "--max", "1000", "--pace", "10"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stderr(&out), "");
    assert!(out.stdout.is_empty());
}
