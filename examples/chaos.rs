//! The fault campaign, at length: `cargo run --release --example chaos -- --runs 1000 --seed S`
//! runs that many random scenarios (sizes, paces, faults, outside signals at random moments)
//! against the release `ipc_desafio` and checks every invariant on each (see
//! tests/common/chaos.rs). `--replay N` runs the one scenario of campaign seed N again. A failing
//! run prints the command that replays it.

#[path = "../tests/common/chaos.rs"]
mod chaos;
#[path = "../tests/common/deadline.rs"]
mod deadline;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn main() -> ExitCode {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("ipc_desafio")))
        .unwrap_or_else(|| PathBuf::from("target/release/ipc_desafio"));
    // Under `cargo run` the binary is rebuilt first (a no-op when fresh): an example does not
    // depend on the package's binaries, so a stale one would otherwise be tested in silence.
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "--quiet", "--bin", "ipc_desafio"]);
        if bin.parent().and_then(|d| d.file_name()) == Some(std::ffi::OsStr::new("release")) {
            build.arg("--release");
        }
        // deadline: exempt — cargo building the program under test, not a run of it.
        if !build.status().is_ok_and(|s| s.success()) {
            eprintln!("error: cargo build --bin ipc_desafio failed");
            return ExitCode::from(2);
        }
    }
    if !bin.exists() {
        eprintln!(
            "error: {} not found: build it first (cargo build --release)",
            bin.display()
        );
        return ExitCode::from(2);
    }
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("error: cannot become a child subreaper: {e}");
        return ExitCode::from(2);
    }
    let (first, runs) = match arg("--replay") {
        Some(seed) => (seed, 1),
        None => (arg("--seed").unwrap_or(1), arg("--runs").unwrap_or(1000)),
    };
    let start = Instant::now();
    let mut failed = 0u64;
    let mut by_action = std::collections::BTreeMap::new();
    let mut by_outcome = std::collections::BTreeMap::new();
    for i in 0..runs {
        let scenario = chaos::Scenario::from_seed(first.wrapping_add(i));
        *by_action
            .entry(format!("{:?}", scenario.action))
            .or_insert(0u64) += 1;
        let Ok(dir) = tempfile::tempdir() else {
            eprintln!("error: cannot create a temporary directory");
            return ExitCode::from(2);
        };
        match chaos::run(&bin, &scenario, dir.path()) {
            Ok(how) => *by_outcome.entry(how).or_insert(0u64) += 1,
            Err(why) => {
                failed += 1;
                println!("FAILED: {}\n  {why}", scenario.replay());
                println!("  logs kept in {}", dir.keep().display());
            }
        }
        if (i + 1) % 100 == 0 {
            println!(
                "{} runs, {failed} failed, {:.1} s",
                i + 1,
                start.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "campaign seed {first}: {runs} runs, {failed} failed, {:.1} s; actions {by_action:?}",
        start.elapsed().as_secs_f64()
    );
    println!("how the runs ended: {by_outcome:?}");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
