use ipc_sys::Fork;
use ipc_sys::sandbox::{Policy, Sandbox};
use std::ffi::CString;
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scratch = tempfile::tempdir_in("/var/tmp").unwrap();
    let s = Sandbox::prepare(Policy::new(scratch.path())).unwrap();
    for m in s.missing() {
        eprintln!("missing: {m}");
    }
    let argv: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap())
        .collect();
    let argv = &argv[..];
    let sr = &s;
    let t = std::time::Instant::now();
    let mut c = s
        .spawn(&[], |_| {
            let mut p = Fork::new("p")
                .spawn([], |[]| {
                    sr.confine().unwrap();
                    let _ = nix::unistd::execvp(&argv[0], argv);
                    127
                })
                .unwrap();
            match p.wait().unwrap().status {
                ipc_sys::ExitStatus::Exited(c) => c,
                ipc_sys::ExitStatus::Signaled(x) => 128 + x,
            }
        })
        .unwrap();
    let r = c.wait().unwrap();
    let rep = s.finish(&mut c).unwrap();
    eprintln!("{:?} {:?} in {:?}", r.status, rep, t.elapsed());
}
