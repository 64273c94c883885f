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

use memmap2::{Advice, Mmap};

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
    fn an_empty_file_maps_to_no_bytes() {
        let file = tempfile::tempfile().unwrap();
        let map = MappedFile::new(&file).unwrap();
        map.populate(0, 10);
        assert!(map.bytes().is_empty());
    }
}
