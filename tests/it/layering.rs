//! The layering rules of ARCHITECTURE.md, checked on the source: each program's folder uses
//! only the system layer (`ipc_sys`, a separate crate that cannot see any program — the
//! compiler enforces that half) and itself. The allowed edges between programs: `parallel` →
//! `task_pool` (parallel is built on the pool, as the tutorial is built on
//! `multiprocessing.Pool`); `grade` → `task_pool` (a class is graded on the pool); `desafio` ⇄
//! `grade` (grade is the Desafio's `grade` subcommand and speaks its two languages). Binaries
//! stay thin.

use std::fs;
use std::path::{Path, PathBuf};

const PROGRAMS: [&str; 7] = [
    "desafio",
    "grade",
    "worker_pool",
    "task_pool",
    "ticket_office",
    "joinable_queue",
    "parallel",
];
const ALLOWED: [(&str, &str); 4] = [
    ("parallel", "task_pool"),
    ("grade", "task_pool"),
    ("grade", "desafio"),
    ("desafio", "grade"),
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn each_program_uses_only_the_system_layer_and_itself() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for program in PROGRAMS {
        for file in rust_files(&src.join(program)) {
            let text = fs::read_to_string(&file).unwrap();
            for other in PROGRAMS.iter().filter(|o| **o != program) {
                let uses = [format!("crate::{other}"), format!("ipc_desafio::{other}")];
                if uses.iter().any(|u| text.contains(u.as_str()))
                    && !ALLOWED.contains(&(program, other))
                {
                    violations.push(format!("{} uses {other}", file.display()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_system_layer_names_no_program() {
    let sys = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/ipc_sys/src");
    for file in rust_files(&sys) {
        let text = fs::read_to_string(&file).unwrap();
        assert!(!text.contains("ipc_desafio::"), "{}", file.display());
        for program in PROGRAMS {
            assert!(
                !text.contains(&format!("crate::{program}")),
                "{} names {program}",
                file.display()
            );
        }
    }
}

/// The binaries only hand over to their program's `main`: the work lives in `src/<program>/`,
/// where the layering above is checked.
#[test]
fn binaries_stay_thin() {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin");
    for file in rust_files(&bin).into_iter().chain([bin.join("../main.rs")]) {
        let lines = fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines <= 15, "{} has {lines} lines", file.display());
    }
}
