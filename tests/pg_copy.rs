//! COPY as streams against a real PostgreSQL: rows out as exact CSV bytes, rows in with the
//! text format's escapes and NULLs, rows in as typed values in the binary format, rows
//! gathered into large messages beside slices sent as they are, in order, failures (bad data, an abort, a missing table) that leave
//! the connection usable, and backpressure shown by the server itself: while nobody reads a
//! large COPY, its backend waits in `ClientWrite`.

mod pg_common;

use std::time::Duration;

use rasgi::pg::{PgError, Type};
use rasgi_executor::{block_on, sleep};

#[test]
fn copy_out_streams_exact_csv() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = pg_common::table("copy_out");
        conn.execute_script(&format!(
            "CREATE TABLE {t} (id int, name text); INSERT INTO {t} VALUES (1, 'a'), (2, 'b,c'), (3, NULL)"
        ))
        .await
        .unwrap();
        let mut out = conn.copy_out(&format!("COPY {t} TO STDOUT (FORMAT csv, HEADER)")).await.unwrap();
        let mut chunks = Vec::new();
        while let Some(chunk) = out.next_chunk().await.unwrap() {
            chunks.push(String::from_utf8(chunk.to_vec()).unwrap());
        }
        assert_eq!(chunks, ["id,name\n", "1,a\n", "2,\"b,c\"\n", "3,\n"], "one CopyData per line");
        assert_eq!(out.rows(), 3);
        assert_eq!(out.next_chunk().await.unwrap(), None, "stays finished");
        drop(out);
        assert_eq!(conn.fetch_value::<i32>("SELECT 7", &[]).await.unwrap(), 7);
    });
}

#[test]
fn copy_in_stores_rows_with_escapes_and_nulls() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = pg_common::table("copy_in");
        conn.execute_script(&format!("CREATE TABLE {t} (n int, s text)")).await.unwrap();
        let mut copy = conn.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        copy.send_row(&[Some("1"), Some("tab\there, back\\slash, line\nbreak")]).await.unwrap();
        copy.send_row(&[Some("2"), None]).await.unwrap();
        // Raw bytes, split mid-row: COPY sees one stream.
        copy.send(b"3\tra").await.unwrap();
        copy.send(b"w\n").await.unwrap();
        for i in 4..=20_000 {
            copy.send_row(&[Some(&i.to_string()), Some("bulk")]).await.unwrap();
        }
        assert_eq!(copy.finish().await.unwrap(), 20_000);
        let rows = conn.fetch(&format!("SELECT n, s FROM {t} WHERE n <= 3 ORDER BY n"), &[]).await.unwrap();
        let got: Vec<(i32, Option<String>)> = rows.iter().map(|r| (r.get(0).unwrap(), r.get(1).unwrap())).collect();
        assert_eq!(
            got,
            [(1, Some("tab\there, back\\slash, line\nbreak".to_string())), (2, None), (3, Some("raw".to_string()))]
        );
        assert_eq!(conn.fetch_value::<i64>(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap(), 20_000);
    });
}

#[test]
fn binary_copy_in_stores_typed_values_exactly() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = pg_common::table("copy_binary");
        conn.execute_script(&format!("CREATE TABLE {t} (n int, label text, ratio float8, day date)")).await.unwrap();
        let types = [Type::INT4, Type::TEXT, Type::FLOAT8, Type::DATE];
        let mut copy = conn.copy_in(&format!("COPY {t} FROM STDIN (FORMAT binary)")).await.unwrap();
        // Binary COPY needs no escapes: a tab, a newline and a backslash go as they are.
        let label = "tab\there, line\nbreak, back\\slash";
        copy.send_binary_row(&types, &[&1i32, &label, &(1.0f64 / 7.0), &None::<&str>]).await.unwrap();
        copy.send_binary_row(&types, &[&2i32, &None::<&str>, &f64::MIN_POSITIVE, &None::<&str>]).await.unwrap();
        // A value with only a text form (a date given as a string) cannot go in binary; the
        // row is refused before anything of it is sent, and the COPY goes on.
        let err = copy.send_binary_row(&types, &[&3i32, &"x", &0.5f64, &"2024-01-31"]).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot encode parameter $4 as date: this value only has a text form, and binary COPY takes none"
        );
        let err = copy.send_binary_row(&types[..2], &[&3i32]).await.unwrap_err();
        assert!(err.to_string().contains("2 column type(s) but 1 value(s)"), "{err}");
        for n in 3..=20_000i32 {
            copy.send_binary_row(&types, &[&n, &"bulk", &(n as f64 / 7.0), &None::<&str>]).await.unwrap();
        }
        assert_eq!(copy.finish().await.unwrap(), 20_000);
        let rows = conn.fetch(&format!("SELECT n, label, ratio FROM {t} WHERE n <= 2 ORDER BY n"), &[]).await.unwrap();
        let got: Vec<(i32, Option<String>, f64)> =
            rows.iter().map(|r| (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap())).collect();
        assert_eq!(got, [(1, Some(label.to_string()), 1.0 / 7.0), (2, None, f64::MIN_POSITIVE)]);
        let sum: i64 = conn.fetch_value(&format!("SELECT sum(n) FROM {t} WHERE day IS NULL"), &[]).await.unwrap();
        assert_eq!(sum, 20_000 * 20_001 / 2);
    });
}

