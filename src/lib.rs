//! ipc_desafio: the classic "processes talking to processes" lessons as correct Unix programs.
//!
//! One folder per program, each depending only on the system layer (`ipc_sys`, its own crate)
//! and itself — except `parallel`, which is built on `task_pool`'s pool the way the tutorial it
//! rebuilds is built on `multiprocessing.Pool`. See ARCHITECTURE.md for the code map and the
//! invariants.

#![deny(unsafe_code)]

pub mod desafio;
pub mod grade;
pub mod joinable_queue;
pub mod parallel;
pub mod task_pool;
pub mod ticket_office;
pub mod worker_pool;
