//! Every command in README.md, README.pt-BR.md and docs/ runs as written, and shows what the
//! documentation shows.
//!
//! How a page is read (the rules are in ARCHITECTURE.md, "Documentation is tested"):
//!
//! - A ```` ```console ```` block is a terminal transcript: each `$ ` line is a command, the lines
//!   after it are what the command prints (stdout and stderr, as a terminal shows them). The
//!   command must exit 0 (a page that means a failure shows it: `…; echo "exit $?"`). Output is
//!   compared with snapbox: `[..]` matches the rest of a line's text, a `...` line any number of
//!   lines, and what changes from run to run — timestamps, pids, durations, memory, rates — is
//!   redacted on both sides, so a page can show a real run.
//! - A ```` ```sh ```` block is a list of commands to type: each must end by itself, with a code
//!   the program documents for a run (0; 1 for a run that did not complete, as fault demos do),
//!   and print no panic. Exit 2 (bad usage), 126/127 (no such command), a crash, or a command
//!   still running at the deadline (a hang) fails the page. The output is not shown, so not
//!   compared: a page that shows what a command prints uses a console block.
//! - `<!-- test: ctrl-c -->` on the line before a sh block: its commands may run until the reader
//!   stops them (`--pace 500..1500`, `worker_pool` without `--items`). One still running after a
//!   few seconds gets SIGINT, as from Ctrl+C, and must then exit 130. Only such a block is
//!   interrupted: anywhere else a command that does not end is a failure, not a reader's
//!   impatience.
//! - `<!-- test: unordered -->` on the line before a block: its output lines are checked in any
//!   order (lines of concurrent processes). `<!-- test: skip -->`: the block is not run (say
//!   why in the page). Commands of cargo itself other than `cargo run` (`cargo test`, `cargo
//!   bench`, `cargo install`) and `scripts/` (they need Chromium) are not run here.
//!
//! Each page runs top to bottom in one fresh temporary directory, with no locale set (English
//! unless a command sets `LANG` or `--lang`). `cargo run [-q] [--release] --bin NAME -- ARGS` is
//! run by a stand-in `cargo` on PATH that executes the binary this `cargo test` built, so the
//! text typed is the text tested; only the compilation step is skipped.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Bounded;
use snapbox::IntoData;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// How long a command of a `<!-- test: ctrl-c -->` block runs before the test stops it with
/// SIGINT, as a reader would.
const SH_PATIENCE: Duration = Duration::from_secs(4);

#[derive(Debug, PartialEq)]
enum Kind {
    Console,
    Sh,
}

#[derive(Debug)]
struct Block {
    kind: Kind,
    line: usize,
    text: String,
    unordered: bool,
    skip: bool,
    /// `<!-- test: ctrl-c -->`: its commands may run until a reader stops them.
    ctrl_c: bool,
}

fn blocks(page: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = page.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((i, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            if !line.trim().is_empty() {
                previous = line;
            }
            continue;
        };
        let kind = match info.trim() {
            "console" => Some(Kind::Console),
            "sh" | "bash" | "shell" => Some(Kind::Sh),
            _ => None,
        };
        let mut text = String::new();
        for (_, body) in lines.by_ref() {
            if body.starts_with("```") {
                break;
            }
            text.push_str(body);
            text.push('\n');
        }
        if let Some(kind) = kind {
            let note = previous.trim();
            out.push(Block {
                kind,
                line: i + 1,
                text,
                unordered: note == "<!-- test: unordered -->",
                skip: note.starts_with("<!-- test: skip"),
                ctrl_c: note == "<!-- test: ctrl-c -->",
            });
        }
        previous = "";
    }
    out
}

/// One `$ command` of a console block and the output shown under it.
fn transcript(text: &str) -> Vec<(String, String)> {
    let mut steps: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push((cmd.to_string(), String::new()));
        } else if let Some((_, shown)) = steps.last_mut() {
            shown.push_str(line);
            shown.push('\n');
        } else {
            panic!("a console block must start with a `$ ` command, found {line:?}");
        }
    }
    steps
}

