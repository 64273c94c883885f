//! A producer: `for n in 1..=items: q.put(item); pause`. It keeps the items queue's sending end
//! only, and dies with main (death signal SIGKILL). It stops putting once main closes the queue
//! or SIGINT/SIGTERM arrives; a put that cannot complete takes its count back.
//!
//! With `--nowait` a producer asks `full()`, prepares the item (its pause), then calls
//! `put_nowait`; when the answer no longer holds it says so — `full()` is only a hint.
//!
//! Items are numbered in the order they are put: with `--nowait`, an attempt refused ("queue
//! full") drops its item and uses no number, so each producer's items on the queue are
//! p<k>-item1, item2, … without holes (main's accounting relies on it, see `join::Tally`).

use std::time::Instant;

use ipc_sys::linelog::say;
use ipc_sys::queue::QueueEnd;
use ipc_sys::signal::{kill_self, sleep_unless_interrupted};

use super::board::{Put, Queue};
use super::{JoinCli, Result, item_id, item_name};

pub fn run(o: &JoinCli, q: Queue<'_>, p: u64, items: &QueueEnd) -> Result<()> {
    let pid = std::process::id();
    let me = format!("producer {p} ({pid})");
    let mut n = 0;
    for attempt in 1..=o.items {
        let id = item_id(p, n + 1);
        let name = item_name(id);
        if q.closing() {
            say(&format!("{me}: stopped before {name}: {}", why_stopped(&q)));
            return Ok(());
        }
        let die_midway = || {
            if p == 1 && o.producer_dies_at == Some(n + 1) {
                say(&format!("{me}: dying in the middle of put({name})"));
                kill_self();
            }
        };
        // With put_nowait the producer asks full() first, then prepares the item (its pause),
        // then puts: the answer may be out of date by then, as between any two processes.
        let full_hint = q.full();
        if o.nowait && sleep_unless_interrupted(JoinCli::pick(o.pause_ms)) {
            say(&format!(
                "{me}: stopped before attempt {attempt}: {}",
                why_stopped(&q)
            ));
            return Ok(());
        }
        let started = Instant::now();
        let on_block = || say(&format!("{me}: put({name}) blocks: the queue is full"));
        let put = q.put(items, (p as usize, id), o.nowait, on_block, die_midway);
        let put = match put {
            Ok(put) => put,
            Err(e) => {
                say(&format!("{me}: cannot put {name}: {e}"));
                return Err(e);
            }
        };
        match put {
            Put::Queued { waited: true } => say(&format!(
                "{me}: put {name} (after waiting {} ms for a free slot)",
                started.elapsed().as_millis()
            )),
            Put::Queued { waited: false } if o.nowait && full_hint => {
                q.note_stale_hint();
                say(&format!(
                    "{me}: put_nowait {name} (full() said full a moment ago: a slot was freed in between)"
                ));
            }
            Put::Queued { waited: false } => {
                let verb = if o.nowait { "put_nowait" } else { "put" };
                say(&format!("{me}: {verb} {name}"));
            }
            Put::Full if !full_hint => {
                q.note_stale_hint();
                say(&format!(
                    "{me}: put_nowait: queue full (full() said not full a moment ago: another process filled it in between); attempt {attempt} of {} dropped",
                    o.items
                ));
            }
            Put::Full => say(&format!(
                "{me}: put_nowait: queue full; attempt {attempt} of {} dropped",
                o.items
            )),
            Put::Closed => {
                say(&format!("{me}: stopped before {name}: {}", why_stopped(&q)));
                return Ok(());
            }
        }
        if matches!(put, Put::Queued { .. }) {
            n += 1;
        }
        if !o.nowait && sleep_unless_interrupted(JoinCli::pick(o.pause_ms)) {
            say(&format!(
                "{me}: stopped after attempt {attempt}: {}",
                why_stopped(&q)
            ));
            return Ok(());
        }
    }
    Ok(())
}

/// Main closes the queue (and sends SIGTERM) when it stops the run; a Ctrl+C reaches the
/// producers directly too.
fn why_stopped(q: &Queue<'_>) -> &'static str {
    if q.is_closed() {
        "the queue is closed"
    } else {
        "interrupted"
    }
}
