//! The box's system calls that nix does not wrap: `mount_setattr` (read-only, recursively),
//! the loopback interface's flags, and setting the environment of the box's pid 1.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

/// `EPERM: Operation not permitted`.
pub(super) fn errno_text(e: Errno) -> String {
    format!("{e:?}: {}", e.desc())
}

/// Read-only, nosuid, nodev: what every mount of the machine's tree becomes inside.
const SEALED: u64 = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;

/// Makes the mount at `path` and every mount below it read-only, nosuid and nodev.
pub(super) fn read_only_recursive(path: &Path) -> Result<(), String> {
    seal(path, true)
}

/// Makes the one mount at `path` read-only, nosuid and nodev (not those below it).
pub(super) fn remount_read_only(path: &Path) -> Result<(), String> {
    seal(path, false)
}

fn seal(path: &Path, recursive: bool) -> Result<(), String> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{}: a NUL byte in the path", path.display()))?;
    let attr = libc::mount_attr {
        attr_set: SEALED,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = libc::AT_SYMLINK_NOFOLLOW | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: the path is a valid NUL-terminated string and `attr` a valid mount_attr of the
    // size passed; the kernel only reads both.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    match Errno::last() {
        // Linux before 5.12: remount each mount of the tree, as bubblewrap does.
        Errno::ENOSYS => remount_each(path, recursive),
        e => Err(format!(
            "making {} read-only: {}",
            path.display(),
            errno_text(e)
        )),
    }
}

/// The fallback of `seal`: one `MS_REMOUNT | MS_BIND` per mount, keeping the flags a user
/// namespace may not clear (noexec and the atime ones).
fn remount_each(path: &Path, recursive: bool) -> Result<(), String> {
    let table = ["/proc/self/mountinfo", "/oldroot/proc/self/mountinfo"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .ok_or_else(|| "cannot read mountinfo".to_string())?;
    for line in table.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(options)) = (fields.get(4), fields.get(5)) else {
            continue;
        };
        let point = super::cgroup::unescape(point);
        let point = Path::new(&point);
        let inside = if recursive {
            point.starts_with(path)
        } else {
            point == path
        };
        if !inside {
            continue;
        }
        let mut flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV;
        for option in options.split(',') {
            flags |= match option {
                "noexec" => MsFlags::MS_NOEXEC,
                "noatime" => MsFlags::MS_NOATIME,
                "nodiratime" => MsFlags::MS_NODIRATIME,
                "relatime" => MsFlags::MS_RELATIME,
                "strictatime" => MsFlags::MS_STRICTATIME,
                _ => MsFlags::empty(),
            };
        }
        match mount(None::<&str>, point, None::<&str>, flags, None::<&str>) {
            // A mount we cannot even look into is not reachable by the submission either.
            Ok(()) | Err(Errno::EACCES) => {}
            Err(e) => {
                return Err(format!(
                    "making {} read-only: {}",
                    point.display(),
                    errno_text(e)
                ));
            }
        }
    }
    Ok(())
}

/// Brings the loopback interface of the current network namespace up.
pub(super) fn loopback_up() -> Result<(), String> {
    let fail = |what: &str, e: Errno| format!("bringing lo up: {what}: {}", errno_text(e));
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| fail("socket", e))?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value for it.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into a valid ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } < 0 {
        return Err(fail("SIOCGIFFLAGS", Errno::last()));
    }
    // SAFETY: the union's flags member is the one SIOCGIFFLAGS just filled in.
    unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads the valid ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &request) } < 0 {
        return Err(fail("SIOCSIFFLAGS", Errno::last()));
    }
    Ok(())
}

/// Joins a new anonymous session keyring, so that the caller's session keyring (keys are not
/// namespaced by the mount or PID namespace) is no longer reachable. A kernel without keys
/// (ENOSYS) has nothing to reach.
pub(super) fn new_session_keyring() -> Result<(), Errno> {
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING with a null name reads no memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            libc::KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    match rc {
        rc if rc >= 0 => Ok(()),
        _ if Errno::last() == Errno::ENOSYS => Ok(()),
        _ => Err(Errno::last()),
    }
}

/// Sets an environment variable of this process (pid 1 of a box, which `body` and the
/// submission inherit).
pub(super) fn set_env(key: &str, value: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: called only in the box's pid 1 before `body` runs, a freshly forked
    // single-threaded process: no other thread can read the environment meanwhile.
    unsafe { std::env::set_var(key, value) };
}
