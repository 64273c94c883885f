//! ticket_office under signals: Ctrl+C to the group and SIGTERM to main alone stop every buyer
//! (a purchase in progress is abandoned before it writes), print a true summary and exit 130;
//! SIGKILL of main leaves no buyer running and no temp file. The test process is a child
//! subreaper, so a buyer orphaned by main's death comes to it and is reaped here.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

mod common;

use common::{Bounded, Started};

const BIN: &str = env!("CARGO_BIN_EXE_ticket_office");
/// Detects a hang; never a speed requirement.
const HANG: Duration = Duration::from_secs(30);

/// A run in a session of its own, ended on drop (also when a test fails midway).
struct Office {
    child: Started,
    dir: tempfile::TempDir,
}

impl Office {
    fn start(args: &[&str]) -> Office {
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(BIN)
            .arg("--state")
            .arg(dir.path().join("state.json"))
            .args(args)
            .stdout(Stdio::piped())
            .start();
        Office { child, dir }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Reads lines until one contains `needle`, then the rest once it ends; returns main's exit
    /// code and every line.
    fn signal_when(&mut self, needle: &str, signal: impl FnOnce(Pid)) -> (i32, Vec<String>) {
        let mut lines = BufReader::new(self.child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                break;
            }
        }
        signal(self.pid());
        seen.extend(lines.map(|l| l.unwrap()));
        (common::wait_with_deadline(&mut self.child, HANG), seen)
    }

    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn left(&self) -> u64 {
        let text = std::fs::read_to_string(self.dir.path().join("state.json")).unwrap();
        text.trim()
            .trim_start_matches("{\"ticket_num\": ")
            .trim_end_matches('}')
            .parse()
            .unwrap_or_else(|_| panic!("{text:?}"))
    }
}

/// The buyers' pids, from their lines `buyer K (PID): …`.
fn buyer_pids(lines: &[String]) -> Vec<i32> {
    let mut pids: Vec<i32> = lines
        .iter()
        .filter(|l| l.starts_with("buyer "))
        .filter_map(|l| l.split('(').nth(1)?.split(')').next()?.parse().ok())
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

fn all_gone(pids: &[i32]) {
    let deadline = Instant::now() + HANG;
    for &pid in pids {
        while Path::new(&format!("/proc/{pid}")).exists() {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            assert!(Instant::now() < deadline, "buyer {pid} is still there");
            sleep(Duration::from_millis(10));
        }
    }
}

/// `tickets T, sold S, refused R, oversold O, unserved U` → [T, S, R, O, U].
fn summary_numbers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn check_interrupted_run(code: i32, lines: &[String], office: &Office, signal: &str) {
    assert_eq!(code, 130, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("office: interrupted by {signal}"))),
        "{lines:#?}"
    );
    let n = summary_numbers(lines.last().unwrap());
    assert_eq!(n.len(), 5, "{lines:#?}");
    let (tickets, sold, refused, oversold, unserved) = (n[0], n[1], n[2], n[3], n[4]);
    assert_eq!(oversold, 0);
    assert_eq!(sold + refused + unserved, 40, "every buyer accounted for");
    assert_eq!(
        office.left(),
        tickets - sold,
        "the state file agrees with the summary"
    );
    assert_eq!(
        office.listing(),
        ["state.json", "state.json.lock"],
        "no temp file"
    );
    all_gone(&buyer_pids(lines));
}

#[test]
fn ctrl_c_stops_every_buyer_prints_a_true_summary_and_exits_130() {
    let mut office = Office::start(&["--buyers", "40", "--tickets", "40", "--delay-ms", "200"]);
    let (code, lines) = office.signal_when("bought a ticket", |pid| {
        killpg(pid, Signal::SIGINT).unwrap()
    });
    check_interrupted_run(code, &lines, &office, "SIGINT");
}

#[test]
fn sigterm_to_main_alone_stops_every_buyer_the_same_way() {
    let mut office = Office::start(&["--buyers", "40", "--tickets", "40", "--delay-ms", "200"]);
    // While a buyer holds the lock: it abandons its purchase (or, if the signal comes late,
    // completes it); either way the state file and the summary agree.
    let (code, lines) = office.signal_when("holding the lock", |pid| {
        kill(pid, Signal::SIGTERM).unwrap()
    });
    check_interrupted_run(code, &lines, &office, "SIGTERM");
}

#[test]
fn sigkill_of_main_leaves_no_buyer_running_and_no_temp_file() {
    let mut office = Office::start(&["--buyers", "40", "--tickets", "40", "--delay-ms", "200"]);
    let (code, lines) = office.signal_when("holding the lock", |pid| {
        kill(pid, Signal::SIGKILL).unwrap()
    });
    assert_eq!(code, -1);
    all_gone(&buyer_pids(&lines));
    assert_eq!(office.listing(), ["state.json", "state.json.lock"]);
    assert!(office.left() <= 40, "the state file is whole");
}

/// Ctrl+C while main is still starting its 1000 buyers: the buyers never forked are unserved
/// too — the summary accounts for every buyer asked for.
#[test]
fn ctrl_c_during_the_forks_still_accounts_for_every_buyer() {
    let mut office = Office::start(&["--buyers", "1000", "--tickets", "10", "--delay-ms", "300"]);
    let (code, lines) = office.signal_when("buyers, with the lock", |pid| {
        killpg(pid, Signal::SIGINT).unwrap()
    });
    assert_eq!(code, 130, "{lines:#?}");
    let n = summary_numbers(lines.last().unwrap());
    let (sold, refused, oversold) = (n[1], n[2], n[3]);
    let unserved = n.get(4).copied().unwrap_or(0);
    assert_eq!(oversold, 0);
    assert_eq!(sold + refused + unserved, 1000, "{}", lines.last().unwrap());
    all_gone(&buyer_pids(&lines));
}
