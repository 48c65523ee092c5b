//! Errors and recovery: server errors carry the right SQLSTATE and fields, the same connection
//! runs the next query, an error inside a pipeline fails only its own query, the statement
//! cache survives schema changes, and a query future dropped half-way leaves the connection
//! usable.

mod pg_common;

use std::time::{Duration, Instant};

use rasgi::pg::{Config, Connection, PgError, Pipeline, TransactionStatus};
use rasgi_executor::{block_on, select, sleep, Either};

#[test]
fn server_errors_carry_sqlstate_and_the_connection_goes_on() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = pg_common::table("uniq");
        conn.execute_script(&format!("CREATE TABLE {t} (id int PRIMARY KEY)")).await.unwrap();

        let err = conn.fetch("SELEC 1", &[]).await.unwrap_err();
        assert_eq!(err.code(), Some("42601"), "{err}");
        let db = err.as_db_error().unwrap();
        assert_eq!((db.severity.as_str(), db.position), ("ERROR", Some(1)));
        assert!(err.to_string().contains("syntax error"), "{err}");
        assert_eq!(conn.fetch_value::<i32>("SELECT 1", &[]).await.unwrap(), 1);

        conn.execute(&format!("INSERT INTO {t} VALUES ($1)"), &[&1]).await.unwrap();
        let err = conn.execute(&format!("INSERT INTO {t} VALUES ($1)"), &[&1]).await.unwrap_err();
        assert_eq!(err.code(), Some("23505"), "{err}");
        let db = err.as_db_error().unwrap();
        assert_eq!(db.constraint.as_deref(), Some(format!("{t}_pkey").as_str()));
        assert_eq!(db.table.as_deref(), Some(t.as_str()));
        assert!(db.detail.as_deref().unwrap_or("").contains("(id)=(1)"), "{db:?}");
        assert_eq!(conn.fetch_value::<i32>("SELECT 2", &[]).await.unwrap(), 2);

        let err = conn.fetch_value::<i32>("SELECT 1 / $1", &[&0]).await.unwrap_err();
        assert_eq!(err.code(), Some("22012"), "{err}");
        assert_eq!(conn.fetch_value::<i32>("SELECT 3", &[]).await.unwrap(), 3);
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);

        // The simple protocol reports errors the same way.
        let err = conn.execute_script("SELECT 1; SELECT 1/0; SELECT 2").await.unwrap_err();
        assert_eq!(err.code(), Some("22012"), "{err}");
        assert_eq!(conn.fetch_value::<i32>("SELECT 4", &[]).await.unwrap(), 4);
    });
}

#[test]
fn an_error_in_a_pipeline_fails_only_its_own_query() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = pg_common::table("pipe");
        conn.execute_script(&format!("CREATE TABLE {t} (id int PRIMARY KEY)")).await.unwrap();
        let insert = format!("INSERT INTO {t} VALUES ($1)");
        let count = format!("SELECT count(*) FROM {t}");
        let mut batch = Pipeline::new();
        batch
            .push(&insert, &[&1])
            .push("SELECT 1 / 0", &[])
            .push(&insert, &[&2])
            .push(&insert, &[&1]) // duplicate key
            .push("SELEC broken syntax", &[])
            .push(&insert, &[&3])
            .push(&count, &[]);
        let results = conn.pipeline(&batch).await.unwrap();
        let codes: Vec<Option<&str>> = results.iter().map(|r| r.as_ref().err().and_then(PgError::code)).collect();
        assert_eq!(codes, [None, Some("22012"), None, Some("23505"), Some("42601"), None, None]);
        let counted = results[6].as_ref().unwrap();
        assert_eq!(counted.rows[0].get::<i64>(0).unwrap(), 3);
        assert_eq!(results[0].as_ref().unwrap().rows_affected, 1);

        // A second pipeline of the same (now cached) statements is a single round trip.
        let mut again = Pipeline::new();
        again.push(&insert, &[&4]).push(&count, &[]);
        let results = conn.pipeline(&again).await.unwrap();
        assert_eq!(results[1].as_ref().unwrap().rows[0].get::<i64>(0).unwrap(), 4);
        assert_eq!(conn.fetch_value::<i64>(&count, &[]).await.unwrap(), 4);
    });
}

#[test]
fn a_long_pipeline_does_not_deadlock() {
    // Enough queries that the requests fill the socket while replies fill the other way.
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let values: Vec<i32> = (0..5000).collect();
        let params: Vec<[&dyn rasgi::pg::ToSql; 1]> = values.iter().map(|v| [v as &dyn rasgi::pg::ToSql]).collect();
        let mut batch = Pipeline::new();
        for p in &params {
            batch.push("SELECT $1::int4 + 1, repeat('x', 200)", p);
        }
        let results = conn.pipeline(&batch).await.unwrap();
        assert_eq!(results.len(), 5000);
        assert_eq!(results[4999].as_ref().unwrap().rows[0].get::<i32>(0).unwrap(), 5000);
    });
}

