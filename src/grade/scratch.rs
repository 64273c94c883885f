//! Scratch folders: where each run's copy of the submission lives, in the temporary directory.
//! A run removes its own; a grade killed with SIGKILL cannot, so every folder is named after the
//! grade that made it — `ipc_desafio-grade-NS-PID-XXXXXX` (NS: the PID namespace's inode, so a
//! grade in another container sharing the directory is never mistaken for a dead one) — and
//! the next grade to start removes those whose grade is gone. Copies kept with `--keep` are
//! named `ipc_desafio-grade-kept-XXXXXX` and left alone.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::{Error, Result};

/// The name every scratch folder starts with (a copy of a submission skips such folders).
pub const PREFIX: &str = "ipc_desafio-grade-";

/// This process's PID namespace, as `/proc/self/ns/pid` names it (`pid:[4026531836]`), by
/// its number; 0 when it cannot be read.
fn namespace() -> u64 {
    fs::read_link("/proc/self/ns/pid")
        .ok()
        .and_then(|l| {
            l.to_string_lossy()
                .strip_prefix("pid:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The prefix of this grade's live scratch folders.
fn own_prefix() -> String {
    format!("{PREFIX}{}-{}-", namespace(), std::process::id())
}

/// A new scratch folder in the temporary directory: removed when dropped, unless `keep`
/// (then named so that no later grade removes it).
pub fn create(keep: bool) -> Result<tempfile::TempDir> {
    let prefix = if keep {
        format!("{PREFIX}kept-")
    } else {
        own_prefix()
    };
    tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir()
        .map_err(|source| Error::Scratch { source })
}

/// The grade a scratch folder name belongs to: (namespace, pid); `None` for a kept copy or a
/// name of another form.
fn owner(name: &str) -> Option<(u64, i32)> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.splitn(3, '-');
    let ns = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((ns, pid))
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks the process exists (EPERM: it exists, someone else's).
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Removes the scratch folders of this user's grades that are gone (killed before they could
/// clean up) from `dir`. Returns what it removed. Errors are ignored: another grade may be
/// removing the same folder.
pub fn sweep(dir: &Path) -> Vec<PathBuf> {
    let ns = namespace();
    let me = nix::unistd::geteuid().as_raw();
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((their_ns, pid)) = owner(&name) else {
            continue;
        };
        let path = entry.path();
        let mine = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == me);
        if their_ns == ns && ns != 0 && mine && !alive(pid) && fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tell_their_grade_and_kept_copies_tell_none() {
        assert_eq!(
            owner("ipc_desafio-grade-4026531836-4242-Ab3dEf"),
            Some((4026531836, 4242))
        );
        assert_eq!(owner("ipc_desafio-grade-kept-Ab3dEf"), None);
        assert_eq!(owner("ipc_desafio-grade-Ab3dEf"), None);
        assert_eq!(owner("something-else"), None);
        assert!(own_prefix().starts_with(PREFIX));
    }
}
