//! `ipc_desafio`: Desafio 01. Parsing and reporting only; the library does the work.

use std::process::ExitCode;

use ipc_desafio::cli::{self, Cli, Parsed};

fn main() -> ExitCode {
    match cli::parse::<Cli, _, _>(std::env::args_os()) {
        Parsed::Run(args) => ExitCode::from(ipc_desafio::run(args)),
        Parsed::Exit(code) => ExitCode::from(code),
    }
}
