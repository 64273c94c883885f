//! Regular files only. A path a program reads or writes as a file may name anything: a FIFO
//! (whose open or read blocks for ever), a directory, a socket, a device (endless, or the
//! machine's). The checks that refuse them live here, each refusal saying what the path is not.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Whether a file to be written may be a character device (`/dev/null`, `/dev/full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Devices {
    Refused,
    Allowed,
}

/// `Ok` if a program may create or replace the file at `path`: it does not exist yet, or it is
/// a regular file (or, with `Devices::Allowed`, a character device). A directory is refused
/// as `is a directory`, anything else (a FIFO, a socket) as `not a regular file` (`… or a
/// character device`), so that no program writes through something like /dev/sda or blocks on
/// a FIFO. The caller names the flag.
pub fn writable(path: &Path, devices: Devices) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) if devices == Devices::Allowed && meta.file_type().is_char_device() => Ok(()),
        Ok(meta) if meta.is_dir() => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            match devices {
                Devices::Refused => "not a regular file",
                Devices::Allowed => "not a regular file or a character device",
            },
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` for reading if it is (still) a regular file, with its metadata. The open does
/// not block (`O_NONBLOCK`: a FIFO opens at once, to be refused, instead of waiting for a
/// writer) and takes no terminal (`O_NOCTTY`); a FIFO, a device, a directory or a socket is
/// refused as `not a regular file`. Checking the open file, not the path, leaves no window for
/// the path to be replaced in between.
pub fn open_regular(path: &Path) -> io::Result<(File, Metadata)> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() {
        Ok((file, meta))
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_path_or_a_regular_file_may_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let null = Path::new("/dev/null");
        for devices in [Devices::Refused, Devices::Allowed] {
            assert!(writable(&dir.path().join("new"), devices).is_ok());
            assert!(writable(&file, devices).is_ok());
            let e = writable(dir.path(), devices).unwrap_err();
            assert_eq!(e.to_string(), "is a directory");
        }
        let e = writable(&fifo, Devices::Refused).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        let e = writable(&fifo, Devices::Allowed).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file or a character device");
        assert_eq!(
            writable(null, Devices::Refused).unwrap_err().to_string(),
            "not a regular file"
        );
        assert!(writable(null, Devices::Allowed).is_ok());
    }

    #[test]
    fn only_a_regular_file_is_opened_for_reading_and_a_fifo_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "abc").unwrap();
        let (_, meta) = open_regular(&file).unwrap();
        assert_eq!(meta.len(), 3);
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for refused in [fifo.as_path(), dir.path(), Path::new("/dev/null")] {
            let e = open_regular(refused).unwrap_err();
            assert_eq!(e.to_string(), "not a regular file", "{refused:?}");
        }
    }
}
