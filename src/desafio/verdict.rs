//! The one judgement of a run, shared by main and `verify`: the same function of the same facts.
//! Main gathers the facts from shared memory and `wait4`; `verify` from the two logs. So a run
//! main calls complete is one `verify` calls complete, and the other way round.

use crate::desafio::error::{EXIT_FAILURE, EXIT_INTERRUPTED};
use crate::desafio::record::ChildStatus;

/// What is known about a run once both children have ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Values that entered the pipe.
    pub sent: u64,
    /// Values the consumer handled.
    pub received: u64,
    pub end_sent: bool,
    pub end_received: bool,
    pub producer: Option<ChildStatus>,
    pub consumer: Option<ChildStatus>,
    /// SIGINT or SIGTERM reached main.
    pub interrupted: bool,
}

/// Values that entered the pipe, from what main counted. The producer counts a batch after its
/// write returns, so a producer killed in between leaves the count short; but nothing can be
/// received that was not sent, and when the consumer read on to end of file (or the end marker)
/// every value in the pipe was received.
pub fn settle_sent(
    counted: u64,
    received: u64,
    producer_killed: bool,
    consumer_drained: bool,
) -> u64 {
    if producer_killed && consumer_drained {
        received
    } else {
        counted.max(received)
    }
}

impl Facts {
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }

    /// Both children exited 0, the end marker went out and came in, and every value sent was
    /// received. A consumer that stops before the end marker (`consumer-exit@K` with K = N,
    /// say) leaves the run incomplete, even though it exited 0 and lost nothing.
    pub fn complete(&self) -> bool {
        let ok = |s: &Option<ChildStatus>| s.as_ref().is_some_and(ChildStatus::succeeded);
        ok(&self.producer)
            && ok(&self.consumer)
            && self.end_sent
            && self.end_received
            && self.lost() == 0
    }

    /// Main's exit code: 130 when interrupted, 0 for a complete run, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            EXIT_INTERRUPTED
        } else if self.complete() {
            0
        } else {
            EXIT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> Facts {
        Facts {
            sent: 12,
            received: 12,
            end_sent: true,
            end_received: true,
            producer: Some(ChildStatus::Code(0)),
            consumer: Some(ChildStatus::Code(0)),
            interrupted: false,
        }
    }

    #[test]
    fn a_run_is_complete_only_with_both_end_markers_and_nothing_lost() {
        assert_eq!(clean().exit_code(), 0);
        let no_end = Facts {
            end_received: false,
            ..clean()
        };
        assert_eq!(
            no_end.exit_code(),
            1,
            "consumer-exit@N: exits 0, loses nothing"
        );
        let lost = Facts {
            received: 11,
            ..clean()
        };
        assert_eq!(lost.exit_code(), 1);
        let killed = Facts {
            consumer: Some(ChildStatus::Signal("SIGKILL".into())),
            ..clean()
        };
        assert_eq!(killed.exit_code(), 1);
        let interrupted = Facts {
            interrupted: true,
            ..clean()
        };
        assert_eq!(interrupted.exit_code(), 130);
    }
}
