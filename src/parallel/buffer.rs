//! A read buffer that starts on a page boundary. The kernel copies file data from the page
//! cache into it (`read(2)`, `rep movsb`), and that copy runs much faster into an aligned
//! destination: hashing 1 GiB from the page cache took 1.10 s of CPU with the buffer 16 bytes
//! past a page boundary (where the allocator put it) and 0.80 s with it aligned — the copy had
//! been 37% of the profile.

/// Where reads land best: a page.
const ALIGN: usize = 4096;

pub struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` usable bytes (zeroed), starting on a page boundary.
    pub fn new(len: usize) -> AlignedBuf {
        let raw = vec![0u8; len + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuf { raw, start, len }
    }

    pub fn get(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usable_part_starts_on_a_page_and_has_the_length_asked() {
        let mut b = AlignedBuf::new(10_000);
        let s = b.get();
        assert_eq!(s.len(), 10_000);
        assert_eq!(s.as_ptr() as usize % ALIGN, 0);
    }
}
