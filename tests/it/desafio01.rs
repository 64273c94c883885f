//! Desafio 01, graded: one test per mandatory requirement of the assignment, named after it.
//! `cargo test --test desafio01` is the grading a teacher runs. Each test runs the real program
//! and reads `verify`'s verdict on that requirement, then checks the claim against the logs
//! themselves, and shows that the requirement fails when it is not met.

use crate::common;

use std::collections::HashSet;

use common::{Run, code, stdout};
use ipc_desafio::desafio::record::{ConsumerLine, Parity, Role};

/// verify's line for requirement `n`.
fn requirement(verify: &str, n: u8) -> String {
    verify
        .lines()
        .find(|l| l.starts_with(&format!("requirement {n},")))
        .unwrap_or_else(|| panic!("no requirement {n} in:\n{verify}"))
        .to_string()
}

/// Rewrites one line of a log.
fn edit(path: &std::path::Path, line: usize, f: impl FnOnce(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[line - 1] = f(&lines[line - 1]);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn requirement_1_two_independent_processes_producer_and_consumer() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q"])), 0);
    let verify = stdout(&run.verify());
    let line = requirement(&verify, 1);
    assert!(line.contains(": PASS"), "{line}");
    let pids: HashSet<i32> = [Role::Main, Role::Producer, Role::Consumer]
        .iter()
        .map(|r| run.pid_of(*r).unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "three processes, three pids");
    for pid in &pids {
        assert!(line.contains(&pid.to_string()), "{line} names pid {pid}");
    }
}

#[test]
fn requirement_2_at_least_10_sends_and_receives() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q"])), 0);
    let line = requirement(&stdout(&run.verify()), 2);
    assert!(
        line.contains(": PASS — 12 values sent and 12 received"),
        "{line}"
    );

    // Three values are not enough, even if every one of them arrived.
    let short = Run::new();
    assert_eq!(code(&short.run(&["-q", "-n", "3"])), 0);
    let verify = short.verify();
    assert_eq!(code(&verify), 1, "a 3-value run fails the assignment");
    let line = requirement(&stdout(&verify), 2);
    assert!(
        line.contains(": FAIL — only 3 values sent and 3 received: at least 10 are required"),
        "{line}"
    );
    assert_eq!(
        code(&short.audit()),
        0,
        "its logs are consistent all the same"
    );
}

#[test]
fn requirement_3_varied_non_repeating_data() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q"])), 0);
    let sent = run.sent_values();
    assert_eq!(sent.iter().collect::<HashSet<_>>().len(), 12);
    let line = requirement(&stdout(&run.verify()), 3);
    assert!(
        line.contains(": PASS — 12 distinct values out of 12"),
        "{line}"
    );

    // A repeated value fails it, and the audit names both lines.
    let sent_lines: Vec<usize> = run
        .exec_text()
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("] sent "))
        .map(|(i, _)| i + 1)
        .collect();
    let (first, second) = (sent_lines[0], sent_lines[1]);
    let value = sent[0];
    edit(&run.exec_path(), second, |l| {
        let (head, rest) = l.split_once("] sent ").unwrap();
        let (_, tail) = rest.split_once(' ').unwrap();
        format!("{head}] sent {value} {tail}")
    });
    let verify = stdout(&run.verify());
    assert!(requirement(&verify, 3).contains(": FAIL"), "{verify}");
    assert!(
        verify.contains(&format!(
            "execution_log.txt:{second}: value {value} sent twice (first at line {first})"
        )),
        "{verify}"
    );
}

#[test]
fn requirement_4_the_consumer_processes_and_records_the_result() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q"])), 0);
    let values: Vec<(i64, Parity)> = run
        .consumer_lines()
        .into_iter()
        .filter_map(|l| match l {
            ConsumerLine::Value { value, parity, .. } => Some((value, parity)),
            _ => None,
        })
        .collect();
    assert_eq!(values.len(), 12, "one timestamped line per value");
    // The oracle is arithmetic, not the program's Parity::of (which verify uses too).
    for (v, p) in &values {
        let want = if v % 2 == 0 {
            Parity::Even
        } else {
            Parity::Odd
        };
        assert_eq!(*p, want, "{v} classified {p:?}");
    }
    let line = requirement(&stdout(&run.verify()), 4);
    assert!(
        line.contains(": PASS — 12 values classified in consumer_log.txt"),
        "{line}"
    );

    // A wrong classification fails it.
    edit(&run.consumer_path(), 2, |l| {
        if l.ends_with(" even") {
            l.replace(" even", " odd")
        } else {
            l.replace(" odd", " even")
        }
    });
    let verify = stdout(&run.verify());
    assert!(requirement(&verify, 4).contains(": FAIL"), "{verify}");
    assert!(verify.contains("consumer_log.txt:2: "), "{verify}");
}

