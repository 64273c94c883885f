//! `parallel ports`: the tutorial's port checks — TCP connections, one task per endpoint, all at
//! once: UP (connected), DOWN (refused) or ERROR (timeout, unknown host, …), each with its
//! latency.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED};

use super::cli::PortsArgs;
use super::error::Result;
use super::output::Out;
use super::runner::{End, describe_workers, processes, run_pool};
use crate::task_pool::{Job, Outcome, Task};

/// What a connection attempt found: the port open (`up`: it connected) or closed (refused),
/// and how long it took to learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Probe {
    pub up: bool,
    pub micros: u128,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.up { "UP" } else { "DOWN" };
        write!(f, "{state} {} us", self.micros)
    }
}

/// Checks one endpoint: open or closed, with the latency; anything else is an error message.
pub fn check(endpoint: &str, timeout: Duration) -> Result<Probe, String> {
    let addr = endpoint
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .next()
        .ok_or("no address")?;
    let start = Instant::now();
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => Ok(Probe {
            up: true,
            micros: start.elapsed().as_micros(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(Probe {
            up: false,
            micros: start.elapsed().as_micros(),
        }),
        Err(e) => Err(e.to_string()),
    }
}

struct Port;

/// An endpoint, and the connection timeout in milliseconds.
impl Job for Port {
    type In = (String, u64);
    type Out = Probe;

    fn name(&self, _: &(String, u64)) -> &'static str {
        "port"
    }

    fn run(&self, (endpoint, ms): (String, u64)) -> Result<Probe, String> {
        check(&endpoint, Duration::from_millis(ms.max(1)))
    }
}

pub fn run(args: &PortsArgs) -> Result<u8> {
    let jobs = args.jobs.jobs.unwrap_or(args.endpoints.len().clamp(1, 64));
    // The pool's own timeout is a safety net above the connection timeout (name resolution
    // has no timeout of its own).
    let limit = Duration::from_millis(args.timeout_ms) + Duration::from_secs(2);
    let tasks = args
        .endpoints
        .iter()
        .map(|e| Task::new(limit, (e.clone(), args.timeout_ms)));
    let run = run_pool(
        jobs,
        Port,
        "endpoints checked",
        Some(args.endpoints.len() as u64),
        tasks,
        None,
    )?;
    let mut out = Out::default();
    let stopped = match run.end {
        End::Completed(stopped) => stopped,
        End::Interrupted(signal) => {
            out.line(&format!(
                "interrupted by {}: the checks in flight were abandoned; no results",
                signal.as_str()
            ));
            return Ok(out.finish(EXIT_INTERRUPTED));
        }
        End::OutputFailed(e) => {
            out.fail(e);
            return Ok(out.finish(EXIT_FAILURE));
        }
        End::Failed(e) => return Err(e),
    };
    let mut all_up = true;
    for r in &stopped.reports {
        let endpoint = &args.endpoints[(r.id - 1) as usize];
        let line = match &r.outcome {
            Outcome::Ok(probe) => {
                let state = if probe.up { "UP" } else { "DOWN" };
                all_up &= probe.up;
                let ms = probe.micros as f64 / 1000.0;
                format!("{endpoint:<24} {state:<5} {ms:.2} ms")
            }
            Outcome::Failed(why) => {
                all_up = false;
                format!("{endpoint:<24} ERROR {why}")
            }
            other => {
                all_up = false;
                format!("{endpoint:<24} ERROR {other}")
            }
        };
        out.line(&line);
    }
    out.line(&format!(
        "{} in {:.3} s on {}",
        match args.endpoints.len() {
            1 => "1 endpoint".to_string(),
            n => format!("{n} endpoints"),
        },
        run.wall.as_secs_f64(),
        processes(jobs)
    ));
    for line in describe_workers(&stopped) {
        out.line(&line);
    }
    Ok(out.finish(if all_up { 0 } else { EXIT_FAILURE }))
}
