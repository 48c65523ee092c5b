//! Types: every listed PostgreSQL type round-trips through a real server (as a parameter and
//! back as a column, NULL included), rows become JSON objects the way the seed's `dict(row)`
//! does, and 100,000 rows stream in time proportional to their number.

mod pg_common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rasgi::pg::{Connection, Date, Numeric, PgError, Time, Timestamp, TimestampTz, ToSql, Uuid};
use rasgi_executor::block_on;
use serde_json::json;

/// Sends `value` as `$1::<pg_type>`, reads the column back as `T`, and checks it is unchanged;
/// then does the same with a NULL.
async fn round_trip<T>(conn: &mut Connection, pg_type: &str, value: T)
where
    T: ToSql + for<'a> rasgi::pg::FromSql<'a> + PartialEq + std::fmt::Debug,
{
    let sql = format!("SELECT $1::{pg_type}");
    let back: T = conn.fetch_value(&sql, &[&value]).await.unwrap_or_else(|e| panic!("{pg_type}: {e}"));
    assert_eq!(back, value, "{pg_type}");
    let null: Option<T> = conn.fetch_value(&sql, &[&None::<T>]).await.unwrap_or_else(|e| panic!("{pg_type} NULL: {e}"));
    assert_eq!(null, None, "{pg_type} NULL");
}

#[test]
fn every_type_round_trips_with_nulls() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        round_trip(&mut conn, "bool", true).await;
        round_trip(&mut conn, "bool", false).await;
        round_trip(&mut conn, "int2", -12345i16).await;
        round_trip(&mut conn, "int4", i32::MIN).await;
        round_trip(&mut conn, "int8", i64::MAX).await;
        round_trip(&mut conn, "float4", 1.5f32).await;
        round_trip(&mut conn, "float8", 0.1f64 + 0.2).await;
        round_trip(&mut conn, "float8", f64::INFINITY).await;
        round_trip(&mut conn, "numeric", Numeric::new("-12345678901234567890.0001234").unwrap()).await;
        round_trip(&mut conn, "numeric", Numeric::new("0.00").unwrap()).await;
        round_trip(&mut conn, "numeric", Numeric::new("NaN").unwrap()).await;
        round_trip(&mut conn, "text", "héllo, wörld ✓".to_string()).await;
        round_trip(&mut conn, "varchar", "varchar".to_string()).await;
        round_trip(&mut conn, "bytea", vec![0u8, 1, 2, 254, 255]).await;
        round_trip(&mut conn, "json", json!({"a": [1, 2.5, null], "b": "c"})).await;
        round_trip(&mut conn, "jsonb", json!({"nested": {"ok": true}})).await;
        round_trip(&mut conn, "uuid", Uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap()).await;
        round_trip(&mut conn, "date", Date::from_ymd(2024, 2, 29).unwrap()).await;
        round_trip(&mut conn, "date", Date::from_ymd(-43, 3, 15).unwrap()).await;
        round_trip(&mut conn, "date", Date::INFINITY).await;
        round_trip(&mut conn, "time", Time::from_hms_micro(23, 59, 58, 999_999).unwrap()).await;
        let ts =
            Timestamp::new(Date::from_ymd(1999, 12, 31).unwrap(), Time::from_hms_micro(23, 59, 59, 500_000).unwrap());
        round_trip(&mut conn, "timestamp", ts).await;
        round_trip(&mut conn, "timestamptz", TimestampTz::from_utc(ts)).await;
        let now = UNIX_EPOCH + Duration::from_micros(1_700_000_000_654_321);
        round_trip(&mut conn, "timestamptz", now).await;
        // Arrays of these, NULL elements included.
        round_trip(&mut conn, "int4[]", vec![Some(1i32), None, Some(-3)]).await;
        round_trip(&mut conn, "int8[]", Vec::<i64>::new()).await;
        round_trip(&mut conn, "text[]", vec!["a".to_string(), "b c".to_string(), "\"q\"".to_string()]).await;
        round_trip(&mut conn, "float8[]", vec![1.5f64, -0.0]).await;
        round_trip(&mut conn, "bool[]", vec![true, false]).await;
        round_trip(&mut conn, "bytea[]", vec![vec![1u8], vec![]]).await;
        round_trip(&mut conn, "uuid[]", vec![Uuid([7; 16])]).await;
        round_trip(&mut conn, "date[]", vec![Date::from_ymd(2000, 1, 1).unwrap()]).await;
        round_trip(&mut conn, "timestamptz[]", vec![TimestampTz(0), TimestampTz(-1)]).await;
        round_trip(&mut conn, "numeric[]", vec![Numeric::new("1.10").unwrap()]).await;
        round_trip(&mut conn, "jsonb[]", vec![json!(1), json!({"x": []})]).await;
        round_trip(&mut conn, "varchar[]", vec![Some("x".to_string()), None]).await;
    });
}

