//! Query timeouts: a `pg_sleep(10)` under a 200 ms limit fails fast with a timeout error, the
//! server really cancels it (SQLSTATE 57014, nothing left in `pg_stat_activity`), and the same
//! connection runs the next query.

mod pg_common;

use std::time::{Duration, Instant};

use rasgi::pg::{cancel_query, Config, Connection, PgError};
use rasgi_executor::{block_on, join, sleep};

/// Whether the backend `pid` is running a statement right now.
async fn is_active(admin: &mut Connection, pid: i32) -> bool {
    admin
        .fetch_value("SELECT count(*) > 0 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", &[&pid])
        .await
        .unwrap()
}

#[test]
fn a_timed_out_query_is_cancelled_on_the_server() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let mut admin = pg_common::superuser(cluster).await;
        let pid = conn.backend_pid().unwrap();
        conn.set_query_timeout(Some(Duration::from_millis(200)));
        let started = Instant::now();
        let err = conn.fetch("SELECT pg_sleep(10)", &[]).await.unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "the timeout took {took:?}");
        assert!(took >= Duration::from_millis(190), "returned before the limit: {took:?}");
        match err {
            PgError::Timeout { after, cancelled } => {
                assert_eq!(after, Duration::from_millis(200));
                assert!(cancelled, "the drained reply should be the server's 57014 cancellation");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // Another connection sees the backend idle: the sleep was stopped, not left running.
        assert!(!is_active(&mut admin, pid).await, "backend {pid} is still running pg_sleep");
        // The server log says so too.
        let log = std::fs::read_to_string(cluster.log_path()).unwrap_or_default();
        assert!(
            log.contains("canceling statement due to user request") && log.contains("SELECT pg_sleep(10)"),
            "the server log should record the cancellation"
        );
        // The same connection is back at ReadyForQuery and works.
        assert_eq!(conn.fetch_value::<i32>("SELECT 1", &[]).await.unwrap(), 1);
    });
}

#[test]
fn command_timeout_in_the_url_applies_to_every_query() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let url = format!("{}?command_timeout=0.2", cluster.url());
        let mut conn = Connection::connect(&url).await.unwrap();
        assert_eq!(conn.query_timeout(), Some(Duration::from_millis(200)));
        let err = conn.execute("SELECT pg_sleep(10)", &[]).await.unwrap_err();
        assert!(matches!(err, PgError::Timeout { cancelled: true, .. }), "{err:?}");
        // Fast queries are unaffected.
        assert_eq!(conn.fetch_value::<i32>("SELECT 2", &[]).await.unwrap(), 2);
        // A timeout inside a transaction leaves it failed, as any error would.
        let mut tx = conn.transaction().await.unwrap();
        assert!(tx.execute("SELECT pg_sleep(10)", &[]).await.is_err());
        assert_eq!(tx.transaction_status(), rasgi::pg::TransactionStatus::Failed);
        tx.rollback().await.unwrap();
    });
}

#[test]
fn a_cancel_request_from_elsewhere_stops_a_query() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let (addr, key) = conn.cancel_token().unwrap();
        let started = Instant::now();
        let (result, cancel) = join(conn.fetch("SELECT pg_sleep(10)", &[]), async {
            sleep(Duration::from_millis(100)).await;
            cancel_query(addr, key).await
        })
        .await;
        cancel.unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.code(), Some("57014"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(conn.fetch_value::<i32>("SELECT 3", &[]).await.unwrap(), 3);
    });
}

#[test]
fn the_cancel_itself_is_bounded() {
    let cluster = cluster_or_skip!();
    block_on(async {
        // A server that stops answering after the cancel: simulate with a query that ignores
        // cancellation for a while (a cancel is only acted on at interrupt checks; pg_sleep
        // in a subtransaction that catches the 57014 and sleeps again keeps it busy).
        // The query timeout leaves the backend time to reach the handler even on a loaded
        // machine: a cancel that lands while the DO block is still being compiled is acted
        // on at once (a `cancelled: true` timeout, the other test's case, not this one).
        let config = Config::from_url(&cluster.url())
            .unwrap()
            .query_timeout(Some(Duration::from_millis(400)))
            .cancel_timeout(Duration::from_millis(300));
        let mut conn = Connection::connect_with(&config).await.unwrap();
        let stubborn = "DO $$ BEGIN
                BEGIN PERFORM pg_sleep(10); EXCEPTION WHEN query_canceled THEN NULL; END;
                PERFORM pg_sleep(10);
            END $$";
        let started = Instant::now();
        let err = conn.execute(stubborn, &[]).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, PgError::Timeout { cancelled: false, .. }), "{err:?}");
        assert!(took < Duration::from_secs(2), "timeout + cancel + drain took {took:?}");
        // The connection could not be drained in time, so it is closed rather than reused in
        // an unknown state.
        assert!(conn.is_closed());
        assert!(matches!(conn.fetch("SELECT 1", &[]).await, Err(PgError::Closed(_))));
        // Clean up the server side.
        let mut admin = pg_common::superuser(cluster).await;
        admin
            .execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'DO $$ BEGIN%'", &[])
            .await
            .unwrap();
    });
}
