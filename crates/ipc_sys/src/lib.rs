//! `ipc_sys`: the system layer of ipc_desafio. It knows no program: processes (fork with a
//! descriptor keep-list, child handles that reap on drop), signals and waiting, pipes and
//! frames, shared memory, a process-shared semaphore, message queues, locked line logs, a run
//! lock (one run at a time on a set of files), the command-line helpers every binary uses, and
//! the sandbox graded programs run in. Linux only: it relies on `prctl(PR_SET_PDEATHSIG)`,
//! `close_range(2)`, `SOCK_SEQPACKET`, process-shared unnamed semaphores, namespaces and `/proc`.
//!
//! Invariants (see ARCHITECTURE.md): only `fork` forks; a forked child holds exactly the
//! descriptors it was given plus 0, 1, 2; every child is owned by a `Child`, which reaps it;
//! signal handlers only store to atomics; every `unsafe` block carries a `SAFETY:` comment
//! (enforced by `clippy::undocumented_unsafe_blocks`).

pub mod child;
pub mod error;
pub mod escape;
pub mod exec;
pub mod file;
pub mod fork;
pub mod frame;
pub mod linelog;
pub mod mapped;
pub mod memory;
pub mod pipe;
pub mod queue;
pub mod runlock;
pub mod sandbox;
pub mod semaphore;
pub mod shm;
pub mod signal;
pub mod trace;

pub use child::{Child, Children, Event, ExitStatus, Reaped, Usage, WindDown};
pub use error::{Error, Result};
pub use fork::Fork;
