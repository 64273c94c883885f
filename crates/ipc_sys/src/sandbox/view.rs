//! The file system view of a box, planned by the caller and built by the box process in its
//! own mount namespace — bubblewrap's sequence, with the machine's tree as the base:
//!
//! 1. every mount made private (nothing propagates out), a size-capped tmpfs mounted on `/tmp`
//!    holding `newroot/`, `oldroot/` and the writable places `w/{scratch,tmp,vartmp,shm}`;
//! 2. `pivot_root` into that tmpfs: the machine's tree is now `/oldroot`;
//! 3. `/oldroot` bound recursively onto `/newroot` and made read-only, nosuid and nodev;
//! 4. the plan's operations, parents first: empty tmpfs over hidden paths, read-only binds of
//!    exposed paths, a minimal `/dev`, the writable binds; then the hiding tmpfs made read-only;
//! 5. the scratch's content moved in (see `copy`), `/oldroot` detached, and a second
//!    `pivot_root` into `/newroot`, after which the first tmpfs is detached too — only the
//!    binds of its `w/` directories remain.
//!
//! A failure before the first `pivot_root` leaves the machine's view as it was (the box goes on
//! without this protection, and says so); a failure after it ends the box.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::fd::{AsFd, OwnedFd};

use fs2::FileExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use super::{Policy, copy, sys};
use crate::error::Result;

/// Paths every box hides: the homes (`/root`, `/home`) and `/run`, whose sockets (the session
/// bus, container runtimes) stay connectable on a read-only mount.
const ALWAYS_HIDDEN: [&str; 3] = ["/root", "/home", "/run"];
/// The device nodes of the minimal `/dev` (bubblewrap's list).
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
/// Where the box's tmpfs is mounted before the first `pivot_root` (in the box's own mount
/// namespace only, where covering the machine's `/tmp` is invisible to anyone else).
const BASE: &str = "/tmp";
/// Inodes the box's tmpfs may hold: bounds the files a run can create (and copy out).
const DISK_INODES: u64 = 16_384;
/// Size of each hiding tmpfs and of `/dev`'s (they hold nothing but mount points and links).
const HIDE_SIZE: &str = "size=64k,nr_inodes=1024,mode=0755";

/// One step of the view, applied at `target` inside the new root.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// An empty directory (a tmpfs) or an empty file over the path.
    Hide { target: PathBuf, dir: bool },
    /// The machine's path, read-only.
    ReadOnly { target: PathBuf },
    /// A minimal `/dev`.
    Dev,
    /// A bind of `w/<name>` on the box's tmpfs.
    Writable { target: PathBuf, name: &'static str },
}

impl Op {
    fn target(&self) -> &Path {
        match self {
            Op::Hide { target, .. } | Op::ReadOnly { target } | Op::Writable { target, .. } => {
                target
            }
            Op::Dev => Path::new("/dev"),
        }
    }

    /// Order among operations on the same path: a hide first, so that a bind at the same path
    /// wins over it.
    fn rank(&self) -> u8 {
        match self {
            Op::Hide { .. } => 0,
            Op::Dev => 1,
            Op::ReadOnly { .. } => 2,
            Op::Writable { .. } => 3,
        }
    }
}

/// The view of a box, computed by the caller from a checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    scratch: PathBuf,
    /// The operations that do not depend on the scratch.
    base: Vec<Op>,
    /// All of them, in order.
    ops: Vec<Op>,
    disk: u64,
}

impl Plan {
    pub(super) fn new(policy: &Policy) -> Result<Plan> {
        let mut hidden: Vec<PathBuf> = ALWAYS_HIDDEN
            .iter()
            .filter_map(|p| Path::new(p).canonicalize().ok())
            .collect();
        hidden.extend(policy.hide.iter().cloned());
        hidden.sort();
        hidden.dedup();
        let path_var = policy
            .path
            .clone()
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let mut exposed = toolchain_roots(&path_var, &hidden, Path::new("/home"));
        exposed.extend(policy.read_only.iter().cloned());
        exposed.sort();
        exposed.dedup();
        let mut ops: Vec<Op> = hidden
            .into_iter()
            .map(|target| Op::Hide {
                dir: target.is_dir(),
                target,
            })
            .collect();
        ops.extend(exposed.into_iter().map(|target| Op::ReadOnly { target }));
        ops.push(Op::Dev);
        for (target, name) in [("/tmp", "tmp"), ("/var/tmp", "vartmp"), ("/dev/shm", "shm")] {
            let real = Path::new(target)
                .canonicalize()
                .unwrap_or_else(|_| target.into());
            if target == "/dev/shm" || real.is_dir() {
                ops.push(Op::Writable { target: real, name });
            }
        }
        let mut plan = Plan {
            scratch: policy.scratch.clone(),
            base: ops,
            ops: Vec::new(),
            disk: policy.limits.disk,
        };
        plan.order();
        Ok(plan)
    }

