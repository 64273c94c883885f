//! `ipc_desafio report`: a picture of a run that shows every value's trip and every event that
//! matters, drawn from the logs alone; any file thrown at it ends in one error line, never a
//! panic or a hang.

use crate::common;

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

    // Files that are not logs of this program: bad input, exit 2, in the words verify uses.
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(run.exec_path(), &garbage).unwrap();
    refused(&run, &[], 2);
    std::fs::write(run.exec_path(), "[Produtor]: Enviando dado: 7 (1/12)\n").unwrap();
    refused(&run, &[], 2);
    let out = common::desafio()
        .args(["report", "--log-dir"])
        .arg(run.path())
        .run();
    assert!(
        stderr(&out).contains("is not a log written by ipc_desafio: line 1 reads"),
        "{}",
        stderr(&out)
    );
    let huge = std::fs::File::create(run.exec_path()).unwrap();
    huge.set_len(1 << 30).unwrap(); // 1 GiB without a newline, sparse: nothing on disk
    refused(&run, &[], 2);
    // An empty log is this program's, cut short: the run is incomplete, exit 1.
    std::fs::write(run.exec_path(), "").unwrap();
    refused(&run, &[], 1);

    // An output that is not a regular file is refused before anything is read.
    assert_eq!(code(&run.run(&["-q"])), 0);
    refused(&run, &["-o", "/dev/null"], 2);
    refused(&run, &["-o", run.path().to_str().unwrap()], 2);
}

fn number(node: &roxmltree::Node, attribute: &str) -> f64 {
    node.attribute(attribute)
        .unwrap_or_else(|| panic!("no {attribute}"))
        .parse()
        .unwrap()
}

/// The x of the marks of `class` on `role`'s lane.
fn marks_x(doc: &roxmltree::Document, class: &str, role: &str) -> Vec<f64> {
    classes(doc, class)
        .iter()
        .filter(|n| n.attribute("data-role") == Some(role))
        .map(|n| number(n, "data-x"))
        .collect()
}

/// The run a student makes first, unpaced, takes a few milliseconds: too fast for its
/// timestamps, so the picture shows the order of events — every event at its rank in the log.
/// The producer's end marker and exit come after its last value, and every arrow lands before
/// the consumer exits.
#[test]
fn an_unpaced_run_is_drawn_in_the_order_its_log_tells() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--seed", "7"])), 0);
    let (out, svg) = report(&run, "run.svg");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let arrows: Vec<(f64, f64)> = classes(&doc, "trip")
        .iter()
        .map(|n| (number(n, "x1"), number(n, "x2")))
        .collect();
    assert_eq!(arrows.len(), 12);
    let last_sent = arrows.iter().map(|a| a.0).fold(f64::MIN, f64::max);
    let last_received = arrows.iter().map(|a| a.1).fold(f64::MIN, f64::max);
    let end = marks_x(&doc, "mark end", "producer")[0];
    let producer_exit = marks_x(&doc, "mark exit", "producer")[0];
    let consumer_exit = marks_x(&doc, "mark exit", "consumer")[0];
    assert!(
        last_sent < end && end < producer_exit,
        "{last_sent} {end} {producer_exit}"
    );
    assert!(
        last_received < consumer_exit,
        "{last_received} {consumer_exit}"
    );
    assert!(
        arrows.iter().all(|(a, b)| a < b),
        "every arrow goes forward"
    );
}

/// No label covers another: each one goes to a free row under its lane (main's lane holds
/// the most, a small fault run the densest).
#[test]
fn mark_labels_never_overlap() {
    for args in [
        &["-q", "--seed", "7"][..],
        &[
            "-q",
            "--seed",
            "7",
            "--pace",
            "20",
            "--fault",
            "consumer-exit@5",
        ],
        &["-q", "-n", "3", "--seed", "7", "--fault", "producer-kill@1"],
    ] {
        let run = Run::new();
        let _ = run.run(args);
        let (out, svg) = report(&run, "run.svg");
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let mut boxes: Vec<(f64, f64, f64, String)> = Vec::new();
        for mark in classes(&doc, "mark") {
            let Some(text) = mark.children().find(|c| c.has_tag_name("text")) else {
                continue;
            };
            let words = text.text().unwrap_or_default().to_string();
            let width = words.chars().count() as f64 * 5.0;
            let x = number(&text, "x");
            let (left, right) = match text.attribute("text-anchor") {
                Some("end") => (x - width, x),
                Some("start") => (x, x + width),
                _ => (x - width / 2.0, x + width / 2.0),
            };
            boxes.push((number(&text, "y"), left, right, words));
        }
        assert!(!boxes.is_empty());
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                let overlap = a.0 == b.0 && a.1 < b.2 && b.1 < a.2;
                assert!(!overlap, "{args:?}: {:?} and {:?} overlap", a.3, b.3);
            }
        }
    }
}

/// Above 200 values: every line of the charts is named, and the caption stands clear of
/// every other text; a run that took a few milliseconds gets time ticks that differ.
#[test]
fn a_large_runs_charts_name_every_line_and_their_ticks_differ() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "-n", "300", "--max", "1000"])), 0);
    let (out, svg) = report(&run, "run.svg");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(
        classes(&doc, "key").len(),
        4,
        "sent, received, median, slowest"
    );
    let caption = classes(&doc, "caption")[0];
    let y = number(&caption, "y");
    for text in doc.descendants().filter(|n| n.has_tag_name("text")) {
        if text != caption && text.attribute("y").is_some() {
            assert!(
                (number(&text, "y") - y).abs() >= 12.0,
                "{:?} sits on the caption",
                text.text()
            );
        }
    }
    let ticks: Vec<String> = classes(&doc, "tick")
        .iter()
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ticks.len(), 6);
    let mut distinct = ticks.clone();
    distinct.dedup();
    assert_eq!(distinct, ticks, "tick labels repeat: {ticks:?}");
}

/// `report` writes SVG text: a `.png` (or any other format's name) is refused with one line
/// that says how to get a PNG, and nothing is written.
#[test]
fn a_png_is_refused_with_the_way_to_get_one() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q"])), 0);
    for name in ["run.png", "run.pdf", "run"] {
        let (out, _) = report(&run, name);
        assert_eq!(code(&out), 2, "{name}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("rsvg-convert") && err.contains(".svg"),
            "{err}"
        );
        assert!(!run.path().join(name).exists(), "{name} was written");
    }
}
