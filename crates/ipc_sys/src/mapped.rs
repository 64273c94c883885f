//! Read-only maps of regular files, for programs that read a large file once from the page
//! cache: the bytes are used where the kernel already holds them instead of being copied into a
//! buffer by `read(2)` (the copy was a third of `parallel scan-logs`' CPU time, and ripgrep maps
//! a large file for the same reason). Built on `memmap2`.
//!
//! The one hazard of a map: if another process truncates the file while it is mapped, touching
//! a page past the new end raises SIGBUS, which kills the process. Callers map only files that
//! are alone in what a crash would lose (one pool task), so such a race costs that file — reported
//! as its worker killed by SIGBUS — never a wrong result.

use std::fs::File;
use std::io;

use memmap2::{Advice, Mmap, UncheckedAdvice};

/// How far ahead of a `Reader` its pages are mapped in, one populate call at a time.
const AHEAD: usize = 2 << 20;
/// How far behind a `Reader` its pages stay mapped before they are let go.
const BEHIND: usize = 2 << 20;
const PAGE: usize = 4096;

pub struct MappedFile {
    map: Mmap,
}

impl MappedFile {
    /// Maps the whole of `file` (a regular file) read-only, as it is now. Nothing is read yet:
    /// see `populate`.
    pub fn new(file: &File) -> io::Result<MappedFile> {
        // SAFETY: the map is private and read-only, so nothing in this process can write
        // through it, and `bytes` hands out only shared borrows tied to `self`. Another process
        // may still change the file under us: its bytes then change under the borrow (we read
        // whatever is there, as `read(2)` would have at some instant), or, if the file shrinks,
        // a touch past its new end raises SIGBUS (see the module's comment) — never undefined
        // behaviour in this process's own memory.
        let map = unsafe { Mmap::map(file)? };
        Ok(MappedFile { map })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Maps in, in one call, the pages of `bytes()[start..end]` that the page cache holds (and
    /// reads the others from disk): one system call instead of a page fault every 16 pages.
    /// Only advice: if the kernel refuses it (before Linux 5.14), the pages fault in as used.
    pub fn populate(&self, start: usize, end: usize) {
        let end = end.min(self.map.len());
        if start < end {
            let _ = self
                .map
                .advise_range(Advice::PopulateRead, start, end - start);
        }
    }

    /// Lets go of the pages of `bytes()[start..end]` (whole pages inside it): the page cache
    /// keeps them, only this process stops mapping them, so they leave its resident set; a
    /// later read maps them in again. Only advice, like `populate`.
    fn discard(&self, start: usize, end: usize) {
        let start = start.next_multiple_of(PAGE);
        let end = end.min(self.map.len()) / PAGE * PAGE;
        if start < end {
            // SAFETY: MADV_DONTNEED on a private, read-only file mapping only removes this
            // process's page-table entries: nothing was ever written through the map, so nothing
            // is lost, and the next access reads the file's same bytes back in. No reference into
            // the range is invalidated (the addresses stay mapped).
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }

    /// A reader that goes through the map front to back from `start` with bounded residency.
    pub fn reader(&self, start: usize) -> Reader<'_> {
        Reader {
            map: self,
            mapped: start,
            kept: start,
        }
    }
}

/// Walks a map front to back keeping only a bounded stretch of it resident: the pages just ahead
/// are mapped in by one populate call per `AHEAD` bytes (instead of a page fault every 16 pages),
/// and those more than `BEHIND` bytes back are let go (`discard`). A process reading a file of
/// any size this way holds about `AHEAD + BEHIND` of it at most.
pub struct Reader<'a> {
    map: &'a MappedFile,
    /// Populated up to here.
    mapped: usize,
    /// Discarded up to here.
    kept: usize,
}

impl Reader<'_> {
    /// The caller is about to read `bytes()[at..at + len]` and is done with everything before
    /// `at`.
    pub fn advance(&mut self, at: usize, len: usize) {
        let end = self.map.bytes().len();
        if self.mapped < end && at + len > self.mapped {
            let to = (at + len).max(at + AHEAD).min(end);
            self.map.populate(self.mapped.max(at), to);
            self.mapped = to;
        }
        if at >= self.kept + BEHIND {
            self.map.discard(self.kept, at);
            self.kept = at / PAGE * PAGE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_mapped_file_shows_the_bytes_written_to_it() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&data).unwrap();
        let map = MappedFile::new(&file).unwrap();
        map.populate(0, usize::MAX);
        map.populate(5000, 10);
        assert_eq!(map.bytes(), &data[..]);
    }

    #[test]
    fn a_reader_keeps_only_a_bounded_stretch_of_a_large_file_resident() {
        let mut file = tempfile::tempfile().unwrap();
        file.set_len(64 << 20).unwrap();
        file.write_all(b"start").unwrap();
        let map = MappedFile::new(&file).unwrap();
        let resident = || {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let kib: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap();
            kib
        };
        let before = resident();
        let mut reader = map.reader(0);
        let mut sum = 0u64;
        for at in (0..64 << 20).step_by(1 << 20) {
            reader.advance(at, 1 << 20);
            sum += map.bytes()[at..at + (1 << 20)]
                .iter()
                .map(|&b| u64::from(b))
                .sum::<u64>();
        }
        assert_eq!(sum, b"start".iter().map(|&b| u64::from(b)).sum::<u64>());
        // At most AHEAD + BEHIND (4 MiB) and a read, with room for the test's own pages.
        let grown = resident().saturating_sub(before);
        assert!(
            grown < 20 << 10,
            "{grown} KiB of a 64 MiB file still mapped"
        );
    }

    #[test]
    fn an_empty_file_maps_to_no_bytes() {
        let file = tempfile::tempfile().unwrap();
        let map = MappedFile::new(&file).unwrap();
        map.populate(0, 10);
        assert!(map.bytes().is_empty());
    }
}
