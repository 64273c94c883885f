//! One run of a submission: a fresh scratch copy of its folder, the box forked, the tracer
//! inside it tracing the command under a scenario and streaming its records back over a pipe
//! (postcard, one record per frame), grade reading them with a hard backstop deadline, and
//! the scratch copy removed (or kept, with `--keep`).

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipc_sys::frame::FrameBuffer;
use ipc_sys::pipe::Pipe;
use ipc_sys::sandbox::{Limits, Missing, Policy, Protection, RunReport, Sandbox};
use ipc_sys::signal::{Wake, Watch, wait_event};
use ipc_sys::trace::{self, Event, Record, Sink, Stdio, TraceConfig};
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::Signal;

use super::error::{Error, Result};
use super::model::Model;
use super::scenario::{Director, Scenario};
use super::scratch;

/// Largest record frame: a snapshot of a large tree, a capped buffer.
const MAX_FRAME: usize = 16 << 20;
/// The box is ended this long after the run's own deadline, whatever the tracer is doing:
/// SIGTERM (the box kills the run and copies its scratch back), then, as long again later,
/// SIGKILL.
const BACKSTOP: Duration = Duration::from_secs(10);
/// Bytes of the command's stdout and stderr kept.
const OUTPUT_CAP: usize = 64 << 10;

/// What one run needs.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub argv: &'a [String],
    pub source: &'a Path,
    pub timeout: Duration,
    pub keep: bool,
    /// The submission's environment besides HOME (see `cli::Options::env`).
    pub env: &'a [(String, String)],
    pub scenario: Scenario,
    /// Protections the box does not attempt (a hidden flag, for tests of a weaker box).
    pub skip: &'a [Protection],
}

/// What one run left.
#[derive(Debug)]
pub struct Outcome {
    pub model: Model,
    /// The scratch copy's path (canonical): gone unless kept.
    pub scratch: PathBuf,
    pub kept: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The box overran the backstop and was killed.
    pub backstop: bool,
    pub missing: Vec<Missing>,
    /// The box's limits, and what its cgroups counted.
    pub limits: Limits,
    pub report: RunReport,
    pub scenario: Scenario,
    pub elapsed: Duration,
    /// The final lines of every file of the scratch copy that a process wrote, by path
    /// relative to the scratch copy (read before the copy is removed).
    pub files: std::collections::BTreeMap<String, Vec<String>>,
}

/// Copies the submission's folder (files, folders, symbolic links as links; permissions kept)
/// into `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    // Scratch copies (this run's, or another grading's) may live inside the folder graded
    // (grading the temporary directory itself): never copy them.
    let walk = walkdir::WalkDir::new(from)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| !e.file_name().to_string_lossy().starts_with(scratch::PREFIX));
    for entry in walk {
        let entry = match entry {
            Ok(e) => e,
            // Something that vanished while being copied (a temporary file of another program).
            Err(e)
                if e.io_error()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
            {
                continue;
            }
            Err(e) => {
                return Err(Error::Copy {
                    path: from.to_path_buf(),
                    source: e.into(),
                });
            }
        };
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        let kind = entry.file_type();
        let copy_err = |source| Error::Copy {
            path: entry.path().to_path_buf(),
            source,
        };
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(copy_err)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(entry.path()).map_err(copy_err)?;
            std::os::unix::fs::symlink(target, &dest).map_err(copy_err)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &dest).map_err(copy_err)?;
            // A read-only source stays readable; the copy must be writable by its owner.
            if let Ok(meta) = fs::metadata(&dest) {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode() | 0o600;
                let _ = fs::set_permissions(&dest, fs::Permissions::from_mode(mode));
            }
        }
        // FIFOs, sockets and devices of the source are not copied.
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(to, fs::Permissions::from_mode(0o755));
    Ok(())
}

/// Records as frames on the pipe to grade.
struct FrameSink {
    out: BufWriter<File>,
}

impl Sink for FrameSink {
    fn record(&mut self, record: &Record) -> bool {
        let Ok(frame) = ipc_sys::frame::encode(record, usize::MAX) else {
            return true;
        };
        let ok = self.out.write_all(&frame).is_ok();
        // Process events are flushed at once, so a box killed by the backstop has sent them.
        let flush = !matches!(record.event, Event::Call(_));
        ok && (!flush || self.out.flush().is_ok())
    }
}

/// The box's body (its pid 1): trace the command, stream the records, end. `fds`: the events
/// pipe, the command's stdout and stderr files.
fn body(config: &TraceConfig, sandbox: &Sandbox, scenario: &Scenario, fds: Vec<OwnedFd>) -> i32 {
    let Ok([events, stdout, stderr]) = <[OwnedFd; 3]>::try_from(fds) else {
        return 1;
    };
    let mut sink = FrameSink {
        out: BufWriter::with_capacity(64 << 10, File::from(events)),
    };
    let mut director = Director::new(scenario.clone(), config.deadline);
    let confine = || sandbox.confine().map_err(|e| e.to_string());
    let result = trace::run(
        config,
        Stdio { stdout, stderr },
        &confine,
        &mut director,
        &mut sink,
    );
    if let Err(e) = result {
        sink.record(&Record {
            at_us: 0,
            pid: 0,
            tid: 0,
            event: Event::Note {
                text: format!("the tracer failed: {e}"),
            },
        });
    }
    let _ = sink.out.flush();
    0
}