#[test]
fn table_columns_of_every_type_and_their_nulls() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let t = pg_common::table("alltypes");
        conn.execute_script(&format!(
            "CREATE TABLE {t} (b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric(10,3), \
             t text, v varchar(20), by bytea, j json, jb jsonb, u uuid, d date, tm time, ts timestamp, \
             tz timestamptz, ai int4[], at text[])"
        ))
        .await
        .unwrap();
        let insert =
            format!("INSERT INTO {t} VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)");
        let date = Date::from_ymd(2024, 1, 31).unwrap();
        let time = Time::from_hms_micro(12, 30, 0, 0).unwrap();
        // Deliberately loose Rust types: i64 into int2/int4, a &str into numeric and date.
        let inserted = conn
            .execute(
                &insert,
                &[
                    &true,
                    &7i64,
                    &70000i64,
                    &-5i32,
                    &2.5f64,
                    &-1e300f64,
                    &"1234.5678",
                    &"text",
                    &"varchar",
                    &b"\x00\xff".as_slice(),
                    &json!([1, "two"]),
                    &json!({"k": "v"}),
                    &Uuid([0xab; 16]),
                    &"2024-01-31",
                    &time,
                    &Timestamp::new(date, time),
                    &TimestampTz::from_utc(Timestamp::new(date, time)),
                    &vec![1i32, 2, 3],
                    &vec!["x", "y"],
                ],
            )
            .await
            .unwrap();
        assert_eq!(inserted, 1);
        let nulls: Vec<&dyn ToSql> = vec![&None::<i32>; 19];
        conn.execute(&insert, &nulls).await.unwrap();

        let rows = conn.fetch(&format!("SELECT * FROM {t} ORDER BY b NULLS LAST"), &[]).await.unwrap();
        assert_eq!(rows.len(), 2);
        let row = &rows[0];
        assert!(row.get::<bool>("b").unwrap());
        assert_eq!(row.get::<i16>("i2").unwrap(), 7);
        assert_eq!(row.get::<i32>("i4").unwrap(), 70000);
        assert_eq!(row.get::<i64>("i8").unwrap(), -5);
        assert_eq!(row.get::<f32>("f4").unwrap(), 2.5);
        assert_eq!(row.get::<f64>("f8").unwrap(), -1e300);
        assert_eq!(row.get::<Numeric>("n").unwrap().as_str(), "1234.568"); // numeric(10,3) rounds
        assert_eq!(row.get::<&str>("t").unwrap(), "text");
        assert_eq!(row.get::<String>("v").unwrap(), "varchar");
        assert_eq!(row.get::<&[u8]>("by").unwrap(), b"\x00\xff");
        assert_eq!(row.get::<serde_json::Value>("j").unwrap(), json!([1, "two"]));
        assert_eq!(row.get::<serde_json::Value>("jb").unwrap(), json!({"k": "v"}));
        assert_eq!(row.get::<Uuid>("u").unwrap(), Uuid([0xab; 16]));
        assert_eq!(row.get::<Date>("d").unwrap(), date);
        assert_eq!(row.get::<Time>("tm").unwrap(), time);
        assert_eq!(row.get::<Timestamp>("ts").unwrap(), Timestamp::new(date, time));
        assert_eq!(row.get::<TimestampTz>("tz").unwrap().to_string(), "2024-01-31T12:30:00+00:00");
        assert_eq!(row.get::<Vec<i32>>("ai").unwrap(), [1, 2, 3]);
        assert_eq!(row.get::<Vec<&str>>("at").unwrap(), ["x", "y"]);

        let nulls = &rows[1];
        for (i, column) in nulls.columns().iter().enumerate() {
            assert!(nulls.is_null(i).unwrap(), "{} should be NULL", column.name());
        }
        assert_eq!(nulls.get::<Option<i32>>("i4").unwrap(), None);
        let err = nulls.get::<i32>("i4").unwrap_err();
        assert!(err.to_string().contains("Option"), "a NULL into i32 should suggest Option: {err}");
        let all_null: Vec<String> = nulls.columns().iter().map(|c| format!("\"{}\":null", c.name())).collect();
        assert_eq!(nulls.to_json().unwrap().get(), format!("{{{}}}", all_null.join(",")));
    });
}

