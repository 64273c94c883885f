//! `ipc_desafio`: Desafio 01. Parsing and reporting only; the library does the work.

#![deny(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(ipc_desafio::desafio::main(std::env::args_os().collect()))
}
