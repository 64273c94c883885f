//! `examples/desafio_minimal.rs`, the whole solution on one page, is a real solution: its logs
//! pass `ipc_desafio verify`, the grader of the full program, and it stays on one page.

use crate::common;

use common::{Bounded, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::BIN;
const SOURCE: &str = include_str!("../../examples/desafio_minimal.rs");

/// The example's binary, built by the same profile into the same target dir as `ipc_desafio`.
/// A plain `cargo test` builds examples anyway, but `cargo test --test desafio_minimal` does
/// not, and a binary left by an earlier build may be stale: so ask cargo, which does nothing
/// when it is up to date. (Cargo releases its build lock before it runs the tests.)
fn example() -> PathBuf {
    let profile_dir = Path::new(BIN).parent().expect("binary in a profile dir");
    let target_dir = profile_dir.parent().expect("profile dir in a target dir");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!("unexpected target layout: {}", profile_dir.display()),
    };
    let build = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--example",
            "desafio_minimal",
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .start()
        // A build on a busy machine, not a run of the program: a longer deadline.
        .within(std::time::Duration::from_secs(900))
        .expecting("cargo to build the example")
        .finish();
    assert!(
        build.status.success(),
        "cargo build failed:\n{}",
        text(&build.stderr)
    );
    profile_dir.join("examples").join("desafio_minimal")
}

fn show(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn the_one_page_solution_passes_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = Command::new(example()).arg(dir.path()).run();
    assert_eq!(
        run.status.code(),
        Some(0),
        "the example failed\n{}",
        show(&run)
    );
    let exec = std::fs::read_to_string(dir.path().join("execution_log.txt")).expect("exec log");
    assert!(
        exec.ends_with("summary: sent 12, received 12, lost 0\n"),
        "{exec}"
    );

    let verify = Command::new(BIN)
        .args(["verify", "--log-dir"])
        .arg(dir.path())
        .run();
    let report = text(&verify.stdout);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "verify rejected the logs\n{}",
        show(&verify)
    );
    let last = report.lines().last().unwrap_or_default();
    assert!(last.starts_with("verify: OK"), "{report}");
}

#[test]
fn the_one_page_solution_fits_on_one_page() {
    let lines = SOURCE.lines().count();
    assert!(
        lines <= 200,
        "examples/desafio_minimal.rs has {lines} lines, more than 200"
    );
}

/// A student who knows little Rust can explain it: fork, pipe, close (drop), flock, write,
/// even/odd, wait — none of let-else slice patterns, `-> !`, atomics in mapped memory or an
/// error-type crate — and its comments speak the course's language.
#[test]
fn the_one_page_solution_is_written_in_plain_rust_with_portuguese_comments() {
    for construct in [
        "-> !",
        "Atomic",
        "mmap",
        "thiserror",
        "let Ok(",
        "let Some(",
        "@ ..",
        "impl Display",
    ] {
        assert!(
            !SOURCE.contains(construct),
            "examples/desafio_minimal.rs uses `{construct}`"
        );
    }
    for call in [
        "fork()",
        "pipe()",
        "drop(",
        "lock_exclusive()",
        "write_all(",
        "waitpid(",
    ] {
        assert!(
            SOURCE.contains(call),
            "the lesson's `{call}` is in plain sight"
        );
    }
    for word in ["produtor", "consumidor", "par ou ímpar", "pipe"] {
        assert!(SOURCE.contains(word), "comments in Portuguese: {word}");
    }
}
