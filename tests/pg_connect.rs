//! Connecting: every authentication method against a real PostgreSQL, the errors a wrong
//! password, an unknown user or database give, server parameters, notices, the password
//! staying out of every printed form of the configuration, and a round trip that busy-polls
//! for its reply while the loop's other tasks go on.

mod pg_common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use rasgi::pg::cluster::TEST_PASSWORD;
use rasgi::pg::{Config, Connection, PgError};
use rasgi_executor::{block_on, sleep, spawn};

#[test]
fn each_auth_method_connects() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let urls = [
            ("trust_user", cluster.url_for("trust_user", None)),
            ("password_user", pg_common::role_url(cluster, "password_user")),
            ("md5_user", pg_common::role_url(cluster, "md5_user")),
            ("scram_user", pg_common::role_url(cluster, "scram_user")),
        ];
        for (user, url) in urls {
            let mut conn = Connection::connect(&url).await.unwrap_or_else(|e| panic!("{user}: {e}"));
            let who: String = conn.fetch_value("SELECT current_user::text", &[]).await.unwrap();
            assert_eq!(who, user);
            conn.close().await.unwrap();
        }
    });
}

#[test]
fn the_busy_poll_window_closes_when_the_reply_is_slow() {
    // A 20 ms window and a 1 s query: after the window the loop must sleep until the reply
    // comes. A window that never closed would spin for the whole second.
    let cluster = cluster_or_skip!();
    block_on(async {
        let config = Config::from_url(&cluster.url()).unwrap().busy_poll(Duration::from_millis(20));
        let mut conn = Connection::connect_with(&config).await.unwrap();
        let before = pg_common::thread_cpu();
        let one: i32 = conn.fetch_value("SELECT 1 FROM pg_sleep(1)", &[]).await.unwrap();
        let spent = pg_common::thread_cpu() - before;
        assert_eq!(one, 1);
        assert!(spent < Duration::from_millis(400), "the loop spun for {spent:?} of a 1 s wait");
        conn.close().await.unwrap();
    });
}

#[test]
fn the_server_really_used_each_method() {
    // Guards the test above against a pg_hba.conf that lets everyone in by trust.
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let rows = conn
            .fetch(
                "SELECT user_name[1] AS u, auth_method AS m FROM pg_hba_file_rules \
                 WHERE type = 'host' AND address = '127.0.0.1' ORDER BY line_number",
                &[],
            )
            .await
            .unwrap();
        let rules: Vec<(String, String)> = rows.iter().map(|r| (r.get("u").unwrap(), r.get("m").unwrap())).collect();
        for (user, method) in [
            ("trust_user", "trust"),
            ("password_user", "password"),
            ("md5_user", "md5"),
            ("scram_user", "scram-sha-256"),
        ] {
            assert!(rules.contains(&(user.to_string(), method.to_string())), "{user} should use {method}: {rules:?}");
        }
        let md5_stored: String = conn
            .fetch_value("SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'md5_user'", &[])
            .await
            .unwrap();
        assert_eq!(md5_stored, "md5");
    });
}

#[test]
fn wrong_password_is_a_clear_error() {
    let cluster = cluster_or_skip!();
    block_on(async {
        for user in ["password_user", "md5_user", "scram_user"] {
            let url = cluster.url_for(user, Some("wrong"));
            let err = Connection::connect(&url).await.expect_err("a wrong password must fail");
            assert_eq!(err.code(), Some("28P01"), "{user}: {err}");
            let text = err.to_string();
            assert!(text.contains("password authentication failed") && text.contains(user), "{text}");
            assert!(text.contains("check the password"), "the error should say what to check: {text}");
        }
    });
}

#[test]
fn missing_password_says_where_to_put_it() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let config = Config::from_url(&cluster.url_for("scram_user", None)).unwrap();
        if config_has_env_password() {
            return; // PGPASSWORD in the environment would fill the gap
        }
        match Connection::connect_with(&config).await {
            Err(PgError::Auth(message)) => assert!(message.contains("PGPASSWORD"), "{message}"),
            other => panic!("expected an Auth error, got {other:?}"),
        }
    });
}

fn config_has_env_password() -> bool {
    std::env::var_os("PGPASSWORD").is_some()
}

