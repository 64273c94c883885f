//! One run at a time on a set of files: a pid file held under an exclusive `flock` for the
//! whole life of the run (the classic pid file, with the lock as the proof of life).
//!
//! The lock, not the file, says a run is live: a run that dies — even by SIGKILL — loses its
//! lock with its last descriptor, so a stale pid file never blocks the next run. A second run
//! that finds the lock held reads the holder's pid from the file to name it, and must touch
//! nothing. Forked children do not keep the descriptor (`Fork::spawn` closes what it was not
//! given), so the lock is exactly as alive as the process that took it.
//!
//! The file is removed when the lock is given up, while it is still held: whoever opened the
//! old file in between finds, once it gets the lock, that the path no longer names what it
//! locked, and starts again on a new file. Without that check two runs could each hold a lock
//! — one on the removed file, one on its replacement.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a run that finds the lock held waits for the holder to have written its pid (the
/// holder writes it right after locking).
const PID_PATIENCE: Duration = Duration::from_millis(200);

/// The lock of the live run: held until dropped, which removes the pid file.
#[derive(Debug)]
pub struct RunLock {
    /// `None` once given up to a child (`close_shared`): dropping then does nothing.
    file: Option<File>,
    path: PathBuf,
}

/// What `RunLock::acquire` found.
#[derive(Debug)]
pub enum Acquired {
    /// This process is the live run.
    Mine(RunLock),
    /// Another process holds the lock: its pid, when it has written one.
    Held(Option<u32>),
}

impl RunLock {
    /// Takes the lock on `path` (created if missing, mode 0644 before the umask) without
    /// waiting, and writes this process's pid in it; or says who holds it.
    pub fn acquire(path: &Path) -> Result<Acquired> {
        let open_error = |source| Error::Open {
            path: path.into(),
            source,
        };
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map_err(open_error)?;
            match fs2::FileExt::try_lock_exclusive(&file) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => {
                    return Ok(Acquired::Held(holder_pid(&mut file)));
                }
                Err(source) => {
                    return Err(Error::Lock {
                        path: path.into(),
                        source,
                    });
                }
            }
            // Locked — but is it still the file the path names? Its last holder removes it
            // before letting go, so a file opened just before that is locked by nobody.
            let ours = file.metadata().map_err(open_error)?;
            let named = match std::fs::metadata(path) {
                Ok(meta) => Some(meta),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(open_error(e)),
            };
            if named.is_none_or(|m| (m.dev(), m.ino()) != (ours.dev(), ours.ino())) {
                continue;
            }
            let written = file
                .set_len(0)
                .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
            let lock = RunLock {
                file: Some(file),
                path: path.into(),
            };
            // On a failure (a full disk) the lock is dropped, and the file with it.
            written.map_err(|source| Error::Write {
                path: path.into(),
                source,
            })?;
            return Ok(Acquired::Mine(lock));
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The locked descriptor, to hand to a child (`Fork::spawn`'s keep-list) that is to hold
    /// the lock after this process: a flock belongs to the open file description, which the
    /// child then shares. The child takes it with `RunLock::adopt`; this process then lets go
    /// of its own descriptor with `close_shared`.
    pub fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        self.file.as_ref().map(AsFd::as_fd)
    }

    /// In the child given the descriptor: the lock, as its own (removed and released when
    /// this handle drops, or when the child dies).
    pub fn adopt(fd: OwnedFd, path: &Path) -> RunLock {
        RunLock {
            file: Some(File::from(fd)),
            path: path.into(),
        }
    }

    /// Closes this process's descriptor without releasing the lock or removing the file: the
    /// child that adopted it holds it now. (Closing one descriptor of an open file description
    /// leaves its flock alone; only the last close, or an explicit unlock, releases it.)
    pub fn close_shared(mut self) {
        drop(self.file.take());
    }
}

/// The pid written in a held lock's file, waiting a moment for a holder that has just locked
/// it to write it.
fn holder_pid(file: &mut File) -> Option<u32> {
    let until = Instant::now() + PID_PATIENCE;
    loop {
        let mut text = String::new();
        let read = file
            .rewind()
            .and_then(|()| file.take(64).read_to_string(&mut text));
        if read.is_ok()
            && let Ok(pid) = text.trim().parse()
        {
            return Some(pid);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked (see the module's comment); the lock goes with the
        // descriptor, right after.
        if let Some(file) = self.file.take() {
            let _ = std::fs::remove_file(&self.path);
            let _ = fs2::FileExt::unlock(&file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_names_the_holder_and_a_released_one_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.pid");
        let Acquired::Mine(first) = RunLock::acquire(&path).unwrap() else {
            panic!("the first lock must be ours");
        };
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        // flock locks belong to the open file description: a second open, even in the same
        // process, is refused like another process would be.
        match RunLock::acquire(&path).unwrap() {
            Acquired::Held(pid) => assert_eq!(pid, Some(std::process::id())),
            Acquired::Mine(_) => panic!("two holders"),
        }
        drop(first);
        assert!(!path.exists(), "the pid file goes with its lock");
        assert!(matches!(
            RunLock::acquire(&path).unwrap(),
            Acquired::Mine(_)
        ));
    }

    #[test]
    fn a_lock_handed_on_is_held_until_its_new_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.pid");
        let Acquired::Mine(first) = RunLock::acquire(&path).unwrap() else {
            panic!("the first lock must be ours");
        };
        // What a child given the descriptor does: its own handle on the same description.
        let shared = first.as_fd().unwrap().try_clone_to_owned().unwrap();
        let heir = RunLock::adopt(shared, &path);
        first.close_shared();
        assert!(path.exists(), "the pid file stays with its holder");
        assert!(matches!(
            RunLock::acquire(&path).unwrap(),
            Acquired::Held(_)
        ));
        drop(heir);
        assert!(!path.exists());
        assert!(matches!(
            RunLock::acquire(&path).unwrap(),
            Acquired::Mine(_)
        ));
    }

    #[test]
    fn a_stale_pid_file_nobody_locks_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.pid");
        std::fs::write(&path, "999999\n").unwrap();
        let Acquired::Mine(lock) = RunLock::acquire(&path).unwrap() else {
            panic!("a file nobody locks belongs to nobody");
        };
        assert_eq!(
            std::fs::read_to_string(lock.path()).unwrap(),
            format!("{}\n", std::process::id())
        );
    }
}
