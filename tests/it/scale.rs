//! Batching changes how many system calls a run makes, never what its logs say: large runs
//! still pass `verify`, every fault is still accounted value by value, and a 12-value run logs
//! one event per line exactly as an unbatched run would.

use crate::common;

use common::{Run, code, stdout};
use ipc_desafio::desafio::record::{Event, Role};

#[test]
fn two_hundred_thousand_values_pass_verify() {
    let run = Run::new();
    let out = run.run(&["-q", "-n", "200000", "--max", "1000000000", "--seed", "5"]);
    assert_eq!(code(&out), 0, "{}", common::stderr(&out));
    let (sent, received, lost) = run.summary();
    assert_eq!((sent, received, lost), (200_000, 200_000, 0));
    let verify = run.verify();
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
    assert!(stdout(&verify).contains("verify: OK: 200000 values sent, 200000 received, 0 lost"));
}

/// A batch is cut at the fault point, so the producer stops after exactly K values.
#[test]
fn producer_faults_cut_batches_at_exactly_k_values() {
    for kind in ["producer-exit", "producer-kill"] {
        let run = Run::new();
        let fault = format!("{kind}@12345");
        assert_eq!(
            code(&run.run(&["-q", "-n", "50000", "--max", "10000000", "--fault", &fault])),
            1
        );
        assert_eq!(run.summary(), (12345, 12345, 0), "{kind}");
        assert_eq!(run.sent_values(), run.received_values(), "{kind}");
        assert!(
            run.messages(Role::Consumer)
                .contains(&"error: pipe closed before the end marker after 12345 values".into())
        );
    }
}

/// The consumer handles exactly K values; everything else that was sent is reported lost, and
/// verify's list of lost values agrees with main's summary.
#[test]
fn consumer_faults_account_for_every_value_sent() {
    for kind in ["consumer-exit", "consumer-kill"] {
        let run = Run::new();
        let fault = format!("{kind}@12345");
        assert_eq!(
            code(&run.run(&["-q", "-n", "50000", "--max", "10000000", "--fault", &fault])),
            1
        );
        let (sent, received, lost) = run.summary();
        assert_eq!(received, 12345, "{kind}");
        assert_eq!(lost, sent - received, "{kind}");
        assert_eq!(
            run.received_values(),
            run.sent_values()[..12345].to_vec(),
            "{kind}"
        );
        let report = stdout(&run.verify());
        if lost > 0 {
            assert!(
                report.contains(&format!("lost: {lost} values sent but never received")),
                "{kind}: {report}"
            );
        }
        assert!(
            report.contains(&format!("{sent} values sent, 12345 received, {lost} lost")),
            "{kind}: {report}"
        );
    }
}

#[test]
fn the_twelve_value_run_logs_one_event_per_line_as_before() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--seed", "3"])), 0);
    let lines = run.exec_lines();
    assert_eq!(
        lines.len(),
        37,
        "7 main + 15 producer + 15 consumer lines:\n{}",
        run.exec_text()
    );
    let count = |role: Role, f: fn(&Event) -> bool| {
        lines
            .iter()
            .filter(|l| l.role == role && f(&l.event))
            .count()
    };
    assert_eq!(
        count(Role::Producer, |e| matches!(e, Event::Sent { .. })),
        12
    );
    assert_eq!(
        count(Role::Consumer, |e| matches!(e, Event::Received { .. })),
        12
    );
    for (i, line) in lines.iter().enumerate() {
        if let Event::Sent { index, .. } = line.event {
            let n = lines[..i]
                .iter()
                .filter(|l| matches!(l.event, Event::Sent { .. }))
                .count() as u64;
            assert_eq!(index, n + 1, "sent lines are numbered 1..=12 in file order");
        }
    }
}

#[test]
fn a_paced_run_sends_one_value_per_batch() {
    let run = Run::new();
    assert_eq!(code(&run.run(&["-q", "--pace", "15"])), 0);
    let sent: Vec<_> = run
        .exec_lines()
        .into_iter()
        .filter(|l| matches!(l.event, Event::Sent { .. }))
        .collect();
    assert!(
        sent.windows(2).all(|w| w[1].time > w[0].time),
        "each paced value is logged on its own"
    );
}