    /// The same view around another scratch (`prepare`'s trial box).
    pub(super) fn with_scratch(&self, scratch: &Path) -> Plan {
        let mut plan = self.clone();
        plan.scratch = scratch.to_path_buf();
        plan.order();
        plan
    }

    /// The base operations and the scratch's, in the order they run.
    fn order(&mut self) {
        self.ops = self.base.clone();
        // A scratch inside a writable place (under /tmp, say) needs directories there leading
        // to it; they go on a read-only tmpfs of their own, so that they are not writable (an
        // ordinary user's box would otherwise own them) and the scratch's neighbours on the
        // machine stay out of sight.
        let writable: Vec<PathBuf> = self
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Writable { target, .. } => Some(target.clone()),
                _ => None,
            })
            .collect();
        for w in writable {
            if let Ok(rest) = self.scratch.strip_prefix(&w)
                && let Some(first) = rest.components().next()
                && rest.components().count() > 1
            {
                self.ops.push(Op::Hide {
                    target: w.join(first),
                    dir: true,
                });
            }
        }
        self.ops.push(Op::Writable {
            target: self.scratch.clone(),
            name: "scratch",
        });
        // Parents before children (component-wise order), then by rank on the same path.
        self.ops
            .sort_by(|a, b| a.target().cmp(b.target()).then(a.rank().cmp(&b.rank())));
    }

    pub(super) fn scratch(&self) -> &Path {
        &self.scratch
    }
}

/// The toolchain rule: for each PATH entry inside a hidden tree, the first directory below
/// the home that holds it (a home is `<homes>/<user>`, or a hidden path such as `/root`). An
/// entry that is a whole home is not exposed.
fn toolchain_roots(path_var: &OsStr, hidden: &[PathBuf], homes: &Path) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for entry in std::env::split_paths(path_var) {
        if !entry.is_absolute() {
            continue;
        }
        let Ok(real) = entry.canonicalize() else {
            continue;
        };
        for h in hidden {
            if !real.starts_with(h) {
                continue;
            }
            let depth = h.components().count() + if h == homes { 2 } else { 1 };
            let root: PathBuf = real.components().take(depth).collect();
            if root.components().count() == depth && !roots.contains(&root) {
                roots.push(root);
            }
        }
    }
    roots
}

/// A view that was built: the descriptor of the real scratch (its content now lives in the
/// box) and the box-side path of the scratch, for `copy::copy_out`.
#[derive(Debug)]
pub(super) struct Built {
    pub real_scratch: OwnedFd,
    pub scratch: PathBuf,
}

/// Why a view was not built.
#[derive(Debug)]
pub(super) enum Failure {
    /// Refused before anything changed for the box: it goes on without the protection.
    Refused(String),
    /// Failed after the first `pivot_root`: the box cannot go on.
    Broken(String),
}

fn step(what: impl std::fmt::Display, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Builds the view (see the module documentation). `owner` owns the scratch and its copied
/// content (the run's identity, when root).
pub(super) fn build(plan: &Plan, owner: Option<(Uid, Gid)>) -> std::result::Result<Built, Failure> {
    let refused = |what: &str, e: Errno| Failure::Refused(step(what, sys::errno_text(e)));
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| refused("making every mount private (mount --make-rprivate /)", e))?;
    let options = format!("size={},nr_inodes={DISK_INODES},mode=0755", plan.disk);
    tmpfs(Path::new(BASE), MsFlags::MS_NODEV, &options)
        .map_err(|e| refused("mounting the box's tmpfs", e))?;
    if let Err(e) = first_pivot(owner) {
        let _ = std::env::set_current_dir("/");
        let _ = umount2(BASE, MntFlags::MNT_DETACH);
        return Err(Failure::Refused(e));
    }
    assemble(plan, owner).map_err(Failure::Broken)
}