/// Runs the submission once.
pub fn run(spec: &Spec<'_>) -> Result<Outcome> {
    let started = Instant::now();
    let work = scratch::create(spec.keep)?;
    let scratch_dir = work.path().join("submission");
    copy_tree(spec.source, &scratch_dir)?;
    let scratch = fs::canonicalize(&scratch_dir).unwrap_or(scratch_dir);
    let out_path = work.path().join("stdout.txt");
    let err_path = work.path().join("stderr.txt");
    let stdout = File::create(&out_path).map_err(|source| Error::Scratch { source })?;
    let stderr = File::create(&err_path).map_err(|source| Error::Scratch { source })?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755));
    }

    let mut config = TraceConfig::new(spec.argv.to_vec(), scratch.clone());
    config.deadline = spec.timeout;
    // Only what the grader hands on (never its whole environment: it may hold secrets): what
    // the box set (HOME and PWD its scratch, TMPDIR), then the teacher's PATH, LANG, TERM and
    // `--env`, which win.
    config.keep_env = Some(vec!["HOME".into(), "PWD".into(), "TMPDIR".into()]);
    config.env = vec![("PYTHONDONTWRITEBYTECODE".into(), "1".into())];
    config.env.extend_from_slice(spec.env);
    // Every call stops (no seccomp filter): for comparing, and for a kernel that misbehaves.
    config.seccomp = std::env::var_os("IPC_DESAFIO_TRACE_ALL").is_none();
    let mut scenario = spec.scenario.clone();
    if let Scenario::Lock { log, .. } = &mut scenario {
        *log = scratch.join(&log).to_string_lossy().into_owned();
    }
    let sandbox = Sandbox::prepare(policy(spec, &scratch))?;
    let events = Pipe::new()?;
    let mut child = sandbox.spawn(
        &[events.write.as_fd(), stdout.as_fd(), stderr.as_fd()],
        |fds| body(&config, &sandbox, &scenario, fds),
    )?;
    drop(events.write);
    drop((stdout, stderr));

    let mut reader = File::from(events.read);
    let mut buf = FrameBuffer::new(MAX_FRAME);
    let mut records = Vec::new();
    let mut deadline = Instant::now() + spec.timeout + BACKSTOP;
    let mut backstop = false;
    loop {
        let wake = {
            let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
            wait_event(&mut fds, Some(deadline), Watch::INTERRUPTS)?
        };
        match wake {
            Wake::Ready => {}
            Wake::TimedOut if !backstop => {
                // The box kills everything of the run and copies the scratch back.
                backstop = true;
                child.signal(Signal::SIGTERM);
                deadline += BACKSTOP;
                continue;
            }
            Wake::TimedOut => {
                child.signal_group(Signal::SIGKILL);
                child.signal(Signal::SIGKILL);
                deadline += BACKSTOP;
                continue;
            }
            Wake::Interrupted => {
                child.signal_group(Signal::SIGKILL);
                child.signal(Signal::SIGKILL);
                let _ = child.wait();
                return Err(Error::Interrupted);
            }
            _ => {}
        }
        let n = buf.fill(&mut reader).unwrap_or(0);
        while let Ok(Some(frame)) = buf.next_frame() {
            if let Ok(record) = postcard::from_bytes::<Record>(frame) {
                records.push(record);
            }
        }
        if n == 0 {
            break;
        }
    }
    let _ = child.wait();
    let report = sandbox.finish(&mut child).unwrap_or_default();
    let model = Model::build(records);
    let mut files = std::collections::BTreeMap::new();
    for (_, path) in model.file_writes().keys() {
        if let Ok(rel) = Path::new(path).strip_prefix(&scratch) {
            let rel = rel.to_string_lossy().into_owned();
            files
                .entry(rel)
                .or_insert_with(|| read_lines(Path::new(path)));
        }
    }
    let out = Outcome {
        files,
        model,
        scratch: scratch.clone(),
        kept: spec.keep,
        stdout: read_capped(&out_path, OUTPUT_CAP),
        stderr: read_capped(&err_path, OUTPUT_CAP),
        backstop,
        missing: sandbox.missing().to_vec(),
        limits: sandbox.policy().limits,
        report,
        scenario: spec.scenario.clone(),
        elapsed: started.elapsed(),
    };
    if spec.keep {
        let _ = work.keep();
    }
    Ok(out)
}

/// The box of a run: the scratch copy the only writable place, the submission's own folder
/// hidden, each process's CPU time limited to the run's time limit.
fn policy(spec: &Spec<'_>, scratch: &Path) -> Policy {
    let mut policy = Policy::new(scratch);
    policy.limits.cpu = spec.timeout;
    policy.skip = spec.skip.to_vec();
    // Hidden unless it holds the scratch (a grading of the temporary folder itself) or is the
    // root: the scratch must stay reachable, and the machine's programs too.
    if let Ok(source) = spec.source.canonicalize()
        && !scratch.starts_with(&source)
    {
        policy.hide.push(source);
    }
    policy
}

/// The lines of a file of the scratch copy (at most 4 MiB of it).
fn read_lines(path: &Path) -> Vec<String> {
    let bytes = read_capped(path, 4 << 20);
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

/// At most `cap` bytes of the file at `path`; none if it cannot be opened.
fn read_capped(path: &Path, cap: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(cap as u64).read_to_end(&mut bytes);
    }
    bytes
}
