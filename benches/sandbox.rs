//! `cargo bench --bench sandbox`: what the box of `ipc_sys::sandbox` adds to one run of a
//! trivial command. Each round runs the command plainly (fork, exec, wait) and in a box (spawn,
//! fork, confine, exec, wait, finish), alternating which goes first; medians of the rounds.
//! Also the one-off cost of `Sandbox::prepare` (its trial box). Target: ≤ 50 ms added per run.
//! Options: `-- --runs N` (default 31), `--uid N` (as root: measure as that uid, the ordinary-user
//! box: a user namespace instead of a uid switch), `--command python` (`python3 -c pass` instead
//! of `/bin/true`).

mod common;

use common::{arg, median, text_arg};

use std::ffi::CString;
use std::time::{Duration, Instant};

use ipc_sys::sandbox::{Policy, Sandbox};
use ipc_sys::{ExitStatus, Fork};

/// Forks `argv` (confined when `sandbox` is given), waits; its exit code.
fn run(sandbox: Option<&Sandbox>, argv: &[CString]) -> i32 {
    let child = Fork::new("command").spawn([], |[]| {
        if let Some(s) = sandbox
            && s.confine().is_err()
        {
            return 120;
        }
        let _ = nix::unistd::execvp(&argv[0], argv);
        127
    });
    match child.and_then(|mut c| c.wait()).map(|r| r.status) {
        Ok(ExitStatus::Exited(c)) => c,
        _ => 125,
    }
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runs = arg("--runs", 31).max(3) as usize;
    let uid = arg("--uid", u64::MAX);
    if uid != u64::MAX {
        let id = nix::unistd::Uid::from_raw(uid as u32);
        let gid = nix::unistd::Gid::from_raw(uid as u32);
        nix::unistd::setgroups(&[]).expect("setgroups (run as root for --uid)");
        nix::unistd::setresgid(gid, gid, gid).expect("setresgid");
        nix::unistd::setresuid(id, id, id).expect("setresuid");
    }
    let python = text_arg("--command").as_deref() == Some("python");
    let argv: Vec<CString> = if python {
        vec!["python3".into(), "-c".into(), "pass".into()]
    } else {
        vec!["/bin/true".into()]
    }
    .into_iter()
    .map(|a: String| CString::new(a).expect("no NUL"))
    .collect();
    let argv = &argv[..];
    let scratch = tempfile::Builder::new()
        .prefix("sandbox-bench")
        .tempdir_in(std::env::temp_dir())
        .expect("scratch");
    // A submission's folder: a few small files.
    for (name, size) in [("ipc.py", 1800), ("README.md", 4000), ("main.c", 2300)] {
        std::fs::write(scratch.path().join(name), vec![b'x'; size]).expect("scratch file");
    }
    let prepared_at = Instant::now();
    let sandbox = Sandbox::prepare(Policy::new(scratch.path())).expect("prepare");
    let prepare = prepared_at.elapsed();
    let who = if nix::unistd::geteuid().is_root() {
        "root".to_string()
    } else {
        format!("uid {}", nix::unistd::geteuid())
    };
    println!(
        "sandbox benchmark: `{}`, {runs} rounds (alternating), medians; as {who}; missing: {}",
        argv.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        if sandbox.missing().is_empty() {
            "none".to_string()
        } else {
            sandbox
                .missing()
                .iter()
                .map(|m| m.protection.key())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let s = &sandbox;
    let plain = || {
        let t = Instant::now();
        assert_eq!(run(None, argv), 0, "plain run failed");
        t.elapsed()
    };
    let boxed = || {
        let t = Instant::now();
        let mut child = s.spawn(&[], |_| run(Some(s), argv)).expect("spawn");
        let status = child.wait().expect("wait").status;
        s.finish(&mut child).expect("finish");
        assert_eq!(status, ExitStatus::Exited(0), "boxed run failed");
        t.elapsed()
    };
    // One unmeasured round of each: binaries and page cache warm for both.
    plain();
    boxed();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..runs {
        if round % 2 == 0 {
            a.push(plain());
            b.push(boxed());
        } else {
            b.push(boxed());
            a.push(plain());
        }
    }
    let (pa, pb) = (median(a), median(b));
    println!();
    println!("| | median |");
    println!("|---|---|");
    println!("| plain run (fork, exec, wait) | {} |", millis(pa));
    println!("| boxed run (spawn … finish) | {} |", millis(pb));
    println!(
        "| added by the box | **{}** |",
        millis(pb.saturating_sub(pa))
    );
    println!(
        "| `Sandbox::prepare` (once, its trial box) | {} |",
        millis(prepare)
    );
}
