//! The pool: waiters served first come first served, acquire timeouts, dead connections
//! replaced, and nothing leaked when a task holding or awaiting a connection is aborted.

mod pg_common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rasgi::pg::{Config, PgError, Pool, TransactionStatus};
use rasgi_executor::{block_on, join_all, sleep, spawn};

fn pool(cluster: &rasgi::pg::cluster::Cluster, max_size: usize) -> Pool {
    Pool::builder(Config::from_url(&cluster.url()).unwrap()).max_size(max_size).build()
}

/// Polls `check` every 20 ms for up to `limit`; true once it held.
async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        sleep(Duration::from_millis(20)).await;
    }
    false
}

#[test]
fn more_waiters_than_connections_are_served_in_order() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let pool = pool(cluster, 2);
        // Open both connections first: two tasks opening connections at the same time may
        // finish in either order, and the order under test is that of the queue.
        let warm = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
        drop(warm);
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (pool, order) = (pool.clone(), order.clone());
                spawn(async move {
                    let mut conn = pool.acquire().await.unwrap();
                    order.borrow_mut().push(i);
                    let pid: i32 = conn.fetch_value("SELECT pg_backend_pid()", &[]).await.unwrap();
                    sleep(Duration::from_millis(30)).await;
                    pid
                })
            })
            .collect();
        let pids: Vec<i32> = join_all(tasks).await.into_iter().map(Result::unwrap).collect();
        assert_eq!(*order.borrow(), (0..8).collect::<Vec<_>>(), "waiters must be served first come, first served");
        let mut distinct = pids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 2, "eight tasks should share two connections: {pids:?}");
        let status = pool.status();
        assert_eq!((status.open, status.idle, status.available, status.waiting), (2, 2, 2, 0));
    });
}

#[test]
fn acquire_times_out() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let pool = Pool::builder(Config::from_url(&cluster.url()).unwrap())
            .max_size(1)
            .acquire_timeout(Duration::from_millis(150))
            .build();
        let held = pool.acquire().await.unwrap();
        let started = Instant::now();
        let err = pool.acquire().await.unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(err, PgError::PoolTimeout { .. }), "{err:?}");
        assert!(waited >= Duration::from_millis(140) && waited < Duration::from_secs(2), "waited {waited:?}");
        assert_eq!(pool.status().waiting, 0, "the timed-out waiter left the queue");
        drop(held);
        assert!(pool.acquire().await.is_ok());
    });
}

#[test]
fn a_terminated_connection_is_replaced() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let pool = pool(cluster, 1);
        let mut admin = pg_common::superuser(cluster).await;

        // Killed while idle in the pool: the next acquire notices and opens a new one.
        let first: i32 = pool.fetch_value("SELECT pg_backend_pid()", &[]).await.unwrap();
        let killed: bool = admin.fetch_value("SELECT pg_terminate_backend($1)", &[&first]).await.unwrap();
        assert!(killed);
        sleep(Duration::from_millis(100)).await;
        let second: i32 = pool.fetch_value("SELECT pg_backend_pid()", &[]).await.unwrap();
        assert_ne!(first, second);
        assert_eq!(pool.status().open, 1);

        // Killed while in use: that query fails with the server's reason, the connection is
        // dropped on release, and the pool carries on.
        let mut conn = pool.acquire().await.unwrap();
        admin.fetch_value::<bool>("SELECT pg_terminate_backend($1)", &[&second]).await.unwrap();
        sleep(Duration::from_millis(100)).await;
        let err = conn.fetch("SELECT 1", &[]).await.unwrap_err();
        assert!(err.is_fatal(), "{err:?}");
        assert!(err.code() == Some("57P01") || matches!(err, PgError::Closed(_) | PgError::Io(_)), "{err}");
        assert!(conn.is_closed());
        drop(conn);
        assert_eq!(pool.status().open, 0);
        let third: i32 = pool.fetch_value("SELECT pg_backend_pid()", &[]).await.unwrap();
        assert_ne!(third, second);
    });
}

