//! Every error path is real: each `--fault` kind, EPIPE, EOF and a failing log write, observed
//! through the real binary's exit codes, log lines and `verify` verdict.

use crate::common;

use common::{Bounded, Run, code, stderr, stdout};
use ipc_desafio::desafio::record::{Event, Role};

fn child_exit_line(run: &Run, role: Role) -> String {
    run.messages(Role::Main)
        .into_iter()
        .find(|m| {
            m.starts_with(&format!("{role} ")) && (m.contains(" exited ") || m.contains(" killed "))
        })
        .unwrap_or_else(|| panic!("main never reported the {role}:\n{}", run.exec_text()))
}

fn assert_verify_fails_with(run: &Run, expected: &[&str]) {
    let out = run.verify();
    let report = stdout(&out);
    assert_eq!(code(&out), 1, "verify must fail after a fault:\n{report}");
    for text in expected {
        assert!(
            report.contains(text),
            "verify output lacks {text:?}:\n{report}"
        );
    }
}

#[test]
fn producer_gets_epipe_when_the_consumer_closes_its_end() {
    let run = Run::new();
    let out = run.run(&["-q", "--pace", "40", "--fault", "consumer-exit@3"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let producer = run.messages(Role::Producer);
    assert!(
        producer.contains(&"error: consumer closed the pipe after 3 of 12 values".to_string()),
        "{producer:?}"
    );
    assert_eq!(producer.last().unwrap(), "exiting with code 3");
    assert!(child_exit_line(&run, Role::Producer).ends_with("exited with code 3"));
    assert!(child_exit_line(&run, Role::Consumer).ends_with("exited with code 0"));
    assert!(
        run.messages(Role::Consumer)
            .contains(&"fault consumer-exit@3: closing the pipe after 3 values".to_string())
    );
    assert_eq!(run.summary(), (3, 3, 0));
    assert_verify_fails_with(
        &run,
        &[
            "the producer exited with code 3",
            "the run stopped at",
            "consumer-exit@3",
        ],
    );
}

/// Without a pause the pipe's 64 KiB buffer can hold all twelve values: no write fails and the
/// values the consumer never read are lost. A long run overflows the buffer, so EPIPE is certain.
#[test]
fn producer_gets_epipe_without_pace_once_the_pipe_buffer_is_full() {
    let run = Run::new();
    let out = run.run(&[
        "-q",
        "-n",
        "20000",
        "--max",
        "1000000",
        "--fault",
        "consumer-exit@3",
    ]);
    assert_eq!(code(&out), 1);
    let producer = run.messages(Role::Producer);
    let epipe = producer
        .iter()
        .find(|m| m.starts_with("error: consumer closed the pipe after "))
        .expect("EPIPE");
    assert!(epipe.ends_with("of 20000 values"), "{epipe}");
    let (sent, received, lost) = run.summary();
    assert_eq!(received, 3);
    assert_eq!(lost, sent - 3);
    assert!(sent < 20000, "the pipe cannot have absorbed every value");
    assert_verify_fails_with(&run, &["the producer exited with code 3"]);
    if lost > 0 {
        assert_verify_fails_with(
            &run,
            &[&format!("lost: {lost} values sent but never received")],
        );
    } else {
        // The producer's next write came after the consumer had left with the pipe empty.
        assert!(
            !stdout(&run.verify()).contains("lost: "),
            "{}",
            stdout(&run.verify())
        );
    }
}

/// The same, with the pipe certainly full when the consumer leaves: a hook holds the consumer
/// back until the producer has sent 4095 values (its first twelve batches, 36 KiB in the pipe;
/// the next batch of 4096 cannot fit, so the producer is blocked in it). The consumer reads 3
/// and closes: thousands of values were in the pipe, and are reported lost.
#[test]
fn producer_blocked_on_a_full_pipe_gets_epipe_and_what_was_in_the_pipe_is_lost() {
    let run = Run::new();
    let out = run
        .command(&[
            "-q",
            "-n",
            "20000",
            "--max",
            "1000000",
            "--fault",
            "consumer-exit@3",
        ])
        .env("IPC_DESAFIO_TEST_CONSUMER_WAITS_FOR_SENT", "4095")
        .run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let (sent, received, lost) = run.summary();
    assert!(sent >= 4095, "{sent}");
    assert_eq!((received, lost), (3, sent - 3));
    let producer = run.messages(Role::Producer);
    assert!(
        producer.contains(&format!(
            "error: consumer closed the pipe after {sent} of 20000 values"
        )),
        "{producer:?}"
    );
    assert_verify_fails_with(
        &run,
        &[
            "the producer exited with code 3",
            &format!("lost: {lost} values sent but never received"),
        ],
    );
}

/// Values in the pipe when the consumer leaves are lost, and reported. A hook holds the
/// consumer back until all twelve are sent (they fit in the pipe): it reads 3 and leaves 9.
#[test]
fn values_buffered_in_the_pipe_when_the_consumer_leaves_are_reported_lost() {
    let run = Run::new();
    let out = run
        .command(&["-q", "--fault", "consumer-exit@3"])
        .env("IPC_DESAFIO_TEST_CONSUMER_WAITS_FOR_SENT", "12")
        .run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(run.summary(), (12, 3, 9));
    assert_verify_fails_with(&run, &["lost: 9 values sent but never received"]);
}

/// Values drained from a pipe the consumer has already left: none lost. With one value per
/// batch and a pause between them (`--pace`), the consumer reads each before the next comes:
/// when it leaves after 3, the pipe is empty, and the producer's next write is EPIPE.
#[test]
fn a_consumer_that_leaves_an_empty_pipe_loses_nothing() {
    let run = Run::new();
    assert_eq!(
        code(&run.run(&["-q", "--pace", "40", "--fault", "consumer-exit@3"])),
        1
    );
    assert_eq!(run.summary(), (3, 3, 0));
    let report = stdout(&run.verify());
    assert!(!report.contains("lost: "), "{report}");
    assert_verify_fails_with(&run, &["the producer exited with code 3"]);
}

/// The end marker carries the count the producer sent; a consumer that received another number
/// says so, fails with its own code, and verify names the disagreement. A hook makes the
/// producer's marker announce one value more than it sent (its log line tells the truth).
#[test]
fn an_end_marker_that_announces_another_count_is_a_protocol_error_through_the_real_binary() {
    let run = Run::new();
    let out = run
        .command(&["-q", "--seed", "7"])
        .env("IPC_DESAFIO_TEST_END_MARKER_ADDS", "1")
        .run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let consumer = run.messages(Role::Consumer);
    assert!(
        consumer.contains(&"end marker received (13 values announced, 12 received)".to_string()),
        "{consumer:?}"
    );
    assert!(
        run.messages(Role::Producer)
            .contains(&"end marker sent (12 values)".to_string())
    );
    assert!(
        consumer.contains(&"error: end marker announced 13 values but 12 arrived".to_string()),
        "{consumer:?}"
    );
    assert!(child_exit_line(&run, Role::Consumer).ends_with("exited with code 5"));
    assert_eq!(run.summary(), (12, 12, 0));
    let report = stdout(&run.verify());
    assert_eq!(code(&run.verify()), 1, "{report}");
    assert!(
        report.contains("consumer reports an end marker of 13 values, the producer sent 12"),
        "{report}"
    );
    assert!(
        report
            .lines()
            .last()
            .unwrap()
            .starts_with("verify: FAILED: 1 problem; "),
        "{report}"
    );
}

#[test]
fn consumer_sees_eof_when_producer_exits_early() {
    let run = Run::new();
    let out = run.run(&["-q", "--fault", "producer-exit@4"]);
    assert_eq!(code(&out), 1);
    let consumer = run.messages(Role::Consumer);
    assert!(
        consumer.contains(&"error: pipe closed before the end marker after 4 values".to_string()),
        "{consumer:?}"
    );
    assert_eq!(consumer.last().unwrap(), "exiting with code 4");
    assert!(child_exit_line(&run, Role::Consumer).ends_with("exited with code 4"));
    assert!(child_exit_line(&run, Role::Producer).ends_with("exited with code 0"));
    assert!(!run.exec_text().contains("end marker sent"));
    assert_eq!(run.summary(), (4, 4, 0));
    let totals = std::fs::read_to_string(run.consumer_path()).unwrap();
    assert!(
        totals
            .lines()
            .last()
            .unwrap()
            .contains("(incomplete: pipe closed before the end marker after 4 values)")
    );
    assert_verify_fails_with(
        &run,
        &[
            "the consumer exited with code 4",
            "never sent the end marker",
            "producer-exit@4",
        ],
    );
}

#[test]
fn consumer_sees_eof_when_producer_exits_after_its_last_value() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--fault", "producer-exit@12"])), 1);
    assert!(
        run.messages(Role::Consumer)
            .contains(&"error: pipe closed before the end marker after 12 values".to_string())
    );
    assert_eq!(run.summary(), (12, 12, 0));
}

#[test]
fn main_reports_a_consumer_killed_by_sigkill() {
    let run = Run::new();
    let out = run.run(&["-q", "--pace", "40", "--fault", "consumer-kill@3"]);
    assert_eq!(code(&out), 1);
    assert!(child_exit_line(&run, Role::Consumer).ends_with("killed by SIGKILL"));
    assert!(
        child_exit_line(&run, Role::Producer).ends_with("exited with code 3"),
        "a paced producer must hit EPIPE"
    );
    assert!(
        !run.messages(Role::Consumer)
            .iter()
            .any(|m| m.starts_with("exiting")),
        "a killed consumer logs nothing more"
    );
    assert_eq!(run.summary(), (3, 3, 0));
    assert_verify_fails_with(
        &run,
        &["the consumer was killed by SIGKILL", "no totals line"],
    );
}

#[test]
fn main_reports_a_producer_killed_by_sigkill_and_the_consumer_sees_eof() {
    let run = Run::new();
    let out = run.run(&["-q", "--fault", "producer-kill@5"]);
    assert_eq!(code(&out), 1);
    assert!(child_exit_line(&run, Role::Producer).ends_with("killed by SIGKILL"));
    assert!(child_exit_line(&run, Role::Consumer).ends_with("exited with code 4"));
    assert!(
        run.messages(Role::Consumer)
            .contains(&"error: pipe closed before the end marker after 5 values".to_string())
    );
    assert_eq!(run.summary(), (5, 5, 0));
    assert_verify_fails_with(
        &run,
        &["the producer was killed by SIGKILL", "producer-kill@5"],
    );
}

#[test]
fn a_fault_at_zero_values_still_ends_cleanly() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--fault", "producer-exit@0"])), 1);
    assert_eq!(run.summary(), (0, 0, 0));
    assert!(
        run.messages(Role::Consumer)
            .contains(&"error: pipe closed before the end marker after 0 values".to_string())
    );
}

