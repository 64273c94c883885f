//! `task_pool`: a process pool with per-task timeouts — the built-in demo jobs, or any command
//! once per input (`task_pool [OPTIONS] -- CMD …`). See `ipc_desafio::task_pool::cli`.

#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    ipc_desafio::task_pool::cli::main()
}
