//! `verify` catches every kind of inconsistency a grader cares about, naming file and line.
//! Each test takes the logs of a real, clean run and breaks one thing.

use crate::common;

use common::{Bounded, Run, code, stdout};

fn clean_run() -> Run {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--seed", "11"])), 0);
    assert_eq!(code(&run.verify()), 0);
    run
}

fn edit(path: &std::path::Path, f: impl FnOnce(Vec<String>) -> Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines = f(text.lines().map(String::from).collect());
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn index_of(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle:?}"))
}

fn assert_fails_with(run: &Run, expected: &str) {
    let out = run.verify();
    let report = stdout(&out);
    assert_eq!(code(&out), 1, "verify passed tampered logs:\n{report}");
    assert!(
        report.contains(expected),
        "expected {expected:?} in:\n{report}"
    );
    assert!(
        report.lines().last().unwrap().starts_with("verify: FAILED"),
        "{report}"
    );
}

#[test]
fn a_wrong_classification_in_the_consumer_log_is_caught_with_its_line() {
    let run = clean_run();
    edit(&run.consumer_path(), |mut lines| {
        let l = &mut lines[1];
        *l = if l.ends_with(" even") {
            l.replace(" even", " odd")
        } else {
            l.replace(" odd", " even")
        };
        lines
    });
    assert_fails_with(&run, "consumer_log.txt:2: ");
}

#[test]
fn a_wrong_classification_in_the_execution_log_is_caught() {
    let run = clean_run();
    edit(&run.exec_path(), |mut lines| {
        let i = index_of(&lines, "received ");
        lines[i] = if lines[i].ends_with(": even") {
            lines[i].replace(": even", ": odd")
        } else {
            lines[i].replace(": odd", ": even")
        };
        lines
    });
    assert_fails_with(&run, "classified");
}

#[test]
fn a_repeated_value_is_caught() {
    let run = clean_run();
    let sent = run.sent_values();
    edit(&run.exec_path(), |lines| {
        lines
            .into_iter()
            .map(|l| {
                l.replace(
                    &format!("sent {} (2/", sent[1]),
                    &format!("sent {} (2/", sent[0]),
                )
                .replace(
                    &format!("received {}:", sent[1]),
                    &format!("received {}:", sent[0]),
                )
            })
            .collect()
    });
    assert_fails_with(&run, &format!("value {} sent twice", sent[0]));
}

#[test]
fn a_missing_received_line_is_caught_and_the_value_reported_lost() {
    let run = clean_run();
    let sent = run.sent_values();
    edit(&run.exec_path(), |mut lines| {
        let i = index_of(&lines, &format!("received {}:", sent[5]));
        lines.remove(i);
        lines
    });
    assert_fails_with(
        &run,
        &format!("lost: 1 value sent but never received: {}", sent[5]),
    );
}

#[test]
fn values_received_out_of_order_are_caught() {
    let run = clean_run();
    let mut swapped = None;
    edit(&run.exec_path(), |mut lines| {
        // Two adjacent `received` lines: both values were sent before either line.
        let i = (0..lines.len() - 1)
            .find(|&i| lines[i].contains("] received ") && lines[i + 1].contains("] received "))
            .expect("two adjacent received lines");
        let split = |l: &str| {
            let at = l.find("] ").unwrap();
            (l[..at].to_string(), l[at..].to_string())
        };
        let ((head_a, msg_a), (head_b, msg_b)) = (split(&lines[i]), split(&lines[i + 1]));
        // Swap the messages but keep each line's timestamp, so only the order is wrong.
        lines[i] = head_a + &msg_b;
        lines[i + 1] = head_b + &msg_a;
        swapped = Some(
            msg_b
                .trim_start_matches("] received ")
                .split(':')
                .next()
                .unwrap()
                .to_string(),
        );
        lines
    });
    assert_fails_with(&run, &format!("received {} out of order", swapped.unwrap()));
}

#[test]
fn a_received_line_before_its_sent_line_is_caught() {
    let run = clean_run();
    let sent = run.sent_values();
    edit(&run.exec_path(), |mut lines| {
        let s = index_of(&lines, &format!("sent {} (1/", sent[0]));
        let r = index_of(&lines, &format!("received {}:", sent[0]));
        let received = lines.remove(r);
        lines.insert(s, received);
        lines
    });
    assert_fails_with(
        &run,
        &format!("received {} before any 'sent {}' line", sent[0], sent[0]),
    );
}

#[test]
fn a_timestamp_going_backwards_is_caught() {
    let run = clean_run();
    edit(&run.exec_path(), |mut lines| {
        let i = index_of(&lines, "end marker sent");
        lines[i] = "2000-01-01T00:00:00.000+00:00".to_string() + &lines[i][29..];
        lines
    });
    assert_fails_with(&run, "timestamp goes backwards");
}

