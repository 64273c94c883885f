//! `worker_pool`: generator, semaphore-bounded worker spawner and logger processes.

use std::process::ExitCode;

use ipc_desafio::pool::PoolCli;

fn main() -> ExitCode {
    ipc_desafio::cli::main_with::<PoolCli>(|args: PoolCli| {
        ipc_desafio::pool::run(&args.into_options())
    })
}
