//! `ipc_desafio`: Desafio 01. Parsing and reporting only; the library does the work.

use std::process::ExitCode;

use ipc_desafio::cli::Cli;

fn main() -> ExitCode {
    ipc_desafio::cli::main_with::<Cli>(|args| Ok(ipc_desafio::run(args)))
}
