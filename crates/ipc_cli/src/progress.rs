//! Progress on stderr for long runs: only when stderr is a terminal, and only once a run has
//! taken more than a second, drawn by a thread started *after* every fork of the caller.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use ipc_sys::signal::with_interrupts_blocked;

/// A run shorter than this never shows a bar, so short runs print nothing extra.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// Refresh period: smooth to the eye, negligible next to the run's own work.
const REFRESH: Duration = Duration::from_millis(100);

/// Whether a run that asked for progress (`quiet`) should show it here.
pub fn wanted(quiet: bool) -> bool {
    quiet && std::io::stderr().is_terminal()
}

/// Runs `work` while a thread draws `position()` against `total` (a spinner when unknown).
///
/// The thread is started with SIGINT, SIGTERM and SIGCHLD blocked, so those signals always
/// reach the main thread and wake its waits. While it runs the process is multi-threaded:
/// `work` must not fork (`Fork::spawn` would refuse).
pub fn while_running<T>(
    enabled: bool,
    unit: &'static str,
    total: Option<u64>,
    position: &(dyn Fn() -> u64 + Sync),
    work: impl FnOnce() -> T,
) -> T {
    if !enabled {
        return work();
    }
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        with_interrupts_blocked(|| scope.spawn(move || draw(unit, total, position, stopped)));
        let result = work();
        drop(stop);
        result
    })
}

fn draw(
    unit: &str,
    total: Option<u64>,
    position: &(dyn Fn() -> u64 + Sync),
    stopped: mpsc::Receiver<()>,
) {
    if stopped.recv_timeout(SHOW_AFTER) != Err(RecvTimeoutError::Timeout) {
        return;
    }
    let bar =
        ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr()).with_elapsed(SHOW_AFTER);
    let template = if total.is_some() {
        format!("{{spinner}} {{elapsed}} {{wide_bar}} {{pos}}/{{len}} {unit} ({{percent}}%)")
    } else {
        format!("{{spinner}} {{elapsed}} {{pos}} {unit}")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    loop {
        bar.set_position(position());
        if stopped.recv_timeout(REFRESH) != Err(RecvTimeoutError::Timeout) {
            break;
        }
    }
    bar.finish_and_clear();
}
