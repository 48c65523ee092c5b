//! Faithful JSON: rows of a table with one column per type, converted by rasgi, against the
//! same rows converted by PostgreSQL's own `json_agg` — key for key in column order, and value
//! for value with the exact text, except floats, where both sides are read back as `f64`
//! (rasgi writes `0.00001` where PostgreSQL writes `1e-05`). json and jsonb documents that
//! serde_json's `Value` cannot hold (a number past `f64`, 200 levels of nesting, duplicate
//! keys) come through unchanged, and `row.get::<Value>()` on one says why it cannot.

mod pg_common;

use std::fmt;

use rasgi::pg::{rows_to_json, Connection};
use rasgi_executor::block_on;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON object read with its keys in order and each value's text untouched.
struct Object(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Object, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Object;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    entries.push(entry);
                }
                Ok(Object(entries))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// Column name, type, and a SQL literal for the first row; the second row is all NULLs.
const COLUMNS: &[(&str, &str, &str)] = &[
    ("b", "bool", "true"),
    ("i2", "int2", "-32768"),
    ("i4", "int4", "2147483647"),
    ("i8", "int8", "-9223372036854775808"),
    ("f4", "float4", "0.1"),
    ("f4big", "float4", "1e30"),
    ("f4nan", "float4", "'NaN'"),
    ("f8", "float8", "0.30000000000000004"),
    ("f8inf", "float8", "'-Infinity'"),
    ("f8small", "float8", "1e-5"),
    ("n", "numeric", "12345678901234567890123.4500"),
    ("nscale", "numeric(10,2)", "0"),
    ("nnan", "numeric", "'NaN'"),
    ("t", "text", "E'quote \" backslash \\\\ newline \\n tab \\t bell \\x07 é ✓'"),
    ("vc", "varchar(10)", "'varchar'"),
    ("bp", "char(5)", "'ab'"),
    ("nm", "name", "'a_name'"),
    ("ch", "\"char\"", "'x'"),
    ("by", "bytea", "'\\x00ff10'"),
    ("j", "json", r#"'{"z": 1, "a": [12345678901234567890123, 1e400], "z": 2}'"#),
    ("jb", "jsonb", r#"'{"z": 1, "a": [12345678901234567890123, 1e-400]}'"#),
    ("jdeep", "json", "(repeat('[', 200) || repeat(']', 200))::json"),
    ("jbdeep", "jsonb", "(repeat('{\"k\":', 150) || '1' || repeat('}', 150))::jsonb"),
    ("u", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
    ("d", "date", "'2024-02-29'"),
    ("dbc", "date", "'0044-03-15 BC'"),
    ("dinf", "date", "'infinity'"),
    ("tm", "time", "'23:59:58.25'"),
    ("ts", "timestamp", "'1999-12-31 23:59:59.5'"),
    ("tsbc", "timestamp", "'0100-01-01 12:00:00 BC'"),
    ("tz", "timestamptz", "'2024-01-31 12:00:00.000001+02'"),
    ("tzinf", "timestamptz", "'-infinity'"),
    ("ttz", "timetz", "'10:00:00+02'"),
    ("iv", "interval", "'1 year 2 mons 3 days 04:05:06.7'"),
    ("ip", "inet", "'192.168.0.1/24'"),
    ("net", "cidr", "'10.0.0.0/8'"),
    ("mac", "macaddr", "'08:00:2b:01:02:03'"),
    ("mac8", "macaddr8", "'08:00:2b:01:02:03:04:05'"),
    ("money", "money", "12.5"),
    ("bit", "bit(3)", "B'101'"),
    ("vbit", "varbit", "B'1'"),
    ("pt", "point", "'(1,2)'"),
    ("ln", "line", "'{1,2,3}'"),
    ("seg", "lseg", "'[(0,0),(1,1)]'"),
    ("bx", "box", "'(1,1),(0,0)'"),
    ("pth", "path", "'[(0,0),(1,1)]'"),
    ("poly", "polygon", "'((0,0),(1,1),(1,0))'"),
    ("circ", "circle", "'<(0,0),1>'"),
    ("x", "xml", "'<a>b</a>'"),
    ("tsv", "tsvector", "'a fat cat'"),
    ("tsq", "tsquery", "'fat & cat'"),
    ("r4", "int4range", "'[1,5)'"),
    ("rts", "tstzrange", "'[2024-01-01,2024-02-01)'"),
    ("mr", "int4multirange", "'{[1,3),[5,7)}'"),
    ("lsn", "pg_lsn", "'16/B374D848'"),
    ("o", "oid", "4294967295"),
    ("ai4", "int4[]", "'{1,NULL,-3}'"),
    ("ai8", "int8[]", "'{{1,2},{3,4}}'"),
    ("aempty", "int4[]", "'{}'"),
    ("atext", "text[]", r#"'{"a b","NULL",NULL,"q\"uote","back\\slash"}'"#),
    ("af4", "float4[]", "'{0.1,1e30,NaN}'"),
    ("af8", "float8[]", "'{1.5,-0,Infinity}'"),
    ("anum", "numeric[]", "'{1.10,NaN}'"),
    ("abool", "bool[]", "'{t,f}'"),
    ("abytea", "bytea[]", r#"'{"\\\\x01",""}'"#),
    ("auuid", "uuid[]", "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'"),
    ("adate", "date[]", "'{2024-01-01,infinity}'"),
    ("atz", "timestamptz[]", "'{2024-01-01 00:00:00+00}'"),
    ("ajson", "json[]", r#"ARRAY['{"b":1,"a":2}'::json, '[1e400]']"#),
    ("ajsonb", "jsonb[]", r#"ARRAY['{"b":1,"a":2}'::jsonb]"#),
    ("avc", "varchar[]", "'{x,y}'"),
    ("ainet", "inet[]", "'{127.0.0.1,::1}'"),
    ("aiv", "interval[]", "'{1 day,NULL,\"2 hours\"}'"),
    ("abox", "box[]", "'{(1,1),(0,0);(3,3),(2,2)}'"),
    ("amoney", "money[]", "'{1.5,2}'"),
    ("arange", "int4range[]", "'{\"[1,2)\",empty}'"),
    ("a3", "int4[]", "'[0:1][1:1][1:2]={{{1,2}},{{3,4}}}'"),
];

/// Floats (and arrays of them) are compared by value; everything else by its exact text.
fn compared_by_value(pg_type: &str) -> bool {
    pg_type.starts_with("float")
}

#[test]
fn rows_match_json_agg_for_every_column_type() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        // json_agg writes timestamptz in the session's zone; rasgi reads it in UTC.
        conn.execute_script("SET TimeZone = 'UTC'").await.unwrap();
        let t = pg_common::table("faithful");
        let columns: Vec<String> = COLUMNS.iter().map(|(name, ty, _)| format!("{name} {ty}")).collect();
        conn.execute_script(&format!("CREATE TABLE {t} (k int, {})", columns.join(", "))).await.unwrap();
        let values: Vec<&str> = COLUMNS.iter().map(|c| c.2).collect();
        conn.execute_script(&format!("INSERT INTO {t} VALUES (1, {})", values.join(", "))).await.unwrap();
        conn.execute_script(&format!("INSERT INTO {t} (k) VALUES (2)")).await.unwrap();

        let rows = conn.fetch(&format!("SELECT * FROM {t} ORDER BY k"), &[]).await.unwrap();
        let ours = rows_to_json(&rows).unwrap();
        let theirs: String = conn
            .fetch_value(&format!("SELECT json_agg(whole_row ORDER BY k)::text FROM {t} whole_row"), &[])
            .await
            .unwrap();

        let ours: Vec<Object> = serde_json::from_str(ours.get()).unwrap();
        let theirs: Vec<Object> = serde_json::from_str(&theirs).unwrap();
        assert_eq!(ours.len(), 2);
        assert_eq!(theirs.len(), 2);
        for (row, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
            let our_keys: Vec<&str> = ours.0.iter().map(|(k, _)| k.as_str()).collect();
            let their_keys: Vec<&str> = theirs.0.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(our_keys, their_keys, "row {row}: keys in column order");
            for ((name, ours), (_, theirs)) in ours.0.iter().zip(&theirs.0) {
                let pg_type = COLUMNS.iter().find(|c| c.0 == name).map_or("int", |c| c.1);
                if compared_by_value(pg_type) {
                    let ours: serde_json::Value = serde_json::from_str(ours.get()).unwrap();
                    let theirs: serde_json::Value = serde_json::from_str(theirs.get()).unwrap();
                    assert_eq!(ours, theirs, "row {row}, column {name} ({pg_type})");
                } else {
                    assert_eq!(ours.get(), theirs.get(), "row {row}, column {name} ({pg_type})");
                }
            }
        }
        assert!(COLUMNS.len() >= 55, "the comparison covers {} column types", COLUMNS.len());
    });
}

#[test]
fn documents_serde_json_refuses_still_pass_through_and_get_says_why() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn = pg_common::superuser(cluster).await;
        let doc = r#"{"z": 1, "big": 12345678901234567890123, "huge": 1e400, "z": 2}"#;
        let row = conn.fetch_one(&format!("SELECT '{doc}'::json AS j, 0.1::float4 AS r"), &[]).await.unwrap().unwrap();
        assert_eq!(row.to_json().unwrap().get(), format!(r#"{{"j":{doc},"r":0.1}}"#));
        let err = row.get::<serde_json::Value>("j").unwrap_err().to_string();
        assert!(err.contains("column j") || err.contains("\"j\""), "the error names the column: {err}");
        assert!(err.contains("Row::to_json"), "the error names the way out: {err}");
        assert_eq!(row.get::<serde_json::Value>("r").unwrap(), serde_json::json!(0.1));
    });
}

#[test]
fn text_format_arrays_of_unknown_element_types_stay_strings() {
    let cluster = cluster_or_skip!();
    block_on(async {
        let mut conn: Connection = pg_common::superuser(cluster).await;
        let mood = pg_common::table("mood");
        conn.execute_script(&format!("CREATE TYPE {mood} AS ENUM ('happy', 'sad')")).await.unwrap();
        // An enum's OID differs per database, so its array's element type is unknown to
        // rasgi: the value stays PostgreSQL's array text rather than being guessed at.
        let row = conn
            .fetch_one(&format!("SELECT 'happy'::{mood} AS m, ARRAY['sad'::{mood}] AS ms"), &[])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.to_json().unwrap().get(), r#"{"m":"happy","ms":"{sad}"}"#);
    });
}
