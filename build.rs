//! Link options that Cargo cannot express in the manifest, for the `ipc_desafio` binary only:
//! its default run is mostly the start of three processes (main's exec, two forks, three
//! exits), which is what the 12-value benchmark measures. The other binaries keep the defaults:
//! their start is not what they are measured by.
//!
//! **`-no-pie`.** A position-independent executable of this size carries about 9,000 relative
//! relocations that the dynamic loader applies at every start, writing to (and so copying) some
//! fifty pages of relocated data: measured on the default 12-value run, 326 → 272 page faults
//! and about a tenth of the CPU time (benches/README.md, issue 21). The price: the executable's
//! code and data — with the static link below, glibc's too — sit at fixed addresses (the heap,
//! the stack and the mappings are still randomised).
//!
//! **Static.** glibc, libm and GCC's unwinder are linked into the binary: no dynamic loader, no
//! symbol look-ups, no `libgcc_s` (whose constructor runs several `cpuid`s — each a trip to the
//! hypervisor in a virtual machine, 7–13 µs apiece on the project machine), fewer mappings to
//! set up at exec, to copy at each fork and to tear down at each exit. Measured side by side on
//! the 12-value run, nothing else changed: 2.28 → 1.76 ms of CPU for the three processes, 268 →
//! 204 page faults (benches/README.md, issue 21). Cargo can only make a whole build static
//! (`-C target-feature=+crt-static`), and without `--target` that reaches the proc-macro
//! crates, which cannot be static; with it every artefact moves to `target/<triple>/`. So this
//! script does at the link what that feature does, for this one binary: it hands the linker
//! `-static`, and a folder in which the libraries rustc names for a dynamic link (`-lgcc_s
//! -lutil -lrt -lpthread -lm -ldl -lc`) are glibc's and GCC's archives (small linker scripts
//! naming the archives the C compiler finds with `-print-file-name`).
//!
//! It does so only when every condition holds, and links dynamically otherwise:
//! - Linux with glibc, not already static;
//! - getrandom's backend is `linux_getrandom` (`.cargo/config.toml` sets it; a `RUSTFLAGS` of
//!   your own replaces that setting). Its default backend finds `getrandom` with `dlsym`, which
//!   a static glibc does not answer, and falls back to a `/dev/urandom` descriptor opened once
//!   by main — which each child's keep-list then closes, or whose number a pipe end takes;
//! - the archives exist (`libc.a` comes with glibc's development files, as `cc` needs them);
//! - `IPC_DESAFIO_DYNAMIC` is not set (to link dynamically on purpose, say to compare).
//!
//! A static glibc still loads the system's shared modules for name services (users, groups,
//! hosts) and character sets at run time. `ipc_desafio` uses neither: `nm` finds no
//! `getpwnam`, `getgrnam` or `getaddrinfo` in it (`parallel ports`, which resolves host names,
//! is another binary and stays dynamic). Whoever adds such a call to `ipc_desafio` should link
//! it dynamically again.
use std::path::{Path, PathBuf};
use std::process::Command;

/// The libraries a dynamic link of a Rust binary names, each with the archives that replace it.
const LIBRARIES: [(&str, &[&str]); 7] = [
    // The unwinder (libgcc_eh) and the compiler's helpers, with the C library they call.
    ("gcc_s", &["libgcc_eh.a", "libgcc.a", "libc.a"]),
    ("util", &["libutil.a"]),
    ("rt", &["librt.a"]),
    ("pthread", &["libpthread.a"]),
    ("m", &["libm.a"]),
    ("dl", &["libdl.a"]),
    ("c", &["libc.a", "libgcc_eh.a", "libgcc.a"]),
];

fn main() {
    println!("cargo:rustc-link-arg-bin=ipc_desafio=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=IPC_DESAFIO_DYNAMIC");
    println!("cargo:rerun-if-env-changed=CC");
    match static_libraries() {
        Ok(folder) => {
            println!("cargo:rustc-link-arg-bin=ipc_desafio=-static");
            println!(
                "cargo:rustc-link-arg-bin=ipc_desafio=-L{}",
                folder.display()
            );
        }
        Err(why) => println!("cargo:warning=ipc_desafio is linked dynamically: {why}"),
    }
}

/// The folder of stand-in libraries for a static link, or why there is none.
fn static_libraries() -> Result<PathBuf, String> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if std::env::var_os("IPC_DESAFIO_DYNAMIC").is_some() {
        return Err("IPC_DESAFIO_DYNAMIC is set".into());
    }
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return Err("not a Linux glibc target".into());
    }
    if var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static")
    {
        return Err("the whole build is static already".into());
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let backend = flags.split('\x1f').any(|flag| {
        flag == "getrandom_backend=\"linux_getrandom\""
            || flag == "--cfg=getrandom_backend=\"linux_getrandom\""
    });
    if !backend {
        return Err("getrandom's backend is not linux_getrandom (see .cargo/config.toml)".into());
    }
    let folder = PathBuf::from(var("OUT_DIR")).join("static-libs");
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    for (name, archives) in LIBRARIES {
        let paths = archives
            .iter()
            .map(|archive| archive_path(archive))
            .collect::<Result<Vec<_>, _>>()?;
        let quoted: Vec<String> = paths
            .iter()
            .map(|p| format!("\"{}\"", p.display()))
            .collect();
        let script = format!("GROUP ( {} )\n", quoted.join(" "));
        let file = folder.join(format!("lib{name}.a"));
        std::fs::write(&file, script).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(folder)
}

/// Where the C compiler finds `archive`, if it does.
fn archive_path(archive: &str) -> Result<PathBuf, String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&cc)
        .arg(format!("-print-file-name={archive}"))
        .output()
        .map_err(|e| format!("cannot run {cc}: {e}"))?;
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    // Not found, the compiler echoes the bare name back.
    if output.status.success() && path.is_absolute() && Path::new(&path).is_file() {
        Ok(path)
    } else {
        Err(format!("{cc} does not find {archive}"))
    }
}
