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
use nix::unistd::Pid;

use crate::common;

use common::{Bounded, Started};

use crate::common::TICKET_OFFICE as BIN;
/// Detects a hang; never a speed requirement.
const HANG: Duration = Duration::from_secs(30);

/// A run in a session of its own, ended on drop (also when a test fails midway).
struct Office {
    child: Started,
    dir: tempfile::TempDir,
}

impl Office {
    fn start(args: &[&str]) -> Office {
        Office::start_with(args, &[])
    }

    fn start_with(args: &[&str], env: &[(&str, &str)]) -> Office {
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(BIN)
            .arg("--state")
            .arg(dir.path().join("state.json"))
            .args(args)
            .envs(env.iter().copied())
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
        listing_of(self.dir.path())
    }

    fn left(&self) -> u64 {
        left_in(self.dir.path())
    }
}

/// Every entry of `dir`, sorted.
fn listing_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The count in `dir`'s state.json.
fn left_in(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("state.json")).unwrap();
    text.trim()
        .trim_start_matches("{\"ticket_num\": ")
        .trim_end_matches('}')
        .parse()
        .unwrap_or_else(|_| panic!("{text:?}"))
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
    common::wait_gone(&buyer_pids(lines), HANG);
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
    common::wait_gone(&buyer_pids(&lines), HANG);
    // Main's pid file stays (nobody removed it), but its lock went with main: the next run
    // takes it over, and removes it when it ends.
    assert_eq!(
        office.listing(),
        ["state.json", "state.json.lock", "state.json.pid"]
    );
    assert!(office.left() <= 40, "the state file is whole");
    let next = Command::new(BIN)
        .arg("--state")
        .arg(office.dir.path().join("state.json"))
        .args(["--buyers", "1", "--delay-ms", "0"])
        .run();
    assert_eq!(next.status.code(), Some(0), "{}", common::stderr(&next));
    assert_eq!(office.listing(), ["state.json", "state.json.lock"]);
}

