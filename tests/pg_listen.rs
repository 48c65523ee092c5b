//! LISTEN/NOTIFY through [`Listener`] against a real PostgreSQL: notifications arrive in
//! order with their channel and payload, only for channels listened to, and after the
//! server terminates the listener's backend the listener reconnects and LISTENs again by
//! itself.

mod pg_common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use rasgi::pg::{Config, Listener};
use rasgi_executor::{block_on, sleep, spawn, timeout};

fn config(cluster: &rasgi::pg::cluster::Cluster) -> Config {
    Config::from_url(&cluster.url()).unwrap()
}

#[test]
fn notifications_arrive_in_order_for_listened_channels_only() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut listener = Listener::connect(config(cluster)).await.unwrap();
        listener.listen("orders").await.unwrap();
        listener.listen("Mixed \"Case\" channel").await.unwrap();
        let mut conn = pg_common::superuser(cluster).await;
        conn.execute_script(
            "SELECT pg_notify('ignored', 'x'); SELECT pg_notify('orders', 'first'); \
             SELECT pg_notify('Mixed \"Case\" channel', 'héllo ✓'); SELECT pg_notify('orders', '')",
        )
        .await
        .unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let n = timeout(Duration::from_secs(5), listener.recv()).await.expect("a notification").unwrap();
            got.push((n.channel, n.payload));
        }
        assert_eq!(
            got,
            [
                ("orders".to_string(), "first".to_string()),
                ("Mixed \"Case\" channel".to_string(), "héllo ✓".to_string()),
                ("orders".to_string(), String::new()),
            ]
        );
        listener.unlisten("orders").await.unwrap();
        conn.execute_script(
            "SELECT pg_notify('orders', 'unheard'); SELECT pg_notify('Mixed \"Case\" channel', 'heard')",
        )
        .await
        .unwrap();
        let n = timeout(Duration::from_secs(5), listener.recv()).await.expect("a notification").unwrap();
        assert_eq!(n.payload, "heard");
        assert_eq!(listener.reconnects(), 0);
    });
}

#[test]
fn a_terminated_listener_reconnects_and_listens_again() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut listener = Listener::connect(config(cluster)).await.unwrap();
        listener.listen("jobs").await.unwrap();
        let first_pid = listener.backend_pid().unwrap();
        let mut admin = pg_common::superuser(cluster).await;
        let terminated: bool = admin.fetch_value("SELECT pg_terminate_backend($1)", &[&first_pid]).await.unwrap();
        assert!(terminated);
        // A notifier that keeps sending until told to stop: the listener hears one only once
        // it is connected and LISTENing again.
        let stop = Rc::new(Cell::new(false));
        let notifier = {
            let stop = stop.clone();
            spawn(async move {
                let mut n = 0;
                while !stop.get() {
                    n += 1;
                    let _ = admin.execute("SELECT pg_notify('jobs', $1)", &[&format!("after {n}")]).await;
                    sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let n = timeout(Duration::from_secs(10), listener.recv()).await.expect("heard again within 10 s").unwrap();
        stop.set(true);
        notifier.await.unwrap();
        assert!(n.payload.starts_with("after "), "{n:?}");
        assert_eq!(listener.reconnects(), 1);
        assert_ne!(listener.backend_pid(), Some(first_pid), "a new backend");
    });
}
