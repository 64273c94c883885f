//! The Desafio's error type. Every message names the flag, path or operation involved, and every
//! variant knows the exit code it stands for (see docs/ipc_desafio.md's exit-code table).

use std::path::PathBuf;

pub use ipc_cli::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE};

use super::lang::Lang;
use super::record::{Arg, Event, Msg, say};
use super::wire::FRAME_LEN;

/// Producer's exit code when the consumer closed the pipe (EPIPE).
const EXIT_BROKEN_PIPE: u8 = 3;
/// Consumer's exit code when the pipe closed before the end marker (EOF or a truncated frame).
pub const EXIT_PIPE_CLOSED: u8 = 4;
/// Consumer's exit code when the other side broke the wire protocol.
const EXIT_PROTOCOL: u8 = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line input; the message names the flag.
    #[error("{0}")]
    Usage(String),

    #[error("--log-dir {}: {source}", path.display())]
    LogDir {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Another run is live in this `--log-dir`: its processes hold their claim on
    /// `execution_log.txt` (`pid`: its main, from the log's first line).
    #[error("--log-dir {}: {}", dir.display(), busy_text(*pid, Lang::En))]
    Busy { dir: PathBuf, pid: Option<i32> },

    /// A path given with `flag` that cannot be used (a report's output, say).
    #[error("{flag} {}: {source}", path.display())]
    Path {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// A log that is not one this program wrote, or fails its audit.
    #[error("{0}")]
    BadLog(String),

    /// A log in a layout this program does not write (another program's): `verify` cannot
    /// judge it and says where to go instead.
    #[error(
        "{file} is not a log written by ipc_desafio: line {line} reads \"{}\"; to judge another program by what it does, use `ipc_desafio grade -- COMMAND`",
        ipc_sys::escape::terminal(text)
    )]
    Foreign {
        file: &'static str,
        line: usize,
        text: String,
    },

    /// A failure of the system layer (fork, pipe, lock, write, …).
    #[error(transparent)]
    Sys(#[from] ipc_sys::Error),

    #[error("{}", logged(self, Lang::En))]
    BrokenPipe { sent: u64, total: u64 },

    #[error("{}", logged(self, Lang::En))]
    PipeClosed {
        received: u64,
        truncated: Option<usize>,
    },

    #[error("truncated message: {got} of {FRAME_LEN} bytes before end of file")]
    Truncated { got: usize },

    #[error("unknown message tag 0x{0:02x}")]
    UnknownTag(u8),

    #[error("the {role} {status}")]
    ChildFailed { role: String, status: String },

    #[error("end marker announced {announced} {} but {received} arrived", crate::desafio::record::EN.values_n(*announced))]
    CountMismatch { announced: u64, received: u64 },

    /// After an interrupt, the pipe did not move for `secs` seconds (the patience of
    /// `ipc_sys::pipe::PipeEnd`): the other side is stopped, or an end that should be closed is
    /// still open somewhere. The producer's (`total` set) found it full, the consumer's empty.
    #[error("{}", logged(self, Lang::En))]
    Stuck {
        secs: u64,
        count: u64,
        total: Option<u64>,
    },
}

/// Why a second run refuses a `--log-dir` a live run is writing.
fn busy_text(pid: Option<i32>, lang: Lang) -> String {
    let who = match pid {
        Some(pid) => lang.pick(
            format!("another run (main pid {pid})"),
            format!("outra execução (main pid {pid})"),
        ),
        None => lang.pick("another run".into(), "outra execução".into()),
    };
    lang.pick(
        format!("{who} is writing these logs; wait for it to end or choose another --log-dir"),
        format!("{who} está escrevendo estes logs; espere ela terminar ou escolha outro --log-dir"),
    )
}

/// The message of an error the log words itself (`Error::event`): its line without `error: `.
fn logged(e: &Error, lang: Lang) -> String {
    let line = e.event(lang).render(lang).to_string();
    let prefix = format!("{}: ", lang.words().error);
    line.strip_prefix(&prefix).unwrap_or(&line).to_string()
}

impl Error {
    /// The process exit code this error stands for.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_)
            | Error::LogDir { .. }
            | Error::Path { .. }
            | Error::Busy { .. }
            | Error::Foreign { .. } => EXIT_USAGE,
            Error::BrokenPipe { .. } => EXIT_BROKEN_PIPE,
            Error::PipeClosed { .. } | Error::Truncated { .. } => EXIT_PIPE_CLOSED,
            Error::UnknownTag(_) | Error::CountMismatch { .. } => EXIT_PROTOCOL,
            _ => EXIT_FAILURE,
        }
    }
}