#[test]
fn behind_a_stopped_lock_holder_an_interrupt_stops_the_waiting_buyers_before_main_kills() {
    // The first buyer to get the lock pauses a minute in its purchase; it is stopped
    // (SIGSTOP) there, holding the lock. Ctrl+C: the buyers waiting for the lock give up by
    // themselves, saying why, before main's grace runs out; only the stopped holder is killed.
    let mut office = Office::start(&["--buyers", "4", "--tickets", "4", "--delay-ms", "60000"]);
    let mut lines = BufReader::new(office.child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut holder = None;
    while holder.is_none()
        || seen
            .iter()
            .filter(|l: &&String| l.contains(": searching"))
            .count()
            < 4
    {
        let line = lines.next().expect("the run's output ended").unwrap();
        if line.ends_with("holding the lock") {
            holder = buyer_pids(std::slice::from_ref(&line)).first().copied();
        }
        seen.push(line);
    }
    let holder = holder.unwrap();
    kill(Pid::from_raw(holder), Signal::SIGSTOP).unwrap();
    let start = Instant::now();
    while common::state(holder) != Some('T') {
        assert!(start.elapsed() < HANG, "the holder never stopped");
        sleep(Duration::from_millis(5));
    }
    killpg(office.pid(), Signal::SIGINT).unwrap();
    seen.extend(lines.map(|l| l.unwrap()));
    let code = common::wait_with_deadline(&mut office.child, HANG);
    assert_eq!(code, 130, "{seen:#?}");
    let killed: Vec<&String> = seen.iter().filter(|l| l.contains(" killed by ")).collect();
    assert_eq!(killed.len(), 1, "{seen:#?}");
    assert!(
        killed[0].ends_with(&format!("({holder}) killed by SIGKILL")),
        "{seen:#?}"
    );
    let gave_up = seen
        .iter()
        .filter(|l| {
            l.ends_with(
                "interrupted while waiting for the lock, which its holder did not release within 2s (stopped?): nothing bought",
            )
        })
        .count();
    assert_eq!(gave_up, 3, "{seen:#?}");
    assert_eq!(
        seen.last().unwrap(),
        "tickets 4, sold 0, refused 0, oversold 0, unserved 4"
    );
    assert_eq!(office.left(), 4, "nothing was bought");
    common::wait_gone(&buyer_pids(&seen), HANG);
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
    common::wait_gone(&buyer_pids(&lines), HANG);
}

/// The temp files in `dir` (`.state.json.<pid>.<random>.tmp`).
fn temps_in(dir: &Path) -> Vec<String> {
    listing_of(dir)
        .into_iter()
        .filter(|n| n.starts_with(".state.json.") && n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_temp_file_left_by_a_main_killed_mid_write_is_removed_by_the_next_run() {
    // The hook: main SIGKILLs itself with the first count in its temp file, not yet renamed.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{\"ticket_num\": 7}\n").unwrap();
    let killed = Command::new(BIN)
        .arg("--state")
        .arg(&state)
        .args(["--buyers", "2", "--tickets", "3", "--delay-ms", "0"])
        .env("TICKET_OFFICE_TEST_DIE_BEFORE_RENAME", "main")
        .run();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(killed.status.signal(), Some(9));
    assert_eq!(
        temps_in(dir.path()).len(),
        1,
        "{:?}",
        listing_of(dir.path())
    );
    assert_eq!(
        left_in(dir.path()),
        7,
        "the state is untouched: the rename never happened"
    );
    let next = Command::new(BIN)
        .arg("--state")
        .arg(&state)
        .args(["--buyers", "2", "--tickets", "1", "--delay-ms", "0"])
        .run();
    assert_eq!(next.status.code(), Some(0), "{}", common::stderr(&next));
    assert_eq!(listing_of(dir.path()), ["state.json", "state.json.lock"]);
    assert_eq!(left_in(dir.path()), 0);
}

#[test]
fn a_buyer_of_a_killed_run_still_writing_cannot_overwrite_the_next_runs_count() {
    // Run A's only buyer holds the lock with its purchase (5 -> 4) in its temp file, pausing
    // before the rename (the hook) when A's main is killed: the buyer gets its death signal
    // but renames anyway. Run B starts at once with 1 ticket for 3 buyers: its reset must land
    // after that rename, or B's buyers would find 4 tickets and sell 3 of its 1.
    let mut a = Office::start_with(
        &["--buyers", "1", "--tickets", "5", "--delay-ms", "0"],
        &[("TICKET_OFFICE_TEST_PAUSE_BEFORE_RENAME_MS", "1500")],
    );
    let mut lines = BufReader::new(a.child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.ends_with("holding the lock"))
    {
        seen.push(lines.next().expect("run A's output ended").unwrap());
    }
    let start = Instant::now();
    while temps_in(a.dir.path()).is_empty() {
        assert!(
            start.elapsed() < HANG,
            "the buyer never wrote its temp file"
        );
        sleep(Duration::from_millis(2));
    }
    kill(a.pid(), Signal::SIGKILL).unwrap();
    assert_eq!(common::wait_with_deadline(&mut a.child, HANG), -1);
    let b = Command::new(BIN)
        .arg("--state")
        .arg(a.dir.path().join("state.json"))
        .args(["--buyers", "3", "--tickets", "1", "--delay-ms", "0"])
        .env_remove("TICKET_OFFICE_TEST_PAUSE_BEFORE_RENAME_MS")
        .run();
    let out = String::from_utf8_lossy(&b.stdout);
    assert_eq!(b.status.code(), Some(0), "{out}");
    assert!(
        out.contains("a buyer of an earlier run still holds it"),
        "B waited for the lock: {out}"
    );
    assert_eq!(
        out.lines().last(),
        Some("tickets 1, sold 1, refused 2, oversold 0")
    );
    assert_eq!(a.left(), 0);
    common::wait_gone(&buyer_pids(&seen), HANG);
    assert_eq!(a.listing(), ["state.json", "state.json.lock"]);
}
