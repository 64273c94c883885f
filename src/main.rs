//! `ipc_desafio`: Desafio 01. Parsing and reporting only; the library does the work.

use std::process::ExitCode;

use ipc_desafio::desafio::cli::Cli;

fn main() -> ExitCode {
    ipc_sys::cli::main_with::<Cli, ipc_desafio::desafio::Error>(|args| {
        Ok(ipc_desafio::desafio::run(args))
    })
}
