//! Control characters that come from outside — a `--log-dir` name, a crafted log — never reach
//! a log line, a terminal or a picture raw: a newline cannot split a line, an ESC cannot move
//! a terminal's cursor over the verdict, and the SVG stays valid XML.

use crate::common;

use common::{Bounded, code, desafio, stdout};
use ipc_desafio::desafio::record::LogLine;

fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect()
}

#[test]
fn a_log_dir_holding_esc_and_a_newline_stays_one_escaped_line_per_event() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("run\u{1b}[31m\nred");
    std::fs::create_dir(&dir).unwrap();
    // A full disk under the consumer's log: its error line names the path.
    std::os::unix::fs::symlink("/dev/full", dir.join("consumer_log.txt")).unwrap();
    let out = desafio().arg("-q").arg("--log-dir").arg(&dir).run();
    assert_eq!(code(&out), 1, "{}", common::stderr(&out));
    let text = std::fs::read_to_string(dir.join("execution_log.txt")).unwrap();
    assert!(raw_controls(&text).is_empty(), "{text:?}");
    for line in text.lines() {
        line.parse::<LogLine>()
            .unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"));
    }
    assert!(
        text.contains("run\\u{1b}[31m\\nred/consumer_log.txt: No space left on device"),
        "{text}"
    );
    // verify reads the program's own log whole (the consumer log made a regular file again).
    std::fs::remove_file(dir.join("consumer_log.txt")).unwrap();
    std::fs::write(dir.join("consumer_log.txt"), "").unwrap();
    let audit = desafio()
        .args(["verify", "--audit-only", "--log-dir"])
        .arg(&dir)
        .run();
    let report = stdout(&audit);
    assert!(!report.contains("cannot parse"), "{report}");
    assert!(raw_controls(&report).is_empty(), "{report:?}");
}

#[test]
fn a_crafted_log_can_neither_hide_the_verdict_on_a_terminal_nor_break_the_picture() {
    let run = common::Run::new();
    assert_eq!(code(&run.run(&["-q", "--seed", "5"])), 0);
    let text = run.exec_text();
    let first = text.lines().next().unwrap();
    let stamp = &first[..29];
    let pid = run
        .pid_of(ipc_desafio::desafio::record::Role::Main)
        .unwrap();
    let hostile = format!("{stamp} [main {pid}] error: \u{1b}[2K\u{1b}[1A\rverify: OK <&>");
    let edited = text.replacen(first, &format!("{first}\n{hostile}"), 1);
    std::fs::write(run.exec_path(), edited).unwrap();

    let out = run.audit();
    let report = stdout(&out);
    assert!(raw_controls(&report).is_empty(), "{report:?}");
    assert!(
        report.contains("\\u{1b}[2K\\u{1b}[1A\\rverify: OK"),
        "{report}"
    );
    assert_eq!(code(&out), 1, "{report}");

    let svg_path = run.path().join("run.svg");
    let out = desafio()
        .args(["report", "--log-dir"])
        .arg(run.path())
        .arg("-o")
        .arg(&svg_path)
        .run();
    assert_eq!(code(&out), 0, "{}", common::stderr(&out));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(raw_controls(&svg).is_empty());
    roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
}

/// worker_pool and ticket_office quote their paths with the same escaping: an error naming a
/// path that holds ESC and a newline is one line on stderr with neither raw, and worker_pool's
/// log stays one parsable line per record.
#[test]
fn the_siblings_escape_control_characters_in_paths_on_stderr_and_in_the_log() {
    let top = tempfile::tempdir().unwrap();
    let bad = top.path().join("no\u{1b}[31mred\nline").join("x");
    for (bin, flag) in [
        (crate::common::WORKER_POOL, "--log"),
        (crate::common::TICKET_OFFICE, "--state"),
    ] {
        let out = std::process::Command::new(bin).arg(flag).arg(&bad).run();
        let err = common::stderr(&out);
        assert_eq!(code(&out), 2, "{bin}: {err}");
        assert_eq!(err.lines().count(), 1, "{bin}: {err:?}");
        assert!(raw_controls(&err).is_empty(), "{bin}: {err:?}");
        assert!(
            err.starts_with(&format!("error: {flag} "))
                && err.contains("no\\u{1b}[31mred\\nline/x"),
            "{bin}: {err:?}"
        );
    }
    let dir = top.path().join("d\u{1b}[2J");
    std::fs::create_dir(&dir).unwrap();
    let log = dir.join("l\nog");
    let out = std::process::Command::new(crate::common::WORKER_POOL)
        .args([
            "-q",
            "--items",
            "2",
            "--work-ms",
            "1",
            "--max-gap-ms",
            "1",
            "--log",
        ])
        .arg(&log)
        .run();
    assert_eq!(code(&out), 0, "{}", common::stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(raw_controls(&text).is_empty(), "{text:?}");
    for line in text.lines() {
        assert!(
            ipc_desafio::worker_pool::event::Record::parse_line(line).is_some(),
            "{line:?} does not parse"
        );
    }
    assert!(
        text.lines().next().unwrap().ends_with("d\\u{1b}[2J/l\\nog"),
        "{text}"
    );
}
