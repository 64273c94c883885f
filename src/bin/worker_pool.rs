//! `worker_pool`: generator, semaphore-bounded worker spawner and logger processes.

use std::process::ExitCode;

use ipc_desafio::cli::{self, Parsed};
use ipc_desafio::pool::{self, PoolCli};

fn main() -> ExitCode {
    match cli::parse::<PoolCli, _, _>(std::env::args_os()) {
        Parsed::Run(args) => match pool::run(&args.into_options()) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                cli::report(&e);
                ExitCode::from(e.exit_code())
            }
        },
        Parsed::Exit(code) => ExitCode::from(code),
    }
}
