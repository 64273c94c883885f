//! Moving the scratch into the box and back. In: a copy onto the box's size-capped tmpfs,
//! owned by the run's identity, then the real scratch emptied. Out, once every process of the
//! run is dead: the tmpfs's tree recreated in the real scratch through its descriptor, never
//! following a symlink, never replacing an entry, at most the disk limit's worth of bytes.
//!
//! Directories, regular files and symlinks are copied (symlinks as symlinks); other files
//! (FIFOs, sockets) are left out; permission bits lose set-uid, set-gid and sticky.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, lchown};
use std::path::Path;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, mkdirat};
use nix::unistd::{Gid, Uid};
use walkdir::WalkDir;

/// Deepest directory level copied out: each level holds one descriptor during the copy.
const MAX_DEPTH: usize = 128;

fn to_io(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Copies the tree below `from` into the empty directory `to`, every entry owned by `owner`.
pub(super) fn copy_in(from: &Path, to: &Path, owner: Option<(Uid, Gid)>) -> io::Result<()> {
    let mut dir_modes = Vec::new();
    for entry in WalkDir::new(from).min_depth(1).follow_links(false) {
        let entry = entry.map_err(io::Error::other)?;
        let relative = entry.path().strip_prefix(from).map_err(io::Error::other)?;
        let target = to.join(relative);
        let kind = entry.file_type();
        let mode = entry
            .metadata()
            .map_err(io::Error::other)?
            .permissions()
            .mode()
            & 0o777;
        if kind.is_dir() {
            fs::create_dir(&target)?;
            // Writable by the run while it fills; the real bits once everything is in.
            fs::set_permissions(&target, fs::Permissions::from_mode(0o700))?;
            dir_modes.push((target.clone(), mode));
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
        } else {
            continue;
        }
        if let Some((uid, gid)) = owner {
            lchown(&target, Some(uid.as_raw()), Some(gid.as_raw()))?;
        }
    }
    for (dir, mode) in dir_modes.into_iter().rev() {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Removes every entry of `dir` (not `dir` itself). `remove_dir_all` never follows a symlink;
/// a directory without write permission for its owner (a read-only folder of the submission)
/// is given it first, as `rm -rf` would need too.
pub(super) fn empty(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            // Walked lazily: a directory is opened after it is yielded, by then writable.
            for inner in WalkDir::new(entry.path()).follow_links(false) {
                let inner = inner.map_err(io::Error::other)?;
                if inner.file_type().is_dir() {
                    let mode = inner
                        .metadata()
                        .map_err(io::Error::other)?
                        .permissions()
                        .mode();
                    if mode & 0o700 != 0o700 {
                        fs::set_permissions(
                            inner.path(),
                            fs::Permissions::from_mode(mode | 0o700),
                        )?;
                    }
                }
            }
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Hands the tree at `dir` to `uid`:`gid` (a box without a view, whose submission writes the
/// real scratch). A regular file with other hard links is left alone: the link could be to a
/// file outside the scratch.
pub(super) fn chown_tree(dir: &Path, uid: Uid, gid: Gid) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for entry in WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(io::Error::other)?;
        let meta = entry.metadata().map_err(io::Error::other)?;
        if meta.is_file() && meta.nlink() > 1 {
            continue;
        }
        lchown(entry.path(), Some(uid.as_raw()), Some(gid.as_raw()))?;
    }
    Ok(())
}

/// What `copy_out` copied and left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Copied {
    pub entries: u64,
    pub bytes: u64,
    /// Entries left out: too deep, of another kind, already present, or cut at the budget.
    left_out: u64,
}

/// Recreates the tree below `from` in the directory open as `to`, at most `budget` bytes of
/// file content in all. Only this process touches either side while it runs.
pub(super) fn copy_out(from: &Path, to: BorrowedFd<'_>, budget: u64) -> io::Result<Copied> {
    let mut copied = Copied::default();
    let mut left = budget;
    // `stack[d - 1]` is the open directory that receives the entries of depth `d + 1`.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let walk = WalkDir::new(from)
        .min_depth(1)
        .max_depth(MAX_DEPTH)
        .follow_links(false);
    for entry in walk {
        let Ok(entry) = entry else {
            copied.left_out += 1;
            continue;
        };
        let depth = entry.depth();
        if stack.len() < depth - 1 {
            // Its directory was left out.
            copied.left_out += 1;
            continue;
        }
        stack.truncate(depth - 1);
        let parent = stack.last().map_or(to, |fd| fd.as_fd());
        let name = entry.file_name();
        let kind = entry.file_type();
        let mode = entry
            .metadata()
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o600);
        let done = if kind.is_dir() {
            make_dir(parent, name, mode).map(|fd| stack.push(fd))
        } else if kind.is_file() {
            copy_file(entry.path(), parent, name, mode, &mut left).map(|n| copied.bytes += n)
        } else if kind.is_symlink() {
            fs::read_link(entry.path())
                .and_then(|target| nix::unistd::symlinkat(&target, parent, name).map_err(to_io))
        } else {
            Err(io::Error::from(io::ErrorKind::Unsupported))
        };
        match done {
            Ok(()) => copied.entries += 1,
            Err(_) => copied.left_out += 1,
        }
    }
    Ok(copied)
}

/// A new directory `name` in `parent`, opened without following a symlink.
fn make_dir(parent: BorrowedFd<'_>, name: &std::ffi::OsStr, mode: u32) -> io::Result<OwnedFd> {
    let mode = Mode::from_bits_truncate(mode | 0o700);
    match mkdirat(parent, name, mode) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(to_io(e)),
    }
    openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(to_io)
}

