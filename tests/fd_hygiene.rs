//! The descriptors each process really holds, read from /proc while a run is in progress: the
//! pitfalls this project exists to avoid (a stray pipe end hides EOF or EPIPE; an inherited log
//! descriptor shares its flock) would show up here first.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Run, wait_with_deadline};
use ipc_desafio::desafio::record::{Event, Role};

/// (fd, link target, open flags) for every descriptor of `pid` above stderr.
fn descriptors(pid: i32) -> Vec<(u32, String, u32)> {
    let mut fds: Vec<(u32, String, u32)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let fd: u32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path())
                .ok()?
                .to_string_lossy()
                .into_owned();
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?.trim();
            Some((fd, target, u32::from_str_radix(flags, 8).ok()?))
        })
        .filter(|(fd, _, _)| *fd > 2)
        .collect();
    fds.sort();
    fds
}

/// Starts the command with no descriptor above stderr. The test harness itself runs with some
/// inherited ones (cargo's jobserver pipe, for one) that every child would inherit in turn; they
/// are the environment's, not the program's, and would hide what the program opens.
fn clean(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls close(2), which
    // is async-signal-safe; closing descriptors we do not use cannot break the exec.
    unsafe {
        cmd.pre_exec(|| {
            for fd in 3..1024 {
                libc::close(fd);
            }
            Ok(())
        })
    }
}

const ACCESS_MODE: u32 = 0o3;
const WRITE_ONLY: u32 = 0o1;

#[test]
fn each_child_holds_one_pipe_end_and_its_own_log_descriptors_and_main_holds_none() {
    let run = Run::new();
    let mut child = clean(
        run.command(&["-q", "-n", "40", "--max", "1000", "--pace", "100"])
            .stdout(Stdio::null())
            .process_group(0),
    )
    .spawn()
    .unwrap();
    run.wait_for("2 values sent", Duration::from_secs(30), |l| {
        matches!(l.event, Event::Sent { index: 2, .. })
    });
    let producer = descriptors(run.pid_of(Role::Producer).unwrap());
    let consumer = descriptors(run.pid_of(Role::Consumer).unwrap());
    let main = descriptors(child.id() as i32);
    let pipes = |fds: &[(u32, String, u32)]| {
        fds.iter()
            .filter(|f| f.1.starts_with("pipe:"))
            .cloned()
            .collect::<Vec<_>>()
    };

    let (p, c) = (pipes(&producer), pipes(&consumer));
    assert_eq!(
        p.len(),
        1,
        "producer must hold exactly the write end: {producer:?}"
    );
    assert_eq!(
        c.len(),
        1,
        "consumer must hold exactly the read end: {consumer:?}"
    );
    assert_eq!(p[0].1, c[0].1, "both ends belong to the same pipe");
    assert_eq!(p[0].2 & ACCESS_MODE, WRITE_ONLY);
    assert_eq!(c[0].2 & ACCESS_MODE, 0);
    assert!(pipes(&main).is_empty(), "main closed both ends: {main:?}");

    let logs =
        |fds: &[(u32, String, u32)], name: &str| fds.iter().filter(|f| f.1.ends_with(name)).count();
    assert_eq!(logs(&producer, "execution_log.txt"), 1);
    assert_eq!(logs(&consumer, "execution_log.txt"), 1);
    assert_eq!(logs(&consumer, "consumer_log.txt"), 1);
    assert_eq!(logs(&producer, "consumer_log.txt"), 0);
    assert_eq!(
        producer.len(),
        2,
        "nothing else leaked into the producer: {producer:?}"
    );
    assert_eq!(
        consumer.len(),
        3,
        "nothing else leaked into the consumer: {consumer:?}"
    );

    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(wait_with_deadline(&mut child, Duration::from_secs(30)), 130);
}

#[test]
fn a_task_pool_worker_holds_only_its_own_two_pipe_ends() {
    let mut child = clean(
        Command::new(env!("CARGO_BIN_EXE_task_pool"))
            .args([
                "--workers",
                "3",
                "--task",
                "sleep:1500",
                "--task",
                "sleep:1500",
                "--task",
                "sleep:1500",
            ])
            .stdout(Stdio::piped()),
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut workers = Vec::new();
    while workers.len() < 3 {
        let line = lines.next().expect("output ended").unwrap();
        if line.starts_with("started task ") {
            workers.push(line.rsplit(' ').next().unwrap().parse::<i32>().unwrap());
        }
    }
    for pid in &workers {
        let fds = descriptors(*pid);
        assert_eq!(
            fds.len(),
            2,
            "worker {pid} holds more than its two pipe ends: {fds:?}"
        );
        assert!(fds.iter().all(|f| f.1.starts_with("pipe:")));
        let modes: Vec<u32> = fds.iter().map(|f| f.2 & ACCESS_MODE).collect();
        assert!(
            modes.contains(&0) && modes.contains(&WRITE_ONLY),
            "one read end, one write end: {fds:?}"
        );
    }
    for line in lines {
        line.unwrap();
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
