//! `ipc_desafio grade` on the hostile programs of `tests/submissions/hostile/`: each is graded
//! like any submission, and the test checks that the machine was not touched (the canary folder
//! beside it, the submission's own folder, no process of the grading left, no scratch copy
//! left) and that the report's `sandbox:` lines name what it tried and the limit that stopped
//! it. Also: a box weaker than required is refused in one line before anything runs, and
//! allowed, it is named in the report. (`tests/sandbox.rs` checks the box itself, without
//! grade.)

use crate::common;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::deadline::Bounded;
use common::{code, desafio, stderr, stdout};

const DEADLINE: Duration = Duration::from_secs(300);

fn hostile(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/submissions/hostile")
        .join(name)
}

/// The Python interpreter itself (not a launcher such as pyenv's shim, whose forty processes
/// would all be traced).
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .run();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A case: `sub/` (the submission's folder, holding one program), `canary/` (world-writable:
/// only the box protects it) and `tmp/` (grade's TMPDIR, where scratch copies go), below the
/// build's tmp folder, visible read-only inside the box.
struct Case {
    root: tempfile::TempDir,
    token: String,
}

impl Case {
    fn new(program: &str) -> Case {
        let root = tempfile::Builder::new()
            .prefix("grade-sandbox")
            .tempdir_in(common::sandbox_cases_folder())
            .unwrap();
        for d in ["sub", "canary/inner", "tmp"] {
            fs::create_dir_all(root.path().join(d)).unwrap();
        }
        fs::copy(hostile(program), root.path().join("sub").join(program)).unwrap();
        fs::write(root.path().join("canary/keep.txt"), "canary\n").unwrap();
        for d in ["", "canary", "canary/inner"] {
            fs::set_permissions(root.path().join(d), fs::Permissions::from_mode(0o777)).unwrap();
        }
        fs::set_permissions(
            root.path().join("canary/keep.txt"),
            fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        // Unique per case: the tests of this file run at once.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = format!("grade-sandbox-{}-{n}-{program}", std::process::id());
        Case { root, token }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().canonicalize().unwrap().join(p)
    }

    /// Whether the canary is visible inside a box at all (not under a place the box makes
    /// private, as a checkout under /tmp, or `sandbox_cases_folder`'s fallback, would put it).
    fn canary_visible(&self) -> bool {
        !["/tmp", "/var/tmp", "/dev/shm"]
            .iter()
            .any(|p| self.path("canary").starts_with(p))
    }

    /// Grades `command` run in `sub/`, its processes carrying the case's token.
    fn grade(&self, flags: &[&str], command: &[&str]) -> Output {
        // `finish` reads both pipes while the program runs: a report larger than a pipe must
        // not stall it.
        desafio()
            .env("SANDBOX_TEST_TOKEN", &self.token)
            .env("TMPDIR", self.path("tmp"))
            .arg("grade")
            .args(flags)
            .arg("--")
            .args(command)
            .current_dir(self.path("sub"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .start()
            .within(DEADLINE)
            .finish()
    }

    /// The machine as the case left it: the canary and the submission unchanged, no scratch
    /// copy left, no process carrying the token.
    fn assert_untouched(&self, program: &str) {
        assert_eq!(
            fs::read_to_string(self.path("canary/keep.txt")).unwrap(),
            "canary\n"
        );
        assert_eq!(fs::read_dir(self.path("canary")).unwrap().count(), 2);
        let sub: Vec<String> = fs::read_dir(self.path("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(sub, [program], "the submission's folder was written");
        assert_eq!(fs::read_dir(self.path("tmp")).unwrap().count(), 0);
        let needle = format!("SANDBOX_TEST_TOKEN={}", self.token);
        let left: Vec<String> = fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
            })
            .map(|pid| pid.to_string())
            .collect();
        for pid in &left {
            if let Ok(pid) = pid.parse() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        assert!(left.is_empty(), "left running: {left:?}");
    }
}

/// The report's `sandbox:` lines.
fn sandbox_lines(out: &Output) -> String {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with("sandbox:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_hostile_program_is_contained_and_the_report_names_what_it_tried() {
    let py = python();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // (program, its arguments beyond the interpreter, what the sandbox lines must hold)
    type Expect = fn(&Case, &str) -> Vec<String>;
    let cases: [(&str, Vec<String>, Expect); 9] = [
        ("fork_bomb.py", vec![], |_, _| {
            vec!["tried to create a process: Try again (EAGAIN): the process limit (64)".into()]
        }),
        ("write_outside.py", vec!["CANARY".into()], |c, _| {
            let mut want = vec![
                "tried to write /etc/escaped.txt: Read-only file system (EROFS)".to_string(),
                "tried to write /root/escaped.txt: Read-only file system (EROFS)".to_string(),
            ];
            if c.canary_visible() {
                want.push(format!(
                    "tried to write {}/escaped.txt: Read-only file system (EROFS)",
                    c.path("canary").display()
                ));
            }
            want
        }),
        ("append_10g.sh", vec![], |_, _| {
            vec!["was killed by SIGXFSZ: the file size limit (64 MiB)".into()]
        }),
        ("fill_disk.py", vec![], |_, _| {
            vec!["No space left on device (ENOSPC): the disk limit (256 MiB)".into()]
        }),
        ("connect.py", vec!["PORT".into()], |_, port| {
            vec![format!(
                "tried to connect to 127.0.0.1:{port}: Connection refused (ECONNREFUSED)"
            )]
        }),
        ("read_shadow.py", vec![], |_, _| {
            vec!["tried to read /etc/shadow: Permission denied (EACCES)".into()]
        }),
        ("rm_rf.sh", vec!["CANARY".into()], |c, _| {
            if c.canary_visible() {
                vec![format!(
                    "{}/keep.txt: Read-only file system (EROFS)",
                    c.path("canary").display()
                )]
            } else {
                vec![]
            }
        }),
        ("open_files.py", vec![], |_, _| {
            vec!["Too many open files (EMFILE): the open files limit (256)".into()]
        }),
        ("memory_hog.py", vec![], |_, _| vec![]),
    ];
    for (program, args, expect) in cases {
        let case = Case::new(program);
        let interpreter = if program.ends_with(".sh") { "sh" } else { &py };
        let canary = case.path("canary").to_string_lossy().into_owned();
        let mut command = vec![interpreter.to_string(), program.to_string()];
        command.extend(args.iter().map(|a| match a.as_str() {
            "CANARY" => canary.clone(),
            "PORT" => port.clone(),
            other => other.to_string(),
        }));
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        let out = case.grade(&["--times", "1", "--timeout", "15s"], &command);
        let lines = sandbox_lines(&out);
        assert!(
            code(&out) == 0 || code(&out) == 1,
            "{program}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        for want in expect(&case, &port) {
            assert!(
                lines.contains(&want),
                "{program}: no `{want}` in\n{}",
                stdout(&out)
            );
        }
        if program == "memory_hog.py" {
            // The cgroup's kill, or the address space limit's refusal where no memory cgroup is
            // writable (an ordinary user's box).
            assert!(
                lines.contains("at the memory limit (512 MiB)")
                    || lines.contains("(ENOMEM): the memory limit (512 MiB)"),
                "{program}: {}",
                stdout(&out)
            );
        }
        case.assert_untouched(program);
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the listener was reached: {other:?}"),
    }
}

#[test]
fn a_box_weaker_than_required_is_refused_in_one_line_before_anything_runs() {
    let case = Case::new("read_shadow.py");
    let marker = case.path("ran");
    let touch = format!("touch {}", marker.display());
    let mut cases = vec![vec!["--require", "sandbox", "--sandbox-skip", "network"]];
    // SAFETY: geteuid only reads this process's credentials.
    if unsafe { libc::geteuid() } == 0 {
        // As root, refusing is the default.
        cases.push(vec!["--sandbox-skip", "network,memory-limit"]);
    }
    for flags in cases {
        let out = case.grade(&flags, &["sh", "-c", &touch]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{flags:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{flags:?}: {err}");
        assert!(
            err.starts_with("error: the sandbox here lacks network"),
            "{flags:?}: {err}"
        );
        assert!(err.contains("--allow-weaker-sandbox"), "{err}");
        assert_eq!(stdout(&out), "");
        assert!(!marker.exists(), "{flags:?} ran the command");
    }
    case.assert_untouched("read_shadow.py");
}

#[test]
fn allowed_a_weaker_box_grades_and_the_report_names_what_is_missing() {
    let case = Case::new("read_shadow.py");
    let out = case.grade(
        &[
            "--allow-weaker-sandbox",
            "--sandbox-skip",
            "network",
            "--times",
            "1",
        ],
        &["sh", "-c", "exit 0"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sandbox: missing: network (not attempted (Policy::skip))"),
        "{}",
        stdout(&out)
    );
    case.assert_untouched("read_shadow.py");
}

#[test]
fn bad_sandbox_flags_are_one_error_line_and_exit_2() {
    let case = Case::new("read_shadow.py");
    for flags in [
        vec!["--require", "nothing"],
        vec!["--require", ""],
        vec!["--sandbox-skip", "bogus"],
        vec!["--require", "sandbox", "--allow-weaker-sandbox"],
    ] {
        let out = case.grade(&flags, &["true"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{flags:?}: {err}");
        assert!(err.starts_with("error: "), "{flags:?}: {err}");
        assert_eq!(stdout(&out), "");
    }
    case.assert_untouched("read_shadow.py");
}