#[test]
fn requirement_5_errors_and_blocking_situations_handled() {
    // A clean run handles no error, and says so rather than pretending.
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q"])), 0);
    let line = requirement(&stdout(&run.verify()), 5);
    assert!(
        line.contains(": PASS — no error occurred in this run"),
        "{line}"
    );
    assert!(line.contains("see --fault"), "{line}");

    // Each error path, provoked on purpose, is shown handled: EPIPE, EOF, a killed process.
    for (fault, handled) in [
        (
            "consumer-exit@5",
            "EPIPE: the producer saw the consumer close the pipe",
        ),
        (
            "producer-exit@5",
            "EOF: the consumer saw the pipe close before the end marker",
        ),
        (
            "consumer-kill@5",
            "a killed consumer: main reaped it and reported SIGKILL",
        ),
        (
            "producer-kill@5",
            "a killed producer: main reaped it and reported SIGKILL",
        ),
    ] {
        let run = Run::new();
        assert_eq!(code(&run.run(&["-q", "--pace", "20", "--fault", fault])), 1);
        let verify = stdout(&run.verify());
        let line = requirement(&verify, 5);
        assert!(line.contains(": PASS"), "{fault}: {line}");
        assert!(
            line.contains(&format!("fault {fault} injected — handled")),
            "{fault}: {line}"
        );
        assert!(line.contains(handled), "{fault}: {line}");
    }
}

/// The manual's table of verdicts ("The last line is the verdict", docs/ipc_desafio.md) is the
/// contract: each row's verdict word, verify's exit code and main's possible exit codes are the
/// code's (`verify::Verdict`), and real runs of each class land in their row.
#[test]
fn the_manuals_table_of_verdicts_is_the_codes_and_real_runs_follow_it() {
    use ipc_desafio::desafio::lang::Lang;
    use ipc_desafio::desafio::verify::Verdict;
    let manual = include_str!("../../docs/ipc_desafio.md");
    let rows: Vec<(String, u8, Vec<u8>)> = manual
        .lines()
        .filter(|l| l.starts_with("| `verify: "))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let word = cells[0]
                .trim_start_matches("| `verify: ")
                .split(':')
                .next()
                .unwrap()
                .to_string();
            let verify: u8 = cells[1].trim().parse().unwrap();
            let main: Vec<u8> = cells[2]
                .split([',', ' '])
                .filter_map(|w| w.parse().ok())
                .collect();
            (word, verify, main)
        })
        .collect();
    let code_rows: Vec<(String, u8, Vec<u8>)> = Verdict::ALL
        .iter()
        .map(|v| {
            (
                v.word(Lang::En).to_string(),
                v.exit_code(),
                v.main_exits().to_vec(),
            )
        })
        .collect();
    assert_eq!(rows, code_rows, "the manual's table and the code differ");
    assert!(
        manual.contains("| one `error: …` line on stderr | 2 | — |"),
        "the error row"
    );

    // Real runs: (main's exit code, verify's exit code, the verdict word) within a row.
    let check = |run: &Run, main: i32, audit_only: bool| {
        let out = if audit_only {
            run.audit()
        } else {
            run.verify()
        };
        let report = stdout(&out);
        let word = report
            .lines()
            .last()
            .unwrap()
            .trim_start_matches("verify: ")
            .split(':')
            .next()
            .unwrap()
            .to_string();
        let row = rows
            .iter()
            .find(|r| r.0 == word)
            .unwrap_or_else(|| panic!("{word} is no row\n{report}"));
        assert_eq!(i32::from(row.1), code(&out), "{report}");
        assert!(
            row.2.contains(&u8::try_from(main).unwrap()),
            "main exited {main} with verdict {word}\n{report}"
        );
        word
    };
    let run = Run::new();
    let main = code(&run.run(&["-q", "--seed", "2026"]));
    assert_eq!(check(&run, main, false), "OK");
    let run = Run::new();
    let main = code(&run.run(&["-q", "--fault", "consumer-exit@12"]));
    assert_eq!(check(&run, main, true), "INCOMPLETE");
    let run = Run::new();
    let main = code(&run.run(&[
        "-q",
        "--seed",
        "7",
        "--pace",
        "20",
        "--fault",
        "consumer-exit@5",
    ]));
    assert_eq!(
        check(&run, main, false),
        "FAILED",
        "requirement 2 is not met"
    );
    let run = Run::new();
    let main = code(&run.run(&["-q", "--seed", "2026"]));
    let text = run.exec_text().replacen(": even", ": odd", 1);
    std::fs::write(run.exec_path(), text).unwrap();
    assert_eq!(check(&run, main, true), "FAILED", "a violation");
}
