//! The seccomp filter that makes only the calls the tracer decodes stop (`SECCOMP_RET_TRACE`)
//! and lets every other one run unseen (`SECCOMP_RET_ALLOW`), as `strace --seccomp-bpf` does.
//! The traced root installs it just before it executes the command; every descendant inherits
//! it. Without it, every call of every process stops twice (entry and exit): a launcher such as
//! pyenv's shim makes some nine thousand calls before Python starts.
//!
//! The program is built by hand (a dozen lines) rather than with `seccompiler`: that crate ends
//! every filter with an architecture check that kills the process on a mismatch, where a
//! tracer must let a 32-bit call through to be seen (and noted), not kill the submission.
//!
//! ```text
//!   A = arch;  if A != native       → TRACE   (another ABI: the tracer notes it)
//!   A = nr;    if A >= 0x40000000   → TRACE   (x32 numbers on x86_64)
//!              if A == nr₁ … nrₙ    → TRACE
//!   ALLOW
//! ```

use super::syscalls::Sys;

/// `offsetof(struct seccomp_data, nr)` and `arch`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
/// x32 system calls on x86_64 carry this bit in their number.
const X32_BIT: u32 = 0x4000_0000;
/// Numbers above every call of both architectures (x86_64 ends near 470, aarch64 the same).
const MAX_NR: u64 = 1024;

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// The numbers of the calls that stop: every call `Sys` names (the tracer decodes it, or
/// reports its failure as a sandbox's refusal), and `restart_syscall` (a timed wait going on
/// after a stop or an ignored signal interrupted it: the same call, continued).
fn traced_numbers() -> Vec<u32> {
    (0..MAX_NR)
        .filter(|&nr| {
            !matches!(Sys::from_nr(nr), Sys::Other(_)) || nr == libc::SYS_restart_syscall as u64
        })
        .map(|nr| nr as u32)
        .collect()
}

/// The filter program for the native architecture `arch` (an `AUDIT_ARCH_*` value).
pub fn program(arch: u32) -> Vec<libc::sock_filter> {
    let numbers = traced_numbers();
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let jge = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    // Layout: 0 ld arch, 1 jeq arch, 2 ld nr, 3 jge x32, 4.. one jeq per number, then ALLOW,
    // then TRACE. A jump's offset counts the instructions it skips.
    let n = numbers.len();
    let allow_at = 4 + n;
    let trace_at = allow_at + 1;
    let to_trace = |from: usize| (trace_at - from - 1) as u8;
    let mut p = Vec::with_capacity(trace_at + 1);
    p.push(stmt(ld, DATA_ARCH));
    p.push(jump(jeq, arch, 0, to_trace(1)));
    p.push(stmt(ld, DATA_NR));
    p.push(jump(jge, X32_BIT, to_trace(3), 0));
    for (i, nr) in numbers.iter().enumerate() {
        p.push(jump(jeq, *nr, to_trace(4 + i), 0));
    }
    p.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    p.push(stmt(ret, libc::SECCOMP_RET_TRACE));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one (arch, nr) as the kernel would (the few opcodes it uses).
    fn run(p: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = p[pc];
            let code = u32::from(i.code);
            if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS {
                a = if i.k == DATA_ARCH { arch } else { nr };
            } else if code == libc::BPF_RET | libc::BPF_K {
                return i.k;
            } else {
                let taken = if code == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K {
                    a == i.k
                } else {
                    a >= i.k
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            pc += 1;
        }
    }

    const NATIVE: u32 = 0xC000_003E;

    #[test]
    fn decoded_calls_stop_and_the_others_run() {
        let p = program(NATIVE);
        assert!(p.len() < 255, "every jump must fit in a byte: {}", p.len());
        let trace = libc::SECCOMP_RET_TRACE;
        let allow = libc::SECCOMP_RET_ALLOW;
        for nr in [
            libc::SYS_write,
            libc::SYS_read,
            libc::SYS_ppoll,
            libc::SYS_flock,
        ] {
            assert_eq!(run(&p, NATIVE, nr as u32), trace, "{nr}");
        }
        for nr in [
            libc::SYS_mmap,
            libc::SYS_brk,
            libc::SYS_getpid,
            libc::SYS_lseek,
        ] {
            assert_eq!(run(&p, NATIVE, nr as u32), allow, "{nr}");
        }
        assert_eq!(run(&p, NATIVE, libc::SYS_restart_syscall as u32), trace);
        assert_eq!(run(&p, 0x4000_0003, 3), trace, "a 32-bit call is seen");
        assert_eq!(run(&p, NATIVE, X32_BIT | 1), trace, "an x32 call is seen");
    }
}
