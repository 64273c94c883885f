//! A lazy, recursive walk over the regular files of a directory tree (symbolic links are not
//! followed, so a link loop cannot trap it). Problems are yielded in line, never fatal.

use std::fs::{self, ReadDir};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::task_pool::Task;

pub enum Entry {
    File(PathBuf),
    Problem(PathBuf, String),
}

pub struct Walk {
    stack: Vec<(PathBuf, ReadDir)>,
    pending: Option<Entry>,
    exts: Vec<String>,
}

impl Walk {
    /// Files under `root` whose name ends with one of `exts` (every file when `exts` is empty).
    pub fn new(root: &Path, exts: &[String]) -> Walk {
        let mut walk = Walk {
            stack: Vec::new(),
            pending: None,
            exts: exts.to_vec(),
        };
        match fs::read_dir(root) {
            Ok(rd) => walk.stack.push((root.to_path_buf(), rd)),
            Err(e) => walk.pending = Some(Entry::Problem(root.to_path_buf(), e.to_string())),
        }
        walk
    }

    fn wanted(&self, path: &Path) -> bool {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        self.exts.is_empty() || self.exts.iter().any(|e| name.ends_with(e.as_str()))
    }
}

impl Iterator for Walk {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if let Some(entry) = self.pending.take() {
            return Some(entry);
        }
        loop {
            let (dir, rd) = self.stack.last_mut()?;
            let dir = dir.clone();
            let Some(next) = rd.next() else {
                self.stack.pop();
                continue;
            };
            let entry = match next {
                Ok(entry) => entry,
                Err(e) => return Some(Entry::Problem(dir, e.to_string())),
            };
            let path = entry.path();
            let kind = match entry.file_type() {
                Ok(kind) => kind,
                Err(e) => return Some(Entry::Problem(path, e.to_string())),
            };
            if kind.is_dir() {
                match fs::read_dir(&path) {
                    Ok(rd) => self.stack.push((path, rd)),
                    Err(e) => return Some(Entry::Problem(path, e.to_string())),
                }
            } else if kind.is_file() && self.wanted(&path) {
                return Some(Entry::File(path));
            }
        }
    }
}

/// The files of `walk` as pool tasks, lazily: job `job` with `leading` arguments, then the path.
/// Task *n*'s path is `paths[n - 1]`; entries that cannot become tasks go to `problems`.
pub fn file_tasks<'a>(
    walk: Walk,
    job: &'a str,
    leading: &'a [String],
    paths: &'a mut Vec<String>,
    problems: &'a mut Vec<String>,
) -> impl Iterator<Item = Task> + 'a {
    walk.filter_map(move |entry| match entry {
        Entry::File(path) => match path.to_str() {
            Some(p) => {
                paths.push(p.to_string());
                let args = leading.iter().cloned().chain([p.to_string()]);
                Some(Task::new(job, Duration::from_secs(3600), args))
            }
            None => {
                problems.push(format!("{}: not a UTF-8 path, skipped", path.display()));
                None
            }
        },
        Entry::Problem(path, why) => {
            problems.push(format!("{}: {why}", path.display()));
            None
        }
    })
}