#[test]
fn a_second_pid_for_a_role_is_caught() {
    let run = clean_run();
    edit(&run.exec_path(), |mut lines| {
        let i = index_of(&lines, "end marker sent");
        lines[i] = lines[i].replace("[producer ", "[producer 9");
        lines
    });
    assert_fails_with(&run, "producer pid 9");
}

#[test]
fn a_summary_that_disagrees_with_the_log_is_caught() {
    let run = clean_run();
    edit(&run.exec_path(), |mut lines| {
        let last = lines.len() - 1;
        lines[last] = lines[last]
            .replace("received 12", "received 11")
            .replace("lost 0", "lost 1");
        lines
    });
    assert_fails_with(&run, "summary says sent 12, received 11, lost 1");
}

#[test]
fn a_torn_last_line_and_garbage_are_caught() {
    let run = clean_run();
    let mut text = std::fs::read_to_string(run.exec_path()).unwrap();
    text.insert_str(text.find('\n').unwrap() + 1, "this is not a log line\n");
    text.pop();
    std::fs::write(run.exec_path(), text).unwrap();
    assert_fails_with(&run, "execution_log.txt:2: cannot parse line");
    assert_fails_with(&run, "not terminated by a newline");
}

#[test]
fn consumer_totals_that_disagree_are_caught() {
    let run = clean_run();
    edit(&run.consumer_path(), |mut lines| {
        let last = lines.len() - 1;
        lines[last] = "# totals: values 12, even 0, odd 12".into();
        lines
    });
    assert_fails_with(
        &run,
        "consumer_log.txt:14: totals say values 12, even 0, odd 12",
    );
}

#[test]
fn a_consumer_log_value_missing_from_the_execution_log_is_caught() {
    let run = clean_run();
    edit(&run.consumer_path(), |mut lines| {
        lines.remove(4);
        lines
    });
    assert_fails_with(&run, "consumer_log.txt:");
}

#[test]
fn a_value_outside_the_logged_range_is_caught() {
    let run = clean_run();
    edit(&run.exec_path(), |mut lines| {
        lines[0] = lines[0].replace("range 1..=100", "range 1..=2");
        lines
    });
    assert_fails_with(&run, "is outside the run's range 1..=2");
}

/// verify on untrusted input: whatever the file, one verdict and no hang (the deadline); bounded
/// memory. (How fast is for the benchmarks.)
fn verdict(run: &Run) -> (i32, String, String) {
    let out = run.audit();
    (code(&out), stdout(&out), common::stderr(&out))
}

#[test]
fn a_log_that_is_not_a_regular_file_is_refused_at_once() {
    let run = clean_run();
    std::fs::remove_file(run.exec_path()).unwrap();
    std::os::unix::fs::symlink("/dev/zero", run.exec_path()).unwrap();
    let (code, _, err) = verdict(&run);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a regular file (a device)"), "{err}");

    std::fs::remove_file(run.exec_path()).unwrap();
    nix::unistd::mkfifo(&run.exec_path(), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let (code, _, err) = verdict(&run);
    assert_eq!(code, 2, "a FIFO nobody writes must not block: {err}");
    assert!(err.contains("a FIFO"), "{err}");

    std::fs::remove_file(run.exec_path()).unwrap();
    std::fs::create_dir(run.exec_path()).unwrap();
    let (code, _, err) = verdict(&run);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a directory"), "{err}");
}

#[test]
fn a_gigabyte_without_a_newline_is_one_overlong_line_not_a_memory_hog() {
    let run = clean_run();
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(run.exec_path())
        .unwrap();
    // Sparse: a gibibyte of zeros that costs nothing on disk.
    let len = file.metadata().unwrap().len();
    file.set_len(len + (1 << 30)).unwrap();
    let (code, report, _) = verdict(&run);
    assert_eq!(code, 1);
    assert!(
        report.contains("execution_log.txt:38: line longer than 4096 bytes"),
        "{report}"
    );
    assert!(report.contains("verify: FAILED"), "{report}");
}

/// Random bytes are not a log of this program: one line says so, naming the first line, and
/// points to `grade`; no invented problems.
#[test]
fn random_bytes_give_a_clear_verdict() {
    let run = clean_run();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let garbage: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(run.exec_path(), &garbage).unwrap();
    std::fs::write(run.consumer_path(), &garbage[..50_000]).unwrap();
    let (code, report, err) = verdict(&run);
    assert_eq!(code, 2, "{err}");
    assert!(report.is_empty(), "{report}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "error: execution_log.txt is not a log written by ipc_desafio: line 1 reads "
        ) && err.contains("ipc_desafio grade"),
        "{err}"
    );
    assert!(!err.chars().any(|c| c.is_control() && c != '\n'), "{err:?}");
}