/// Lays out the box's tmpfs and pivots into it.
fn first_pivot(owner: Option<(Uid, Gid)>) -> std::result::Result<(), String> {
    std::env::set_current_dir(BASE).map_err(|e| step("chdir to the box's tmpfs", e))?;
    let mut dirs = fs::DirBuilder::new();
    dirs.mode(0o755);
    for (dir, mode) in [
        ("newroot", 0o755),
        ("oldroot", 0o755),
        ("w", 0o755),
        ("w/scratch", 0o755),
        ("w/tmp", 0o1777),
        ("w/vartmp", 0o1777),
        ("w/shm", 0o1777),
    ] {
        dirs.create(dir)
            .map_err(|e| step(format!("mkdir {dir}"), e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(|e| step(format!("chmod {dir}"), e))?;
    }
    fs::write("w/empty", "").map_err(|e| step("creating w/empty", e))?;
    if let Some((uid, gid)) = owner {
        nix::unistd::chown("w/scratch", Some(uid), Some(gid))
            .map_err(|e| step("chown of the scratch", sys::errno_text(e)))?;
    }
    nix::unistd::pivot_root(".", "oldroot")
        .map_err(|e| step("pivot_root into the box's tmpfs", sys::errno_text(e)))?;
    std::env::set_current_dir("/").map_err(|e| step("chdir /", e))
}

/// A tmpfs at `at` with these `options`, nosuid and with `flags`.
fn tmpfs(at: &Path, flags: MsFlags, options: &str) -> nix::Result<()> {
    let flags = MsFlags::MS_NOSUID | flags;
    mount(Some("tmpfs"), at, Some("tmpfs"), flags, Some(options))
}

/// `/newroot` + an absolute path.
fn inside(path: &Path) -> PathBuf {
    under("/newroot", path)
}

/// `/oldroot` + an absolute path: where the machine's path is until it is detached.
fn outside(path: &Path) -> PathBuf {
    under("/oldroot", path)
}

fn under(prefix: &str, path: &Path) -> PathBuf {
    let mut p = PathBuf::from(prefix);
    p.extend(
        path.components()
            .filter(|c| matches!(c, Component::Normal(_))),
    );
    p
}

/// Steps 3 to 5 of the module documentation.
fn assemble(plan: &Plan, owner: Option<(Uid, Gid)>) -> std::result::Result<Built, String> {
    let bind = |from: &Path, to: &Path, flags: MsFlags| {
        mount(
            Some(from),
            to,
            None::<&str>,
            MsFlags::MS_BIND | flags,
            None::<&str>,
        )
        .map_err(|e| {
            step(
                format!("bind {} on {}", from.display(), to.display()),
                sys::errno_text(e),
            )
        })
    };
    let newroot = Path::new("/newroot");
    bind(Path::new("/oldroot"), newroot, MsFlags::MS_REC)?;
    sys::read_only_recursive(newroot)?;
    let mut sealed: Vec<PathBuf> = Vec::new();
    for op in &plan.ops {
        match op {
            Op::Hide { target, dir: true } => {
                let at = inside(target);
                mount_point(&at, true)?;
                tmpfs(&at, MsFlags::MS_NODEV, HIDE_SIZE).map_err(|e| {
                    step(format!("hiding {}", target.display()), sys::errno_text(e))
                })?;
                sealed.push(at);
            }
            Op::Hide { target, dir: false } => {
                let at = inside(target);
                bind(Path::new("/w/empty"), &at, MsFlags::empty())?;
                sealed.push(at);
            }
            Op::ReadOnly { target } => {
                let from = outside(target);
                let at = inside(target);
                mount_point(&at, from.is_dir())?;
                bind(&from, &at, MsFlags::MS_REC)?;
                sys::read_only_recursive(&at)?;
            }
            Op::Dev => {
                let at = inside(Path::new("/dev"));
                dev(&at, &bind)?;
                sealed.push(at);
            }
            Op::Writable { target, name } => {
                let at = inside(target);
                mount_point(&at, true)?;
                bind(&Path::new("/w").join(name), &at, MsFlags::empty())?;
            }
        }
    }
    for at in &sealed {
        sys::remount_read_only(at)?;
    }
    let real = outside(&plan.scratch);
    let real_scratch = open(
        &real,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| step(format!("opening the scratch {}", plan.scratch.display()), e))?;
    // Held until the box process ends: a second box on the same scratch would empty it under
    // this one and race it copying back.
    let real_scratch = File::from(real_scratch);
    real_scratch.try_lock_exclusive().map_err(|e| {
        step(
            format!(
                "the scratch {} is in use by another box",
                plan.scratch.display()
            ),
            e,
        )
    })?;
    copy::copy_in(&real, Path::new("/w/scratch"), owner).map_err(|e| {
        step(
            format!(
                "copying the scratch {} into the box",
                plan.scratch.display()
            ),
            e,
        )
    })?;
    // From here on, the real scratch's content lives in the box: any failure puts it back.
    let mut source = PathBuf::from("/w/scratch");
    match leave_the_machine(&real, newroot, &plan.scratch, &mut source) {
        Ok(()) => Ok(Built {
            real_scratch: real_scratch.into(),
            scratch: plan.scratch.clone(),
        }),
        Err(e) => {
            let _ = copy::copy_out(&source, real_scratch.as_fd(), u64::MAX);
            Err(e)
        }
    }
}

/// Empties the real scratch, detaches the machine's tree and pivots into the new root; keeps
/// `source` naming where the box's scratch is reachable, for a restore after a failure.
fn leave_the_machine(
    real: &Path,
    newroot: &Path,
    scratch: &Path,
    source: &mut PathBuf,
) -> std::result::Result<(), String> {
    copy::empty(real)
        .map_err(|e| step(format!("emptying the scratch {}", scratch.display()), e))?;
    umount2("/oldroot", MntFlags::MNT_DETACH)
        .map_err(|e| step("detaching the machine's root", sys::errno_text(e)))?;
    let base = open(
        "/",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| step("open /", e))?;
    std::env::set_current_dir(newroot).map_err(|e| step("chdir /newroot", e))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| step("pivot_root into the new root", sys::errno_text(e)))?;
    *source = scratch.to_path_buf();
    nix::unistd::fchdir(&base).map_err(|e| step("fchdir to the box's tmpfs", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| step("detaching the box's tmpfs", e))?;
    std::env::set_current_dir("/").map_err(|e| step("chdir /", e))
}

/// Makes sure a mount point exists at `at`: a directory (with its parents), or an empty file.
fn mount_point(at: &Path, dir: bool) -> std::result::Result<(), String> {
    let made = if dir {
        fs::create_dir_all(at)
    } else {
        at.parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| {
                match fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(at)
                {
                    Ok(_) => Ok(()),
                    // The path exists (on a read-only mount, where it cannot be opened for write).
                    Err(_) if at.exists() => Ok(()),
                    Err(e) => Err(e),
                }
            })
    };
    made.map_err(|e| step(format!("mount point {}", at.display()), e))
}

/// The minimal `/dev` at `at`: a tmpfs with bubblewrap's device nodes bound from the machine,
/// the `/proc/self/fd` links, and a mount point for the private `/dev/shm`. No `/dev/pts`: a
/// submission gets no terminal.
fn dev(
    at: &Path,
    bind: &dyn Fn(&Path, &Path, MsFlags) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    tmpfs(at, MsFlags::empty(), HIDE_SIZE)
        .map_err(|e| step("mounting /dev", sys::errno_text(e)))?;
    for name in DEVICES {
        let from = Path::new("/oldroot/dev").join(name);
        if !from.exists() {
            continue;
        }
        let node = at.join(name);
        fs::write(&node, "").map_err(|e| step(format!("creating /dev/{name}"), e))?;
        bind(&from, &node, MsFlags::empty())?;
    }
    let links: [(&str, &str); 4] = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    for (name, target) in links {
        std::os::unix::fs::symlink(target, at.join(name))
            .map_err(|e| step(format!("link /dev/{name}"), e))?;
    }
    fs::create_dir(at.join("shm")).map_err(|e| step("mkdir /dev/shm", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn a_path_entry_in_a_hidden_home_exposes_the_first_directory_below_the_home() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["home/ana/.local/bin", "root/.pyenv/shims", "opt/x/bin"] {
            fs::create_dir_all(dir.path().join(p)).unwrap();
        }
        let d = dir.path().canonicalize().unwrap();
        let hidden = vec![d.join("home"), d.join("root")];
        let path = std::env::join_paths([
            d.join("home/ana/.local/bin"),
            d.join("home/ana"),
            d.join("root/.pyenv/shims"),
            d.join("root/.pyenv"),
            d.join("opt/x/bin"),
            d.join("home/absent/bin"),
            PathBuf::from("relative/bin"),
        ])
        .unwrap();
        let roots = toolchain_roots(&path, &hidden, &d.join("home"));
        assert_eq!(
            roots,
            vec![d.join("home/ana/.local"), d.join("root/.pyenv")]
        );
    }

    #[test]
    fn operations_run_parents_first_and_a_bind_wins_over_a_hide_on_the_same_path() {
        let dir = tempfile::Builder::new()
            .prefix("view-test")
            .tempdir_in("/tmp")
            .unwrap();
        let mut policy = Policy::new(dir.path().canonicalize().unwrap());
        policy.path = Some(OsString::new());
        policy.hide = vec!["/tmp".into()];
        let plan = Plan::new(&policy).unwrap();
        let targets: Vec<&Path> = plan.ops.iter().map(Op::target).collect();
        let mut sorted = targets.clone();
        sorted.sort();
        assert_eq!(targets, sorted);
        let at_tmp: Vec<u8> = plan
            .ops
            .iter()
            .filter(|op| op.target() == Path::new("/tmp"))
            .map(Op::rank)
            .collect();
        assert_eq!(at_tmp, vec![0, 3], "hide first, then the writable bind");
        let at = |wanted: &dyn Fn(&Op) -> bool| plan.ops.iter().position(wanted).unwrap();
        let tmp = at(&|op| matches!(op, Op::Writable { name: "tmp", .. }));
        let scratch = at(&|op| {
            matches!(
                op,
                Op::Writable {
                    name: "scratch",
                    ..
                }
            )
        });
        assert!(tmp < scratch, "{:?}", plan.ops);
    }
}