/// Copies the regular file `source` to a new file `name` in `parent`, at most `left` bytes.
fn copy_file(
    source: &Path,
    parent: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    mode: u32,
    left: &mut u64,
) -> io::Result<u64> {
    let input = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(source)?;
    let output = openat(
        parent,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .map_err(to_io)?;
    let mut output = File::from(output);
    let n = io::copy(&mut input.take(*left), &mut output)?;
    *left -= n;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_tree_goes_in_and_out_without_following_a_symlink() {
        let work = tempfile::tempdir().unwrap();
        let real = work.path().join("real");
        let inside = work.path().join("inside");
        let outside = work.path().join("outside-secret");
        fs::create_dir_all(real.join("sub/deeper")).unwrap();
        fs::create_dir(&inside).unwrap();
        fs::write(real.join("a.txt"), "A").unwrap();
        fs::write(real.join("sub/deeper/b.txt"), "BB").unwrap();
        fs::write(&outside, "secret").unwrap();
        symlink(&outside, real.join("link")).unwrap();
        copy_in(&real, &inside, None).unwrap();
        empty(&real).unwrap();
        assert_eq!(fs::read_dir(&real).unwrap().count(), 0);
        assert_eq!(
            fs::read_to_string(&outside).unwrap(),
            "secret",
            "the link's target stays"
        );
        fs::write(inside.join("new.txt"), "new").unwrap();
        let fd: OwnedFd = File::open(&real).unwrap().into();
        let copied = copy_out(&inside, fd.as_fd(), 1 << 20).unwrap();
        assert_eq!(fs::read_to_string(real.join("a.txt")).unwrap(), "A");
        assert_eq!(
            fs::read_to_string(real.join("sub/deeper/b.txt")).unwrap(),
            "BB"
        );
        assert_eq!(fs::read_to_string(real.join("new.txt")).unwrap(), "new");
        assert_eq!(fs::read_link(real.join("link")).unwrap(), outside);
        assert_eq!(copied.bytes, 6);
        assert_eq!(copied.left_out, 0);
    }

    #[test]
    fn copying_out_stops_at_the_budget_and_never_writes_through_an_existing_link() {
        let work = tempfile::tempdir().unwrap();
        let real = work.path().join("real");
        let inside = work.path().join("inside");
        let victim = work.path().join("victim");
        fs::create_dir_all(&real).unwrap();
        fs::create_dir_all(&inside).unwrap();
        fs::write(&victim, "untouched").unwrap();
        symlink(&victim, real.join("log.txt")).unwrap();
        fs::write(inside.join("log.txt"), "overwrite?").unwrap();
        fs::write(inside.join("big"), vec![b'x'; 1000]).unwrap();
        let fd: OwnedFd = File::open(&real).unwrap().into();
        let copied = copy_out(&inside, fd.as_fd(), 100).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched");
        assert!(copied.bytes <= 100, "{copied:?}");
        assert_eq!(copied.left_out, 1, "the existing log.txt is left alone");
    }
}
