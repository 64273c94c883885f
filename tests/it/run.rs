//! The default run and its logs: what a student sees and what a grader parses.

use crate::common;

use std::collections::HashSet;

use common::{Bounded, Run, code, stdout};
use ipc_desafio::desafio::record::{ConsumerLine, Event, Parity, Role};

#[test]
fn default_run_sends_twelve_distinct_values_and_passes_verify() {
    let run = Run::new();
    let out = run.run(&[]);
    assert_eq!(code(&out), 0, "{}", common::stderr(&out));
    let sent = run.sent_values();
    assert_eq!(sent.len(), 12);
    assert!(sent.iter().all(|v| (1..=100).contains(v)), "{sent:?}");
    assert_eq!(
        sent.iter().collect::<HashSet<_>>().len(),
        12,
        "values repeat: {sent:?}"
    );
    assert_eq!(
        run.received_values(),
        sent,
        "consumer must receive exactly what was sent, in order"
    );
    assert_eq!(run.summary(), (12, 12, 0));
    let verify = run.verify();
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
    assert!(stdout(&verify).contains("verify: OK"));
}

/// The reference solution's "non-repeating" values repeat in about half of all runs; thirty
/// clean runs in a row would happen by luck with probability about 2^-30.
#[test]
fn values_never_repeat_within_a_run_across_many_runs() {
    for _ in 0..30 {
        let run = Run::new();
        assert_eq!(code(&run.run(&["-q"])), 0);
        let sent = run.sent_values();
        assert_eq!(
            sent.iter().collect::<HashSet<_>>().len(),
            sent.len(),
            "values repeat: {sent:?}"
        );
    }
}

#[test]
fn values_vary_between_runs_without_a_seed() {
    let runs: Vec<Vec<i64>> = (0..3)
        .map(|_| {
            let run = Run::new();
            assert_eq!(code(&run.run(&["-q"])), 0);
            run.sent_values()
        })
        .collect();
    assert!(
        runs[0] != runs[1] || runs[1] != runs[2],
        "three runs gave the same values: {runs:?}"
    );
}

#[test]
fn the_same_seed_repeats_a_run_and_another_seed_does_not() {
    let values = |seed: &str| {
        let run = Run::new();
        assert_eq!(code(&run.run(&["-q", "--seed", seed])), 0);
        run.sent_values()
    };
    assert_eq!(values("2024"), values("2024"));
    assert_ne!(values("2024"), values("2025"));
}

#[test]
fn unseeded_runs_log_their_seed_so_they_can_be_repeated() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q"])), 0);
    let Event::Started(Some(params)) = run.exec_lines()[0].event.clone() else {
        panic!("first line must be main's started line");
    };
    let again = Run::new();
    assert_eq!(
        code(&again.run(&["-q", "--seed", &params.seed.to_string()])),
        0
    );
    assert_eq!(again.sent_values(), run.sent_values());
}

#[test]
fn range_and_count_options_are_honoured() {
    let run = Run::new();
    assert_eq!(
        code(&run.run(&["-q", "-n", "10", "--min", "5", "--max", "14"])),
        0
    );
    let mut sent = run.sent_values();
    sent.sort();
    assert_eq!(
        sent,
        (5..=14).collect::<Vec<_>>(),
        "asking for the whole range gives a permutation"
    );
    assert_eq!(code(&run.verify()), 0);
}

#[test]
fn every_log_line_follows_the_grammar_and_timestamps_never_go_backwards() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "-n", "40", "--max", "1000"])), 0);
    let lines = run.exec_lines();
    assert!(lines.windows(2).all(|w| w[0].time <= w[1].time));
    let pids: HashSet<(Role, i32)> = lines.iter().map(|l| (l.role, l.pid)).collect();
    assert_eq!(pids.len(), 3, "exactly one pid per role: {pids:?}");
    for role in [Role::Main, Role::Producer, Role::Consumer] {
        let first = lines.iter().find(|l| l.role == role).unwrap();
        assert!(
            first.event.to_string().starts_with("started"),
            "{role} must log 'started' first"
        );
    }
    for role in [Role::Producer, Role::Consumer] {
        assert_eq!(run.messages(role).last().unwrap(), "exiting with code 0");
    }
    let main = run.messages(Role::Main);
    assert!(
        main.iter()
            .any(|m| m.starts_with("producer ") && m.ends_with("exited with code 0"))
    );
    assert!(
        main.iter()
            .any(|m| m.starts_with("consumer ") && m.ends_with("exited with code 0"))
    );
    let summary = main.last().unwrap();
    assert!(
        summary.starts_with("summary: sent 40, received 40, lost 0; "),
        "{summary}"
    );
    for part in [
        "values/s over",
        "producer peak RSS",
        "consumer peak RSS",
        "CPU",
        "main peak RSS",
    ] {
        assert!(
            summary.contains(part),
            "the summary lacks {part:?}: {summary}"
        );
    }
}