#[test]
fn unknown_user_and_database_are_clear_errors() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let err = Connection::connect(&cluster.url_for("nobody", Some(TEST_PASSWORD))).await.unwrap_err();
        // PostgreSQL does not reveal whether the role exists: the password check fails.
        assert_eq!(err.code(), Some("28P01"), "{err}");
        assert!(err.to_string().contains("\"nobody\""), "{err}");

        let url = format!("postgres://trust_user@127.0.0.1:{}/no_such_db", cluster.port());
        let err = Connection::connect(&url).await.unwrap_err();
        assert_eq!(err.code(), Some("3D000"), "{err}");
        assert!(err.to_string().contains("no_such_db"), "{err}");
    });
}

#[test]
fn refused_connection_names_the_address() {
    let _ = cluster_or_skip!();
    block_on(async {
        // Port 1 on loopback: nothing listens there.
        let err = Connection::connect("postgres://u@127.0.0.1:1/db").await.unwrap_err();
        assert!(matches!(err, PgError::Io(_)), "{err:?}");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    });
}

#[test]
fn server_parameters_and_backend_key() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        assert!(
            conn.parameter("server_version").is_some_and(|v| v.starts_with("15")),
            "{:?}",
            conn.parameter("server_version")
        );
        assert_eq!(conn.parameter("client_encoding"), Some("UTF8"));
        let pid: i32 = conn.fetch_value("SELECT pg_backend_pid()", &[]).await.unwrap();
        assert_eq!(conn.backend_pid(), Some(pid));
        // A SET that changes a reported parameter arrives as ParameterStatus.
        conn.execute_script("SET application_name = 'rasgi-test'").await.unwrap();
        assert_eq!(conn.parameter("application_name"), Some("rasgi-test"));
    });
}

#[test]
fn notices_reach_the_handler() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink = seen.clone();
        conn.set_notice_handler(move |notice| {
            sink.borrow_mut().push((notice.severity.clone(), notice.message.clone()))
        });
        conn.execute_script("DO $$ BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END $$").await.unwrap();
        conn.execute("DO $$ BEGIN RAISE NOTICE 'via extended protocol'; END $$", &[]).await.unwrap();
        assert_eq!(
            *seen.borrow(),
            [
                ("NOTICE".to_string(), "hello 42".to_string()),
                ("WARNING".to_string(), "careful".to_string()),
                ("NOTICE".to_string(), "via extended protocol".to_string())
            ]
        );
    });
}

#[test]
fn password_never_appears_in_printed_config() {
    let cluster = cluster_or_skip!();
    let secret = "Tr0ub4dor-and-3";
    let url = format!("postgres://scram_user:{secret}@127.0.0.1:{}/postgres", cluster.port());
    let config = Config::from_url(&url).unwrap();
    let config = config.password(secret);
    for printed in [format!("{config:?}"), format!("{config:#?}"), config.to_string()] {
        assert!(!printed.contains(secret), "password leaked: {printed}");
    }
    assert!(format!("{config:?}").contains("<redacted>"));
    block_on(async {
        // The failed login's error must not carry it either.
        let err = Connection::connect_with(&config).await.unwrap_err();
        assert!(!format!("{err:?} {err}").contains(secret));
        // Nor a live connection's Debug.
        let conn = Connection::connect_with(&config.clone().password(TEST_PASSWORD)).await.unwrap();
        let printed = format!("{conn:?}");
        assert!(printed.contains("password: Some(\"<redacted>\")"), "{printed}");
    });
}

#[test]
fn a_busy_polling_round_trip_lets_other_tasks_run() {
    // A window far longer than the query: the round trip polls all along, and a timer task on
    // the same loop must still fire in the middle of it, and the reply still be read.
    let cluster = cluster_or_skip!();
    block_on(async {
        for window in [Duration::from_secs(5), Duration::ZERO] {
            let config = Config::from_url(&cluster.url()).unwrap().busy_poll(window);
            let mut conn = Connection::connect_with(&config).await.unwrap();
            let order = Rc::new(RefCell::new(Vec::new()));
            let timer_order = order.clone();
            let timer = spawn(async move {
                sleep(Duration::from_millis(20)).await;
                timer_order.borrow_mut().push("timer");
            });
            let seven: i32 = conn.fetch_value("SELECT 7 FROM pg_sleep(0.3)", &[]).await.unwrap();
            order.borrow_mut().push("query");
            timer.await.unwrap();
            assert_eq!(seven, 7);
            assert_eq!(*order.borrow(), ["timer", "query"], "window {window:?}");
            conn.close().await.unwrap();
        }
    });
}
