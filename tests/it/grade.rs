//! `ipc_desafio grade` on real submissions: the test submissions of `tests/submissions/`
//! graded as one class (in parallel, on task_pool) against the verdicts expected beside each,
//! the class page checked structurally (every cell links to an anchor holding that
//! criterion's evidence) and, with `IPC_DESAFIO_BROWSER=1`, in headless Chromium (the slowest
//! submissions, `EXPENSIVE`, only with `IPC_DESAFIO_ALL_SUBMISSIONS=1`); the program's
//! own binary and its `--bug` modes; bad input; bounds; an unprivileged grader.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{BIN, Bounded, code, desafio, stderr, stdout};

/// Generous: grading the always-graded submissions on two idle cores takes about 30 s, all of
/// them about 55 s.
const CLASS_DEADLINE: Duration = Duration::from_secs(900);

/// Submissions graded only with `IPC_DESAFIO_ALL_SUBMISSIONS=1`: they add most to the class
/// run (seconds graded alone with `--times 2` on an idle core, 2 cores shared by the class
/// run's two jobs), and each repeats what an always-graded one shows in another language or
/// shape.
const EXPENSIVE: [&str; 8] = [
    "cpp_correct",       // 13 s, g++ compiles for ~8 s: c_correct, in C++
    "py_late_consumer",  // 18 s, main computes 2.5 s of CPU in every run: epipe waits for it
    "py_main_leaves",    // 7 s, the runs wait for the orphans: cleanup fails
    "c_system_pipeline", // 6 s, three cc compiles; system("./prod | ./cons")
    "rust_correct",      // rustc builds it first (rustup is hidden in the box): c_correct, in Rust
    "py_spawn",          // 5 s, the spawn start method: py_forkserver's helpers
    "py_fork_text",      // 4 s, os.fork and text: c_correct's shape in Python
    "py_ctrl_z",         // 4 s, Ctrl+Z to itself and SIGCONT (the SIGSTOP test is always on)
];

/// Whether every test submission is graded (`IPC_DESAFIO_ALL_SUBMISSIONS=1`), not only the
/// always-graded ones.
fn all_submissions() -> bool {
    std::env::var("IPC_DESAFIO_ALL_SUBMISSIONS").as_deref() == Ok("1")
}

/// Whether the class run grades `student`.
fn graded(student: &str) -> bool {
    all_submissions() || !EXPENSIVE.contains(&student)
}
const ONE_DEADLINE: Duration = Duration::from_secs(300);

fn submissions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/submissions")
}

/// PATH with the Python interpreter's own directory first. Where `python3` is a launcher (pyenv's
/// shim: a bash script that starts some forty processes before Python, every one of them
/// traced), grading through it takes twice as long; the verdicts are the same.
fn path_env() -> String {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::var("PATH").unwrap_or_default();
        let exe = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .try_run()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        match Path::new(&exe).parent() {
            Some(dir) if !exe.is_empty() => format!("{}:{path}", dir.display()),
            _ => path,
        }
    })
    .clone()
}

/// Runs grade with a deadline (a grade that overruns is killed, and with it its boxes and every
/// traced process: each dies with its parent).
fn grade(args: &[&str], dir: &Path) -> Output {
    grade_with_tmp(args, dir, &std::env::temp_dir())
}

/// `grade`, with its temporary directory (where scratch copies go) given.
fn grade_with_tmp(args: &[&str], dir: &Path, tmp: &Path) -> Output {
    let deadline = if args.contains(&"--class") {
        CLASS_DEADLINE
    } else {
        ONE_DEADLINE
    };
    desafio()
        .env("PATH", path_env())
        .env("TMPDIR", tmp)
        .arg("grade")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start()
        .within(deadline)
        .finish()
}

/// The expected verdicts of a test submission: `criterion verdict[|verdict…]` per line.
fn expected(dir: &Path) -> BTreeMap<String, Vec<String>> {
    fs::read_to_string(dir.join("expected.txt"))
        .expect("expected.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (id, v) = l.split_once(' ').expect("criterion verdict");
            (id.to_string(), v.split('|').map(str::to_string).collect())
        })
        .collect()
}

struct ClassRun {
    /// Keeps the class and output folders alive for every test that reads them.
    _root: tempfile::TempDir,
    class: PathBuf,
    out: PathBuf,
    output: Output,
}

