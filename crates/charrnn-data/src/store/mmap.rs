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
        Ok(Map(map))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}
