//! Shared, cheaply clonable byte storage for constant tensor data.
//!
//! A model read from a file borrows its weights from one memory map (or one owned buffer) instead of
//! copying each tensor: [`Bytes`] is a reference-counted handle plus a byte range.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Where the bytes of a [`Bytes`] live.
enum Backing {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Backing {
    fn as_slice(&self) -> &[u8] {
        match self {
            Backing::Owned(v) => v,
            Backing::Mapped(m) => m,
        }
    }
}

/// An immutable, shareable byte slice (owned or memory-mapped).
#[derive(Clone)]
pub struct Bytes {
    backing: Arc<Backing>,
    range: Range<usize>,
}

impl Bytes {
    /// Wraps an owned vector.
    pub fn from_vec(v: Vec<u8>) -> Self {
        let len = v.len();
        Bytes {
            backing: Arc::new(Backing::Owned(v)),
            range: 0..len,
        }
    }

    /// Wraps a read-only memory map.
    pub fn from_mmap(m: memmap2::Mmap) -> Self {
        let len = m.len();
        Bytes {
            backing: Arc::new(Backing::Mapped(m)),
            range: 0..len,
        }
    }

    /// A sub-range sharing the same storage, or `None` when `range` is outside `self`.
    pub fn slice(&self, range: Range<usize>) -> Option<Bytes> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        Some(Bytes {
            backing: Arc::clone(&self.backing),
            range: self.range.start + range.start..self.range.start + range.end,
        })
    }

    /// True when both handles view the same bytes of the same storage (no content comparison).
    pub fn same_storage(&self, other: &Bytes) -> bool {
        Arc::ptr_eq(&self.backing, &other.backing) && self.range == other.range
    }

    /// True when both handles view (possibly different ranges of) the same storage.
    pub fn same_backing(&self, other: &Bytes) -> bool {
        Arc::ptr_eq(&self.backing, &other.backing)
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.range.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.backing.as_slice()[self.range.clone()]
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Self) -> bool {
        self.same_storage(other) || **self == **other
    }
}

impl Eq for Bytes {}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from_vec(v)
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_storage_and_compare_by_content() {
        let b = Bytes::from_vec((0u8..10).collect());
        let s = b.slice(2..5).unwrap();
        assert_eq!(&*s, &[2, 3, 4]);
        assert!(s.same_storage(&b.slice(2..5).unwrap()));
        assert_eq!(s, Bytes::from_vec(vec![2, 3, 4]));
        assert!(b.slice(8..11).is_none());
        assert!(s.slice(0..4).is_none());
    }
}