/// The commands of a `sh` block: one per line, comments and blank lines dropped, `\` joins.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(part) = line.strip_suffix('\\') {
            pending.push_str(part);
            continue;
        }
        pending.push_str(line);
        let cmd = std::mem::take(&mut pending);
        let trimmed = cmd.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            out.push(trimmed.to_string());
        }
    }
    out
}

/// Commands this test leaves alone: cargo's own (building, testing, installing) and the
/// Chromium scripts.
fn not_ours(cmd: &str) -> bool {
    let words: Vec<&str> = cmd
        .split_whitespace()
        .skip_while(|w| w.contains('=') && !w.starts_with('-'))
        .collect();
    match words.as_slice() {
        ["cargo", "run", ..] => false,
        ["cargo", ..] => true,
        [first, ..] => first.starts_with("scripts/"),
        [] => true,
    }
}

fn redactions() -> snapbox::Redactions {
    let re = |s: &str| regex::Regex::new(s).expect("redaction regex");
    let mut r = snapbox::Redactions::new();
    let rules: [(&'static str, &str); 6] = [
        (
            "[TIME]",
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:Z|[+-]\d\d:\d\d)",
        ),
        (
            "[PID]",
            r"(?:main|producer|consumer|produtor|consumidor|pid|worker|buyer|comprador|logger|spawner|generator|daemon|parent|child) (?<redacted>\d{2,})",
        ),
        // A process named with its pid in parentheses: `producer 1 (24091): …`, `top (24161): …`.
        (
            "[PID]",
            r"(?:producer \d+|consumer|buyer \d+|daemon|parent|top) \((?<redacted>\d{2,})\)",
        ),
        ("[SECS]", r"(?<redacted>\d+(?:[.,]\d+)?) s\b"),
        ("[MEM]", r"(?<redacted>\d+(?:[.,]\d+)?) (?:KiB|MiB|GiB)\b"),
        (
            "[RATE]",
            r"(?<redacted>\d+(?:[.,]\d+)?) (?:values/s|valores/s)",
        ),
    ];
    for (placeholder, pattern) in rules {
        r.insert(placeholder, re(pattern)).expect("placeholder");
    }
    r
}

/// A directory holding a stand-in `cargo` that runs the binaries this test run built.
fn fake_cargo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let bins = Path::new(crate::common::BIN)
        .parent()
        .expect("binary dir")
        .to_path_buf();
    let script = format!(
        r#"#!/bin/sh
# Stand-in for `cargo run [-q] [--release] --bin NAME [-- ARGS]` (tests/docs.rs).
if [ "$1" != run ]; then echo "docs test: only 'cargo run' is run here: cargo $*" >&2; exit 127; fi
shift
name=
while [ $# -gt 0 ]; do
  case $1 in
    -q|--quiet|--release) shift ;;
    --bin) name=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "docs test: unexpected cargo option $1" >&2; exit 127 ;;
  esac
done
[ -n "$name" ] || {{ echo "docs test: cargo run without --bin" >&2; exit 127; }}
exec "{}/$name" "$@"
"#,
        bins.display()
    );
    let path = dir.path().join("cargo");
    std::fs::write(&path, script).expect("write fake cargo");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

struct Session {
    dir: tempfile::TempDir,
    cargo: tempfile::TempDir,
    page: String,
    /// How long a command may run before it counts as hung.
    deadline: Duration,
    /// How long a command of a `<!-- test: ctrl-c -->` block runs before its SIGINT.
    patience: Duration,
}

struct Ran {
    output: String,
    code: Option<i32>,
    interrupted: bool,
    /// Still running at the deadline (its session was killed).
    hung: bool,
}

impl Session {
    fn new(page: &str) -> Session {
        Session {
            dir: tempfile::tempdir().expect("temp dir"),
            cargo: fake_cargo(),
            page: page.to_string(),
            deadline: common::default_deadline(),
            patience: SH_PATIENCE,
        }
    }

