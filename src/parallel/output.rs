//! The caller's standard output, written so that its reader may go away: after the first failed
//! write nothing more is tried (no cascade of errors), and the run ends the way a shell expects —
//! quietly with 141 when the reader has gone (`| head -1`: what the shell reports for a GNU tool
//! killed by SIGPIPE there), with one `error:` line and 1 for anything else (a full disk).

use std::io::{self, Write};

use ipc_cli::EXIT_FAILURE;

/// Exit code when standard output's reader has gone: 128 + SIGPIPE, as a shell shows it.
pub const EXIT_OUTPUT_CLOSED: u8 = 141;

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

/// The bytes `sha256sum` escapes in a file name, and their escapes.
fn escape_of(b: u8) -> Option<&'static [u8]> {
    match b {
        b'\\' => Some(b"\\\\"),
        b'\n' => Some(b"\\n"),
        b'\r' => Some(b"\\r"),
        _ => None,
    }
}

/// Appends `name` to `out` with `\`, newline and carriage return escaped as `sha256sum` does,
/// so a name stays on its line. Every other byte, UTF-8 or not, is copied as it is.
pub fn push_escaped(out: &mut Vec<u8>, name: &[u8]) {
    for &b in name {
        match escape_of(b) {
            Some(esc) => out.extend_from_slice(esc),
            None => out.push(b),
        }
    }
}

/// A file name as one printable line's worth of text (escaped, no `\` prefix): for messages.
pub fn display_name(name: &[u8]) -> String {
    let mut out = Vec::with_capacity(name.len());
    push_escaped(&mut out, name);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends the line `sha256sum` prints for `name` with digest `hex`: `[\]HEX  NAME\n` — a name
/// holding `\`, a newline or a carriage return is escaped and its line starts with `\`, which is
/// what `sha256sum -c` / `md5sum -c` expect back.
pub fn push_sum_line(out: &mut Vec<u8>, hex: &str, name: &[u8]) {
    if name.iter().any(|&b| escape_of(b).is_some()) {
        out.push(b'\\');
    }
    out.extend_from_slice(hex.as_bytes());
    out.extend_from_slice(b"  ");
    push_escaped(out, name);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_lines_are_escaped_like_sha256sum() {
        let mut out = Vec::new();
        push_sum_line(&mut out, "ab", b"a\nb\\c");
        push_sum_line(&mut out, "cd", b"pla\xffin");
        assert_eq!(out, b"\\ab  a\\nb\\\\c\ncd  pla\xffin\n");
    }
}