/// The producer logs a value before it sends it, so its `sent` line always comes first. A hook
/// makes the producer pause 100 ms between those two steps (one value per batch): were the
/// value sent first, the consumer would receive and log it during the pause, every time.
#[test]
fn each_sent_line_comes_before_its_received_line() {
    let run = Run::new();
    let out = run
        .command(&["-q", "-n", "8", "--max", "1000", "--pace", "0"])
        .env("IPC_DESAFIO_TEST_PAUSE_BETWEEN_LOG_AND_SEND_MS", "100")
        .run();
    assert_eq!(code(&out), 0, "{}", common::stderr(&out));
    let lines = run.exec_lines();
    for (i, line) in lines.iter().enumerate() {
        if let Event::Received { value, .. } = line.event {
            let sent_at = lines
                .iter()
                .position(|l| matches!(l.event, Event::Sent { value: v, .. } if v == value));
            assert!(
                sent_at.is_some_and(|s| s < i),
                "received {value} at line {} before it was sent",
                i + 1
            );
        }
    }
}

#[test]
fn consumer_log_has_a_header_one_three_field_line_per_value_and_totals() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q"])), 0);
    let text = std::fs::read_to_string(run.consumer_path()).unwrap();
    let raw: Vec<&str> = text.lines().collect();
    assert_eq!(raw.len(), 14);
    assert!(raw[0].starts_with('#') && raw[13].starts_with('#'));
    for line in &raw[1..13] {
        assert_eq!(line.split(' ').count(), 3, "{line}");
    }
    let lines = run.consumer_lines();
    let values: Vec<(i64, Parity)> = lines
        .iter()
        .filter_map(|l| match l {
            ConsumerLine::Value { value, parity, .. } => Some((*value, *parity)),
            _ => None,
        })
        .collect();
    assert_eq!(
        values.iter().map(|v| v.0).collect::<Vec<_>>(),
        run.sent_values()
    );
    // The oracle is arithmetic, not the program's Parity::of.
    for (v, p) in &values {
        let want = if v % 2 == 0 {
            Parity::Even
        } else {
            Parity::Odd
        };
        assert_eq!(*p, want, "{v} classified {p:?}");
    }
    let even = values.iter().filter(|(_, p)| *p == Parity::Even).count() as u64;
    assert_eq!(
        lines.last().unwrap(),
        &ConsumerLine::Totals {
            values: 12,
            even,
            odd: 12 - even,
            incomplete: None
        }
    );
}

#[test]
fn stdout_echoes_the_execution_log_and_quiet_silences_it() {
    let run = Run::new();
    let out = run.run(&[]);
    assert_eq!(
        stdout(&out),
        run.exec_text(),
        "stdout must echo every log line, in file order"
    );
    let quiet = Run::new();
    let out = quiet.run(&["--quiet"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), "");
    assert_eq!(quiet.exec_lines().len(), run.exec_lines().len());
}

#[test]
fn both_logs_start_fresh_on_every_run() {
    let run = Run::new();
    std::fs::write(run.exec_path(), "stale line from an older run\n").unwrap();
    std::fs::write(run.consumer_path(), "stale\n").unwrap();
    assert_eq!(code(&run.run(&["-q"])), 0);
    assert_eq!(code(&run.run(&["-q"])), 0);
    assert_eq!(code(&run.verify()), 0, "{}", stdout(&run.verify()));
    assert!(!run.exec_text().contains("stale"));
}

#[test]
fn logs_go_to_the_current_directory_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::desafio().arg("-q").current_dir(dir.path()).run();
    assert_eq!(code(&out), 0);
    assert!(dir.path().join("execution_log.txt").exists());
    assert!(dir.path().join("consumer_log.txt").exists());
    let verify = common::desafio()
        .arg("verify")
        .current_dir(dir.path())
        .run();
    assert_eq!(code(&verify), 0);
}

#[test]
fn a_closed_stdout_does_not_break_the_run() {
    use std::process::Stdio;
    let run = Run::new();
    let mut child = run.command(&["--pace", "5"]).stdout(Stdio::piped()).start();
    drop(child.stdout.take());
    assert_eq!(child.code(), 0);
    assert_eq!(code(&run.verify()), 0, "{}", stdout(&run.verify()));
}

#[test]
fn help_and_version_work() {
    let run = Run::new();
    let help = common::desafio().arg("--help").run();
    assert_eq!(code(&help), 0);
    for flag in [
        "--count",
        "--min",
        "--max",
        "--seed",
        "--pace",
        "--log-dir",
        "--quiet",
        "--fault",
        "verify",
        "Examples:",
    ] {
        assert!(
            stdout(&help).contains(flag),
            "--help does not mention {flag}"
        );
    }
    let version = common::desafio().arg("--version").run();
    assert_eq!(code(&version), 0);
    assert!(stdout(&version).starts_with("ipc_desafio "));
    drop(run);
}

