//! Three defects a randomized fault campaign found, each now provoked on purpose (a hidden hook
//! opens the window, the test waits for the fact that the program is in it; no sleeping and
//! hoping) and shown fixed.

use crate::common;

use common::{Bounded, Run, code, stdout};
use ipc_desafio::desafio::record::{Event, LogLine, Role};

/// Check-then-block: a SIGTERM that lands after the forks but before main starts to wait must
/// be acted on at once, not when a child happens to exit. A hook makes main pause 1.5 s between
/// the forks and its first wait; the test waits until main is in that pause (its `spawned
/// consumer` line is logged and the kernel shows it in `nanosleep`), then sends SIGTERM. The
/// producer, at one value a second, would need 19 s for all twenty: with a wait4-based loop main
/// would let it finish; acting at once, it stops it after a handful.
#[test]
fn sigterm_just_after_the_forks_is_acted_on_at_once() {
    let run = Run::new();
    let mut child = run
        .command(&["-q", "-n", "20", "--pace", "1000"])
        .env("IPC_DESAFIO_TEST_PAUSE_AFTER_FORKS_MS", "1500")
        .stdout(std::process::Stdio::null())
        .start();
    let main = child.pid();
    child.wait_until("main in its pause after the forks", || {
        let spawned = run.exec_text().contains("] spawned consumer ");
        let wchan = std::fs::read_to_string(format!("/proc/{main}/wchan")).unwrap_or_default();
        spawned && wchan.contains("nanosleep")
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(main),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.code(), 130);
    let (sent, received, lost) = run.summary();
    assert!(
        sent < 20,
        "the producer went on for all {sent} values: the interrupt waited for a child's exit"
    );
    assert_eq!((received, lost), (sent, 0));
    assert!(
        run.messages(Role::Main)
            .contains(&"interrupted by SIGTERM".to_string()),
        "{}",
        run.exec_text()
    );
}

/// A writer SIGKILLed in the middle of its write leaves a fragment; the next writer starts on
/// a fresh line, so only the killed writer's own line is lost, and verify names it as such.
#[test]
fn a_writer_killed_in_the_middle_of_its_write_costs_only_its_own_line() {
    let run = Run::new();
    let out = run
        .command(&["-q", "-n", "100"])
        .env("IPC_DESAFIO_TEST_TORN_WRITE", "producer:4")
        .run();
    assert_eq!(code(&out), 1);
    let text = run.exec_text();
    let unparsed: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.parse::<LogLine>().is_err())
        .map(|(i, l)| (i + 1, l))
        .collect();
    assert_eq!(
        unparsed.len(),
        1,
        "exactly one fragment: {unparsed:?}\n{text}"
    );
    let (line, fragment) = unparsed[0];
    assert!(
        fragment.len() < 60 && fragment.starts_with(&text[..4]),
        "the start of a line, cut short: {fragment}"
    );
    let lines = run.parsed_lines();
    assert!(
        lines.iter().any(|l| l.role == Role::Main
            && matches!(&l.event, Event::ChildExited { role: Role::Producer, status, .. } if status.to_string() == "killed by SIGKILL")),
        "{text}"
    );
    let audit = stdout(&run.audit());
    assert!(
        audit.contains(&format!(
            "execution_log.txt:{line}: a line cut short by a killed process"
        )),
        "{audit}"
    );
    assert!(!audit.contains("cannot parse"), "{audit}");
    assert!(
        audit.contains("verify: INCOMPLETE"),
        "no violation, an incomplete run: {audit}"
    );
    let Some(Event::Summary {
        sent,
        received,
        lost,
        ..
    }) = lines.last().map(|l| l.event.clone())
    else {
        panic!("no summary: {text}");
    };
    assert!(
        audit.contains(&format!(
            "{sent} values sent, {received} received, {lost} lost"
        )),
        "verify's counts are main's: {audit}"
    );
}

/// A consumer that stops at the last value never reads the end marker: main used to call that
/// run complete (both children exit 0, nothing lost) while verify called it incomplete. Both
/// now apply the same judgement to the same facts.
#[test]
fn main_and_verify_agree_when_the_consumer_stops_at_the_last_value() {
    let run = Run::new();
    let out = run.run(&["-q", "--fault", "consumer-exit@12"]);
    assert_eq!(
        code(&out),
        1,
        "incomplete: the end marker was never received"
    );
    assert_eq!(run.summary(), (12, 12, 0));
    assert!(
        run.messages(Role::Main)
            .contains(&"exiting with code 1".to_string())
    );
    let audit = run.audit();
    assert_eq!(code(&audit), 1);
    let text = stdout(&audit);
    assert!(
        text.contains("the consumer never received the end marker"),
        "{text}"
    );
    assert!(text.contains("verify: INCOMPLETE"), "{text}");
    assert!(
        !text.contains("main exited with code"),
        "no disagreement: {text}"
    );
}

