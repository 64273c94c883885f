//! The caller's standard output, written so that its reader may go away: after the first failed
//! write nothing more is tried (no cascade of errors), and the run ends the way a shell expects —
//! quietly with 141 when the reader has gone (`| head -1`: what the shell reports for a GNU tool
//! killed by SIGPIPE there), with one `error:` line and 1 for anything else (a full disk).

use std::io::{self, Write};

use ipc_cli::{EXIT_FAILURE, EXIT_OUTPUT_CLOSED};

#[derive(Default)]
pub struct Out {
    failed: Option<io::Error>,
}

impl Out {
    /// Writes `bytes` (whole lines) unless an earlier write failed.
    pub fn write(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let mut stdout = io::stdout().lock();
        if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
            self.failed = Some(e);
        }
    }

    pub fn line(&mut self, text: &str) {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        self.write(&bytes);
    }

    /// Records a failure seen elsewhere (the dispatcher's writes to the same output).
    pub fn fail(&mut self, e: io::Error) {
        self.failed.get_or_insert(e);
    }

    pub fn failed(&self) -> bool {
        self.failed.is_some()
    }

    /// The exit code a run that otherwise ended with `code` should use, after reporting the
    /// failure (if any) on one line.
    pub fn finish(&self, code: u8) -> u8 {
        match &self.failed {
            None => code,
            Some(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_OUTPUT_CLOSED,
            Some(e) => {
                let _ = writeln!(io::stderr(), "error: cannot write the output: {e}");
                code.max(EXIT_FAILURE)
            }
        }
    }
}

/// A line on standard error; a closed standard error is ignored (there is nowhere to say so).
pub fn note(text: &str) {
    let _ = writeln!(io::stderr(), "{text}");
}