/// Timestamps, pids and the summary's measurements replaced by placeholders: what is left of a
/// log is what a seed fixes.
fn redacted(text: &str) -> String {
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d").unwrap();
    let pid = regex::Regex::new(r"\b(main|producer|consumer|pid) \d+").unwrap();
    let text = stamp.replace_all(text, "[TS]");
    pid.replace_all(&text, "$1 [PID]").into_owned()
}

/// The oracle is the text itself, written out: seed 7's twelve values, each one's parity
/// (values above and below 50, both parities), both logs' lines, the totals. No function of the
/// program computes any expectation here.
#[test]
fn seed_7_gives_exactly_these_values_parities_and_log_lines() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--seed", "7"])), 0);
    let consumer_log = std::fs::read_to_string(run.consumer_path()).unwrap();
    assert_eq!(
        redacted(&consumer_log),
        "# consumer_log.txt: run started [TS], consumer pid [PID]
[TS] 4 even
[TS] 32 even
[TS] 16 even
[TS] 56 even
[TS] 31 odd
[TS] 96 even
[TS] 23 odd
[TS] 5 odd
[TS] 20 even
[TS] 75 odd
[TS] 68 even
[TS] 13 odd
# totals: values 12, even 7, odd 5
"
    );
    // The execution log interleaves three writers: each one's lines, in file order.
    let exec = redacted(&run.exec_text());
    let of = |role: &str| -> Vec<&str> {
        exec.lines()
            .filter_map(|l| l.strip_prefix(&format!("[TS] [{role} [PID]] ")))
            .collect()
    };
    assert_eq!(
        of("producer"),
        [
            "started",
            "sent 4 (1/12)",
            "sent 32 (2/12)",
            "sent 16 (3/12)",
            "sent 56 (4/12)",
            "sent 31 (5/12)",
            "sent 96 (6/12)",
            "sent 23 (7/12)",
            "sent 5 (8/12)",
            "sent 20 (9/12)",
            "sent 75 (10/12)",
            "sent 68 (11/12)",
            "sent 13 (12/12)",
            "end marker sent (12 values)",
            "exiting with code 0",
        ]
    );
    assert_eq!(
        of("consumer"),
        [
            "started",
            "received 4: even",
            "received 32: even",
            "received 16: even",
            "received 56: even",
            "received 31: odd",
            "received 96: even",
            "received 23: odd",
            "received 5: odd",
            "received 20: even",
            "received 75: odd",
            "received 68: even",
            "received 13: odd",
            "end marker received (12 values announced, 12 received)",
            "exiting with code 0",
        ]
    );
    let main = of("main");
    assert_eq!(
        main[..3],
        [
            "started: count 12, range 1..=100, seed 7, pace none, fault none",
            "spawned producer [PID]",
            "spawned consumer [PID]",
        ]
    );
    let mut reaped = main[3..5].to_vec();
    reaped.sort();
    assert_eq!(
        reaped,
        [
            "consumer [PID] exited with code 0",
            "producer [PID] exited with code 0"
        ],
        "in the order main reaped them"
    );
    assert_eq!(main[5], "exiting with code 0");
    assert!(
        main[6].starts_with("summary: sent 12, received 12, lost 0; "),
        "{}",
        main[6]
    );
    assert_eq!(main.len(), 7, "{exec}");
}

/// Parity through the real binary, at both ends of the range it accepts, against a table
/// written out: every value 0..=10 and the eleven largest i64 values.
#[test]
fn parity_is_right_at_zero_small_values_and_the_largest_i64s() {
    for (min, max, table) in [
        (
            "0",
            "10",
            &[
                (0, "even"),
                (1, "odd"),
                (2, "even"),
                (3, "odd"),
                (4, "even"),
                (5, "odd"),
                (6, "even"),
                (7, "odd"),
                (8, "even"),
                (9, "odd"),
                (10, "even"),
            ][..],
        ),
        (
            "9223372036854775797",
            "9223372036854775807",
            &[
                (9223372036854775797, "odd"),
                (9223372036854775798, "even"),
                (9223372036854775799, "odd"),
                (9223372036854775800, "even"),
                (9223372036854775801, "odd"),
                (9223372036854775802, "even"),
                (9223372036854775803, "odd"),
                (9223372036854775804, "even"),
                (9223372036854775805, "odd"),
                (9223372036854775806, "even"),
                (9223372036854775807, "odd"),
            ][..],
        ),
    ] {
        let run = Run::new();
        assert_eq!(
            code(&run.run(&["-q", "-n", "11", "--min", min, "--max", max])),
            0
        );
        let text = std::fs::read_to_string(run.consumer_path()).unwrap();
        let mut got: Vec<(i64, String)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f[1].parse().unwrap(), f[2].to_string())
            })
            .collect();
        got.sort();
        let want: Vec<(i64, String)> = table.iter().map(|(v, p)| (*v, p.to_string())).collect();
        assert_eq!(got, want, "{text}");
    }
}