    /// Runs `cmd` with `sh -c` in the session's directory, stderr merged into stdout, until it
    /// ends or the deadline passes (then its session is killed and it counts as hung). With
    /// `patience`, a command still running after that long gets SIGINT, as from Ctrl+C.
    fn run(&self, cmd: &str, patience: Option<Duration>) -> Ran {
        let path = format!(
            "{}:{}",
            self.cargo.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("exec 2>&1\n{cmd}"))
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env_remove("LANG")
            .env_remove("LANGUAGE")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        // A reader's shell lets Ctrl+C end a command; a test run in the background of a
        // non-interactive shell (`cargo test &`) has SIGINT ignored, and an ignored signal
        // stays ignored across exec: `sleep` would outlive every Ctrl+C.
        // SAFETY: signal() is async-signal-safe and touches no memory of the parent.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = command.start();
        let mut stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let mut interrupted = false;
        let mut status = None;
        if let Some(patience) = patience {
            child.extend(patience);
            status = child.exit_before_deadline();
            if status.is_none() {
                // A shell that gets SIGINT before it has started its command notes it, starts
                // the command all the same, and waits for it (dash): on a loaded machine a
                // reader would press Ctrl+C once the command runs, so wait (a little) for that.
                let started = std::time::Instant::now();
                while !shell_started_its_command(child.pid())
                    && started.elapsed() < Duration::from_secs(5)
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                // The reader's Ctrl+C: SIGINT to the command's process group.
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(child.pid()),
                    nix::sys::signal::Signal::SIGINT,
                );
                interrupted = true;
            }
        }
        if status.is_none() {
            child.extend(self.deadline);
            status = child.exit_before_deadline();
        }
        let hung = status.is_none();
        if hung {
            child.kill_all();
        }
        let output = String::from_utf8_lossy(&reader.join().expect("reader")).into_owned();
        use std::os::unix::process::ExitStatusExt;
        let code = status.and_then(|s| s.code().or_else(|| s.signal().map(|n| 128 + n)));
        Ran {
            output,
            code,
            interrupted,
            hung,
        }
    }

    /// What is wrong with how `cmd` ended, if anything, for a page's failure list.
    fn hang(&self, got: &Ran, cmd: &str, line: usize) -> Option<String> {
        got.hung.then(|| {
            format!(
                "{}:{line}: `{cmd}` did not end by itself within {:?}{}: a hang (a command that \
                 runs until the reader stops it belongs in a block marked `<!-- test: ctrl-c -->`)\n{}",
                self.page,
                self.deadline,
                if got.interrupted { ", even after a SIGINT" } else { "" },
                got.output
            )
        })
    }
}

/// Whether `sh` (pid `shell`) has started the command it runs: it has become the command
/// itself (`exec`, or dash running its last command in its own process), or a child of it is
/// something other than `sh` (a fork that has not yet exec'd would catch a SIGINT as its shell
/// does and lose it).
fn shell_started_its_command(shell: i32) -> bool {
    match common::process(shell) {
        Some(own) if own.comm == "sh" => common::processes()
            .iter()
            .any(|child| child.ppid == shell && child.comm != "sh"),
        _ => true, // gone, or already the command itself: nothing to wait for
    }
}

/// Pages whose commands load both cores for a long while (grading runs several traced programs
/// at once): each runs alone, so that the timing of other pages' transcripts (a fault after the
/// 4th value, Ctrl+C after a few seconds) is not disturbed. A test thread waiting for its turn
/// runs nothing else, so a heavy page's test is named to start after every other page's (libtest
/// starts tests in name order): it waits only for the pages still running, and no page waits
/// for it (grade.md's is `grade::the_manual_commands_run_as_written_and_show_what_they_show`;
/// as `docs::grade_manual_…` it started before seven pages, and each of them held a test
/// thread idle while it ran).
const HEAVY_PAGES: [&str; 1] = ["docs/grade.md"];
static PAGES_RUNNING: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Runs every tested block of a page; returns how many commands ran.
pub(crate) fn check_page(rel: &str) -> usize {
    let _turn = if HEAVY_PAGES.contains(&rel) {
        (
            None,
            Some(PAGES_RUNNING.write().unwrap_or_else(|e| e.into_inner())),
        )
    } else {
        (
            Some(PAGES_RUNNING.read().unwrap_or_else(|e| e.into_inner())),
            None,
        )
    };
    let page = std::fs::read_to_string(Path::new(ROOT).join(rel)).expect("read page");
    let (ran, failures) = check_text(&Session::new(rel), &page);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    ran
}

