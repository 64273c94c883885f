//! `ipc_desafio report`: a picture of a run that shows every value's trip and every event that
//! matters, drawn from the logs alone; any file thrown at it ends in one error line, never a
//! panic or a hang.

mod common;

use common::{Bounded, Run, code, stderr};
use ipc_desafio::desafio::record::{Event, Role};

/// Runs `report` on `run`'s logs into `file` (in the run's dir) and parses the SVG.
fn report(run: &Run, file: &str) -> (std::process::Output, String) {
    let out = common::desafio()
        .args(["report", "--log-dir"])
        .arg(run.path())
        .arg("-o")
        .arg(run.path().join(file))
        .run();
    let text = std::fs::read_to_string(run.path().join(file)).unwrap_or_default();
    (out, text)
}

fn classes<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| {
            n.attribute("class").is_some_and(|c| {
                c.split(' ')
                    .collect::<Vec<_>>()
                    .starts_with(&class.split(' ').collect::<Vec<_>>())
            })
        })
        .collect()
}

#[test]
fn every_value_is_one_arrow_from_sent_to_received_coloured_by_parity() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--pace", "20", "--seed", "2026"])), 0);
    let (out, svg) = report(&run, "run.svg");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    let mut drawn: Vec<(i64, &str)> = classes(&doc, "trip")
        .iter()
        .map(|n| {
            let v: i64 = n.attribute("data-value").unwrap().parse().unwrap();
            let class = n.attribute("class").unwrap();
            (
                v,
                if class.ends_with("even") {
                    "even"
                } else {
                    "odd"
                },
            )
        })
        .collect();
    let mut sent: Vec<(i64, &str)> = run
        .sent_values()
        .into_iter()
        .map(|v| {
            (
                v,
                // The oracle is arithmetic, not the program's Parity::of.
                if v % 2 == 0 { "even" } else { "odd" },
            )
        })
        .collect();
    drawn.sort();
    sent.sort();
    assert_eq!(drawn, sent, "one arrow per value, with its parity");
    assert_eq!(classes(&doc, "mark start").len(), 3, "a start on each lane");
    assert_eq!(
        classes(&doc, "mark exit").len(),
        5,
        "each child's exit, and main's view of both, and main's own"
    );
    let caption = classes(&doc, "caption")[0]
        .text()
        .unwrap_or_default()
        .to_string();
    assert!(
        caption.contains("sent 12, received 12, lost 0"),
        "{caption}"
    );
    for role in [Role::Main, Role::Producer, Role::Consumer] {
        let pid = run.pid_of(role).unwrap();
        assert!(
            svg.contains(&format!("pid {pid}")),
            "{role:?} lane names pid {pid}"
        );
    }
}

#[test]
fn a_fault_run_shows_the_fault_the_epipe_and_the_value_that_never_entered_the_pipe() {
    let run = Run::new();
    assert_eq!(
        code(&run.run(&[
            "-q",
            "--pace",
            "20",
            "--fault",
            "consumer-exit@5",
            "--seed",
            "7"
        ])),
        1
    );
    let (out, svg) = report(&run, "run.svg");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let received = classes(&doc, "trip even").len() + classes(&doc, "trip odd").len();
    assert_eq!(received, 5, "five values made it");
    let fault = classes(&doc, "mark fault");
    assert_eq!(fault.len(), 1);
    assert_eq!(fault[0].attribute("data-role"), Some("consumer"));
    let errors = classes(&doc, "mark error");
    assert!(
        errors
            .iter()
            .any(|n| n.attribute("data-role") == Some("producer")),
        "the producer's EPIPE is marked"
    );
    let logged_after_epipe = run
        .exec_lines()
        .iter()
        .filter(|l| matches!(l.event, Event::Sent { index, .. } if index > 5))
        .count();
    assert_eq!(classes(&doc, "trip unsent").len(), logged_after_epipe);
}

#[test]
fn a_large_run_gets_throughput_and_latency_charts_instead_of_arrows() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "-n", "2000", "--max", "100000"])), 0);
    let (out, svg) = report(&run, "run.html");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(svg.starts_with("<!DOCTYPE html>") && svg.contains("<svg"));
    let start = svg.find("<svg").unwrap();
    let end = svg.rfind("</svg>").unwrap() + "</svg>".len();
    let doc = roxmltree::Document::parse(&svg[start..end]).unwrap();
    assert!(classes(&doc, "trip").is_empty());
    for series in [
        "series sent",
        "series received",
        "series latency-median",
        "series latency-max",
    ] {
        assert_eq!(classes(&doc, series).len(), 1, "{series}");
    }
}

/// One line on stderr, the expected code, and no hang (the deadline).
fn refused(run: &Run, args: &[&str], expected: i32) {
    let out = common::desafio()
        .arg("report")
        .args(args)
        .arg("--log-dir")
        .arg(run.path())
        .run();
    assert_eq!(code(&out), expected, "{args:?}: {}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: "));
}

#[test]
fn unusable_logs_give_one_error_line_never_a_panic_or_a_hang() {
    // Missing logs, and logs that are not regular files: bad input, exit 2.
    let run = Run::new();
    refused(&run, &[], 2);
    std::fs::write(run.consumer_path(), "# header\n").unwrap();
    std::os::unix::fs::symlink("/dev/zero", run.exec_path()).unwrap();
    refused(&run, &[], 2);
    std::fs::remove_file(run.exec_path()).unwrap();
    nix::unistd::mkfifo(&run.exec_path(), nix::sys::stat::Mode::S_IRWXU).unwrap();
    refused(&run, &[], 2);
    std::fs::remove_file(run.exec_path()).unwrap();
    std::fs::create_dir(run.exec_path()).unwrap();
    refused(&run, &[], 2);
    std::fs::remove_dir(run.exec_path()).unwrap();

    // Files that are not logs of this program: exit 1.
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(run.exec_path(), &garbage).unwrap();
    refused(&run, &[], 1);
    let huge = std::fs::File::create(run.exec_path()).unwrap();
    huge.set_len(1 << 30).unwrap(); // 1 GiB without a newline, sparse: nothing on disk
    refused(&run, &[], 1);
    std::fs::write(run.exec_path(), "").unwrap();
    refused(&run, &[], 1);

    // An output that is not a regular file is refused before anything is read.
    assert_eq!(code(&run.run(&["-q"])), 0);
    refused(&run, &["-o", "/dev/null"], 2);
    refused(&run, &["-o", run.path().to_str().unwrap()], 2);
}
