//! worker_pool when its processes die: SIGKILL of each kind of process — main, logger,
//! generator, spawner, a worker — at each stage of a run (just started, busy, winding down after
//! a Ctrl+C). The rest finish or fail with one clear error, the accounting stays true wherever a
//! logger is left to write it, and no process of the run is left running or a zombie.
//!
//! This test binary makes itself a child subreaper (process-wide, so it lives in a file of its
//! own): a process orphaned by a kill is re-parented here, where the test sees it, waits for it
//! to end and reaps it.

use crate::common;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Bounded, Started, wait_until_group_gone};
use ipc_desafio::worker_pool::event::{PoolRole, Record};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::common::WORKER_POOL as BIN;
/// Only detects hangs: every run here ends in a few seconds.
const DEADLINE: Duration = Duration::from_secs(30);

/// A run in a session of its own. A test that fails midway still ends it (the runs have no
/// `--items`: they would go on for ever): `Started` kills the session on drop.
struct Run {
    dir: tempfile::TempDir,
    child: Started,
}

/// How main ended, what it printed on stderr, and the log.
struct Ended {
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
    records: Vec<Record>,
}

impl Run {
    fn start(args: &[&str]) -> Run {
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(BIN)
            .args(["-q", "--log"])
            .arg(dir.path().join("log.txt"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .start();
        Run { dir, child }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log.txt")
    }

    fn pgid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The log's lines; a run whose logger was killed may end without a line break, so only
    /// whole lines are parsed.
    fn records(&self) -> Vec<Record> {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        text.lines()
            .filter_map(Record::parse_line)
            .collect::<Vec<_>>()
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&Record) -> bool) -> Record {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Some(r) = self.records().into_iter().find(|r| pred(r)) {
                return r;
            }
            sleep(Duration::from_millis(5));
        }
        panic!(
            "timed out waiting for {what}:\n{}",
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    fn pid_of(&self, role: PoolRole) -> u32 {
        self.wait_for(&format!("the {role}'s first line"), |r| r.role == role)
            .pid
    }

    /// Waits for main, then for every other process of the run to be gone (reaping the
    /// orphans re-parented here), then reads main's stderr.
    fn finish(mut self) -> Ended {
        let status = self.child.wait_for("main to end");
        wait_until_group_gone(self.pgid(), DEADLINE);
        // Every writer of the stderr pipe is gone now, so this read ends.
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut stderr).unwrap();
        Ended {
            code: status.code(),
            signal: status.signal(),
            stderr,
            records: self.records(),
        }
    }
}

/// The logger's accounting holds together: the last line is `generated G, processed P, failed
/// F, abandoned A` with G = P + F + A, G is the number of items generated, and every abandoned
/// item is listed.
fn assert_true_accounting(records: &[Record]) {
    let last = records.last().expect("empty log");
    assert_eq!(last.role, PoolRole::Logger, "{last:?}");
    let n: Vec<u64> = last
        .message
        .split(", ")
        .map(|part| part.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    let (g, p, f, a) = (n[0], n[1], n[2], n[3]);
    assert_eq!(g, p + f + a, "{}", last.message);
    let count = |prefix: &str| {
        records
            .iter()
            .filter(|r| r.message.starts_with(prefix))
            .count() as u64
    };
    assert_eq!(count("generated item "), g);
    assert_eq!(count("abandoned item "), a);
}

fn assert_quiet(ended: &Ended, what: &str) {
    assert!(
        ended.stderr.is_empty(),
        "{what}: nothing on stderr, got {:?}",
        ended.stderr
    );
}

fn assert_one_error(ended: &Ended, what: &str, expected: &str) {
    assert_eq!(ended.code, Some(1), "{what}: {}", ended.stderr);
    assert_eq!(
        ended.stderr,
        format!("error: {expected}\n"),
        "{what}: exactly one error line"
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Right after the victim's first line.
    Start,
    /// Items flowing, workers holding items.
    Busy,
    /// After a Ctrl+C, while busy workers use their grace period.
    WindingDown,
}

const STAGES: [Stage; 3] = [Stage::Start, Stage::Busy, Stage::WindingDown];

/// Starts a run suited to `stage`, brings it there, and returns it with the victim's pid.
fn at_stage(stage: Stage, victim: PoolRole) -> (Run, u32) {
    let run = match stage {
        // No failing values: a worker that fails an item exits by itself, and one that did so
        // just before the test's SIGKILL would never be reported killed.
        Stage::Start | Stage::Busy => Run::start(&[
            "--work-ms",
            "300",
            "--max-gap-ms",
            "20",
            "--fail-below",
            "0",
        ]),
        // Items of 20 s and a grace of 1 s: the wind-down lasts the grace period.
        Stage::WindingDown => Run::start(&[
            "--work-ms",
            "20000",
            "--max-gap-ms",
            "20",
            "--grace-ms",
            "1000",
            "--fail-below",
            "0",
        ]),
    };
    let victim_pid = match stage {
        Stage::Start => run.pid_of(victim),
        Stage::Busy => {
            run.wait_for("a processed item", |r| {
                r.message.starts_with("processed item ")
            });
            run.pid_of(victim)
        }
        Stage::WindingDown => {
            run.wait_for("three busy workers", |r| {
                r.message.starts_with("took item 3 ")
            });
            let busy = run.pid_of(victim);
            killpg(Pid::from_raw(run.pgid()), Signal::SIGINT).unwrap();
            run.wait_for("the spawner shutting down", |r| {
                r.message
                    .starts_with("shutting down: interrupted by SIGINT")
            });
            if victim == PoolRole::Main {
                run.child.id()
            } else {
                busy
            }
        }
    };
    (run, victim_pid)
}

/// SIGKILL; a victim that already ended by itself (a generator during a wind-down) is fine.
fn sigkill(pid: u32) {
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

#[test]
fn sigkill_of_main_at_any_stage_lets_the_rest_wind_down_and_the_logger_says_main_vanished() {
    for stage in STAGES {
        let (run, main) = at_stage(stage, PoolRole::Main);
        sigkill(main);
        let ended = run.finish();
        assert_eq!(ended.signal, Some(9), "{stage:?}");
        assert_quiet(&ended, &format!("{stage:?}"));
        assert_true_accounting(&ended.records);
        let note = format!("main {main} ended without its last record (killed?)");
        assert!(
            ended.records.iter().any(|r| r.message.starts_with(&note)),
            "{stage:?}: {note}"
        );
    }
}

#[test]
fn sigkill_of_the_logger_at_any_stage_stops_the_run_with_one_error_line() {
    for stage in STAGES {
        let (run, logger) = at_stage(stage, PoolRole::Logger);
        sigkill(logger);
        let ended = run.finish();
        assert_one_error(
            &ended,
            &format!("{stage:?}"),
            &format!(
                "the logger {logger} was killed by SIGKILL: the run was stopped, the log ends there"
            ),
        );
    }
}

#[test]
fn sigkill_of_the_generator_lets_the_workers_finish_the_queue_and_fails_the_run() {
    for stage in STAGES {
        let (run, generator) = at_stage(stage, PoolRole::Generator);
        sigkill(generator);
        let ended = run.finish();
        if stage == Stage::WindingDown {
            assert_eq!(ended.code, Some(130), "{stage:?}");
            assert_quiet(&ended, "a Ctrl+C run");
        } else {
            assert_one_error(
                &ended,
                &format!("{stage:?}"),
                &format!("the generator {generator} was killed by SIGKILL"),
            );
        }
        assert_true_accounting(&ended.records);
    }
}

#[test]
fn sigkill_of_the_spawner_takes_its_workers_with_it_and_stops_the_generator() {
    for stage in STAGES {
        let (run, spawner) = at_stage(stage, PoolRole::Spawner);
        sigkill(spawner);
        let ended = run.finish();
        if stage == Stage::WindingDown {
            assert_eq!(ended.code, Some(130), "{stage:?}");
            assert_quiet(&ended, "a Ctrl+C run");
        } else {
            assert_one_error(
                &ended,
                &format!("{stage:?}"),
                &format!("the spawner {spawner} was killed by SIGKILL"),
            );
            assert!(
                ended
                    .records
                    .iter()
                    .any(|r| r.role == PoolRole::Main
                        && r.message.starts_with("the spawner is gone")),
                "{stage:?}"
            );
        }
        assert_true_accounting(&ended.records);
    }
}

#[test]
fn sigkill_of_a_worker_at_any_stage_fails_only_the_item_it_held() {
    for stage in STAGES {
        let (run, worker) = at_stage(stage, PoolRole::Worker);
        sigkill(worker);
        if stage != Stage::WindingDown {
            // The pool goes on without it (a replacement is spawned); end the run.
            run.wait_for("the killed worker reaped", |r| {
                r.role == PoolRole::Spawner
                    && r.message
                        .contains(&format!("pid {worker} killed by SIGKILL"))
            });
            killpg(Pid::from_raw(run.pgid()), Signal::SIGINT).unwrap();
        }
        let ended = run.finish();
        assert_eq!(ended.code, Some(130), "{stage:?}: {}", ended.stderr);
        assert_quiet(&ended, &format!("{stage:?}"));
        assert_true_accounting(&ended.records);
        // The item it held when killed: its last one taken, never reported on by it.
        let own: Vec<&Record> = ended.records.iter().filter(|r| r.pid == worker).collect();
        let num = own[0].num.unwrap();
        let last_taken = own
            .iter()
            .rev()
            .find_map(|r| r.message.strip_prefix("took item "))
            .and_then(|rest| rest.split(' ').next());
        if let Some(id) = last_taken {
            let finished = own.iter().any(|r| {
                r.message.starts_with(&format!("processed item {id} "))
                    || r.message.starts_with(&format!("failed item {id} "))
            });
            // Killed from outside — even during the grace period — the item failed; only the
            // workers the spawner itself kills when the grace runs out leave items abandoned.
            let failed = format!("failed item {id}: worker #{num} pid {worker} killed by SIGKILL");
            assert_eq!(
                ended.records.iter().any(|r| r.message == failed),
                !finished,
                "{stage:?}: {failed}"
            );
        }
    }
}

/// Stops the logger (SIGSTOP) and waits until the generator and the spawner are asleep for a
/// while: with nobody draining the log queue, they block on it once it is full.
fn stall_logger(run: &Run) -> u32 {
    let logger = run.pid_of(PoolRole::Logger);
    let senders = [
        run.pid_of(PoolRole::Generator),
        run.pid_of(PoolRole::Spawner),
    ];
    run.wait_for("a processed item", |r| {
        r.message.starts_with("processed item ")
    });
    kill(Pid::from_raw(logger as i32), Signal::SIGSTOP).unwrap();
    let start = Instant::now();
    let mut asleep = 0;
    while asleep < 10 {
        assert!(start.elapsed() < DEADLINE, "the senders never blocked");
        let all = senders
            .iter()
            .all(|p| common::state(*p as i32) == Some('S'));
        asleep = if all { asleep + 1 } else { 0 };
        sleep(Duration::from_millis(10));
    }
    logger
}

#[test]
fn a_stalled_logger_holds_every_process_back_and_loses_nothing() {
    let run = Run::start(&["--items", "3000", "--work-ms", "0", "--max-gap-ms", "0"]);
    let logger = stall_logger(&run);
    kill(Pid::from_raw(logger as i32), Signal::SIGCONT).unwrap();
    let ended = run.finish();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_true_accounting(&ended.records);
    assert!(
        ended
            .records
            .last()
            .unwrap()
            .message
            .starts_with("generated 3000, "),
    );
}

#[test]
fn killing_the_logger_while_every_process_waits_on_the_full_log_queue_ends_them_all() {
    let run = Run::start(&["--work-ms", "0", "--max-gap-ms", "0", "--workers", "8"]);
    let logger = stall_logger(&run);
    sigkill(logger);
    let ended = run.finish();
    assert_one_error(
        &ended,
        "logger killed under a full log queue",
        &format!(
            "the logger {logger} was killed by SIGKILL: the run was stopped, the log ends there"
        ),
    );
}

#[test]
fn when_the_spawner_dies_its_busy_workers_die_at_once_instead_of_running_on_as_orphans() {
    // Items of 20 s: orphaned workers would finish them long after the spawner is gone.
    let run = Run::start(&[
        "--work-ms",
        "20000",
        "--max-gap-ms",
        "20",
        "--fail-below",
        "0",
    ]);
    let spawner = run.pid_of(PoolRole::Spawner);
    run.wait_for("three busy workers", |r| {
        r.message.starts_with("took item 3 ")
    });
    let busy: Vec<Record> = run
        .records()
        .into_iter()
        .filter(|r| r.role == PoolRole::Worker && r.message.starts_with("took item "))
        .collect();
    sigkill(spawner);
    let ended = run.finish();
    assert_one_error(
        &ended,
        "spawner killed",
        &format!("the spawner {spawner} was killed by SIGKILL"),
    );
    for took in busy {
        let id = took.message.split(' ').nth(2).unwrap();
        let abandoned = format!(
            "abandoned item {id} value {}: held by worker #{} pid {}, which never reported on it",
            took.message.rsplit(' ').next().unwrap(),
            took.num.unwrap(),
            took.pid
        );
        assert!(
            ended.records.iter().any(|r| r.message == abandoned),
            "{abandoned}"
        );
    }
    assert!(
        !ended
            .records
            .iter()
            .any(|r| r.message.starts_with("processed item ")),
        "no orphan went on working"
    );
    assert_true_accounting(&ended.records);
}

#[test]
fn an_interrupt_ends_a_run_whose_logger_is_stopped_within_its_grace() {
    type Interrupt = fn(i32);
    let interrupts: [(&str, Interrupt); 2] = [
        ("Ctrl+C", |pgid| {
            killpg(Pid::from_raw(pgid), Signal::SIGINT).unwrap()
        }),
        ("SIGTERM to main alone", |main| {
            kill(Pid::from_raw(main), Signal::SIGTERM).unwrap()
        }),
    ];
    for (how, interrupt) in interrupts {
        // Every process blocks sending to the full log queue: none can act on the signal by
        // itself. Main bounds the stop (grace, then SIGKILL of what is left) and says why the
        // log ends where it ends.
        let run = Run::start(&["--work-ms", "0", "--max-gap-ms", "0", "--grace-ms", "300"]);
        let logger = stall_logger(&run);
        interrupt(run.pgid());
        let ended = run.finish();
        assert_one_error(
            &ended,
            how,
            &format!(
                "the logger {logger} took no record for 1000 ms once the run was stopped (stopped or stuck?): killed; the log ends there"
            ),
        );
    }
}

#[test]
fn a_stopped_spawner_or_generator_is_killed_when_an_interrupted_run_outlives_its_grace() {
    for role in [PoolRole::Spawner, PoolRole::Generator] {
        let run = Run::start(&["--work-ms", "50", "--max-gap-ms", "10", "--grace-ms", "300"]);
        run.wait_for("a processed item", |r| {
            r.message.starts_with("processed item ")
        });
        let victim = run.pid_of(role);
        kill(Pid::from_raw(victim as i32), Signal::SIGSTOP).unwrap();
        let start = Instant::now();
        while common::state(victim as i32) != Some('T') {
            assert!(start.elapsed() < DEADLINE, "the {role} never stopped");
            sleep(Duration::from_millis(5));
        }
        killpg(Pid::from_raw(run.pgid()), Signal::SIGINT).unwrap();
        let ended = run.finish();
        assert_eq!(ended.code, Some(130), "{role}: {}", ended.stderr);
        assert_quiet(&ended, "a Ctrl+C run");
        let said = |text: &str| {
            ended
                .records
                .iter()
                .any(|r| r.role == PoolRole::Main && r.message.starts_with(text))
        };
        assert!(
            said(&format!(
                "{role} {victim} still running 1300 ms after it was asked to stop (stopped or stuck?): killing it"
            )),
            "{role}"
        );
        assert!(
            said(&format!("{role} {victim} killed by SIGKILL")),
            "{role}"
        );
        assert_true_accounting(&ended.records);
    }
}

#[test]
fn after_main_is_killed_its_log_stays_locked_until_its_logger_has_written_the_accounting() {
    // Main dies; its roles wind down for the grace period (items of 20 s, a grace of 1 s) while
    // the logger writes their last records. A second run on the same log in that time would
    // empty it under the logger: it is refused, naming the dead main's run.
    let run = Run::start(&[
        "--work-ms",
        "20000",
        "--max-gap-ms",
        "20",
        "--grace-ms",
        "1000",
        "--fail-below",
        "0",
    ]);
    run.wait_for("three busy workers", |r| {
        r.message.starts_with("took item 3 ")
    });
    let main = run.child.id();
    let logger = run.pid_of(PoolRole::Logger);
    sigkill(main);
    let start = Instant::now();
    while common::state(main as i32).is_some_and(|s| s != 'Z') {
        assert!(start.elapsed() < DEADLINE, "main never died");
        sleep(Duration::from_millis(2));
    }
    assert!(
        common::state(logger as i32).is_some(),
        "the logger winds down after main"
    );
    let second = Command::new(BIN)
        .args(["-q", "--items", "1", "--log"])
        .arg(run.log())
        .run();
    assert_eq!(second.status.code(), Some(2), "{second:?}");
    assert!(
        String::from_utf8_lossy(&second.stderr).contains(&format!(
            "another worker_pool run (pid {main}) is writing this log"
        )),
        "{second:?}"
    );
    let ended = run.finish();
    assert_true_accounting(&ended.records);
    assert!(!ended.records.is_empty() && ended.records[0].message.starts_with("started with pid"));
}
