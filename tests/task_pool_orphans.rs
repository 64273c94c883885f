//! Killing the caller leaves no dispatcher and no worker behind. The test makes itself a child
//! subreaper so the orphaned dispatcher is re-parented to it and can be reaped (no zombie).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

#[test]
fn killing_the_caller_leaves_no_dispatcher_or_worker() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let mut caller = Command::new(env!("CARGO_BIN_EXE_task_pool"))
        .args([
            "--workers",
            "3",
            "--task",
            "sleep:20000",
            "--task",
            "stubborn:20000",
            "--task",
            "sleep:20000",
            "--timeout",
            "60000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(caller.stdout.take().unwrap()).lines();
    let mut dispatcher = 0;
    let mut workers = Vec::new();
    while workers.len() < 3 {
        let line = lines.next().expect("output ended").unwrap();
        if let Some(rest) = line.strip_prefix("pool: dispatcher ") {
            dispatcher = rest.split(',').next().unwrap().parse().unwrap();
        } else if line.starts_with("started task ") {
            workers.push(line.rsplit(' ').next().unwrap().parse::<i32>().unwrap());
        }
    }
    kill(Pid::from_raw(caller.id() as i32), Signal::SIGKILL).unwrap();
    caller.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let proc_entry = |pid: i32| Path::new(&format!("/proc/{pid}")).exists();
    // Until it is gone for good: reparented to this subreaper, it is reaped here (a zombie
    // keeps its /proc entry until then).
    while proc_entry(dispatcher) {
        assert!(
            Instant::now() < deadline,
            "the dispatcher outlived its caller by 10 s"
        );
        let _ = waitpid(Pid::from_raw(dispatcher), Some(WaitPidFlag::WNOHANG));
        sleep(Duration::from_millis(10));
    }
    while workers.iter().any(|w| proc_entry(*w)) {
        assert!(
            Instant::now() < deadline,
            "workers {workers:?} outlived the dispatcher"
        );
        sleep(Duration::from_millis(10));
    }
}