/// The test submissions graded once, as a class, for every test that needs the result.
fn class_run() -> &'static ClassRun {
    static RUN: OnceLock<ClassRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let root = tempfile::tempdir().expect("tempdir");
        let class = root.path().join("class");
        let out = root.path().join("out");
        fs::create_dir_all(&class).unwrap();
        fs::create_dir_all(&out).unwrap();
        for entry in fs::read_dir(submissions_dir()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() && path.join("expected.txt").exists() && graded(&name) {
                let to = class.join(path.file_name().unwrap());
                let copied = Command::new("cp").args(["-r"]).arg(&path).arg(&to).run();
                assert!(copied.status.success(), "{}", stderr(&copied));
                if name == "rust_correct" {
                    // Built here: rustup's toolchains (~/.rustup) are hidden inside the box.
                    let built = Command::new("rustc")
                        .args(["-O", "-o", "prog", "main.rs"])
                        .current_dir(&to)
                        .run();
                    assert!(built.status.success(), "{}", stderr(&built));
                }
            }
        }
        let args = [
            "--class".to_string(),
            class.to_str().unwrap().to_string(),
            "-o".to_string(),
            out.to_str().unwrap().to_string(),
            "--times".to_string(),
            "2".to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = grade(&args, root.path());
        ClassRun {
            _root: root,
            class,
            out,
            output,
        }
    })
}

/// The ten criteria, in the order grade reports them (docs/grade.md).
const IDS: [&str; 10] = [
    "processes",
    "channel",
    "exchanges",
    "distinct",
    "classified",
    "shared_log",
    "lock",
    "eof",
    "epipe",
    "cleanup",
];

