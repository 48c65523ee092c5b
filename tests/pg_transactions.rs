//! Transactions: commit, rollback, rollback when the guard is dropped, savepoints, and the
//! refusal to "commit" a transaction an error has aborted.

mod pg_common;

use rasgi::pg::{Connection, TransactionStatus};
use rasgi_executor::block_on;

async fn count(conn: &mut Connection, table: &str) -> i64 {
    conn.fetch_value(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap()
}

async fn setup(conn: &mut Connection) -> String {
    let t = pg_common::table("tx");
    conn.execute_script(&format!("CREATE TABLE {t} (id int PRIMARY KEY)")).await.unwrap();
    t
}

#[test]
fn commit_keeps_and_rollback_discards() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let mut other = pg_common::superuser(cluster).await;
        let t = setup(&mut conn).await;
        let insert = format!("INSERT INTO {t} VALUES ($1)");

        let mut tx = conn.transaction().await.unwrap();
        tx.execute(&insert, &[&1]).await.unwrap();
        assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
        assert_eq!(count(&mut other, &t).await, 0, "uncommitted rows are invisible to others");
        tx.commit().await.unwrap();
        assert_eq!(count(&mut other, &t).await, 1);

        let mut tx = conn.transaction().await.unwrap();
        tx.execute(&insert, &[&2]).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(count(&mut conn, &t).await, 1);
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    });
}

#[test]
fn a_dropped_transaction_rolls_back() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = setup(&mut conn).await;
        let insert = format!("INSERT INTO {t} VALUES ($1)");

        async fn insert_then_fail(conn: &mut Connection, insert: &str) -> Result<(), rasgi::pg::PgError> {
            let mut tx = conn.transaction().await?;
            tx.execute(insert, &[&10]).await?;
            tx.execute("SELECT 1 / 0", &[]).await?; // `?` returns: the guard is dropped here
            tx.commit().await
        }
        let err = insert_then_fail(&mut conn, &insert).await.unwrap_err();
        assert_eq!(err.code(), Some("22012"));
        // The ROLLBACK was queued by the guard and goes out before the next query.
        assert_eq!(count(&mut conn, &t).await, 0);
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);

        // Dropped without any error, too.
        {
            let mut tx = conn.transaction().await.unwrap();
            tx.execute(&insert, &[&11]).await.unwrap();
        }
        assert_eq!(count(&mut conn, &t).await, 0);
    });
}

#[test]
fn savepoints_nest() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = setup(&mut conn).await;
        let insert = format!("INSERT INTO {t} VALUES ($1)");

        let mut tx = conn.transaction().await.unwrap();
        assert_eq!(tx.savepoint_name(), None);
        tx.execute(&insert, &[&1]).await.unwrap();
        {
            let mut sp = tx.transaction().await.unwrap();
            assert_eq!(sp.savepoint_name(), Some("rasgi_sp1"));
            sp.execute(&insert, &[&2]).await.unwrap();
            sp.rollback().await.unwrap(); // undoes 2 only
        }
        {
            let mut sp = tx.transaction().await.unwrap();
            sp.execute(&insert, &[&3]).await.unwrap();
            {
                let mut inner = sp.transaction().await.unwrap();
                assert_eq!(inner.savepoint_name(), Some("rasgi_sp2"));
                inner.execute(&insert, &[&4]).await.unwrap();
                // dropped: rolls back to rasgi_sp2, undoing 4
            }
            sp.commit().await.unwrap(); // keeps 3
        }
        {
            // An error inside a savepoint only spoils the savepoint.
            let mut sp = tx.transaction().await.unwrap();
            let err = sp.execute(&insert, &[&1]).await.unwrap_err();
            assert_eq!(err.code(), Some("23505"));
            assert_eq!(sp.transaction_status(), TransactionStatus::Failed);
        }
        assert_eq!(count(&mut tx, &t).await, 2);
        assert_eq!(tx.transaction_status(), TransactionStatus::InTransaction);
        tx.commit().await.unwrap();
        let ids: Vec<i32> = conn
            .fetch(&format!("SELECT id FROM {t} ORDER BY id"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0).unwrap())
            .collect();
        assert_eq!(ids, [1, 3]);
    });
}

#[test]
fn committing_an_aborted_transaction_is_an_error() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = setup(&mut conn).await;
        let mut tx = conn.transaction().await.unwrap();
        tx.execute(&format!("INSERT INTO {t} VALUES (1)"), &[]).await.unwrap();
        assert!(tx.execute("SELECT 1 / 0", &[]).await.is_err());
        // Every statement now fails with 25P02 until the transaction ends.
        let err = tx.fetch("SELECT 1", &[]).await.unwrap_err();
        assert_eq!(err.code(), Some("25P02"), "{err}");
        let err = tx.commit().await.unwrap_err();
        assert_eq!(err.code(), Some("25P02"), "{err}");
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
        assert_eq!(count(&mut conn, &t).await, 0);
    });
}