#[test]
fn rows_become_json_objects() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let row = conn
            .fetch_one(
                r#"SELECT 1::int4 AS a, 'x'::text AS b, NULL::int AS c, 1.50::numeric AS d,
                          0.1000000000000000000001::numeric AS d2, '{"k": [1, 2]}'::jsonb AS e,
                          ARRAY[[1, 2], [3, 4]] AS f, '2024-01-31'::date AS g,
                          '2024-01-31 12:00:00.25+02'::timestamptz AS h, '\x0102'::bytea AS i,
                          interval '1 day 2 hours' AS j, 'NaN'::float8 AS k, true AS l,
                          '00000000-0000-0000-0000-000000000001'::uuid AS m"#,
                &[],
            )
            .await
            .unwrap()
            .unwrap();
        // Exact text: column order, numerics with their scale, the jsonb text as the server
        // printed it, microseconds without trailing zeros (as json_agg writes them).
        let expected = concat!(
            r#"{"a":1,"b":"x","c":null,"d":1.50,"d2":0.1000000000000000000001,"e":{"k": [1, 2]},"#,
            r#""f":[[1,2],[3,4]],"g":"2024-01-31","h":"2024-01-31T10:00:00.25+00:00","i":"\\x0102","#,
            r#""j":"1 day 02:00:00","k":"NaN","l":true,"m":"00000000-0000-0000-0000-000000000001"}"#
        );
        assert_eq!(row.to_json().unwrap().get(), expected);
        // Rows serialize directly, too (a handler can return them as a body), to the same text.
        assert_eq!(serde_json::to_string(&row).unwrap(), expected);
        // The simple protocol returns text; JSON still gets numbers and booleans.
        let rows = conn.simple_query("SELECT 42 AS n, 'a' AS s, true AS t, 2.50::numeric AS d").await.unwrap();
        assert_eq!(rows[0].to_json().unwrap().get(), r#"{"n":42,"s":"a","t":true,"d":2.50}"#);
        assert_eq!(rows[0].get::<i32>("n").unwrap(), 42);
    });
}

#[test]
fn conversions_that_cannot_work_say_why() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let err = conn.fetch_value::<i32>("SELECT $1::int4", &[&(1i64 << 40)]).await.unwrap_err();
        assert!(matches!(err, PgError::Encode { param: 1, .. }), "{err:?}");
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = conn.fetch_value::<i32>("SELECT 'x'::text AS label", &[]).await.unwrap_err();
        assert!(err.to_string().contains("label") && err.to_string().contains("text"), "{err}");
        let err = conn.fetch("SELECT $1::int4, $2::int4", &[&1]).await.unwrap_err();
        assert!(err.to_string().contains("2 parameter(s) but 1"), "{err}");
        let row = conn.fetch_one("SELECT 1 AS one", &[]).await.unwrap().unwrap();
        assert!(row.get::<i32>("two").unwrap_err().to_string().contains("one"));
        // None of that hurt the connection.
        assert_eq!(conn.fetch_value::<i32>("SELECT 5", &[]).await.unwrap(), 5);
    });
}

#[test]
fn hundred_thousand_rows_stream_in_linear_time() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let sql = "SELECT g, g::text, now() FROM generate_series(1, $1::int4) g";
        // Warm up: prepare the statement, grow the buffers.
        conn.fetch(sql, &[&1000]).await.unwrap();
        let mut timings = Vec::new();
        for n in [10_000i32, 100_000] {
            let started = Instant::now();
            let rows = conn.fetch(sql, &[&n]).await.unwrap();
            let mut sum = 0i64;
            for row in &rows {
                sum += row.get::<i32>(0).unwrap() as i64;
                assert!(!row.get::<&str>(1).unwrap().is_empty());
                let _: SystemTime = row.get(2).unwrap();
            }
            assert_eq!(rows.len(), n as usize);
            assert_eq!(sum, n as i64 * (n as i64 + 1) / 2);
            timings.push(started.elapsed());
        }
        // Ten times the rows should take about ten times as long; quadratic cost would make
        // it a hundred. The bound is loose because CI machines are noisy.
        let (small, large) = (timings[0], timings[1]);
        assert!(large < small * 40 + Duration::from_millis(300), "10k rows: {small:?}, 100k rows: {large:?}");
        assert!(large < Duration::from_secs(10), "100k rows took {large:?}");
    });
}

#[test]
fn fetch_one_asks_for_one_row_and_execute_counts() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        // With a row limit of one the server stops after the first row: the second row's
        // division by zero is never evaluated. Fetching every row would fail on it.
        let sql = "SELECT CASE WHEN g = 1 THEN g ELSE 1 / (g - g) END FROM generate_series(1, 3) g";
        let row = conn.fetch_one(sql, &[]).await.unwrap().unwrap();
        assert_eq!(row.get::<i32>(0).unwrap(), 1);
        let all = conn.fetch(sql, &[]).await.unwrap_err();
        assert!(matches!(&all, PgError::Server(db) if db.code == "22012"), "{all:?}");
        assert!(conn.fetch_one("SELECT 1 WHERE false", &[]).await.unwrap().is_none());
        assert!(matches!(conn.fetch_value::<i32>("SELECT 1 WHERE false", &[]).await, Err(PgError::NoRows)));

        let t = pg_common::table("counted");
        conn.execute_script(&format!("CREATE TABLE {t} (id int)")).await.unwrap();
        assert_eq!(conn.execute(&format!("INSERT INTO {t} SELECT generate_series(1, 5)"), &[]).await.unwrap(), 5);
        assert_eq!(conn.execute(&format!("UPDATE {t} SET id = id + 1 WHERE id > $1"), &[&2]).await.unwrap(), 3);
        assert_eq!(conn.execute(&format!("DELETE FROM {t}"), &[]).await.unwrap(), 5);
    });
}
