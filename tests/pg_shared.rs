//! `SharedConnection`: many tasks on one connection, their queries pipelined as they
//! arrive. Shows that results reach the right caller whatever the interleaving, that a
//! failing query fails alone, that a statement is prepared on first use and cached, and
//! that queries really overlap on the wire (one backend serves them all), and that the
//! driver's busy-polling for replies lets other tasks run and stops when a reply is slow.

mod pg_common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use pg_common::{cluster, superuser};
use rasgi::pg::{Config, Connection, PgError, SharedConnection, ToSql};
use rasgi_executor::{block_on, join_all, sleep, spawn};

macro_rules! cluster_or_skip {
    () => {
        match cluster() {
            Some(cluster) => cluster,
            None => return,
        }
    };
}

fn int(n: i32) -> Box<dyn ToSql> {
    Box::new(n)
}

/// A shared connection whose driver busy-polls for `window` while replies are due.
async fn shared_with_window(cluster: &rasgi::pg::cluster::Cluster, window: Duration) -> SharedConnection {
    let config = Config::from_url(&cluster.url()).unwrap().busy_poll(window);
    SharedConnection::new(Connection::connect_with(&config).await.unwrap())
}

#[test]
fn a_busy_polling_driver_lets_other_tasks_run() {
    // A window far longer than the query: the driver polls all along, yet a timer task on the
    // same loop fires in the middle of it, and the reply is still read.
    let cluster = cluster_or_skip!();
    block_on(async {
        for window in [Duration::from_secs(5), Duration::ZERO] {
            let shared = shared_with_window(cluster, window).await;
            let order = Rc::new(RefCell::new(Vec::new()));
            let timer_order = order.clone();
            let timer = spawn(async move {
                sleep(Duration::from_millis(20)).await;
                timer_order.borrow_mut().push("timer");
            });
            let result = shared.query("SELECT 7::int4 FROM pg_sleep(0.3)", Vec::new()).await.unwrap();
            order.borrow_mut().push("query");
            timer.await.unwrap();
            assert_eq!(result.rows[0].get::<i32>(0).unwrap(), 7);
            assert_eq!(*order.borrow(), ["timer", "query"], "window {window:?}");
        }
    });
}

#[test]
fn the_drivers_busy_poll_window_closes_when_replies_are_slow() {
    // Three queries of 0.5 s each, one after another on the backend, with a 20 ms window: the
    // driver spins after each reply for at most the window, then lets the loop sleep. A window
    // that never closed would spin for the whole 1.5 s.
    let cluster = cluster_or_skip!();
    block_on(async {
        let shared = shared_with_window(cluster, Duration::from_millis(20)).await;
        let before = pg_common::thread_cpu();
        let pending: Vec<_> =
            (0..3).map(|i| shared.query("SELECT $1::int4 FROM pg_sleep(0.5)", vec![int(i)])).collect();
        let results = join_all(pending).await;
        let spent = pg_common::thread_cpu() - before;
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(result.unwrap().rows[0].get::<i32>(0).unwrap(), i as i32);
        }
        assert!(spent < Duration::from_millis(600), "the loop spun for {spent:?} of a 1.5 s wait");
    });
}

#[test]
fn many_concurrent_queries_each_get_their_own_result() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let shared = SharedConnection::new(superuser(cluster).await);
        // 500 queries issued before any is awaited: they go out back to back.
        let pending: Vec<_> =
            (0..500).map(|i| shared.query("SELECT $1::int4 * 2, pg_backend_pid()", vec![int(i)])).collect();
        let results = join_all(pending).await;
        let mut pids = std::collections::BTreeSet::new();
        for (i, result) in results.into_iter().enumerate() {
            let result = result.expect("query");
            assert_eq!(result.rows.len(), 1);
            assert_eq!(result.rows[0].get::<i32>(0).unwrap(), i as i32 * 2);
            pids.insert(result.rows[0].get::<i32>(1).unwrap());
        }
        assert_eq!(pids.len(), 1, "one server backend served every query");
    });
}

#[test]
fn a_failing_query_fails_alone_and_the_connection_goes_on() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let shared = SharedConnection::new(superuser(cluster).await);
        let ok_before = shared.query("SELECT 1::int4", Vec::new());
        let failing = shared.query("SELECT 1 / $1::int4", vec![int(0)]);
        let ok_after = shared.query("SELECT 3::int4", Vec::new());
        let syntax = shared.query("SELEC nonsense", Vec::new());
        let (a, b) = rasgi_executor::join(ok_before, failing).await;
        assert_eq!(a.unwrap().rows[0].get::<i32>(0).unwrap(), 1);
        match b {
            Err(PgError::Server(e)) => assert_eq!(e.code, "22012", "division by zero"),
            other => panic!("expected a division-by-zero error, got {other:?}"),
        }
        assert_eq!(ok_after.await.unwrap().rows[0].get::<i32>(0).unwrap(), 3);
        match syntax.await {
            Err(PgError::Server(e)) => assert_eq!(e.code, "42601", "syntax error"),
            other => panic!("expected a syntax error, got {other:?}"),
        }
        // Still usable, and the statements are cached: the same SQL again is one message.
        let again = shared.query("SELECT 1 / $1::int4", vec![int(1)]).await.unwrap();
        assert_eq!(again.rows[0].get::<i32>(0).unwrap(), 1);
    });
}

#[test]
fn updates_report_rows_affected() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut setup = superuser(cluster).await;
        let table = pg_common::table("shared");
        setup
            .execute_script(&format!("CREATE TABLE {table} (id int4 PRIMARY KEY, n int4); INSERT INTO {table} SELECT g, 0 FROM generate_series(1, 10) g"))
            .await
            .unwrap();
        let shared = SharedConnection::new(setup);
        let sql = format!("UPDATE {table} SET n = n + 1 WHERE id <= $1");
        let pending: Vec<_> = (1..=4).map(|i| shared.query(sql.clone(), vec![int(i)])).collect();
        let affected: Vec<u64> = join_all(pending).await.into_iter().map(|r| r.unwrap().rows_affected).collect();
        assert_eq!(affected, [1, 2, 3, 4]);
        let sum = shared.query(format!("SELECT sum(n)::int4 FROM {table}"), Vec::new()).await.unwrap();
        assert_eq!(sum.rows[0].get::<i32>(0).unwrap(), 1 + 2 + 3 + 4);
    });
}

#[test]
fn copy_to_stdout_twice_leaves_the_shared_connection_working() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let shared = SharedConnection::new(superuser(cluster).await);
        let copy = "COPY (SELECT generate_series(1, 3)) TO STDOUT";
        // The first run prepares the statement; the second takes the pipelined path, whose
        // message handling once treated CopyOutResponse as a protocol violation and stopped
        // the driver for every task on the connection.
        for run in 0..2 {
            let result = shared.query(copy, Vec::new()).await.unwrap_or_else(|e| panic!("run {run}: {e}"));
            assert_eq!((result.rows.len(), result.rows_affected), (0, 3), "run {run}");
        }
        // Interleaved with other tasks' queries, in flight together.
        let before = shared.query("SELECT 1::int4", Vec::new());
        let copied = shared.query(copy, Vec::new());
        let after = shared.query("SELECT $1::int4", vec![int(2)]);
        let (before, copied, after) = (before.await.unwrap(), copied.await.unwrap(), after.await.unwrap());
        assert_eq!(before.rows[0].get::<i32>(0).unwrap(), 1);
        assert_eq!(copied.rows_affected, 3);
        assert_eq!(after.rows[0].get::<i32>(0).unwrap(), 2);
    });
}
