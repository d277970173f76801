//! How libtorch's CPU tensors get their memory. libtorch takes it from the C library's
//! `malloc` and gives it back on every tensor's release. glibc's `malloc` serves large blocks
//! with `mmap` and returns them with `munmap` on `free`. A training step allocates and frees
//! the same large activations every time, so each step pays to map, fault in and zero pages
//! again: perf showed a third of a CPU training run in the kernel, mostly page faults.
//! [`tune_host_memory`] makes `malloc` keep more of what it frees for reuse.
//!
//! The C library's allocator parameters are set through `mallopt`. That is this module's only
//! `unsafe`.
#![allow(unsafe_code)]

/// How much freed memory the C library's `malloc` keeps for reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostMemory {
    /// Blocks up to 32 MiB come from `malloc`'s heaps (glibc's own threshold starts at
    /// 128 KiB), and up to 1 GiB of freed memory stays at the heap's top. Larger blocks are
    /// still mapped one by one and returned when freed, so peak memory does not grow. CPU
    /// training of the benchmark's configurations is about 5-10 % faster.
    Reuse,
    /// Every block comes from the heaps and nothing freed is returned (up to 1 GiB at the
    /// top). CPU training of an LSTM 128 at batch 256 ran 1.5-1.8× faster here, but blocks of
    /// varying sizes fragment the heap: peak memory was up to twice as high (3.5-4.0 GiB
    /// against 1.8 GiB for two LSTM layers of 512 at batch 256).
    KeepAll,
}

/// Sets `malloc`'s parameters for `how`; call it early, from a program's `main` (it affects
/// every later allocation of the process), or again to change mode. It does nothing, and
/// returns `false`, when the user set `malloc`'s parameters themselves (`MALLOC_MMAP_MAX_`,
/// `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_TOP_PAD_`, or
/// `GLIBC_TUNABLES`), or off Linux with glibc. Returns whether the parameters are now set.
pub fn tune_host_memory(how: HostMemory) -> bool {
    user_left_malloc_alone() && set_parameters(how)
}

/// Whether the user left `malloc`'s parameters alone (none of its environment variables set).
fn user_left_malloc_alone() -> bool {
    ![
        "MALLOC_MMAP_MAX_",
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_TOP_PAD_",
        "GLIBC_TUNABLES",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    /// glibc's `mallopt` parameters (`<malloc.h>`).
    pub(super) const M_TRIM_THRESHOLD: c_int = -1;
    pub(super) const M_TOP_PAD: c_int = -2;
    pub(super) const M_MMAP_THRESHOLD: c_int = -3;
    pub(super) const M_MMAP_MAX: c_int = -4;
    /// glibc's default `M_MMAP_MAX`.
    pub(super) const DEFAULT_MMAP_MAX: c_int = 65536;

    unsafe extern "C" {
        /// Sets one of `malloc`'s parameters; returns 1 on success, 0 on error.
        pub(super) fn mallopt(param: c_int, value: c_int) -> c_int;
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_parameters(how: HostMemory) -> bool {
    use glibc::{
        DEFAULT_MMAP_MAX, M_MMAP_MAX, M_MMAP_THRESHOLD, M_TOP_PAD, M_TRIM_THRESHOLD, mallopt,
    };
    const MIB: i32 = 1 << 20;
    let mmap_max = match how {
        HostMemory::Reuse => DEFAULT_MMAP_MAX,
        HostMemory::KeepAll => 0,
    };
    [
        // 32 MiB is the largest threshold glibc accepts on 64-bit systems.
        (M_MMAP_THRESHOLD, 32 * MIB),
        (M_MMAP_MAX, mmap_max),
        (M_TRIM_THRESHOLD, 1024 * MIB),
        (M_TOP_PAD, 64 * MIB),
    ]
    .into_iter()
    // SAFETY: `mallopt` only changes the allocator's tuning parameters, under glibc's own
    // lock; these values are within the ranges it accepts, and blocks already handed out
    // are unaffected.
    .all(|(param, value)| unsafe { mallopt(param, value) } == 1)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_parameters(_how: HostMemory) -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// glibc's `struct mallinfo2` (`<malloc.h>`, glibc 2.33 and later).
    #[repr(C)]
    #[derive(Default)]
    struct MallInfo2 {
        arena: usize,
        ordblks: usize,
        smblks: usize,
        hblks: usize,
        hblkhd: usize,
        usmblks: usize,
        fsmblks: usize,
        uordblks: usize,
        fordblks: usize,
        keepcost: usize,
    }

    unsafe extern "C" {
        fn mallinfo2() -> MallInfo2;
        fn malloc(size: usize) -> *mut u8;
        fn free(ptr: *mut u8);
    }

    /// Bytes now in blocks that `malloc` mapped one by one.
    fn mapped_bytes() -> usize {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        unsafe { mallinfo2() }.hblkhd
    }

    /// Whether a block of `size` bytes, while it is held, is one `malloc` mapped by itself.
    fn is_mapped_alone(size: usize) -> bool {
        let before = mapped_bytes();
        // SAFETY: a plain allocation of `size` bytes, freed below and never read.
        let block = unsafe { malloc(size) };
        assert!(!block.is_null());
        let during = mapped_bytes();
        // SAFETY: `block` came from malloc above and is freed once.
        unsafe { free(block) };
        during >= before + size
    }

    #[test]
    fn each_mode_serves_the_blocks_it_says_from_the_heap() {
        use super::{HostMemory, set_parameters, user_left_malloc_alone};
        // 40 MiB: above the most glibc's mmap threshold grows to by itself (32 MiB), and
        // below a thread arena's heap (64 MiB), so the answers hold on the test's own thread
        // too; 1 MiB: above glibc's initial threshold (128 KiB). No other test of this crate
        // sets the parameters.
        const BIG: usize = 40 << 20;
        const MID: usize = 1 << 20;
        if !user_left_malloc_alone() {
            eprintln!("skipped: malloc's parameters are set in the environment");
            return;
        }
        let check = |size: usize, mapped: bool, what: &str| {
            assert_eq!(is_mapped_alone(size), mapped, "{what}");
        };
        check(BIG, true, "by default a 40 MiB block is mapped by itself");
        assert!(set_parameters(HostMemory::Reuse));
        check(MID, false, "Reuse: a 1 MiB block comes from the heap");
        check(BIG, true, "Reuse: a 40 MiB block is still mapped by itself");
        assert!(set_parameters(HostMemory::KeepAll));
        check(BIG, false, "KeepAll: a 40 MiB block comes from the heap");
    }
}