/// A fault announced in main's first line that never fired, in a run nothing else disturbed, is
/// a fault that was not injected: verify says so (undisturbed, every fault's turn comes).
#[test]
fn a_fault_announced_but_never_fired_is_a_violation() {
    let run = clean_run();
    edit(&run.exec_path(), |mut lines| {
        lines[0] = lines[0].replace("fault none", "fault producer-exit@4");
        lines
    });
    assert_fails_with(
        &run,
        "fault producer-exit@4 injected — NOT handled as designed: it never fired",
    );
}

/// An overlong line in the middle of a real log is one violation at its line number, and the
/// reading moves on: the lines after it are still audited (every value still received).
#[test]
fn an_overlong_line_is_a_violation_at_its_number_and_reading_moves_on() {
    let run = clean_run();
    edit(&run.exec_path(), |mut lines| {
        lines.insert(5, "x".repeat(100_000));
        lines
    });
    let out = run.audit();
    let report = stdout(&out);
    assert_eq!(code(&out), 1, "{report}");
    assert!(
        report.contains("execution_log.txt:6: line longer than 4096 bytes"),
        "{report}"
    );
    assert!(
        report.lines().last().unwrap().starts_with(
            "verify: FAILED: 1 problem; 12 values sent, 12 received, 0 lost (execution_log.txt: 38 lines"
        ),
        "{report}"
    );
}

/// An edited log that lacks a line every run writes, or puts one where no run could, is
/// caught at its line: each rule below is one such line.
#[test]
fn lines_every_run_writes_in_the_order_it_writes_them_are_checked() {
    // The producer's first line must be its `started`; main must log `spawned` for each
    // child; no child line comes after main's `exiting`.
    type Edit = fn(Vec<String>) -> Vec<String>;
    let cases: [(&str, Edit, &str); 4] = [
        (
            "a deleted consumer 'started'",
            |mut lines| {
                let at = index_of(&lines, "[consumer ");
                lines.remove(at);
                lines
            },
            "the consumer's first line must be 'started'",
        ),
        (
            "deleted 'spawned' lines",
            |lines| {
                lines
                    .into_iter()
                    .filter(|l| !l.contains("] spawned "))
                    .collect()
            },
            "the producer logs, but main never logged 'spawned producer <pid>'",
        ),
        (
            "main's 'exiting' before the producer's",
            |mut lines| {
                let main_exit = lines
                    .iter()
                    .position(|l| l.contains("[main ") && l.contains("] exiting with code"))
                    .unwrap();
                let line = lines.remove(main_exit);
                let producer_exit = lines
                    .iter()
                    .position(|l| l.contains("[producer ") && l.contains("] exiting with code"))
                    .unwrap();
                lines.insert(producer_exit, line);
                lines
            },
            "a line from the producer after main's 'exiting'",
        ),
        (
            "a producer that stops early and gives no reason",
            |mut lines| {
                lines[0] = lines[0].replace("count 12,", "count 14,");
                lines
            },
            "the producer stopped after 12 of 14 values and gave no reason (no interrupt, fault or error line)",
        ),
    ];
    for (what, change, expected) in cases {
        let run = clean_run();
        edit(&run.exec_path(), change);
        let report = stdout(&run.audit());
        assert!(
            report.contains(expected),
            "{what}: expected {expected:?} in\n{report}"
        );
        assert_eq!(code(&run.audit()), 1, "{what}");
    }
}

/// Problems found at one line are listed in the order the checks run: how each child ended
/// (here: main never said how the consumer did), then the lines a run always writes (here: no
/// `spawned producer`). The log is edited so that both land on its last line.
#[test]
fn problems_on_one_line_list_each_childs_end_before_a_missing_spawned_line() {
    let run = clean_run();
    edit(&run.exec_path(), |lines| {
        let started = lines[index_of(&lines, "] started")..]
            .iter()
            .find(|l| l.contains("[producer "))
            .cloned()
            .unwrap();
        let mut kept: Vec<String> = lines
            .into_iter()
            .filter(|l| {
                let consumer_end = l.contains("] consumer ") && l.contains(" exited with code");
                let gone = ["[producer ", "[consumer ", "spawned producer"];
                !consumer_end && !gone.iter().any(|g| l.contains(g))
            })
            .collect();
        kept.push(started);
        kept
    });
    let report = stdout(&run.audit());
    let last = report
        .lines()
        .filter(|l| l.starts_with("execution_log.txt:"))
        .map(|l| l.split(':').nth(1).unwrap().to_string())
        .max_by_key(|n| n.parse::<usize>().unwrap())
        .unwrap();
    let at = |text: &str| {
        let line = format!("execution_log.txt:{last}: {text}");
        report
            .lines()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("no {line:?} in\n{report}"))
    };
    assert!(
        at("main never reported how the consumer ended")
            < at("the producer logs, but main never logged 'spawned producer <pid>'"),
        "{report}"
    );
}

