//! One run, rebuilt from the tracer's records: the process tree, the helpers, the launcher's
//! processes, the flows of bytes between processes over pipes, socket pairs and FIFOs, the
//! files each process wrote, and — from the best pair of processes joined by flows — the
//! roles: producer, consumer and main.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipc_sys::trace::{Detail, Event, Object, Record, Status};

use super::values::{Decoded, decode};

/// A process of the run.
#[derive(Debug, Clone, Default)]
pub struct Proc {
    pub pid: i32,
    pub parent: Option<i32>,
    pub lineage: Vec<u32>,
    /// The arguments of the last program it executed (its parent's, if it executed none).
    pub argv: Vec<String>,
    /// It executed a program itself (rather than being a fork running its parent's code).
    pub executed: bool,
    pub helper: bool,
    pub born_us: u64,
    /// When it last executed a program.
    pub exec_us: u64,
    pub exit: Option<(Status, u64)>,
    /// Who reaped it (`wait4`/`waitid` returned its pid), and when.
    pub reaped_by: Option<(i32, u64)>,
}

/// Where written bytes go: a pipe, a FIFO, or one end of a socket pair (bytes written on it
/// are read on its peer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Conduit {
    Pipe(u64),
    Fifo(String),
    Socket(u64),
}

/// Bytes from one process to another through one conduit.
#[derive(Debug, Clone)]
pub struct Flow {
    pub conduit: Conduit,
    pub writer: i32,
    pub reader: i32,
    pub write_fd: i32,
    pub read_fd: i32,
    pub writes: usize,
    pub decoded: Decoded,
    /// Bytes the reader got.
    pub read_bytes: usize,
}

/// The roles, when a flow was found.
#[derive(Debug, Clone)]
pub struct Roles {
    pub producer: i32,
    pub consumer: i32,
    pub main: i32,
    /// The flow from producer to consumer that carried the most values (the one the fault
    /// runs act on).
    pub flow: Flow,
    /// Every other flow from the producer to the consumer (values sent over several pipes).
    pub more: Vec<Flow>,
    /// The values of all of them: what reached the consumer.
    pub decoded: Decoded,
}

/// One write to a file: when (µs), the bytes kept (the tracer keeps at most 4 KiB of one
/// write), and how many the write moved.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub at_us: u64,
    pub data: Vec<u8>,
    pub moved: usize,
}

impl Chunk {
    /// The tracer kept less than the write moved.
    pub fn cut(&self) -> bool {
        self.data.len() < self.moved
    }
}

/// (pid, path) → the chunks it wrote there, in order.
type FileWrites = BTreeMap<(i32, String), Vec<Chunk>>;

/// One run rebuilt.
#[derive(Debug, Default)]
pub struct Model {
    pub root: i32,
    pub procs: BTreeMap<i32, Proc>,
    pub records: Vec<Record>,
    /// Socket inode → its peer's, from `socketpair` results.
    pub peers: HashMap<u64, u64>,
    /// Why the trace ended (`exited`, `timeout`, a scenario's reason).
    pub finished: String,
    pub roles: Option<Roles>,
    /// The working directory the command started in (the scratch copy).
    pub cwd: String,
    /// Processes of the launcher: started before the root executed the submission's program
    /// for the last time (pyenv's shim runs some forty before it executes Python), and their
    /// descendants. Their pipes are not the submission's channel.
    pub launcher: BTreeSet<i32>,
}

/// Python's helper processes: started by `multiprocessing`, never a role.
const HELPERS: [&str; 2] = [
    "multiprocessing.resource_tracker import main",
    "multiprocessing.forkserver import main",
];

