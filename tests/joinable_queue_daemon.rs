//! The daemon consumer ends when main ends, even when main is SIGKILLed (death signal). The
//! test is a child subreaper so the orphans come to it and can be reaped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

#[test]
fn sigkill_of_main_leaves_no_daemon_consumer_alive() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let mut main = Command::new(env!("CARGO_BIN_EXE_joinable_queue"))
        .args(["--producers", "2", "--items", "100000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(main.stdout.take().unwrap()).lines();
    let mut pids: Vec<i32> = Vec::new();
    while pids.len() < 3 {
        let line = lines.next().expect("output ended").unwrap();
        let pid = if let Some(rest) = line.strip_prefix("main: daemon consumer ") {
            rest.split(' ').next().and_then(|p| p.parse().ok())
        } else {
            line.split('(')
                .nth(1)
                .and_then(|r| r.split(')').next())
                .and_then(|p| p.parse().ok())
        };
        if let Some(pid) = pid
            && !pids.contains(&pid)
        {
            pids.push(pid);
        }
    }
    kill(Pid::from_raw(main.id() as i32), Signal::SIGKILL).unwrap();
    main.wait().unwrap();
    drop(lines);
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in pids {
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "{pid} outlived main by 10 s");
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            sleep(Duration::from_millis(10));
        }
    }
}
