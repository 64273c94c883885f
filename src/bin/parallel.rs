//! `parallel`: CPU map, log scan, file hashing and port checks on a process pool.

#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    ipc_desafio::parallel::main()
}