/// Runs every tested block of `page` in `session`: how many commands ran, and what failed.
fn check_text(session: &Session, page: &str) -> (usize, Vec<String>) {
    let rel = session.page.as_str();
    let redactions = redactions();
    let mut ran = 0;
    let mut failures = Vec::new();
    for block in blocks(page) {
        if block.skip {
            continue;
        }
        match block.kind {
            Kind::Console => {
                for (cmd, shown) in transcript(&block.text) {
                    if not_ours(&cmd) {
                        continue;
                    }
                    let got = session.run(&cmd, None);
                    ran += 1;
                    if let Some(hang) = session.hang(&got, &cmd, block.line) {
                        failures.push(hang);
                        continue;
                    }
                    if got.code != Some(0) {
                        failures.push(format!(
                            "{rel}:{}: `{cmd}` exited {:?} (a page shows a failure with `; echo \"exit $?\"`):\n{}",
                            block.line, got.code, got.output
                        ));
                        continue;
                    }
                    let actual = redactions.redact(&got.output);
                    let expected = redactions.redact(&shown);
                    let mut expected = expected.into_data();
                    if block.unordered {
                        expected = expected.unordered();
                    }
                    if let Err(e) =
                        snapbox::Assert::new().try_eq(Some(&cmd), actual.into_data(), expected)
                    {
                        failures.push(format!("{rel}:{}: `{cmd}`:\n{e}", block.line));
                    }
                }
            }
            Kind::Sh => {
                for cmd in commands(&block.text) {
                    if not_ours(&cmd) {
                        continue;
                    }
                    let got = session.run(&cmd, block.ctrl_c.then_some(session.patience));
                    ran += 1;
                    if let Some(hang) = session.hang(&got, &cmd, block.line) {
                        failures.push(hang);
                        continue;
                    }
                    if got.output.contains("panicked at") {
                        failures.push(format!(
                            "{rel}:{}: `{cmd}` panicked:\n{}",
                            block.line, got.output
                        ));
                        continue;
                    }
                    let fine = match got.code {
                        Some(0 | 1) => true,
                        Some(130) => got.interrupted,
                        _ => false,
                    };
                    if !fine {
                        failures.push(format!(
                            "{rel}:{}: `{cmd}` exited {:?}{}:\n{}",
                            block.line,
                            got.code,
                            if got.interrupted {
                                " after a SIGINT"
                            } else {
                                ""
                            },
                            got.output
                        ));
                    }
                }
            }
        }
    }
    (ran, failures)
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![PathBuf::from("README.md"), PathBuf::from("README.pt-BR.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| Path::new("docs").join(p.file_name().expect("name")))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages.push(PathBuf::from("ARCHITECTURE.md"));
    pages.push(PathBuf::from("benches/README.md"));
    pages
}

#[test]
fn every_page_with_commands_is_tested_here() {
    // A new page must get its own test below, so that it runs in parallel with the others (a
    // heavy page's in a module that sorts after this one: see HEAVY_PAGES).
    let tested = [
        "README.md",
        "README.pt-BR.md",
        "docs/ipc_desafio.md",
        "docs/joinable_queue.md",
        "docs/parallel.md",
        "docs/task_pool.md",
        "docs/ticket_office.md",
        "docs/worker_pool.md",
        "docs/grade.md",
        "ARCHITECTURE.md",
        "benches/README.md",
    ];
    for page in pages() {
        let name = page.to_string_lossy().into_owned();
        assert!(
            tested.contains(&name.as_str()),
            "{name} has no test in tests/docs.rs"
        );
    }
}

macro_rules! page_test {
    ($name:ident, $page:literal) => {
        #[test]
        fn $name() {
            check_page($page);
        }
    };
}

page_test!(
    readme_commands_run_as_written_and_show_what_it_shows,
    "README.md"
);
page_test!(
    readme_pt_br_commands_run_as_written_and_show_what_it_shows,
    "README.pt-BR.md"
);
page_test!(
    ipc_desafio_manual_commands_run_as_written_and_show_what_it_shows,
    "docs/ipc_desafio.md"
);
page_test!(
    joinable_queue_manual_commands_run_as_written_and_show_what_it_shows,
    "docs/joinable_queue.md"
);
page_test!(
    parallel_manual_commands_run_as_written_and_show_what_it_shows,
    "docs/parallel.md"
);
page_test!(
    task_pool_manual_commands_run_as_written_and_show_what_it_shows,
    "docs/task_pool.md"
);
page_test!(
    ticket_office_manual_commands_run_as_written_and_show_what_it_shows,
    "docs/ticket_office.md"
);
page_test!(
    worker_pool_manual_commands_run_as_written_and_show_what_it_shows,
    "docs/worker_pool.md"
);
page_test!(
    architecture_commands_run_as_written_and_show_what_it_shows,
    "ARCHITECTURE.md"
);
page_test!(
    benches_readme_commands_run_as_written_and_show_what_it_shows,
    "benches/README.md"
);

#[test]
fn a_page_that_shows_the_wrong_output_fails() {
    // The checker itself: a transcript that does not match, and a command that does not run.
    let wrong = "```console\n$ cargo run -q --bin ipc_desafio -- --seed 7 -n 10 -q; cat consumer_log.txt | tail -1\n# totals: values 10, even 0, odd 10\n```\n";
    let session = Session::new("inline");
    let block = &blocks(wrong)[0];
    let (cmd, shown) = &transcript(&block.text)[0];
    let got = session.run(cmd, None);
    assert_eq!(got.code, Some(0), "{}", got.output);
    let r = redactions();
    assert!(
        snapbox::Assert::new()
            .try_eq(
                None,
                r.redact(&got.output).into_data(),
                r.redact(shown).into_data()
            )
            .is_err(),
        "a wrong transcript was accepted: {}",
        got.output
    );
    let typo = session.run("cargo run --bin ipc_desafio -- --sede 7", Some(SH_PATIENCE));
    assert_eq!(typo.code, Some(2), "{}", typo.output);
    let missing = session.run("cargo run --bin no_such_program", Some(SH_PATIENCE));
    assert_eq!(missing.code, Some(127), "{}", missing.output);
}

#[test]
fn redactions_hide_what_changes_between_runs_and_nothing_else() {
    let r = redactions();
    assert_eq!(
        r.redact("2026-11-25T05:56:31.686+00:00 [main 6157] spawned producer 6158"),
        "[TIME] [main [PID]] spawned producer [PID]"
    );
    assert_eq!(
        r.redact("summary: sent 12, received 12, lost 0; 1.03 values/s over 11.642 s; main peak RSS 5.5 MiB"),
        "summary: sent 12, received 12, lost 0; [RATE] values/s over [SECS] s; main peak RSS [MEM] MiB"
    );
    // Values, counts and line numbers stay: they are what a page promises.
    assert_eq!(
        r.redact("[consumer 6159] received 40: even"),
        "[consumer [PID]] received 40: even"
    );
}

/// The checker on long commands: in a plain sh block a command that does not end is a hang and
/// fails the page (it is not taken for a reader's Ctrl+C); in a block marked
/// `<!-- test: ctrl-c -->` it is stopped with SIGINT and must exit 130.
#[test]
fn a_command_that_does_not_end_fails_its_page_unless_its_block_says_ctrl_c() {
    let mut session = Session::new("inline");
    session.deadline = Duration::from_secs(1);
    session.patience = Duration::from_secs(1);
    let (ran, failures) = check_text(&session, "```sh\nsleep 1000\n```\n");
    assert_eq!(ran, 1);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].starts_with("inline:1: `sleep 1000` did not end by itself within 1s: a hang"),
        "{failures:?}"
    );
    // After the SIGINT a command has its deadline to end: generous here, so that a loaded
    // machine's slowness in reaping it is not taken for a hang.
    session.deadline = Duration::from_secs(15);
    let (ran, failures) = check_text(
        &session,
        "<!-- test: ctrl-c -->\n```sh\nsleep 1000\ntrue\n```\n",
    );
    assert_eq!((ran, failures), (2, Vec::<String>::new()));
    // A command that ignores the Ctrl+C is a hang all the same (it never ends: a short
    // deadline is enough to see it).
    session.deadline = Duration::from_secs(1);
    let (_, failures) = check_text(
        &session,
        "<!-- test: ctrl-c -->\n```sh\ntrap '' INT; sleep 1000\n```\n",
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("even after a SIGINT"), "{failures:?}");
}