impl Error {
    /// A log, or the directory of the logs, that cannot be used.
    pub fn log_dir(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::LogDir {
            path: path.into(),
            source,
        }
    }

    /// `Ok` for a `--log-dir` that is an existing directory.
    pub fn check_log_dir(dir: &std::path::Path) -> Result<()> {
        ipc_cli::existing_dir(dir).map_err(|e| Error::log_dir(dir, e))
    }

    /// A failed read of `path`.
    pub fn read(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Sys(ipc_sys::Error::Read {
            path: path.into(),
            source,
        })
    }

    /// The line this error is logged as in `execution_log.txt`: the pipe's failures have
    /// messages of their own in the catalog; any other error is an `error:` line.
    pub fn event(&self, lang: Lang) -> Event {
        match *self {
            Error::BrokenPipe { sent, total } => Event::BrokenPipe { sent, total },
            Error::Stuck { secs, count, total } => Event::GaveUp { secs, count, total },
            Error::PipeClosed {
                received,
                truncated,
            } => Event::PipeClosed {
                received,
                detail: truncated.map(|got| {
                    let args = [Arg::Int(got as i128), Arg::Int(FRAME_LEN as i128)];
                    say(Msg::TruncatedMessage, lang, &args)
                }),
            },
            ref e => Event::Error(e.render(lang)),
        }
    }

    /// The message in `lang` (`Display` is the English one). The system's own descriptions
    /// (`No space left on device`) come from the C library and stay as it words them.
    pub fn render(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            Error::Usage(m) | Error::BadLog(m) => m.clone(),
            Error::Foreign { file, line, text } => format!(
                "{file} não é um log escrito pelo ipc_desafio: a linha {line} diz \"{}\"; para avaliar outro programa pelo que ele faz, use `ipc_desafio grade -- COMANDO`",
                ipc_sys::escape::terminal(text)
            ),
            Error::LogDir { path, source } => format!("--log-dir {}: {source}", path.display()),
            Error::Busy { dir, pid } => {
                format!("--log-dir {}: {}", dir.display(), busy_text(*pid, lang))
            }
            Error::Path { flag, path, source } => format!("{flag} {}: {source}", path.display()),
            Error::Sys(e) => sys_pt(e),
            Error::BrokenPipe { .. } | Error::PipeClosed { .. } | Error::Stuck { .. } => {
                logged(self, lang)
            }
            Error::Truncated { got } => {
                format!("mensagem truncada: {got} de {FRAME_LEN} bytes antes do fim do arquivo")
            }
            Error::UnknownTag(t) => format!("etiqueta de mensagem desconhecida 0x{t:02x}"),
            Error::ChildFailed { role, status } => format!("o {role} {status}"),
            Error::CountMismatch {
                announced,
                received,
            } => format!(
                "o marcador de fim anunciou {announced} {}, mas chegaram {received}",
                crate::desafio::record::PT.values_n(*announced)
            ),
        }
    }
}

/// A system-layer error in Portuguese.
fn sys_pt(e: &ipc_sys::Error) -> String {
    use ipc_sys::Error as E;
    match e {
        E::Fork { role, source } => format!("não foi possível criar o processo {role}: {source}"),
        E::ThreadsAlive { role, threads } => format!(
            "não foi possível criar o processo {role}: há {threads} threads rodando, e fork só é \
             seguro num processo com uma thread"
        ),
        E::Pipe(source) => format!("não foi possível criar o pipe: {source}"),
        E::PipeIo { op, source } => format!("falha de {op} no pipe: {source}"),
        E::Wait(source) => format!("falha ao esperar pelos filhos: {source}"),
        E::Signal(source) => format!("não foi possível configurar os sinais: {source}"),
        E::SigpipeNotIgnored => "SIGPIPE não é ignorado neste processo: uma escrita num pipe \
            sem leitores o mataria em vez de falhar com EPIPE"
            .into(),
        E::SharedMemory(source) => {
            format!("não foi possível mapear memória compartilhada: {source}")
        }
        E::Open { path, source } => {
            format!("não foi possível abrir {}: {source}", path.display())
        }
        E::Lock { path, source } => {
            format!("não foi possível travar {}: {source}", path.display())
        }
        E::Write { path, source } => {
            format!("não foi possível escrever {}: {source}", path.display())
        }
        E::Read { path, source } => format!("não foi possível ler {}: {source}", path.display()),
        other => other.to_string(),
    }
}

impl ipc_cli::Failure for Error {
    fn exit_code(&self) -> u8 {
        Error::exit_code(self)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