#[test]
fn the_statement_cache_survives_alter_table() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = pg_common::table("altered");
        conn.execute_script(&format!("CREATE TABLE {t} (a int, b text); INSERT INTO {t} VALUES (1, 'one')"))
            .await
            .unwrap();
        let select = format!("SELECT * FROM {t}");
        assert_eq!(conn.fetch(&select, &[]).await.unwrap()[0].len(), 2);
        let cached = conn.cached_statements();

        // A new column changes the result type of the cached `SELECT *`: the server refuses the
        // cached plan (0A000), the client re-prepares and runs it again by itself.
        conn.execute_script(&format!("ALTER TABLE {t} ADD COLUMN c int DEFAULT 7")).await.unwrap();
        let rows = conn.fetch(&select, &[]).await.unwrap();
        assert_eq!(rows[0].len(), 3);
        assert_eq!(rows[0].get::<i32>("c").unwrap(), 7);

        // A changed column type as well.
        conn.execute_script(&format!("ALTER TABLE {t} ALTER COLUMN a TYPE bigint")).await.unwrap();
        let rows = conn.fetch(&select, &[]).await.unwrap();
        assert_eq!(rows[0].get::<i64>("a").unwrap(), 1);
        assert_eq!(conn.cached_statements(), cached);

        // Inside a transaction the stale statement cannot be retried silently (the error has
        // aborted the transaction), but the next attempt after ROLLBACK works.
        let tx = conn.transaction().await.unwrap();
        tx.rollback().await.unwrap();
        conn.execute_script(&format!("ALTER TABLE {t} DROP COLUMN b")).await.unwrap();
        let mut tx = conn.transaction().await.unwrap();
        let err = tx.fetch(&select, &[]).await.unwrap_err();
        assert_eq!(err.code(), Some("0A000"), "{err}");
        tx.rollback().await.unwrap();
        assert_eq!(conn.fetch(&select, &[]).await.unwrap()[0].len(), 2);

        // After DISCARD ALL every server-side statement is gone (26000): re-prepared too.
        conn.execute_script("DISCARD ALL").await.unwrap();
        assert_eq!(conn.fetch(&select, &[]).await.unwrap()[0].len(), 2);
    });
}

#[test]
fn the_statement_cache_can_be_switched_off_and_evicts() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let config = Config::from_url(&cluster.url()).unwrap().statement_cache_capacity(0);
        let mut conn = Connection::connect_with(&config).await.unwrap();
        for i in 0..3 {
            assert_eq!(conn.fetch_value::<i32>("SELECT $1::int4", &[&i]).await.unwrap(), i);
        }
        assert_eq!(conn.cached_statements(), 0);
        let prepared: i64 = conn.fetch_value("SELECT count(*) FROM pg_prepared_statements", &[]).await.unwrap();
        assert_eq!(prepared, 0);
        // A pipeline with the cache off leaves nothing behind either.
        let mut batch = Pipeline::new();
        batch.push("SELECT 1", &[]).push("SELECT 2", &[]);
        conn.pipeline(&batch).await.unwrap();
        let prepared: i64 = conn.fetch_value("SELECT count(*) FROM pg_prepared_statements", &[]).await.unwrap();
        assert_eq!(prepared, 0);

        // A small cache keeps at most its capacity, on the server as well.
        let config = Config::from_url(&cluster.url()).unwrap().statement_cache_capacity(3);
        let mut conn = Connection::connect_with(&config).await.unwrap();
        for i in 0..10 {
            conn.fetch(&format!("SELECT {i}"), &[]).await.unwrap();
        }
        assert_eq!(conn.cached_statements(), 3);
        let prepared: i64 = conn.fetch_value("SELECT count(*) FROM pg_prepared_statements", &[]).await.unwrap();
        assert!(prepared <= 4, "evicted statements must be closed on the server: {prepared} left");
    });
}

#[test]
fn a_query_dropped_half_way_leaves_the_connection_usable() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        // Give up on a slow query after 50 ms by dropping its future (what a timeout or an
        // aborted task does).
        let outcome = select(conn.fetch("SELECT pg_sleep(5)", &[]), sleep(Duration::from_millis(50))).await;
        assert!(matches!(outcome, Either::Right(())));
        // The next query cancels the abandoned one on the server and drains its reply first.
        let started = Instant::now();
        assert_eq!(conn.fetch_value::<i32>("SELECT 7", &[]).await.unwrap(), 7);
        assert!(started.elapsed() < Duration::from_secs(2), "recovery took {:?}", started.elapsed());
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    });
}
