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
//!
//! The pid file is written, so it is never written *through* anything: a symbolic link in its
//! place is refused (`O_NOFOLLOW`: a link planted there would have the run overwrite whatever
//! file it points to with a pid, as root any file of the machine), and so is a regular file
//! that holds something other than a pid (a name typed by mistake must not empty some other
//! file). A FIFO or a device is refused as well; opening never blocks (`O_NONBLOCK`).

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
        let refuse = |why: String| Error::Open {
            path: path.into(),
            source: io::Error::new(io::ErrorKind::InvalidInput, why),
        };
        loop {
            let mut file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(path)
            {
                Ok(file) => file,
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    return Err(refuse(format!(
                        "its pid file {} is a symbolic link: a pid file is never written \
                         through a link",
                        path.display()
                    )));
                }
                Err(e) => return Err(open_error(e)),
            };
            if !file.metadata().map_err(open_error)?.is_file() {
                return Err(refuse(format!(
                    "its pid file {} is not a regular file",
                    path.display()
                )));
            }
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
            // Ours, and no live run's: it is emptied next, so it must be a pid file (or empty).
            if !holds_a_pid_or_nothing(&mut file) {
                return Err(refuse(format!(
                    "its pid file {} exists and holds something other than a process id: \
                     refusing to replace it",
                    path.display()
                )));
            }
            let written = file
                .set_len(0)
                .and_then(|()| file.rewind())
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

/// How many symbolic links `resolve_links` follows before giving up (Linux's own limit).
const MAX_LINKS: usize = 40;

/// The file `path` names, symbolic links in its last component followed: a program that
/// writes through a link locks beside the file it points to — so a run given the link and a
/// run given the file share one lock (and one pid file).
pub fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)?;
                path = if target.is_absolute() {
                    target
                } else {
                    path.parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(Path::new("."))
                        .join(target)
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("more than {MAX_LINKS} symbolic links"),
    ))
}

/// Whether `file` is empty or holds one process id (digits and a newline), as this module
/// writes it: a file that holds anything else is not one of ours to empty.
fn holds_a_pid_or_nothing(file: &mut File) -> bool {
    let mut text = Vec::new();
    let read = file
        .rewind()
        .and_then(|()| file.take(64).read_to_end(&mut text));
    if read.is_err() || text.len() >= 64 {
        return false;
    }
    let digits = text.strip_suffix(b"\n").unwrap_or(&text);
    digits.is_empty() || (digits.len() <= 20 && digits.iter().all(u8::is_ascii_digit))
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
    fn a_pid_file_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "precious\n").unwrap();
        let path = dir.path().join("run.pid");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = RunLock::acquire(&path).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        assert!(path.symlink_metadata().unwrap().file_type().is_symlink());
        // A dangling link would have created its target.
        let nowhere = dir.path().join("nowhere");
        let dangling = dir.path().join("dangling.pid");
        std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
        assert!(RunLock::acquire(&dangling).is_err());
        assert!(!nowhere.exists(), "a dangling link's target was created");
    }

    #[test]
    fn a_pid_file_holding_anything_but_a_pid_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.pid");
        std::fs::write(&path, "my notes\n").unwrap();
        let err = RunLock::acquire(&path).unwrap_err().to_string();
        assert!(err.contains("something other than a process id"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "my notes\n");
        // Empty (a holder killed before it wrote its pid) is taken over.
        std::fs::write(&path, "").unwrap();
        assert!(matches!(
            RunLock::acquire(&path).unwrap(),
            Acquired::Mine(_)
        ));
    }

    #[test]
    fn a_pid_file_that_is_a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.pid");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = RunLock::acquire(&path).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
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
