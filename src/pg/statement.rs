//! Prepared statements and their per-connection cache — asyncpg's `PreparedStatement` and its
//! `_StatementCache` (an LRU of `statement_cache_size` entries, 100 by default).
//!
//! Preparing a statement (Parse + Describe + Sync) costs a round trip and tells us two things
//! every later execution needs: the parameter types (so values are encoded as the server
//! expects) and the result columns (so we can ask for each in the best format). The cache maps
//! the SQL text to that knowledge and to the server-side statement name, so a repeated query
//! is one round trip: Bind + Execute + Sync.
//!
//! The cache can go stale behind our back. After `ALTER TABLE` the server re-plans a cached
//! statement, and if its result columns changed it refuses to run it (SQLSTATE 0A000, "cached
//! plan must not change result type"); after `DISCARD ALL` the statement is simply gone (26000).
//! The connection then evicts the entry and prepares again (see `conn.rs`).
//!
//! LRU here is a "last used" counter per entry and a linear scan for the oldest on eviction:
//! O(capacity) once per *miss* on a full cache, which for 100 entries is less work than the
//! round trip the miss costs anyway; a linked hash map would make it O(1) at the cost of code.

use std::collections::HashMap;
use std::rc::Rc;

use crate::pg::row::Column;
use crate::pg::types::Type;

/// A statement prepared on the server.
#[derive(Debug)]
pub(crate) struct Statement {
    /// The server-side name (`rasgi_s7`), or `""` for the unnamed statement used when the
    /// cache is off.
    pub(crate) name: String,
    /// The type of each `$n` parameter, as the server inferred them.
    pub(crate) param_types: Vec<Type>,
    /// The result columns (empty for statements that return no rows).
    pub(crate) columns: Rc<[Column]>,
}

/// One cached statement.
struct Entry {
    statement: Rc<Statement>,
    /// The cache's clock at the last hit; the smallest is the least recently used.
    last_used: u64,
}

/// SQL text → prepared statement, at most `capacity` entries.
pub(crate) struct StatementCache {
    /// The most entries kept; 0 means the cache is off.
    capacity: usize,
    /// The entries.
    entries: HashMap<Box<str>, Entry>,
    /// Ticks once per lookup; gives every use a distinct, increasing stamp.
    clock: u64,
}

impl StatementCache {
    pub(crate) fn new(capacity: usize) -> StatementCache {
        StatementCache { capacity, entries: HashMap::with_capacity(capacity.min(128)), clock: 0 }
    }

    /// True when statements are cached at all.
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Looks `sql` up, marking it as just used.
    pub(crate) fn get(&mut self, sql: &str) -> Option<Rc<Statement>> {
        self.clock += 1;
        let entry = self.entries.get_mut(sql)?;
        entry.last_used = self.clock;
        Some(entry.statement.clone())
    }

    /// Adds a freshly prepared statement; returns the one evicted to make room, which the
    /// caller must Close on the server.
    pub(crate) fn insert(&mut self, sql: &str, statement: Rc<Statement>) -> Option<Rc<Statement>> {
        let mut evicted = None;
        if self.entries.len() >= self.capacity {
            let oldest = self.entries.iter().min_by_key(|(_, e)| e.last_used).map(|(sql, _)| sql.clone());
            if let Some(oldest) = oldest {
                evicted = self.entries.remove(&oldest).map(|e| e.statement);
            }
        }
        self.clock += 1;
        self.entries.insert(sql.into(), Entry { statement, last_used: self.clock });
        evicted
    }

    /// Forgets `sql` (its statement went stale); returns it so it can be closed.
    pub(crate) fn remove(&mut self, sql: &str) -> Option<Rc<Statement>> {
        self.entries.remove(sql).map(|e| e.statement)
    }

    /// Number of cached statements.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(name: &str) -> Rc<Statement> {
        Rc::new(Statement { name: name.to_string(), param_types: vec![], columns: Rc::from(vec![]) })
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut cache = StatementCache::new(2);
        assert!(cache.insert("a", statement("s1")).is_none());
        assert!(cache.insert("b", statement("s2")).is_none());
        assert!(cache.get("a").is_some()); // "b" is now the oldest
        let evicted = cache.insert("c", statement("s3")).unwrap();
        assert_eq!(evicted.name, "s2");
        assert!(cache.get("b").is_none());
        assert_eq!(cache.len(), 2);
    }
}