/// The same with the consumer killed in the middle of its write: main's and the producer's
/// later lines start on a fresh line and parse; verify names the fragment and calls the run
/// incomplete, its counts main's.
#[test]
fn a_consumer_killed_in_the_middle_of_its_write_costs_only_its_own_line() {
    let run = Run::new();
    let out = run
        .command(&["-q", "--seed", "1", "--pace", "5"])
        .env("IPC_DESAFIO_TEST_TORN_WRITE", "consumer:2")
        .run();
    assert_eq!(code(&out), 1);
    let text = run.exec_text();
    let unparsed: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.parse::<LogLine>().is_err())
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(unparsed.len(), 1, "exactly one fragment:\n{text}");
    let line = unparsed[0];
    assert!(
        text.lines().count() > line + 1,
        "later lines by the others:\n{text}"
    );
    let lines = run.parsed_lines();
    assert!(
        lines.iter().any(|l| l.role == Role::Main
            && matches!(&l.event, Event::ChildExited { role: Role::Consumer, status, .. } if status.to_string() == "killed by SIGKILL")),
        "{text}"
    );
    let Some(Event::Summary {
        sent,
        received,
        lost,
        ..
    }) = lines.last().map(|l| l.event.clone())
    else {
        panic!("no summary: {text}");
    };
    let audit = stdout(&run.audit());
    assert!(
        audit.contains(&format!(
            "execution_log.txt:{line}: a line cut short by a killed process"
        )),
        "{audit}"
    );
    assert!(
        audit.lines().last().unwrap().starts_with(&format!(
            "verify: INCOMPLETE: the logs are consistent, but the run did not complete; {sent} value{} sent, {received} received, {lost} lost",
            if sent == 1 { "" } else { "s" }
        )),
        "{audit}"
    );
}

/// The numbers of verify's last line, `… N values sent, R received, L lost (…`.
fn verdict_counts(audit: &str) -> (u64, u64, u64) {
    let last = audit.lines().last().unwrap_or_default();
    let counts = last.rsplit_once("; ").map_or("", |(_, c)| c);
    let n: Vec<u64> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .take(3)
        .collect();
    assert_eq!(n.len(), 3, "{audit}");
    (n[0], n[1], n[2])
}

/// A consumer killed in the middle of a batch of many `received` lines leaves whole lines of
/// values it never recorded in consumer_log.txt. Those count as lost for main (its count is of
/// recorded values), so verify's last line must say the same: sent = received + lost, as main.
#[test]
fn values_a_killed_consumer_logged_but_never_recorded_count_as_lost_for_verify_as_for_main() {
    let run = Run::new();
    let out = run
        .command(&["-q", "-n", "3000", "--max", "100000", "--seed", "5"])
        .env("IPC_DESAFIO_TEST_TORN_WRITE", "consumer:3")
        .run();
    assert_eq!(code(&out), 1);
    let summary = run.summary();
    let audit = stdout(&run.audit());
    assert_eq!(verdict_counts(&audit), summary, "{audit}");
    let (sent, received, lost) = summary;
    assert_eq!(sent, received + lost, "{audit}");
}

/// A consumer killed after writing a batch to both logs but before adding it to the count main
/// reads: main's count is one batch behind the consumer's log. verify accepts that summary (it
/// is what main could know) and agrees with it; the run is incomplete for both.
#[test]
fn a_consumer_killed_before_counting_its_last_batch_is_no_disagreement() {
    let run = Run::new();
    let out = run
        .command(&["-q", "-n", "3000", "--max", "100000", "--seed", "5"])
        .env("IPC_DESAFIO_TEST_KILL_BEFORE_COUNT", "2")
        .run();
    assert_eq!(code(&out), 1);
    let (sent, received, lost) = run.summary();
    let recorded = run.consumer_lines().len() as u64;
    assert!(received < recorded, "main counted {received} of {recorded}");
    let audit = stdout(&run.audit());
    assert!(
        audit
            .lines()
            .last()
            .unwrap()
            .starts_with("verify: INCOMPLETE: the logs are consistent"),
        "{audit}"
    );
    assert!(!audit.contains("summary says"), "{audit}");
    assert_eq!(sent, received + lost);
}

/// A consumer killed between its two logs' writes leaves values in a third state: taken from
/// the pipe and logged as received in execution_log.txt, never recorded in consumer_log.txt.
/// verify names it in its counts — neither "0 received" against the received lines, nor a
/// `lost:` line that disagrees with the verdict.
#[test]
fn values_received_but_never_recorded_are_named_as_such() {
    let run = Run::new();
    let out = run
        .command(&["-q", "-n", "3000", "--max", "100000", "--seed", "5"])
        .env("IPC_DESAFIO_TEST_TORN_WRITE", "consumer:3")
        .run();
    assert_eq!(code(&out), 1);
    let logged = run
        .parsed_lines()
        .iter()
        .filter(|l| matches!(l.event, Event::Received { .. }))
        .count() as u64;
    let recorded = std::fs::read_to_string(run.consumer_path())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count() as u64;
    let unrecorded = logged - recorded;
    assert!(unrecorded > 0, "the torn write left values unrecorded");
    let audit = stdout(&run.audit());
    let last = audit.lines().last().unwrap();
    let (sent, received, lost) = verdict_counts(&audit);
    assert_eq!(received, recorded, "{last}");
    let in_pipe = lost - unrecorded;
    assert!(
        last.contains(&format!(
            ", {lost} lost ({in_pipe} in the pipe, {unrecorded} received but never recorded in consumer_log.txt)"
        )),
        "{last}"
    );
    assert_eq!(sent, received + lost);
    if in_pipe > 0 {
        let lost_line = audit.lines().find(|l| l.starts_with("lost: ")).unwrap();
        assert!(
            lost_line.starts_with(&format!("lost: {in_pipe} value")),
            "the lost: line counts the values lost in the pipe: {lost_line}"
        );
    }
}
