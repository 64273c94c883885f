//! The logger: the only writer of the pool's log file. It receives one record per datagram,
//! writes each as one line with one `write(2)` (echoed to stdout unless quiet), keeps the item
//! ledger, and runs until *every* sending end of the log queue is closed — so no record sent by
//! a process that exited first is ever dropped. Interrupts do not stop it.

use std::io::Write;
use std::path::Path;

use super::event::{Accounting, PoolRole, Record};
use crate::error::Result;
use crate::log::{Clock, LineLog};
use crate::queue::{MAX_MESSAGE, QueueEnd, Received};

pub fn run(path: &Path, echo: bool, queue: &QueueEnd) -> Result<i32> {
    let mut out = LineLog::append(path)?;
    let mut echo = echo;
    let mut ledger = Accounting::default();
    let mut clock = Clock::default();
    let pid = std::process::id();
    let own = |message: String, clock: &mut Clock| {
        let mut time = String::new();
        clock.stamp(&mut time);
        Record {
            role: PoolRole::Logger,
            pid,
            time,
            message,
        }
    };
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut write = |text: &str, out: &mut LineLog| -> Result<()> {
        out.write(text)?;
        if echo && std::io::stdout().lock().write_all(text.as_bytes()).is_err() {
            echo = false;
        }
        Ok(())
    };
    loop {
        let n = match queue.recv(&mut buf, true)? {
            Received::Message(n) => n,
            Received::Empty => continue,
            Received::Closed => break,
        };
        let record = match Record::decode(&buf[..n]) {
            Some(record) => record,
            None => own(format!("error: malformed record of {n} bytes"), &mut clock),
        };
        write(&record.line(), &mut out)?;
        ledger.observe(&record);
        for failure in ledger.take_failures() {
            write(&own(failure, &mut clock).line(), &mut out)?;
        }
    }
    let closing: String = ledger
        .closing()
        .into_iter()
        .map(|m| own(m, &mut clock).line())
        .collect();
    write(&closing, &mut out)?;
    Ok(0)
}
