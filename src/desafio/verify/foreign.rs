//! Logs this program did not write. `verify` judges a run of `ipc_desafio` by its own two
//! grammars; a log in any other layout (another student's program, a different timestamp) would
//! only give a list of invented problems. So the first line of each log is looked at before the
//! audit: if it is not one this program writes, `verify` says so in one line, naming that line,
//! and points to `ipc_desafio grade`, which judges any program by what it does.

use super::reader::first_line;
use crate::desafio::error::{Error, Result};
use crate::desafio::log::{CONSUMER_LOG, EXECUTION_LOG, LogPaths};
use crate::desafio::record::{ConsumerLine, Role, TimeCache, fields, parse_time};

/// How much of a first line is quoted.
const QUOTED: usize = 60;

/// `<timestamp> [<role> <pid>] `: the shape every line of `execution_log.txt` starts with,
/// whatever its message says (a message this program does not write is a violation for the
/// audit; a line without this shape is not this program's at all).
fn has_execution_shape(line: &str) -> bool {
    fields(line).is_some_and(|(stamp, who, pid, _)| {
        parse_time(stamp).is_ok() && Role::parse_any(who).is_ok() && pid.parse::<i32>().is_ok()
    })
}

/// `Err(Error::Foreign)` naming the first line that is not this program's, if either log's
/// first line is not. Empty or unreadable logs are left to the audit.
pub(crate) fn check(paths: &LogPaths) -> Result<()> {
    let foreign = |file: &'static str, line: Vec<u8>| {
        let text = String::from_utf8_lossy(&line);
        let mut quoted: String = text.chars().take(QUOTED).collect();
        if text.chars().count() > QUOTED {
            quoted.push('…');
        }
        Err(Error::Foreign {
            file,
            line: 1,
            text: quoted,
        })
    };
    if let Some(line) = first_line(&paths.execution) {
        let ours = std::str::from_utf8(&line).is_ok_and(has_execution_shape);
        if !ours {
            return foreign(EXECUTION_LOG, line);
        }
    }
    if let Some(line) = first_line(&paths.consumer) {
        let ours = std::str::from_utf8(&line).is_ok_and(|l| {
            l.starts_with("# ") || ConsumerLine::parse_any(l, &mut TimeCache::default()).is_ok()
        });
        if !ours {
            return foreign(CONSUMER_LOG, line);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_of_a_line_says_whose_it_is() {
        assert!(has_execution_shape(
            "2026-11-25T08:41:07.166+00:00 [consumidor 8442] anything at all"
        ));
        for other in [
            "2026-11-25 08:41:07,166 - [Consumidor PID: 41] Recebeu: '7'",
            "[Produtor]: Enviando dado: 7 (1/12)",
            "2026-11-25 08:41:07.166+00:00 [main 1] started",
            "2026-11-25T08:41:07.166+00:00 [boss 1] started",
            "",
        ] {
            assert!(!has_execution_shape(other), "{other}");
        }
    }
}