#[test]
fn every_test_submission_folder_has_its_command_and_one_expected_verdict_per_criterion() {
    let mut names = Vec::new();
    let mut problems = Vec::new();
    for entry in fs::read_dir(submissions_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "hostile" {
            // The sandbox's hostile programs (tests/sandbox.rs), not submissions.
            continue;
        }
        names.push(name.clone());
        if !path.join("grade.toml").is_file() {
            problems.push(format!("{name}: no grade.toml"));
        }
        let Ok(text) = fs::read_to_string(path.join("expected.txt")) else {
            problems.push(format!("{name}: no expected.txt"));
            continue;
        };
        let mut ids = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (id, verdicts) = line.split_once(' ').unwrap_or((line, ""));
            let known = verdicts
                .split('|')
                .all(|v| ["pass", "fail", "unknown"].contains(&v));
            if !known {
                problems.push(format!("{name}: «{line}»"));
            }
            ids.push(id);
        }
        ids.sort();
        let mut want = IDS.to_vec();
        want.sort();
        if ids != want {
            problems.push(format!("{name}: criteria {ids:?}"));
        }
    }
    for slow in EXPENSIVE {
        if !names.iter().any(|n| n == slow) {
            problems.push(format!("EXPENSIVE names {slow}, which is no folder"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_test_submission_gets_the_verdicts_written_beside_it() {
    let run = class_run();
    assert!(
        [0, 1].contains(&code(&run.output)),
        "{}{}",
        stdout(&run.output),
        stderr(&run.output)
    );
    let mut csv = csv::Reader::from_path(run.out.join("grade.csv")).expect("grade.csv");
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_string).collect();
    let html = fs::read_to_string(run.out.join("grade.html")).unwrap();
    let mut problems = Vec::new();
    let mut seen = 0;
    for rec in csv.records() {
        let rec = rec.unwrap();
        let student = rec.get(0).unwrap().to_string();
        let want = expected(&run.class.join(&student));
        seen += 1;
        for (id, verdicts) in &want {
            let col = header.iter().position(|h| h == id).expect(id);
            let got = rec.get(col).unwrap_or("");
            if !verdicts.iter().any(|v| v == got) {
                let evidence = html
                    .split(&format!("id=\"s-{student}-{id}\""))
                    .nth(1)
                    .and_then(|rest| rest.split("</p>").next())
                    .unwrap_or("(no evidence)");
                problems.push(format!(
                    "{student} {id}: got {got:?}, expected {verdicts:?} — {evidence}"
                ));
            }
        }
    }
    assert_eq!(seen, fs::read_dir(&run.class).unwrap().count());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_cell_of_the_class_page_links_to_its_criterions_evidence() {
    let run = class_run();
    let html = fs::read_to_string(run.out.join("grade.html")).expect("grade.html");
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("the page is well-formed");
    let ids: BTreeMap<&str, roxmltree::Node> = doc
        .descendants()
        .filter_map(|n| n.attribute("id").map(|id| (id, n)))
        .collect();
    let table = ids.get("grades").expect("the table");
    let header: Vec<String> = table
        .descendants()
        .filter(|n| n.has_tag_name("th"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect();
    let mut cells = 0;
    for row in table.descendants().filter(|n| n.has_tag_name("tr")).skip(1) {
        let tds: Vec<roxmltree::Node> = row.children().filter(|n| n.has_tag_name("td")).collect();
        for (i, td) in tds.iter().enumerate().skip(1) {
            let Some(link) = td.children().find(|n| n.has_tag_name("a")) else {
                continue;
            };
            let Some(column) = header.get(i) else {
                continue;
            };
            if column == "score" {
                continue;
            }
            let target = link.attribute("href").unwrap().trim_start_matches('#');
            let node = ids
                .get(target)
                .unwrap_or_else(|| panic!("link #{target} has no anchor"));
            let text: String = node
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect::<Vec<_>>()
                .join("");
            let verdict = link.text().unwrap_or("");
            assert!(
                text.starts_with(&format!("{column}: {verdict} — "))
                    && text.len() > column.len() + 12,
                "#{target} does not hold the {column} evidence: {text:?}"
            );
            cells += 1;
        }
    }
    let rows = fs::read_dir(&run.class).unwrap().count();
    assert_eq!(cells, rows * 10);
}

/// Renders the class page in headless Chromium: only when `IPC_DESAFIO_BROWSER=1` (then a
/// missing Chromium fails the test). The DOM the browser built must hold every row and every
/// anchor, and the screenshot must be a real picture.
#[test]
fn the_class_page_renders_in_headless_chromium() {
    if std::env::var("IPC_DESAFIO_BROWSER").as_deref() != Ok("1") {
        return;
    }
    let run = class_run();
    let page = run.out.join("grade.html");
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .try_run()
                .is_ok_and(|o| o.status.success())
        })
        .expect("IPC_DESAFIO_BROWSER=1 but no chromium is installed (apt-get install chromium)");
    let url = format!("file://{}", page.display());
    let common_args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
    ];
    let dom = Command::new(browser)
        .args(common_args)
        .arg("--dump-dom")
        .arg(&url)
        .run();
    let dom = String::from_utf8_lossy(&dom.stdout);
    let rows = fs::read_dir(&run.class).unwrap().count();
    assert_eq!(dom.matches("<td class=\"student\">").count(), rows, "{dom}");
    for id in ["processes", "eof", "epipe", "cleanup"] {
        assert!(dom.contains(&format!("-{id}\"")), "{id} anchors missing");
    }
    let png = run.out.join("grade.png");
    let shot = Command::new(browser)
        .args(common_args)
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,900")
        .arg(&url)
        .run();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = fs::read(&png).expect("the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 20_000,
        "{}",
        bytes.len()
    );
    if let Ok(keep) = std::env::var("IPC_DESAFIO_BROWSER_PNG") {
        fs::copy(&png, keep).unwrap();
    }
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

fn verdict(json: &serde_json::Value, id: &str) -> String {
    json["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["verdict"].as_str().unwrap().to_string())
        .unwrap()
}

#[test]
fn ipc_desafio_passes_every_criterion_and_its_bug_modes_fail_what_they_break() {
    let dir = tempfile::tempdir().unwrap();
    // Graded as a student's program is: from its folder (a checkout under a private home is
    // out of the box's reach).
    let bin = submission_copy_of_bin(dir.path());
    let modes: [&[&str]; 3] = [&[], &["--bug", "parent-keeps-ends"], &["--bug", "no-lock"]];
    let results: Vec<(Vec<&str>, Output)> = std::thread::scope(|s| {
        let handles: Vec<_> = modes
            .iter()
            .map(|extra| {
                let dir = dir.path();
                s.spawn(move || {
                    let mut args = vec!["--json", "--times", "2", "--", bin, "-q"];
                    args.extend_from_slice(extra);
                    (extra.to_vec(), grade(&args, dir))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (extra, out) in &results {
        let json = json_of(out);
        let all: Vec<(String, String)> = json["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().into(),
                    c["verdict"].as_str().unwrap().into(),
                )
            })
            .collect();
        match extra.as_slice() {
            [] => {
                assert!(all.iter().all(|(_, v)| v == "pass"), "{json:#}");
                assert_eq!(code(out), 0);
            }
            [_, "parent-keeps-ends"] => {
                assert_eq!(verdict(&json, "eof"), "fail", "{json:#}");
                assert_eq!(verdict(&json, "epipe"), "fail", "{json:#}");
                assert_eq!(code(out), 1);
            }
            _ => {
                assert_ne!(verdict(&json, "lock"), "pass", "{json:#}");
            }
        }
    }
    // The JSON's shape is an interface: exactly these keys, the ten ids in order.
    let json = json_of(&results[0].1);
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec!["command", "criteria", "failed", "passed", "runs", "unknown"];
    want.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, want);
    let ids: Vec<&str> = json["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, IDS);
    assert_eq!(json["runs"], 2);
    assert_eq!(json["passed"], 10);
    assert_eq!(json["command"][1], "-q");
}

#[test]
fn bad_input_is_one_error_line_and_exit_2_with_nothing_copied_or_run() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("tmp");
    fs::create_dir(&scratch).unwrap();
    let file = tmp.path().join("a_file");
    fs::write(&file, "x").unwrap();
    let bad_toml = tmp.path().join("bad");
    fs::create_dir(&bad_toml).unwrap();
    fs::write(bad_toml.join("grade.toml"), "command = [1, 2").unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let marker = tmp.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let cases: Vec<Vec<String>> = [
        vec!["--times", "0", "--", "sh", "-c", &touch],
        vec!["--times", "-1", "--", "sh", "-c", &touch],
        vec!["--times", "abc", "--", "sh", "-c", &touch],
        vec!["--times", "1e20", "--", "sh", "-c", &touch],
        vec!["--times", "18446744073709551616", "--", "sh", "-c", &touch],
        vec!["--times", "", "--", "sh", "-c", &touch],
        vec!["--timeout", "0", "--", "sh", "-c", &touch],
        vec!["--timeout", "-5s", "--", "sh", "-c", &touch],
        vec!["--timeout", "soon", "--", "sh", "-c", &touch],
        vec!["--dir", "/no/such/dir", "--", "sh", "-c", &touch],
        vec!["--dir", file.to_str().unwrap(), "--", "sh", "-c", &touch],
        vec!["--run", "x", "--", "sh", "-c", &touch],
        vec!["--jobs", "2", "--", "sh", "-c", &touch],
        vec!["--dir", empty.to_str().unwrap()],
        vec!["--dir", bad_toml.to_str().unwrap()],
        vec!["--class", "/no/such/class", "--run", "x"],
        vec!["--class", empty.to_str().unwrap(), "--run", "x"],
        vec!["--class", empty.to_str().unwrap(), "--", "sh"],
        vec!["--env", "", "--", "sh", "-c", &touch],
        vec!["--env", "=x", "--", "sh", "-c", &touch],
        vec![
            "--env",
            "IPC_DESAFIO_NO_SUCH_VARIABLE",
            "--",
            "sh",
            "-c",
            &touch,
        ],
        vec!["--bogus"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    for args in cases {
        let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = desafio();
        let out = cmd
            .arg("grade")
            .args(&args_ref)
            .env("TMPDIR", &scratch)
            .current_dir(tmp.path())
            .run();
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(stdout(&out), "", "{args:?}");
        assert!(!marker.exists(), "{args:?} ran the command");
        assert_eq!(
            fs::read_dir(&scratch).unwrap().count(),
            0,
            "{args:?} made a scratch copy"
        );
    }
}

/// Processes whose command line holds `marker`.
fn running_with(marker: &str) -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn a_hanging_or_daemonizing_submission_is_bounded_and_leaves_nothing_running() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("tmp");
    fs::create_dir(&scratch).unwrap();
    // A hang: killed at the timeout. A daemon: found after main's end and killed.
    let hang = grade_with_tmp(
        &["--timeout", "2s", "--times", "1", "--", "sleep", "301.25"],
        tmp.path(),
        &scratch,
    );
    let daemon = grade_with_tmp(
        &[
            "--times",
            "1",
            "--",
            "sh",
            "-c",
            "(setsid sleep 302.5 &) ; exit 0",
        ],
        tmp.path(),
        &scratch,
    );
    for (out, what, marker) in [
        (&hang, "did not end within the time limit", "301.25"),
        (&daemon, "still running after main ended", "302.5"),
    ] {
        assert_eq!(code(out), 1, "{}", stderr(out));
        let text = stdout(out);
        let cleanup = text
            .lines()
            .find(|l| l.starts_with("cleanup"))
            .expect("cleanup line");
        assert!(cleanup.contains("FAIL") && cleanup.contains(what), "{text}");
        assert!(running_with(marker).is_empty(), "{marker} left running");
    }
    assert_eq!(
        fs::read_dir(&scratch).unwrap().count(),
        0,
        "a scratch copy was left"
    );
}

#[test]
fn a_command_that_cannot_start_fails_every_criterion_with_the_reason_and_keep_keeps_the_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("sub");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("notes.txt"), "hello").unwrap();
    let out = grade(
        &[
            "--keep",
            "--dir",
            sub.to_str().unwrap(),
            "--",
            "./no-such-program",
        ],
        tmp.path(),
    );
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    let fails = text.lines().filter(|l| l.contains("FAIL")).count();
    assert_eq!(fails, 10, "{text}");
    assert!(
        text.contains("the command did not start: error: cannot run ./no-such-program"),
        "{text}"
    );
    let kept = text
        .lines()
        .find_map(|l| l.strip_prefix("kept: "))
        .expect("the kept copy's path");
    let copy = Path::new(kept).join("submission/notes.txt");
    assert_eq!(fs::read_to_string(&copy).unwrap(), "hello");
    fs::remove_dir_all(kept).unwrap();
    assert_eq!(
        fs::read_dir(&sub).unwrap().count(),
        1,
        "the submission was written"
    );
}

#[test]
fn grading_works_for_an_unprivileged_grader_and_speaks_portuguese() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
    // The grader and the submission both run from a folder nobody may enter (the checkout may
    // be under a private home): the submission's folder, a copy of the binary in it.
    let sub = tmp.path().join("sub");
    fs::create_dir(&sub).unwrap();
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
    let bin = submission_copy_of_bin(&sub);
    let mut cmd = Command::new(sub.join(bin));
    cmd.args(["grade", "--lang", "pt", "--times", "1", "--", bin, "-q"])
        .env("TMPDIR", tmp.path())
        // cargo's library path points into root's toolchain, which nobody may read.
        .env_remove("LD_LIBRARY_PATH")
        .current_dir(&sub)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: geteuid only reads this process's credentials.
    if unsafe { libc::geteuid() } == 0 {
        // As root, the grader itself runs as nobody (std drops the supplementary groups).
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.start().within(ONE_DEADLINE).finish();
    let code = out.status.code().unwrap_or(-1);
    let text = stdout(&out);
    assert_eq!(code, 0, "{text}{}", stderr(&out));
    // A non-blocking read that would block (the Desafio's children wait in ppoll) is no
    // refusal of the sandbox.
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("sandbox:") && l.contains("EAGAIN")),
        "{text}"
    );
    // Real plurals and decimal commas.
    assert!(
        text.contains("nota: 9 passaram, 0 falharam, 1 incerto (de 10)"),
        "{text}"
    );
    assert!(text.contains("processes   passou"), "{text}");
    let head = regex::Regex::new(
        r"^grade: .* \(1 execução normal \+ execuções com disputa e com processos mortos, \d+,\d s\)\n",
    )
    .unwrap();
    assert!(head.is_match(&text), "{text}");
    assert!(text.contains("1 execução normal saiu com 0"), "{text}");
    let eof = text.lines().find(|l| l.starts_with("eof")).unwrap();
    assert!(
        regex::Regex::new(r"\(\+\d+,\d\d s\)")
            .unwrap()
            .is_match(eof),
        "{text}"
    );
}

/// Copies the `ipc_desafio` binary into a submission's folder, readable and runnable by
/// anyone; returns the command that runs it from there.
fn submission_copy_of_bin(dir: &Path) -> &'static str {
    use std::os::unix::fs::PermissionsExt;
    let to = dir.join("ipc_desafio");
    fs::copy(BIN, &to).unwrap();
    fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
    "./ipc_desafio"
}

/// Waits (polling, up to `deadline`) until `done` holds; panics naming `what` otherwise.
fn wait_until(what: &str, deadline: Duration, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "waited {deadline:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_grades_scratch_copy_is_removed_by_the_next_grade_and_kept_or_live_ones_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("tmp");
    fs::create_dir(&scratch).unwrap();
    let names = || -> Vec<String> {
        fs::read_dir(&scratch)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let mut killed = desafio()
        .env("TMPDIR", &scratch)
        .args(["grade", "--timeout", "120s", "--times", "1", "--"])
        .args(["sleep", "303.75"])
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .start()
        .within(Duration::from_secs(300));
    // The run's copy (not the sandbox's trial folder, made first) and the sleep itself (not
    // grade, whose command line holds the marker too).
    let copied = || {
        names()
            .iter()
            .any(|n| scratch.join(n).join("submission").is_dir())
    };
    let sleeping = || {
        running_with("303.75").into_iter().any(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
    };
    wait_until(
        "the first grade's scratch copy and its traced sleep",
        ONE_DEADLINE,
        || copied() && sleeping(),
    );
    // SIGKILL to grade alone (not its group): what it started must end by itself.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(killed.pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    killed.wait();
    wait_until("the killed grade's sleep to end", ONE_DEADLINE, || {
        running_with("303.75").is_empty()
    });
    let left = names();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with("ipc_desafio-grade-"), "{left:?}");
    // A kept copy, and a copy of a grade that is still running (this test's pid), stay.
    let ns = fs::read_link("/proc/self/ns/pid").unwrap();
    let ns = ns.to_string_lossy();
    let ns = ns.trim_start_matches("pid:[").trim_end_matches(']');
    let live = format!("ipc_desafio-grade-{ns}-{}-AbCdEf", std::process::id());
    for keep in ["ipc_desafio-grade-kept-AbCdEf", live.as_str()] {
        fs::create_dir(scratch.join(keep)).unwrap();
    }
    let out = grade_with_tmp(&["--times", "1", "--", "true"], tmp.path(), &scratch);
    assert!([0, 1].contains(&code(&out)), "{}", stderr(&out));
    let mut after = names();
    after.sort();
    let mut want = vec!["ipc_desafio-grade-kept-AbCdEf".to_string(), live.clone()];
    want.sort();
    assert_eq!(after, want);
}

/// The evidence of a criterion of a student of the class run.
fn class_evidence(student: &str, id: &str) -> String {
    let html = fs::read_to_string(class_run().out.join("grade.html")).expect("grade.html");
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("the page is well-formed");
    let anchor = format!("s-{student}-{id}");
    let node = doc
        .descendants()
        .find(|n| n.attribute("id") == Some(anchor.as_str()))
        .unwrap_or_else(|| panic!("no #{anchor}"));
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

#[test]
fn the_evidence_names_what_was_observed_and_quotes_nothing_raw() {
    let cases = [
        // Both ends kept: the holders are named.
        ("py_issue34", "eof", "the write end was still open in main"),
        (
            "py_issue34",
            "epipe",
            "the producer's write succeeded: the read end was still open in main",
        ),
        // A buffered write flushed by close, after LOCK_UN.
        (
            "py_flush_after_unlock",
            "lock",
            "had released its lock before this write",
        ),
        // Values over two pipes: both are the channel.
        (
            "py_two_pipes",
            "channel",
            "and between them also anonymous pipe",
        ),
        // Threads: one process.
        ("py_threads", "processes", "1 process ran from main down"),
        // system("./prod | ./cons"): main is the program that called system.
        ("c_system_pipeline", "processes", "(prog) → producer"),
        // A wrong class hidden after binary bytes, its escape sequences shown escaped.
        (
            "py_garbage_log",
            "classified",
            "3 is recorded as 'par': «\\u{1b}[2J\\u{1b}[31m 3 is par \\u{1b}[0m»",
        ),
        // A producer that computes on after EPIPE fails on its processor time, not the clock.
        (
            "py_computes_after_epipe",
            "epipe",
            "the producer got EPIPE; it ran",
        ),
        // A slow clean-up is waited for while its processor time grows.
        (
            "py_slow_to_end",
            "epipe",
            "its write failed with EPIPE and it ended by itself",
        ),
        // A launcher's pipes are no channel (python3 may be pyenv's shim).
        (
            "py_shared_memory",
            "processes",
            "3 processes ran from main down",
        ),
    ];
    let mut problems = Vec::new();
    for (student, id, want) in cases.into_iter().filter(|c| graded(c.0)) {
        let evidence = class_evidence(student, id);
        if !evidence.contains(want) {
            problems.push(format!("{student} {id}: no «{want}» in «{evidence}»"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    let html = fs::read_to_string(class_run().out.join("grade.html")).unwrap();
    assert!(!html.contains('\u{1b}'), "a raw ESC in the class page");
}

#[test]
fn a_process_that_stops_itself_for_good_is_named_in_the_evidence_of_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("sub");
    fs::create_dir(&sub).unwrap();
    // The consumer stops itself (as Ctrl+Z would) after its third value; nobody continues it.
    fs::write(
        sub.join("ipc.py"),
        "import os, random, signal, time\n\
         r, w = os.pipe()\n\
         if os.fork() == 0:\n\
         \x20   os.close(r)\n\
         \x20   for v in random.sample(range(1, 1000), 12):\n\
         \x20       os.write(w, f'{v}\\n'.encode()); time.sleep(0.02)\n\
         \x20   os._exit(0)\n\
         if os.fork() == 0:\n\
         \x20   os.close(w)\n\
         \x20   with os.fdopen(r) as src:\n\
         \x20       for i, line in enumerate(src):\n\
         \x20           if i == 2:\n\
         \x20               os.kill(os.getpid(), signal.SIGSTOP)\n\
         \x20   os._exit(0)\n\
         os.close(r); os.close(w); os.wait(); os.wait()\n",
    )
    .unwrap();
    let out = grade(
        &[
            "--times",
            "1",
            "--timeout",
            "3s",
            "--dir",
            sub.to_str().unwrap(),
            "--",
            "python3",
            "ipc.py",
        ],
        tmp.path(),
    );
    let text = stdout(&out);
    let cleanup = text
        .lines()
        .find(|l| l.starts_with("cleanup"))
        .expect("the cleanup line");
    assert!(
        cleanup.contains("did not end within the time limit")
            && cleanup.contains("had stopped itself with SIGSTOP")
            && cleanup.contains("and was never continued"),
        "{text}"
    );
    assert_eq!(code(&out), 1, "{text}");
}

#[test]
fn a_submission_gets_path_lang_term_its_own_home_and_only_the_variables_env_names() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let out = desafio()
        .env("PATH", path_env())
        .env("LANG", "pt_BR.UTF-8")
        .env("TERM", "xterm-256color")
        .env("IPC_DESAFIO_TEST_SECRET", "hunter2")
        .env("IPC_DESAFIO_TEST_PASSED", "passed on")
        .args(["grade", "--keep", "--times", "1"])
        .args(["--env", "IPC_DESAFIO_TEST_PASSED"])
        .args(["--env", "IPC_DESAFIO_TEST_SET=a=b"])
        .arg("--dir")
        .arg(&sub)
        .args(["--", "env"])
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .start()
        .within(ONE_DEADLINE)
        .finish();
    let text = stdout(&out);
    let kept: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("kept: "))
        .collect();
    assert!(!kept.is_empty(), "{text}");
    let first = Path::new(kept[0]);
    let printed = fs::read_to_string(first.join("stdout.txt")).expect("the run's stdout");
    let home = fs::canonicalize(first.join("submission")).unwrap();
    for k in &kept {
        fs::remove_dir_all(k).unwrap();
    }
    let mut got: Vec<(&str, &str)> = printed
        .lines()
        .map(|l| l.split_once('=').expect("NAME=VALUE"))
        .collect();
    got.sort();
    let path = path_env();
    let home = home.to_str().unwrap();
    // TMPDIR is the box's /tmp, or (a box without its own file system view) the grader's.
    let tmpdir = got
        .iter()
        .position(|(k, _)| *k == "TMPDIR")
        .map(|i| got.remove(i).1);
    assert!(tmpdir.is_none_or(|t| t == "/tmp" || std::env::temp_dir() == Path::new(t)));
    let mut want = vec![
        ("HOME", home),
        ("PWD", home),
        ("IPC_DESAFIO_TEST_PASSED", "passed on"),
        ("IPC_DESAFIO_TEST_SET", "a=b"),
        ("LANG", "pt_BR.UTF-8"),
        ("PATH", path.as_str()),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("TERM", "xterm-256color"),
    ];
    want.sort();
    assert_eq!(got, want, "{printed}");
}

/// Every command of docs/grade.md runs as written and shows what the page shows (the checker
/// and its rules: tests/it/docs.rs). Here rather than beside the other pages' tests: grading
/// loads both cores, so this page runs while no other page does, and a test named to start
/// after every other page's makes no page wait for it (docs.rs, `HEAVY_PAGES`).
#[test]
fn the_manual_commands_run_as_written_and_show_what_they_show() {
    crate::docs::check_page("docs/grade.md");
}
