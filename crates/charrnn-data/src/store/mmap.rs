//! The one place that maps a file into memory (the only `unsafe` of the crate).
#![allow(unsafe_code)]

use std::fs::File;

/// A read-only memory map of a whole file.
#[derive(Debug)]
pub(crate) struct Map(memmap2::Mmap);

impl Map {
    pub(crate) fn new(file: &File) -> std::io::Result<Map> {
        // SAFETY: the map is read-only and the store file is never written in place: builders
        // write a temporary file and rename it over the store, which leaves the mapped inode
        // untouched. A user truncating the file by hand while it is mapped could still make a
        // read fault; that is the documented limit of every memory-mapped format.
        let map = unsafe { memmap2::MmapOptions::new().map(file)? };
        // Training reads windows scattered over the whole store: no read-ahead around them.
        // A hint: failing it is harmless.
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Map(map))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Unmaps the 2 MiB blocks holding `range` from this process (they stay in the page
    /// cache, and the next read maps them again, with the same bytes). The kernel maps whole
    /// page-cache folios on a fault, so reading windows scattered over a store made the
    /// process's resident size grow by about 20 MB a training step, up to the store's size
    /// (measured on a 1 GB store). A hint: failing it changes nothing.
    pub(crate) fn release(&self, range: std::ops::Range<usize>) {
        #[cfg(unix)]
        {
            // Whole 2 MiB blocks: a fault may map a page-cache folio that large.
            const BLOCK: usize = 2 << 20;
            let start = range.start / BLOCK * BLOCK;
            let end = range.end.next_multiple_of(BLOCK).min(self.0.len());
            if end > start {
                // SAFETY: the map is a read-only shared mapping of a file that is never written
                // in place (see `new`): dropping its pages loses nothing, a later read faults
                // them back in from the page cache with the same contents.
                let _ = unsafe {
                    self.0.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        start,
                        end - start,
                    )
                };
            }
        }
        #[cfg(not(unix))]
        let _ = range;
    }
}