impl Model {
    pub fn build(records: Vec<Record>) -> Model {
        let mut m = Model::default();
        let mut children: HashMap<i32, u32> = HashMap::new();
        for r in &records {
            match &r.event {
                Event::Started { argv, cwd } => {
                    m.root = r.pid;
                    m.cwd = cwd.clone();
                    m.procs.insert(
                        r.pid,
                        Proc {
                            pid: r.pid,
                            argv: argv.clone(),
                            executed: true,
                            ..Proc::default()
                        },
                    );
                }
                Event::Spawned {
                    child,
                    thread: false,
                } => {
                    let parent = m.procs.get(&r.pid).cloned().unwrap_or_default();
                    let n = children.entry(r.pid).or_insert(0);
                    let mut lineage = parent.lineage.clone();
                    lineage.push(*n);
                    *n += 1;
                    m.procs.insert(
                        *child,
                        Proc {
                            pid: *child,
                            parent: Some(r.pid),
                            lineage,
                            argv: parent.argv.clone(),
                            born_us: r.at_us,
                            ..Proc::default()
                        },
                    );
                }
                Event::Exec { argv, .. } => {
                    let p = m.procs.entry(r.pid).or_default();
                    p.pid = r.pid;
                    p.argv = argv.clone();
                    p.executed = true;
                    p.exec_us = r.at_us;
                    let joined = argv.join(" ");
                    p.helper = HELPERS.iter().any(|h| joined.contains(h));
                }
                Event::Exited { status } => {
                    if let Some(p) = m.procs.get_mut(&r.pid) {
                        p.exit = Some((*status, r.at_us));
                    }
                }
                Event::Call(call) => match &call.detail {
                    Detail::Pair {
                        objects: [Object::Socket(a), Object::Socket(b)],
                        ..
                    } => {
                        m.peers.insert(*a, *b);
                        m.peers.insert(*b, *a);
                    }
                    Detail::Wait {
                        reaped: Some(child),
                        ..
                    } => {
                        if let Some(p) = m.procs.get_mut(child) {
                            p.reaped_by = Some((r.pid, r.at_us));
                        }
                    }
                    _ => {}
                },
                Event::Finished { reason } => m.finished = reason.clone(),
                _ => {}
            }
        }
        m.records = records;
        let launched = m.procs.get(&m.root).map_or(0, |p| p.exec_us);
        // In birth order (pids wrap around): a parent is decided before its children.
        let mut born: Vec<&Proc> = m.procs.values().collect();
        born.sort_by_key(|p| p.born_us);
        for p in born {
            let parent_is = p.parent.is_some_and(|pp| m.launcher.contains(&pp));
            if p.pid != m.root && (p.born_us < launched || parent_is) {
                m.launcher.insert(p.pid);
            }
        }
        m.roles = m.find_roles();
        m
    }

    /// The conduit a write on `object` feeds, or a read on `object` drains.
    pub fn conduit(&self, object: &Object, write: bool) -> Option<Conduit> {
        match object {
            Object::Pipe(ino) => Some(Conduit::Pipe(*ino)),
            Object::Fifo(path) => Some(Conduit::Fifo(path.clone())),
            Object::Socket(ino) if write => Some(Conduit::Socket(*ino)),
            Object::Socket(ino) => self.peers.get(ino).map(|p| Conduit::Socket(*p)),
            _ => None,
        }
    }

    pub fn is_helper(&self, pid: i32) -> bool {
        self.procs.get(&pid).is_some_and(|p| p.helper)
    }

    /// The submission's own processes: neither Python's helpers nor the launcher's.
    pub fn program(&self) -> impl Iterator<Item = &Proc> {
        self.procs
            .values()
            .filter(|p| !p.helper && !self.launcher.contains(&p.pid))
    }

    /// Every flow between two processes that are not helpers, best first: most values
    /// decoded, then most writes.
    pub fn flows(&self) -> Vec<Flow> {
        type Key = (Conduit, i32);
        let mut writes: BTreeMap<Key, (i32, Vec<usize>)> = BTreeMap::new();
        let mut reads: BTreeMap<Key, (i32, Vec<u8>, usize)> = BTreeMap::new();
        for r in &self.records {
            let Event::Call(call) = &r.event else {
                continue;
            };
            let Detail::Io {
                fd, object, data, ..
            } = &call.detail
            else {
                continue;
            };
            if call.result <= 0 || self.is_helper(r.pid) || self.launcher.contains(&r.pid) {
                continue;
            }
            let write = call.sys.writes();
            let Some(conduit) = self.conduit(object, write) else {
                continue;
            };
            if write {
                let e = writes.entry((conduit, r.pid)).or_insert((*fd, Vec::new()));
                e.1.push(call.result as usize);
            } else {
                let e = reads
                    .entry((conduit, r.pid))
                    .or_insert((*fd, Vec::new(), 0));
                e.1.extend_from_slice(data);
                e.2 += call.result as usize;
            }
        }
        let mut flows = Vec::new();
        for ((conduit, writer), (write_fd, sizes)) in &writes {
            for ((c2, reader), (read_fd, stream, n)) in &reads {
                if c2 != conduit || reader == writer {
                    continue;
                }
                flows.push(Flow {
                    conduit: conduit.clone(),
                    writer: *writer,
                    reader: *reader,
                    write_fd: *write_fd,
                    read_fd: *read_fd,
                    writes: sizes.len(),
                    decoded: decode(stream, sizes),
                    read_bytes: *n,
                });
            }
        }
        flows.sort_by_key(|f| {
            std::cmp::Reverse((f.decoded.values.len() + f.decoded.end_markers, f.writes))
        });
        flows
    }

    /// `pid` and its ancestors, nearest first.
    pub fn ancestors(&self, pid: i32) -> Vec<i32> {
        let mut out = vec![pid];
        let mut at = pid;
        while let Some(parent) = self.procs.get(&at).and_then(|p| p.parent) {
            if out.contains(&parent) {
                break;
            }
            out.push(parent);
            at = parent;
        }
        out
    }