#[test]
fn a_full_disk_under_the_consumer_log_fails_the_run_without_panic_or_hang() {
    let run = Run::new();
    std::os::unix::fs::symlink("/dev/full", run.consumer_path()).unwrap();
    let mut child = run.spawn(&["-q"]);
    let exit = common::wait_with_deadline(&mut child, std::time::Duration::from_secs(20));
    assert_eq!(exit, 1);
    let consumer = run.messages(Role::Consumer);
    let error = consumer
        .iter()
        .find(|m| m.starts_with("error: "))
        .expect("the consumer logs its error");
    assert!(
        error.contains("consumer_log.txt") && error.contains("No space left on device"),
        "{error}"
    );
    assert!(child_exit_line(&run, Role::Consumer).ends_with("exited with code 1"));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_full_disk_under_the_execution_log_is_reported_with_its_path() {
    let run = Run::new();
    std::os::unix::fs::symlink("/dev/full", run.exec_path()).unwrap();
    let out = run.run(&["-q"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot write ") && err.contains("execution_log.txt"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

/// A full file system cuts a log write short. The file size limit stands for it (mounting a
/// small file system needs privileges a test may not have): past it a write fails with EFBIG,
/// as past the end of a full disk with ENOSPC, after writing what fitted.
fn with_file_size_limit(cmd: &mut std::process::Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit and signal are async-signal-safe; SIGXFSZ ignored makes the write fail
    // with EFBIG instead of killing the process, and the ignoring survives exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

/// A batch of `sent` lines cut short by a full disk is taken back whole: the log keeps no torn
/// line and no value the producer never put in the pipe (it logs a batch, then sends it), and
/// verify says INCOMPLETE, as main does, never "a torn write" or "a killed process".
#[test]
fn a_log_write_cut_short_by_a_full_disk_leaves_no_torn_line_and_no_value_never_sent() {
    let run = Run::new();
    let mut cmd = run.command(&["-q", "-n", "100", "--seed", "3"]);
    with_file_size_limit(&mut cmd, 4096);
    let out = common::Bounded::run(&mut cmd);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = run.exec_text();
    assert!(
        text.ends_with('\n'),
        "torn last line: {:?}",
        &text[text.len().saturating_sub(80)..]
    );
    for line in text.lines() {
        assert!(
            line.parse::<ipc_desafio::desafio::record::LogLine>()
                .is_ok(),
            "a line that does not parse: {line:?}"
        );
    }
    // Main's summary counts what went into the pipe (the shared tally), not the log's lines.
    // It is there when the disk had room left for it after the failed batch (it usually has:
    // the batch that failed was larger than the summary).
    if let Some(Event::Summary { sent, .. }) = run.parsed_lines().last().map(|l| l.event.clone()) {
        assert_eq!(
            run.sent_values().len() as u64,
            sent,
            "values logged sent, never sent"
        );
    }
    let audit = run.audit();
    let said = common::stdout(&audit);
    assert_eq!(code(&audit), 1, "{said}");
    assert!(said.contains("verify: INCOMPLETE"), "{said}");
    assert!(!said.contains("torn") && !said.contains("killed"), "{said}");
}
