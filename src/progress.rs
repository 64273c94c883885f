//! Progress on stderr for long runs: only with `--quiet` (otherwise stdout already shows every
//! line), only when stderr is a terminal, and only once a run has taken more than a second.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::process;
use crate::tally::Tally;

/// A run shorter than this never shows a bar, so the 12-value run prints nothing extra.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// Refresh period: smooth to the eye, negligible next to the run's own work.
const REFRESH: Duration = Duration::from_millis(100);

/// Whether a quiet run should show progress here.
pub fn wanted(quiet: bool) -> bool {
    quiet && std::io::stderr().is_terminal()
}

/// Runs `work` (main's reaping loop) while a thread draws the count of received values.
///
/// Called only after both children are forked, so the thread never coexists with a fork. It is
/// started with SIGINT and SIGTERM blocked, so those signals always reach the main thread and
/// interrupt its `wait4`.
pub fn while_running<T>(enabled: bool, tally: &Tally, total: u64, work: impl FnOnce() -> T) -> T {
    if !enabled {
        return work();
    }
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        process::with_interrupts_blocked(|| scope.spawn(move || draw(tally, total, stopped)));
        let result = work();
        drop(stop);
        result
    })
}

fn draw(tally: &Tally, total: u64, stopped: mpsc::Receiver<()>) {
    if stopped.recv_timeout(SHOW_AFTER) != Err(RecvTimeoutError::Timeout) {
        return;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        .with_elapsed(SHOW_AFTER);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {elapsed} {wide_bar} {pos}/{len} values received ({percent}%)",
    ) {
        bar.set_style(style);
    }
    loop {
        bar.set_position(tally.received());
        if stopped.recv_timeout(REFRESH) != Err(RecvTimeoutError::Timeout) {
            break;
        }
    }
    bar.finish_and_clear();
}