    /// Main: the nearest common ancestor of the two roles that is not a helper (the
    /// forkserver forks the roles; main is above it), nor a shell that only ran them for its
    /// parent (`system("./prod | ./cons")`: the program that called `system` is main).
    pub fn main_of(&self, producer: i32, consumer: i32) -> Option<i32> {
        let up = self.ancestors(consumer);
        let mut main = self
            .ancestors(producer)
            .into_iter()
            .find(|a| up.contains(a))?;
        let parent = |pid: i32| self.procs.get(&pid).and_then(|p| p.parent);
        while self.is_helper(main) {
            main = parent(main)?;
        }
        while self.is_quiet_shell(main)
            && let Some(p) = parent(main)
            && !self.launcher.contains(&p)
            && !self.is_helper(p)
        {
            main = p;
        }
        Some(main)
    }

    /// A shell (sh, bash, dash…) that wrote to no file: one that only started other programs.
    fn is_quiet_shell(&self, pid: i32) -> bool {
        const SHELLS: [&str; 6] = ["sh", "bash", "dash", "zsh", "ksh", "busybox"];
        let shell = self.procs.get(&pid).is_some_and(|p| {
            p.executed
                && p.argv
                    .first()
                    .is_some_and(|a| SHELLS.contains(&a.rsplit('/').next().unwrap_or(a)))
        });
        let in_folder = |path: &str| {
            path.strip_prefix(self.cwd.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
        };
        shell
            && !self
                .file_writes()
                .keys()
                .any(|(p, path)| *p == pid && in_folder(path))
    }

    /// The producer and consumer: the pair of processes whose flows carried the most values
    /// in all (a producer may spread its values over several pipes), then the most writes.
    fn find_roles(&self) -> Option<Roles> {
        let mut pairs: BTreeMap<(i32, i32), Vec<Flow>> = BTreeMap::new();
        for flow in self.flows() {
            pairs
                .entry((flow.writer, flow.reader))
                .or_default()
                .push(flow);
        }
        let weight = |flows: &Vec<Flow>| {
            flows.iter().fold((0, 0), |(v, w), f| {
                (
                    v + f.decoded.values.len() + f.decoded.end_markers,
                    w + f.writes,
                )
            })
        };
        let ((producer, consumer), mut flows) = pairs
            .into_iter()
            .max_by_key(|(pair, flows)| (weight(flows), std::cmp::Reverse(*pair)))?;
        let main = self.main_of(producer, consumer)?;
        let flow = flows.remove(0);
        let mut decoded = flow.decoded.clone();
        for more in &flows {
            decoded.values.extend(&more.decoded.values);
            decoded.end_markers += more.decoded.end_markers;
            decoded.unknown += more.decoded.unknown;
        }
        Some(Roles {
            producer,
            consumer,
            main,
            flow,
            more: flows,
            decoded,
        })
    }

    /// Every non-helper process of the run.
    pub fn workers(&self) -> impl Iterator<Item = &Proc> {
        self.procs.values().filter(|p| !p.helper)
    }

    /// The bytes each process wrote to each regular file, in order: (pid, path) → chunks
    /// with their times.
    pub fn file_writes(&self) -> FileWrites {
        let mut out = FileWrites::new();
        for r in &self.records {
            if let Event::Call(call) = &r.event
                && call.sys.writes()
                && call.result > 0
                && let Detail::Io {
                    object: Object::File(path),
                    data,
                    ..
                } = &call.detail
            {
                out.entry((r.pid, path.clone())).or_default().push(Chunk {
                    at_us: r.at_us,
                    data: data.clone(),
                    moved: call.result as usize,
                });
            }
        }
        out
    }

    /// The processes in a stop when the trace ended: (pid, stop signal, when it stopped).
    pub fn stopped_at_end(&self) -> Vec<(i32, i32, u64)> {
        self.procs
            .keys()
            .filter_map(|&pid| {
                self.stopped_at(pid, u64::MAX)
                    .map(|(sig, at)| (pid, sig, at))
            })
            .collect()
    }

    /// Whether `pid` was in a stop at `at` (µs): the stop signal and when it took effect.
    pub fn stopped_at(&self, pid: i32, at: u64) -> Option<(i32, u64)> {
        let mut stop = None;
        for r in self
            .records
            .iter()
            .filter(|r| r.pid == pid && r.at_us <= at)
        {
            match r.event {
                Event::Stopped { signal } => stop = Some((signal, r.at_us)),
                Event::Continued => stop = None,
                _ => {}
            }
        }
        stop
    }

    /// How the root ended.
    pub fn root_exit(&self) -> Option<Status> {
        self.procs.get(&self.root).and_then(|p| p.exit.map(|e| e.0))
    }

    /// The root executed nothing: the command could not start.
    pub fn started(&self) -> bool {
        self.records
            .iter()
            .any(|r| r.pid == self.root && matches!(r.event, Event::Exec { .. }))
    }
}
