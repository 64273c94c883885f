//! The regular files under a directory, lazily, in a stable order (names sorted byte-wise in
//! each directory, depth first — the order of `Path`'s own comparison), with their sizes.
//!
//! Built on `walkdir`: it is an iterator like the hand-written walk it replaces, so a caller that
//! pushes each file into a pool as it comes keeps the pool's back-pressure (the walk advances
//! only when the pool takes more work), and it reports every unreadable directory or entry with
//! its path instead of stopping. A symbolic link to a file is taken as that file, under the
//! link's name (as `sha256sum link` does, and `sha256sum -c` follows it back); a link to a
//! directory is not followed — a link loop cannot trap the walk, and no file is counted twice —
//! and is named in a note. `ignore` was not chosen: its `.gitignore` and
//! hidden-file rules would silently leave files out of a hash or a scan, and its parallel walker
//! pushes files at its own pace rather than the pool's.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::output::display_name;

pub enum Entry {
    /// A regular file and its size at the time of the walk.
    File(PathBuf, u64),
    /// Something that could not be listed or examined: `path: reason`, ready to print.
    Problem(String),
    /// Something deliberately left out, worth a word: `path: reason`.
    Note(String),
}

pub struct Walk {
    inner: walkdir::IntoIter,
    exts: Vec<Vec<u8>>,
}

impl Walk {
    /// Files under `root` (or directly in it, without `recurse`) whose name ends with one of
    /// `exts` (every file when `exts` is empty).
    pub fn new(root: &Path, exts: &[String], recurse: bool) -> Walk {
        let inner = walkdir::WalkDir::new(root)
            .follow_links(false)
            .min_depth(1)
            .max_depth(if recurse { usize::MAX } else { 1 })
            .sort_by_file_name()
            .into_iter();
        Walk {
            inner,
            exts: exts.iter().map(|e| e.as_bytes().to_vec()).collect(),
        }
    }

    fn wanted(&self, name: &[u8]) -> bool {
        self.exts.is_empty() || self.exts.iter().any(|e| name.ends_with(e))
    }
}

fn problem(path: Option<&Path>, why: impl std::fmt::Display) -> Entry {
    let name = path.map_or_else(String::new, |p| display_name(p.as_os_str().as_bytes()));
    Entry::Problem(format!("{name}: {why}"))
}

/// Why walkdir failed: the system's own error when there is one.
fn reason(e: &walkdir::Error) -> String {
    e.io_error()
        .map_or_else(|| e.to_string(), |io| io.to_string())
}

impl Iterator for Walk {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            let entry = match self.inner.next()? {
                Ok(entry) => entry,
                Err(e) => return Some(problem(e.path(), reason(&e))),
            };
            let kind = entry.file_type();
            if !(kind.is_file() || kind.is_symlink()) || !self.wanted(entry.file_name().as_bytes())
            {
                continue;
            }
            if kind.is_symlink() {
                // What the link points at, now (a dangling link is an error, as for sha256sum).
                return Some(match std::fs::metadata(entry.path()) {
                    Ok(meta) if meta.is_file() => Entry::File(entry.into_path(), meta.len()),
                    Ok(meta) if meta.is_dir() => {
                        let name = display_name(entry.path().as_os_str().as_bytes());
                        Entry::Note(format!(
                            "{name}: a symbolic link to a directory, not followed"
                        ))
                    }
                    Ok(_) => continue,
                    Err(e) => problem(Some(entry.path()), e),
                });
            }
            return Some(match entry.metadata() {
                Ok(meta) => Entry::File(entry.into_path(), meta.len()),
                Err(e) => problem(Some(entry.path()), reason(&e)),
            });
        }
    }
}
