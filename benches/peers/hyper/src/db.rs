//! The database side of the peer: a fixed set of tokio-postgres connections used round-robin.
//!
//! tokio-postgres sends a query as soon as its future is first polled and matches replies to
//! requests in order, so queries issued concurrently on one connection are *pipelined*: N
//! SELECTs cost one round trip's latency plus N server executions. `/queries` and `/updates`
//! therefore create every query future first and then await them together (`try_join_all`).
//! asyncpg cannot do this (one operation at a time per connection), which is part of what the
//! database rows of the comparison show.
//!
//! Statements are prepared once per connection at start-up, as TechEmpower permits; the cached
//! `Statement` saves a Parse/Describe round on every request.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::try_join_all;
use serde::Serialize;
use tokio_postgres::{Client, NoTls, Statement};

use crate::rng;

/// One row of `World`, serialized as TechEmpower expects (`randomNumber`, camel case).
#[derive(Serialize)]
pub struct World {
    pub id: i32,
    #[serde(rename = "randomNumber")]
    pub random_number: i32,
}

/// One row of `Fortune`.
pub struct Fortune {
    pub id: i32,
    pub message: String,
}

/// A connection with its prepared statements.
struct Connection {
    client: Client,
    /// `SELECT id, randomnumber FROM world WHERE id = $1`
    select_world: Statement,
    /// `SELECT id, message FROM fortune`
    select_fortunes: Statement,
    /// `UPDATE world SET randomnumber = $1 WHERE id = $2`
    update_world: Statement,
}

/// The fixed set of connections. `next` only ever grows; `next % len` picks the connection.
pub struct Db {
    connections: Vec<Connection>,
    next: AtomicUsize,
}

impl Db {
    /// Opens `count` connections (at least one) and prepares the statements on each.
    pub async fn connect(url: &str, count: usize) -> Result<Db, tokio_postgres::Error> {
        let mut connections = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
            // The `Connection` future does the socket I/O; it must run as its own task.
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    eprintln!("hyper-techempower: postgres connection ended: {e}");
                }
            });
            let select_world = client
                .prepare("SELECT id, randomnumber FROM world WHERE id = $1")
                .await?;
            let select_fortunes = client.prepare("SELECT id, message FROM fortune").await?;
            let update_world = client
                .prepare("UPDATE world SET randomnumber = $1 WHERE id = $2")
                .await?;
            connections.push(Connection {
                client,
                select_world,
                select_fortunes,
                update_world,
            });
        }
        Ok(Db {
            connections,
            next: AtomicUsize::new(0),
        })
    }

    fn pick(&self) -> &Connection {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        &self.connections[i % self.connections.len()]
    }

    /// `/db`: one random row.
    pub async fn random_world(&self) -> Result<World, tokio_postgres::Error> {
        let conn = self.pick();
        let id = rng::world_id();
        let row = conn.client.query_one(&conn.select_world, &[&id]).await?;
        Ok(World {
            id: row.get(0),
            random_number: row.get(1),
        })
    }

    /// `/queries`: `count` random rows, all SELECTs in flight at once on one connection.
    pub async fn random_worlds(&self, count: usize) -> Result<Vec<World>, tokio_postgres::Error> {
        let conn = self.pick();
        select_many(conn, count).await
    }

    /// `/updates`: read `count` random rows, give each a new random number, write them back.
    ///
    /// One UPDATE per row, pipelined like the SELECTs. Each UPDATE is its own single-row
    /// transaction, so concurrent requests touching the same ids cannot deadlock; a batched
    /// `UPDATE … FROM (VALUES …)` would save server work but needs one statement per batch size.
    pub async fn update_worlds(&self, count: usize) -> Result<Vec<World>, tokio_postgres::Error> {
        let conn = self.pick();
        let mut worlds = select_many(conn, count).await?;
        for world in &mut worlds {
            world.random_number = rng::world_id();
        }
        try_join_all(worlds.iter().map(|w| async move {
            conn.client
                .execute(&conn.update_world, &[&w.random_number, &w.id])
                .await
        }))
        .await?;
        Ok(worlds)
    }

    /// `/fortunes`: every row of `Fortune`.
    pub async fn fortunes(&self) -> Result<Vec<Fortune>, tokio_postgres::Error> {
        let conn = self.pick();
        let rows = conn.client.query(&conn.select_fortunes, &[]).await?;
        Ok(rows
            .iter()
            .map(|row| Fortune {
                id: row.get(0),
                message: row.get(1),
            })
            .collect())
    }
}

async fn select_many(conn: &Connection, count: usize) -> Result<Vec<World>, tokio_postgres::Error> {
    // Draw the ids first: the query futures borrow their parameters until they complete
    // (hence the `async move` blocks, which own each parameter slice).
    let ids: Vec<i32> = (0..count).map(|_| rng::world_id()).collect();
    let rows = try_join_all(
        ids.iter()
            .map(|id| async move { conn.client.query_one(&conn.select_world, &[id]).await }),
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| World {
            id: row.get(0),
            random_number: row.get(1),
        })
        .collect())
}
