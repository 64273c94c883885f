//! One run, rebuilt from the tracer's records: the process tree, the helpers, the flows of
//! bytes between processes over pipes, socket pairs and FIFOs, the files each process wrote,
//! and — from the best flow — the roles: producer, consumer and main.

use std::collections::{BTreeMap, HashMap};

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
    pub flow: Flow,
}

/// (pid, path) → the chunks it wrote there, with their times (µs).
pub type FileWrites = BTreeMap<(i32, String), Vec<(u64, Vec<u8>)>>;

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
                Event::Started { argv, .. } => {
                    m.root = r.pid;
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
            if call.result <= 0 || self.is_helper(r.pid) {
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
    /// forkserver forks the roles; main is above it).
    pub fn main_of(&self, producer: i32, consumer: i32) -> Option<i32> {
        let up = self.ancestors(consumer);
        let mut main = self
            .ancestors(producer)
            .into_iter()
            .find(|a| up.contains(a))?;
        while self.is_helper(main) {
            main = self.procs.get(&main).and_then(|p| p.parent)?;
        }
        Some(main)
    }

    fn find_roles(&self) -> Option<Roles> {
        let flow = self.flows().into_iter().next()?;
        let main = self.main_of(flow.writer, flow.reader)?;
        Some(Roles {
            producer: flow.writer,
            consumer: flow.reader,
            main,
            flow,
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
                out.entry((r.pid, path.clone()))
                    .or_default()
                    .push((r.at_us, data.clone()));
            }
        }
        out
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
