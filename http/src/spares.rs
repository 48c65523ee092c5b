//! Free lists: a loop keeps the buffers a finished request used, for the next request.
//!
//! CPython does this for its commonest objects: a freed list, tuple, float or frame goes
//! onto a per-type free list (a few dozen to a few thousand entries), and the next one of
//! that type is taken from there instead of from the allocator. A request served by rasgi
//! needs a few short-lived buffers — the list of response headers, the JSON body, the
//! request's copy of its scope — and the loop serves the same shapes over and over, so the
//! same trick removes a `malloc` and a `free` per buffer per request.
//!
//! A [`Spares`] is a bounded stack of such buffers, one per loop thread (each lives in a
//! `thread_local!`, and a loop is one thread, so there is no lock and no contention). Two
//! bounds keep it from hoarding memory: it holds at most `keep` buffers, and a buffer
//! that grew past what its owner considers "small" is freed instead of kept (the check is
//! the caller's, since only it knows what small means for its type).
//!
//! The alternative would be a per-connection arena; but a buffer often outlives its
//! connection's turn (a response's headers move from the app into the server), and a
//! free list does not care which connection gives a buffer back.
//!
//! The header lists the server is handed in `SendEvent::Start` come back here once the
//! head is written: [`header_list`] is where an application gets one.

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::asgi::Header;

/// A bounded stack of spare buffers for one thread.
pub struct Spares<T> {
    /// The spares, most recently returned last (still warm in the cache). Never longer
    /// than `keep`.
    items: RefCell<Vec<T>>,
    /// The most spares kept; beyond that, returned buffers are freed.
    keep: usize,
}

impl<T> Spares<T> {
    /// An empty free list keeping at most `keep` spares. `const`, for `thread_local!`.
    pub const fn new(keep: usize) -> Spares<T> {
        Spares { items: RefCell::new(Vec::new()), keep }
    }

    /// A spare, if there is one.
    pub fn take(&self) -> Option<T> {
        self.items.borrow_mut().pop()
    }

    /// Keeps `item` for a later [`take`](Spares::take), or frees it when the list is full.
    /// The caller has already emptied it.
    pub fn give(&self, item: T) {
        let mut items = self.items.borrow_mut();
        if items.len() < self.keep {
            items.push(item);
        }
    }

    /// How many spares are kept now.
    pub fn len(&self) -> usize {
        self.items.borrow().len()
    }

    /// True when no spare is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A spare from the free list `spares`, one of this thread's `thread_local!`s; `None` when
/// it is empty (or the thread is exiting and its thread-locals are gone).
pub fn take<T>(spares: &'static LocalKey<Spares<T>>) -> Option<T> {
    spares.try_with(Spares::take).ok().flatten()
}

/// Gives `item` to the free list `spares`, one of this thread's `thread_local!`s. While the
/// thread exits, its thread-locals are gone and `item` is simply freed.
pub fn give<T>(spares: &'static LocalKey<Spares<T>>, item: T) {
    let _ = spares.try_with(|spares| spares.give(item));
}

/// A header list with room for this many fields is worth keeping; a longer one is freed.
const SMALL_HEADER_LIST: usize = 16;

thread_local! {
    /// Header lists the server has written out, emptied.
    static HEADER_LISTS: Spares<Vec<Header>> = const { Spares::new(256) };
}

/// An empty header list for a response, reusing one the server has finished with when
/// there is one: the allocation-free way to build `SendEvent::Start`'s headers.
pub fn header_list() -> Vec<Header> {
    take(&HEADER_LISTS).unwrap_or_default()
}

/// Gives back a header list once its fields are written: emptied (which drops any owned
/// names and values) and kept for [`header_list`], unless it is large.
pub fn recycle_header_list(mut headers: Vec<Header>) {
    if headers.capacity() == 0 || headers.capacity() > SMALL_HEADER_LIST {
        return;
    }
    headers.clear();
    give(&HEADER_LISTS, headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_its_bound_and_hands_back_the_latest() {
        let spares = Spares::new(2);
        assert!(spares.is_empty());
        spares.give(vec![1u8]);
        spares.give(vec![2u8]);
        spares.give(vec![3u8]);
        assert_eq!(spares.len(), 2);
        assert_eq!(spares.take(), Some(vec![2u8]));
        assert_eq!(spares.take(), Some(vec![1u8]));
        assert_eq!(spares.take(), None);
    }

    #[test]
    fn a_recycled_header_list_comes_back_empty_with_its_room() {
        let mut headers = header_list();
        headers.push(crate::header("content-type", "text/plain"));
        headers.push(crate::header("x-request-id", String::from("abc")));
        let room = headers.capacity();
        let pointer = headers.as_ptr();
        recycle_header_list(headers);
        let again = header_list();
        assert!(again.is_empty());
        assert_eq!((again.capacity(), again.as_ptr()), (room, pointer));
    }

    #[test]
    fn a_large_header_list_is_freed_not_kept() {
        while HEADER_LISTS.with(|s| s.take()).is_some() {}
        recycle_header_list(Vec::with_capacity(SMALL_HEADER_LIST + 1));
        recycle_header_list(Vec::new());
        assert_eq!(HEADER_LISTS.with(Spares::len), 0);
    }
}
