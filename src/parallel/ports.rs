//! `parallel ports`: TCP connection checks, one task per endpoint, all at once: UP (connected),
//! DOWN (refused) or ERROR (timeout, unknown host, …), each with its latency.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::error::Result;
use super::{PortsArgs, print_workers, run_pool};
use crate::task_pool::{Job, Outcome, Registry, Task};
use ipc_sys::cli::EXIT_FAILURE;

/// Checks one endpoint: `UP <µs>` or `DOWN <µs>`; anything else is an error message.
pub fn check(endpoint: &str, timeout: Duration) -> Result<String, String> {
    let addr = endpoint
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .next()
        .ok_or("no address")?;
    let start = Instant::now();
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => Ok(format!("UP {}", start.elapsed().as_micros())),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Ok(format!("DOWN {}", start.elapsed().as_micros()))
        }
        Err(e) => Err(e.to_string()),
    }
}

struct Port;

impl Job for Port {
    fn run(&self, args: &[String]) -> Result<String, String> {
        let [endpoint, ms] = args else {
            return Err("need an endpoint and a timeout".into());
        };
        check(
            endpoint,
            Duration::from_millis(ms.parse().map_err(|_| "bad timeout")?),
        )
    }
}

pub fn run(args: &PortsArgs) -> Result<u8> {
    let jobs = args.jobs.jobs.unwrap_or(args.endpoints.len().clamp(1, 64));
    let mut registry = Registry::default();
    registry.register("port", Port);
    // The pool's own timeout is a safety net above the connection timeout.
    let limit = Duration::from_millis(args.timeout_ms) + Duration::from_secs(2);
    let ms = args.timeout_ms.to_string();
    let tasks = args
        .endpoints
        .iter()
        .map(|e| Task::new("port", limit, [e.as_str(), ms.as_str()]));
    let (stopped, wall) = run_pool(
        jobs,
        registry,
        "endpoints checked",
        Some(args.endpoints.len() as u64),
        tasks,
    )?;
    let mut out = std::io::stdout().lock();
    let mut all_up = true;
    for r in &stopped.reports {
        let endpoint = &args.endpoints[r.id as usize - 1];
        let line = match &r.outcome {
            Outcome::Ok(text) => {
                let (state, us) = text.split_once(' ').unwrap_or((text.as_str(), "0"));
                all_up &= state == "UP";
                let ms = us.parse::<f64>().unwrap_or(0.0) / 1000.0;
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
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "{} endpoints in {:.3} s on {jobs} processes",
        args.endpoints.len(),
        wall.as_secs_f64()
    );
    print_workers(&mut out, &stopped);
    Ok(if all_up { 0 } else { EXIT_FAILURE })
}
