//! Regular files only. A path a program reads or writes as a file may name anything: a FIFO
//! (whose open or read blocks for ever), a directory, a socket, a device (endless, or the
//! machine's). The checks that refuse them live here, each refusal saying what the path is not;
//! and `empty`, which truncates a file about to be rewritten without a write-back at its next
//! close.

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

/// Empties a regular file (`ftruncate` to 0) that is about to be written again, without
/// making the next close of any descriptor of it write it back to disk.
///
/// ext4 (its default `auto_da_alloc`) marks a file truncated to zero and, at the next release
/// of an open file description of that file, starts writing back whatever it then holds: a
/// guard for programs that replace a file's contents by truncating and rewriting it. A log
/// emptied for a run and then written by several processes would pay that write-back at the
/// first close after its first lines — a disk request, block allocation, and in a virtual
/// machine a notification to the host (about 0.1 ms of CPU per run of `ipc_desafio`, measured
/// with `perf`: `ext4_release_file` → `ext4_alloc_da_blocks` → `filemap_flush`). Opening and
/// closing one more description of the file (through `/proc/self/fd`, so that it is this very
/// file whatever its path now names) while nothing is written spends the mark on an empty
/// file. Without /proc, or on another file system, that is a harmless open and close.
pub fn empty(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    file.set_len(0)?;
    let link = format!("/proc/self/fd/{}", file.as_raw_fd());
    // Read access may be missing (a log the user may only write); write access is not, since
    // the file was just truncated through a descriptor open for writing.
    let _ = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&link)
        .or_else(|_| {
            File::options()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                .open(&link)
        });
    Ok(())
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

    /// The extents of `file` that ext4 has not allocated yet (delayed allocation), and all
    /// of them, as FIEMAP reports them without syncing first.
    fn delayed_extents(file: &File) -> (usize, usize) {
        use std::os::fd::AsRawFd;
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Extent {
            logical: u64,
            physical: u64,
            length: u64,
            reserved64: [u64; 2],
            flags: u32,
            reserved: [u32; 3],
        }
        #[repr(C)]
        #[derive(Default)]
        struct Map {
            start: u64,
            length: u64,
            flags: u32,
            mapped: u32,
            count: u32,
            reserved: u32,
            extents: [Extent; 8],
        }
        const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
        const FIEMAP_EXTENT_DELALLOC: u32 = 0x4;
        let mut map = Map {
            length: u64::MAX,
            count: 8,
            ..Map::default()
        };
        // SAFETY: FS_IOC_FIEMAP reads the header and writes at most `count` (8) extents into
        // `map`, which has room for them and outlives the call.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FIEMAP, &mut map) };
        assert_eq!(rc, 0, "FIEMAP: {}", io::Error::last_os_error());
        let extents = &map.extents[..map.mapped as usize];
        let delayed = extents
            .iter()
            .filter(|e| e.flags & FIEMAP_EXTENT_DELALLOC != 0)
            .count();
        (delayed, extents.len())
    }

    #[test]
    fn an_emptied_file_is_not_written_back_at_the_next_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        // A log from an earlier run, already on disk.
        std::fs::write(&path, "x".repeat(5000)).unwrap();
        File::open(&path).unwrap().sync_all().unwrap();
        let file = File::options().read(true).write(true).open(&path).unwrap();
        let fs = nix::sys::statfs::fstatfs(&file).unwrap();
        if fs.filesystem_type() != nix::sys::statfs::EXT4_SUPER_MAGIC {
            eprintln!("skipped: {} is not on ext4", dir.path().display());
            return;
        }
        empty(&file).unwrap();
        // The run's first lines, through another descriptor, closed: on ext4 a file truncated
        // to zero is written back at such a close unless that mark was spent already.
        let mut other = File::options().append(true).open(&path).unwrap();
        io::Write::write_all(&mut other, b"a line\n").unwrap();
        drop(other);
        assert_eq!(file.metadata().unwrap().len(), 7);
        assert_eq!(
            delayed_extents(&file),
            (1, 1),
            "the line was written back at close"
        );
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
