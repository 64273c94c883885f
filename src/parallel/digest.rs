//! Digests of whole files, streamed through one reusable buffer: MD5 (the tutorial's), SHA-1
//! and the SHA-2 family, from the RustCrypto crates (`md-5`, `sha1`, `sha2`; SHA-1 and SHA-2 use
//! the CPU's SHA instructions where it has them).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algo {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// How much of a file one `read(2)` takes: large enough that a big file costs few system calls,
/// small enough to stay in the CPU's L2 cache between the copy and the digest.
pub const READ_SIZE: usize = 256 << 10;

/// Files of at least this many bytes are mapped (`ipc_sys::mapped`) rather than read: the copy
/// `read(2)` makes is then saved, for the cost of a map, one populate call and an unmap — more
/// than the copy of a small file, much less than that of a large one. It is also the size from
/// which a file is alone in its task (`batch::BATCH_BYTES`), so the one hazard of a map (SIGBUS
/// if the file shrinks meanwhile, which kills the worker) can cost no other file.
pub const MAP_MIN: u64 = super::batch::BATCH_BYTES;

/// The digest of everything `file` yields, read through `buf`.
fn digest_read<D: Digest>(file: &mut File, buf: &mut [u8], hex: &mut String) -> io::Result<u64> {
    let mut hasher = D::new();
    let mut size = 0u64;
    loop {
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    push_hex(hex, &hasher.finalize());
    Ok(size)
}

/// The digest of a mapped file, taken piece by piece through an `ipc_sys::mapped::Reader`: the
/// pages are mapped in just ahead of the hashing and let go behind it, so a file of any size
/// costs a bounded resident set.
fn digest_mapped<D: Digest>(file: &File, hex: &mut String) -> io::Result<u64> {
    const PIECE: usize = 1 << 20;
    let map = ipc_sys::mapped::MappedFile::new(file)?;
    let bytes = map.bytes();
    let mut reader = map.reader(0);
    let mut hasher = D::new();
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + PIECE).min(bytes.len());
        reader.advance(at, end - at);
        hasher.update(&bytes[at..end]);
        at = end;
    }
    push_hex(hex, &hasher.finalize());
    Ok(bytes.len() as u64)
}

fn digest_with<D: Digest>(
    file: &mut File,
    len: u64,
    buf: &mut [u8],
    hex: &mut String,
) -> io::Result<u64> {
    if len >= MAP_MIN {
        digest_mapped::<D>(file, hex)
    } else {
        digest_read::<D>(file, buf, hex)
    }
}

/// Appends the lower-case hex of `bytes`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 * bytes.len());
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// Digests the file at `path` through `buf` (which must not be empty), appending the hex digest
/// to `hex`; returns the number of bytes read.
pub fn digest_file(algo: Algo, path: &Path, buf: &mut [u8], hex: &mut String) -> io::Result<u64> {
    let (mut file, meta) = ipc_sys::file::open_regular(path)?;
    let len = meta.len();
    let f = &mut file;
    match algo {
        Algo::Md5 => digest_with::<md5::Md5>(f, len, buf, hex),
        Algo::Sha1 => digest_with::<sha1::Sha1>(f, len, buf, hex),
        Algo::Sha224 => digest_with::<sha2::Sha224>(f, len, buf, hex),
        Algo::Sha256 => digest_with::<sha2::Sha256>(f, len, buf, hex),
        Algo::Sha384 => digest_with::<sha2::Sha384>(f, len, buf, hex),
        Algo::Sha512 => digest_with::<sha2::Sha512>(f, len, buf, hex),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_of_abc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        let mut buf = vec![0u8; 2];
        let cases = [
            (Algo::Md5, "900150983cd24fb0d6963f7d28e17f72"),
            (Algo::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                Algo::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (algo, expected) in cases {
            let mut hex = String::new();
            assert_eq!(digest_file(algo, &path, &mut buf, &mut hex).unwrap(), 3);
            assert_eq!(hex, expected, "{algo:?}");
        }
    }

    #[test]
    fn a_mapped_file_has_the_digest_sha256sum_and_md5sum_give() {
        // 1 MiB of zeros and 3 MB of 'a' (values from sha256sum and md5sum): both at least
        // MAP_MIN, so read through a map, the second across several populate pieces.
        let dir = tempfile::tempdir().unwrap();
        let zeros = dir.path().join("zeros");
        std::fs::write(&zeros, vec![0u8; 1 << 20]).unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, vec![b'a'; 3_000_000]).unwrap();
        assert!(std::fs::metadata(&zeros).unwrap().len() >= MAP_MIN);
        let mut buf = vec![0u8; 4096];
        let mut hex = String::new();
        assert_eq!(
            digest_file(Algo::Sha256, &zeros, &mut buf, &mut hex).unwrap(),
            1 << 20
        );
        assert_eq!(
            hex,
            "30e14955ebf1352266dc2ff8067e68104607e750abb9d3b36582b8af909fcb58"
        );
        hex.clear();
        assert_eq!(
            digest_file(Algo::Md5, &a, &mut buf, &mut hex).unwrap(),
            3_000_000
        );
        assert_eq!(hex, "99ddc9a3a46ea62c95652bdf937a1fb8");
    }
}
