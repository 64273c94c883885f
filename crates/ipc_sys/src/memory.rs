//! What a process's memory use was, from the kernel's own accounting (/proc), and the small
//! /proc readers the rest of the layer shares.

/// This process's peak resident set since it started *this program*, in KiB: `VmHWM` from
/// `/proc/self/status`, which starts afresh at `exec`. (`getrusage`'s `ru_maxrss` survives
/// `exec`, so under `cargo run` it would report cargo's own peak.) 0 if /proc cannot say.
pub fn own_peak_rss_kib() -> u64 {
    read_proc("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A small /proc file, read with one `read(2)` into a fixed buffer: /proc files report a size
/// of 0, so `read_to_string` would read them in a series of growing chunks.
pub fn read_proc(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    let n = std::fs::File::open(path)?.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Field `n` of a /proc/PID/stat line, numbered as in proc(5) (1 is the pid, 4 the parent's
/// pid), for `n` ≥ 3: counted after the command name, which is in parentheses and may itself
/// hold spaces and parentheses.
pub fn stat_field(stat: &str, n: usize) -> Option<&str> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(n.checked_sub(3)?)
}

/// `/proc/PID/stat` of a process, or `None` once it is gone (read with `read_proc`; fields
/// through `stat_field`).
pub fn read_stat(pid: i32) -> Option<String> {
    read_proc(&format!("/proc/{pid}/stat")).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "42 (a (b) c) S 7 42 42 0 -1";
        assert_eq!(super::stat_field(stat, 3), Some("S"));
        assert_eq!(super::stat_field(stat, 4), Some("7"));
        assert_eq!(super::stat_field(stat, 2), None);
    }

    #[test]
    fn the_peak_is_known_and_plausible() {
        let kib = super::own_peak_rss_kib();
        assert!(kib > 100 && kib < 16 << 20, "{kib} KiB");
    }
}