/// Counts speak English and Portuguese grammar: one value, one line, one timestamp.
#[test]
fn counts_of_one_are_singular_in_both_languages() {
    let singular_wrong = regex::Regex::new(
        r"\b1 (values|lines|timestamps|repeated values|valores|linhas|horários|pares|ímpares|recebidos|enviados|perdidos)\b|after 1 values|de 1 valores",
    )
    .unwrap();
    for lang in ["en", "pt"] {
        for args in [
            &["-q", "-n", "1", "--seed", "3"][..],
            &[
                "-q",
                "-n",
                "2",
                "--pace",
                "20",
                "--seed",
                "3",
                "--fault",
                "consumer-exit@1",
            ],
            &["-q", "-n", "2", "--seed", "3", "--fault", "producer-exit@1"],
        ] {
            let run = Run::new();
            let mut args = args.to_vec();
            args.extend(["--lang", lang]);
            let _ = run.run(&args);
            let verify = common::desafio()
                .args(["verify", "--lang", lang, "--log-dir"])
                .arg(run.path())
                .run();
            let text = format!(
                "{}{}{}",
                run.exec_text(),
                std::fs::read_to_string(run.consumer_path()).unwrap(),
                stdout(&verify)
            );
            if let Some(m) = singular_wrong.find(&text) {
                panic!("{lang} {args:?}: '{}' in\n{text}", m.as_str());
            }
        }
    }
}

/// Logs that are not this program's (another student's program, a timestamp with a space
/// instead of `T`) get one line that says so, names the first line, and points to `grade` —
/// exit 2, no invented problems.
#[test]
fn logs_in_another_programs_layout_are_named_not_judged() {
    for (exec, consumer) in [
        (
            "[Produtor]: Enviando dado: 7 (1/12)\n[Consumidor]: Recebido 7 -> Impar\n",
            "7 Impar\n",
        ),
        (
            "2026-11-25 12:01:02.123+00:00 [main 41] started: count 12, range 1..=100, seed 1, pace none, fault none\n",
            "# consumer_log.txt: run started 2026-11-25 12:01:02.123+00:00, consumer pid 43\n",
        ),
    ] {
        let run = Run::new();
        std::fs::write(run.exec_path(), exec).unwrap();
        std::fs::write(run.consumer_path(), consumer).unwrap();
        let out = run.verify();
        let first = exec.lines().next().unwrap();
        assert_eq!(code(&out), 2);
        assert_eq!(stdout(&out), "", "no invented problems");
        assert_eq!(
            common::stderr(&out),
            format!(
                "error: execution_log.txt is not a log written by ipc_desafio: line 1 reads \"{}\"; to judge another program by what it does, use `ipc_desafio grade -- COMMAND`\n",
                first.chars().take(60).collect::<String>()
                    + if first.chars().count() > 60 {
                        "…"
                    } else {
                        ""
                    }
            )
        );
    }
}

/// The verdict's class never contradicts what is printed above it: a requirement that fails
/// fails the run (FAILED, not INCOMPLETE), and a requirement 4 that fails says why in words
/// that state a failure.
#[test]
fn a_failed_requirement_makes_the_verdict_failed_and_says_why() {
    let run = Run::new();
    assert_eq!(
        code(&run.run(&[
            "-q",
            "--seed",
            "7",
            "--pace",
            "20",
            "--fault",
            "consumer-exit@5"
        ])),
        1
    );
    let report = stdout(&run.verify());
    assert!(
        report.contains("requirement 2, at least 10 exchanges: FAIL"),
        "{report}"
    );
    assert!(
        report.lines().last().unwrap().starts_with(
            "verify: FAILED: the run does not meet requirement 2 of the assignment, and it did not complete;"
        ),
        "{report}"
    );
    let run = Run::new();
    let _ = run.run(&["-q", "--fault", "consumer-exit@0"]);
    let report = stdout(&run.verify());
    assert!(
        report.contains("requirement 4, the consumer processes and records: FAIL — the consumer recorded nothing in consumer_log.txt: no value reached it"),
        "{report}"
    );
}
