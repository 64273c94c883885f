//! What the kernel says about a running process, from `/proc/<pid>/stat`: its parent, CPU time
//! and resident memory — what the tutorial reads through `psutil` (`memory_info().rss`,
//! `cpu_percent()`).

use std::fs;

use ipc_sys::memory::stat_field;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub ppid: i32,
    /// User + system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size, in bytes.
    pub rss_bytes: u64,
}

/// Parses `/proc/<pid>/stat` (fields numbered as in proc(5), through the system layer's one
/// reader: the command name may hold spaces and parentheses).
fn parse_stat(pid: i32, text: &str) -> Option<Stat> {
    let field = |n: usize| stat_field(text, n)?.parse::<u64>().ok();
    Some(Stat {
        pid,
        ppid: i32::try_from(field(4)?).ok()?,
        cpu_ticks: field(14)? + field(15)?,
        rss_bytes: field(24)? * page_size(),
    })
}

pub fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(pid, &ipc_sys::memory::read_stat(pid)?)
}

/// Every process whose parent is `parent` (this kernel may lack
/// `/proc/<pid>/task/<tid>/children`, so every process's parent is read).
pub fn children_of(parent: i32) -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<Stat> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_stat)
        .filter(|s| s.ppid == parent)
        .collect();
    found.sort_by_key(|s| s.pid);
    found
}

/// Whether our child `pid` has ended: a zombie waiting to be reaped, or gone.
pub fn has_ended(pid: i32) -> bool {
    ipc_sys::memory::read_stat(pid).is_none_or(|stat| stat_field(&stat, 3) == Some("Z"))
}

pub fn page_size() -> u64 {
    sysconf(nix::unistd::SysconfVar::PAGE_SIZE).unwrap_or(4096)
}

pub fn ticks_per_second() -> u64 {
    sysconf(nix::unistd::SysconfVar::CLK_TCK).unwrap_or(100)
}

fn sysconf(var: nix::unistd::SysconfVar) -> Option<u64> {
    let n = nix::unistd::sysconf(var).ok().flatten()?;
    u64::try_from(n).ok().filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let text = "42 (a) b (c) S 7 42 42 0 -1 4194560 100 0 0 0 30 12 0 0 20 0 1 0 \
                    1000 10000000 256 18446744073709551615";
        let s = parse_stat(42, text).unwrap();
        assert_eq!(
            (s.ppid, s.cpu_ticks, s.rss_bytes),
            (7, 42, 256 * page_size())
        );
    }

    #[test]
    fn this_process_can_be_read() {
        let me = std::process::id() as i32;
        let s = read_stat(me).unwrap();
        assert!(s.rss_bytes > 0 && s.ppid > 0);
    }
}
