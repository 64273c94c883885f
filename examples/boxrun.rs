use std::ffi::CString;
use std::time::Instant;
use ipc_sys::sandbox::{Policy, Sandbox};
use ipc_sys::Fork;
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scratch = tempfile::tempdir_in("/var/tmp").unwrap();
    let mut pol = Policy::new(scratch.path());
    if let Ok(skip) = std::env::var("SKIP") { for k in skip.split(',') { pol.skip.push(ipc_sys::sandbox::Protection::from_key(k).unwrap()); } }
    let s = Sandbox::prepare(pol).unwrap();
    let argv: Vec<CString> = args.iter().map(|a| CString::new(a.as_str()).unwrap()).collect();
    let argv = &argv[..];
    let sr = &s;
    for _ in 0..8 {
        let t = Instant::now();
        let mut c = s.spawn(&[], |_| {
            let mut p = Fork::new("p").spawn([], |[]| { sr.confine().unwrap(); let _ = nix::unistd::execvp(&argv[0], argv); 127 }).unwrap();
            match p.wait().unwrap().status { ipc_sys::ExitStatus::Exited(c) => c, ipc_sys::ExitStatus::Signaled(x) => 128 + x }
        }).unwrap();
        let a = t.elapsed();
        c.wait().unwrap();
        let b = t.elapsed();
        s.finish(&mut c).unwrap();
        let d = t.elapsed();
        let t2 = Instant::now();
        let mut p = Fork::new("p").spawn([], |[]| { let _ = nix::unistd::execvp(&argv[0], argv); 127 }).unwrap();
        p.wait().unwrap();
        eprintln!("spawn {:?} wait {:?} finish {:?} | plain {:?}", a, b - a, d - b, t2.elapsed());
    }
}