#[test]
fn aborting_a_task_mid_query_leaks_nothing() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let pool = pool(cluster, 2);
        let mut admin = pg_common::superuser(cluster).await;
        let (task_pool, started) = (pool.clone(), Rc::new(RefCell::new(None)));
        let started_in_task = started.clone();
        let task = spawn(async move {
            let mut conn = task_pool.acquire().await.unwrap();
            *started_in_task.borrow_mut() = conn.backend_pid();
            conn.fetch("SELECT pg_sleep(30)", &[]).await
        });
        sleep(Duration::from_millis(200)).await;
        let pid = started.borrow().expect("the task should be running its query");
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());

        // The slot is free again at once; the half-used connection was not put back.
        let status = pool.status();
        assert_eq!((status.available, status.open, status.idle, status.waiting), (2, 0, 0, 0), "{status:?}");
        let started = Instant::now();
        assert_eq!(pool.fetch_value::<i32>("SELECT 1", &[]).await.unwrap(), 1);
        assert!(started.elapsed() < Duration::from_secs(2));

        // And the server stopped the abandoned query (the pool sent a CancelRequest).
        let gone = eventually(Duration::from_secs(3), async || {
            let n: i64 = admin
                .fetch_value("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", &[&pid])
                .await
                .unwrap();
            n == 0
        })
        .await;
        assert!(gone, "the aborted task's pg_sleep is still running on the server");
    });
}

#[test]
fn aborting_a_task_waiting_for_a_connection_leaks_nothing() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let pool = pool(cluster, 1);
        let held = pool.acquire().await.unwrap();
        let waiter_pool = pool.clone();
        let waiter = spawn(async move { waiter_pool.acquire().await.map(drop) });
        sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.status().waiting, 1);
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
        assert_eq!(pool.status().waiting, 0);
        drop(held);
        let status = pool.status();
        assert_eq!((status.available, status.idle), (1, 1));
        assert!(pool.acquire().await.is_ok());
    });
}

#[test]
fn released_connections_come_back_clean() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let pool = pool(cluster, 1);
        let t = pg_common::table("pooled");
        pool.execute(&format!("CREATE TABLE {t} (id int)"), &[]).await.unwrap();
        {
            let mut conn = pool.acquire().await.unwrap();
            let mut tx = conn.transaction().await.unwrap();
            tx.execute(&format!("INSERT INTO {t} VALUES (1)"), &[]).await.unwrap();
            // Both the transaction guard and the pooled connection are dropped here.
        }
        // The pool rolls the transaction back before anyone else gets the connection.
        let mut conn = pool.acquire().await.unwrap();
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
        assert_eq!(conn.fetch_value::<i64>(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap(), 0);
        drop(conn);

        // Left inside a transaction by hand (no guard): rolled back as well.
        {
            let mut conn = pool.acquire().await.unwrap();
            conn.execute_script(&format!("BEGIN; INSERT INTO {t} VALUES (2)")).await.unwrap();
        }
        assert_eq!(pool.fetch_value::<i64>(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap(), 0);

        // With a reset query, session settings do not leak to the next borrower.
        let pool =
            Pool::builder(Config::from_url(&cluster.url()).unwrap()).max_size(1).reset_query("RESET ALL").build();
        pool.execute("SET statement_timeout = '123s'", &[]).await.unwrap();
        let setting: String = pool.fetch_value("SHOW statement_timeout", &[]).await.unwrap();
        assert_eq!(setting, "0");
    });
}

#[test]
fn a_closed_pool_refuses_and_closes() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let pool = pool(cluster, 2);
        pool.fetch_value::<i32>("SELECT 1", &[]).await.unwrap();
        assert_eq!(pool.status().open, 1);
        pool.close();
        assert_eq!(pool.status().open, 0);
        assert!(matches!(pool.acquire().await, Err(PgError::PoolClosed)));
    });
}
