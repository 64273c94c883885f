//! Link options that Cargo cannot express in the manifest.
//!
//! `ipc_desafio` is linked as a position-dependent executable (`-no-pie`). Its default run is
//! mostly the start of three processes, and a position-independent executable of its size
//! carries about 9,000 relative relocations that the dynamic loader applies at every start,
//! writing to (and so copying) some fifty pages of relocated data: measured on the default
//! 12-value run, 326 → 272 page faults and about a tenth of the CPU time (benches/README.md,
//! issue 21). The price: the executable's own code and data sit at fixed addresses (the
//! libraries, heap, stack and mappings are still randomised). The other binaries keep the
//! default: their start is not what they are measured by.
fn main() {
    println!("cargo:rustc-link-arg-bin=ipc_desafio=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