#[test]
fn gathered_rows_and_a_large_slice_keep_their_order() {
    // Rows are gathered into 64 KiB CopyData messages; a slice that is a message's worth on its
    // own goes out directly. Whatever the path, the server must see one stream, in order.
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = pg_common::table("copy_order");
        conn.execute_script(&format!("CREATE TABLE {t} (n int, s text)")).await.unwrap();
        let mut copy = conn.copy_in(&format!("COPY {t} (n, s) FROM STDIN")).await.unwrap();
        copy.send_row(&[Some("1"), Some("before")]).await.unwrap();
        copy.send(b"2\tsplit ").await.unwrap();
        let big: String = (3..=20_002).map(|n| format!("{n}\tbig\n")).collect();
        assert!(big.len() > 64 * 1024, "the slice must take the direct path");
        // Completes the row `send` began: the gathered bytes must go before the slice.
        copy.send(format!("row\n{big}").as_bytes()).await.unwrap();
        copy.send_row(&[Some("20003"), Some("after")]).await.unwrap();
        assert_eq!(copy.finish().await.unwrap(), 20_003);
        let rows = conn
            .fetch(&format!("SELECT n, s FROM {t} WHERE n IN (1, 2, 3, 20002, 20003) ORDER BY n"), &[])
            .await
            .unwrap();
        let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0).unwrap(), r.get(1).unwrap())).collect();
        let want = [(1, "before"), (2, "split row"), (3, "big"), (20_002, "big"), (20_003, "after")];
        assert_eq!(got, want.map(|(n, s)| (n, s.to_string())));
        let sum: i64 = conn.fetch_value(&format!("SELECT sum(n) FROM {t}"), &[]).await.unwrap();
        assert_eq!(sum, 20_003 * 20_004 / 2);
    });
}

#[test]
fn copy_failures_are_errors_and_the_connection_goes_on() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = pg_common::table("copy_bad");
        conn.execute_script(&format!("CREATE TABLE {t} (n int)")).await.unwrap();

        // A row the server cannot parse fails the COPY at finish, naming the line.
        let mut copy = conn.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        copy.send(b"1\nnot a number\n").await.unwrap();
        let err = copy.finish().await.unwrap_err();
        assert!(matches!(&err, PgError::Server(db) if db.code == "22P02"), "{err:?}");
        assert!(err.to_string().contains("not a number"), "{err}");

        // An abort stores nothing.
        let mut copy = conn.copy_in(&format!("COPY {t} FROM STDIN")).await.unwrap();
        copy.send(b"5\n").await.unwrap();
        let ack = copy.abort("changed my mind").await.unwrap();
        assert_eq!(ack.code, "57014");
        assert!(ack.message.contains("changed my mind"), "{}", ack.message);

        // COPY FROM STDIN through execute (the extended protocol) is refused, not hung: the
        // server ignores the Sync sent with it while in COPY mode, so a second one follows.
        let err = rasgi_executor::timeout(Duration::from_secs(5), conn.execute(&format!("COPY {t} FROM STDIN"), &[]))
            .await
            .expect("answered, not hung")
            .unwrap_err();
        assert!(err.to_string().contains("Connection::copy_in"), "{err}");
        assert!(matches!(&err, PgError::Server(db) if db.code == "57014"), "{err:?}");
        let err = conn.simple_query(&format!("COPY {t} FROM STDIN")).await.unwrap_err();
        assert!(err.to_string().contains("Connection::copy_in"), "{err}");

        // No such table: the error comes from copy_in itself.
        let err = conn.copy_in("COPY no_such_table FROM STDIN").await.err().expect("an error");
        assert!(matches!(&err, PgError::Server(db) if db.code == "42P01"), "{err:?}");
        // A failing expression mid-way through COPY out arrives after the rows before it.
        let mut out = conn.copy_out("COPY (SELECT 1 / (2 - g) FROM generate_series(1, 3) g) TO STDOUT").await.unwrap();
        assert_eq!(out.next_chunk().await.unwrap().as_deref(), Some(&b"1\n"[..]));
        let err = out.next_chunk().await.unwrap_err();
        assert!(matches!(&err, PgError::Server(db) if db.code == "22012"), "{err:?}");
        drop(out);

        assert_eq!(conn.fetch_value::<i64>(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap(), 0);
    });
}

#[test]
fn an_unread_copy_out_holds_the_server_back() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let mut admin = pg_common::superuser(cluster).await;
        let pid = conn.backend_pid().expect("a backend pid");
        // About a gigabyte if it were all sent: far more than the socket buffers hold.
        let mut out =
            conn.copy_out("COPY (SELECT repeat('x', 1000) FROM generate_series(1, 1000000)) TO STDOUT").await.unwrap();
        assert_eq!(out.next_chunk().await.unwrap().map(|c| c.len()), Some(1001));
        // We stop reading; the server fills the socket and then waits for us.
        let mut waiting = false;
        for _ in 0..100 {
            let event: Option<String> = admin
                .fetch_value("SELECT wait_event::text FROM pg_stat_activity WHERE pid = $1", &[&pid])
                .await
                .unwrap();
            if event.as_deref() == Some("ClientWrite") {
                waiting = true;
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
        assert!(waiting, "the COPY backend never waited for the client");
        // Dropping the stream half-way: the next query cancels the rest and drains it.
        drop(out);
        assert_eq!(conn.fetch_value::<i32>("SELECT 1", &[]).await.unwrap(), 1);
    });
}
