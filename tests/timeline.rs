//! The loop's timeline from the real demo binary: `/_rasgi/trace.json` after a sleeping,
//! a pool-using and a loop-blocking request is a Trace Event Format document whose rows
//! show exactly those three, made in pieces with the loop checking its sockets between
//! them, and `RASGI_TRACE_FILE` writes the same document, one process per worker loop,
//! when the server is stopped with SIGTERM.

mod app_support;

use std::collections::HashMap;
use std::path::PathBuf;

use app_support::{get, Demo};
use serde_json::Value;

/// A row of a trace: its process and thread ids.
type RowId = (u64, u64);

/// A parsed trace: the rows' names and each row's complete events in document order.
struct Trace {
    document: Value,
    names: HashMap<RowId, String>,
    rows: HashMap<RowId, Vec<Value>>,
}

impl Trace {
    fn parse(json: &str) -> Trace {
        let document: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
        assert_eq!(document["displayTimeUnit"], "ms");
        let events = document["traceEvents"].as_array().expect("a traceEvents array");
        let row = |e: &Value| (e["pid"].as_u64().expect("pid"), e["tid"].as_u64().expect("tid"));
        let mut names = HashMap::new();
        let mut rows: HashMap<RowId, Vec<Value>> = HashMap::new();
        for event in events {
            match event["ph"].as_str() {
                Some("M") if event["name"] == "thread_name" => {
                    let name = event["args"]["name"].as_str().expect("a thread name").to_owned();
                    assert!(names.insert(row(event), name).is_none(), "one name per row: {event}");
                }
                Some("M") => {
                    let kind = event["name"].as_str();
                    assert!(matches!(kind, Some("process_name" | "thread_sort_index")), "{event}");
                }
                Some("X") => rows.entry(row(event)).or_default().push(event.clone()),
                _ => panic!("only complete and metadata events: {event}"),
            }
        }
        Trace { document, names, rows }
    }

    /// The events of the rows whose name starts with `prefix`.
    fn rows_named(&self, prefix: &str) -> Vec<&Vec<Value>> {
        let mut ids: Vec<&RowId> = self.names.iter().filter(|(_, n)| n.starts_with(prefix)).map(|(id, _)| id).collect();
        ids.sort();
        ids.into_iter().filter_map(|id| self.rows.get(id)).collect()
    }

    /// Every row is named, and within a row the events follow one another without
    /// overlapping (checked in nanoseconds, the resolution the times are recorded in).
    fn assert_well_formed(&self) {
        for (id, events) in &self.rows {
            assert!(self.names.contains_key(id), "row {id:?} has no thread_name: {:?}", events.first());
            let extents: Vec<(i64, i64)> = events.iter().map(|e| (nanos(&e["ts"]), nanos(&e["dur"]))).collect();
            for (event, &(ts, dur)) in events.iter().zip(&extents) {
                assert!(ts >= 0 && dur >= 0, "{event}");
                assert!(event["cat"].is_string() && event["name"].is_string(), "{event}");
            }
            for pair in extents.windows(2) {
                assert!(pair[0].0 + pair[0].1 <= pair[1].0, "row '{}' overlaps or goes back: {pair:?}", self.names[id]);
            }
        }
    }
}

/// A time of the trace (microseconds, with decimals) in whole nanoseconds.
fn nanos(micros: &Value) -> i64 {
    (micros.as_f64().unwrap_or_else(|| panic!("a number of microseconds: {micros}")) * 1000.0).round() as i64
}

#[test]
fn trace_json_shows_the_sleep_the_pool_job_and_the_blocked_loop() {
    let demo = Demo::start(&[]);
    assert_eq!(get(demo.addr, "/async-route").status, 200);
    assert_eq!(get(demo.addr, "/cpu-task").status, 200);
    assert_eq!(get(demo.addr, "/blocking").status, 200);
    let reply = get(demo.addr, "/_rasgi/trace.json");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let trace = Trace::parse(&reply.body);
    trace.assert_well_formed();

    // One loop, one process, named after its thread.
    let processes: Vec<&Value> = trace.document["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["name"] == "process_name")
        .collect();
    assert_eq!(processes.len(), 1, "{processes:?}");
    assert_eq!(processes[0]["args"]["name"], "rasgi loop 1 (rasgi-worker-0)");

    // `/blocking` held the loop for 300 ms in one poll: a slow poll, named after the route.
    let blocking = trace.rows_named("GET /blocking (#");
    assert_eq!(blocking.len(), 1, "{:?}", trace.names);
    let slow: Vec<&Value> = blocking[0].iter().filter(|e| nanos(&e["dur"]) >= 300_000_000).collect();
    assert_eq!(slow.len(), 1, "{:?}", blocking[0]);
    assert_eq!(slow[0]["name"], "GET /blocking");
    assert_eq!(slow[0]["cat"], "poll");
    assert_eq!(slow[0]["args"]["slow"], true);
    assert_eq!(slow[0]["cname"], "terrible");
    assert!(blocking[0].iter().filter(|e| e["args"]["slow"] == true).count() == 1);

    // `/async-route` slept a second: the poll that answered it was woken by its timer,
    // a second after the task's first poll.
    let sleeping = trace.rows_named("GET /async-route (#");
    assert_eq!(sleeping.len(), 1, "{:?}", trace.names);
    let polls = sleeping[0];
    assert_eq!(polls[0]["args"]["wake"], "spawn", "the first poll is the spawn's: {polls:?}");
    assert_eq!(polls[0]["args"]["woken_by"], "spawned (first poll)");
    let timed: Vec<&Value> = polls.iter().filter(|e| e["args"]["wake"] == "timer").collect();
    assert_eq!(timed.len(), 1, "{polls:?}");
    assert_eq!(timed[0]["args"]["woken_by"], "a timer");
    assert_eq!(timed[0]["name"], "GET /async-route");
    let after = nanos(&timed[0]["ts"]) - nanos(&polls[0]["ts"]);
    assert!((1_000_000_000..3_000_000_000).contains(&after), "woken {after} ns after its first poll");

    // `/cpu-task` ran on the pool: a job submitted by its task, on a pool thread's row,
    // and the task's next poll was woken from that thread.
    let jobs: Vec<&Value> = trace.rows_named("blocking pool thread ").into_iter().flatten().collect();
    let cpu: Vec<&&Value> = jobs.iter().filter(|e| e["args"]["submitted_by"] == "GET /cpu-task").collect();
    assert_eq!(cpu.len(), 1, "{jobs:?}");
    assert_eq!(cpu[0]["name"], "blocking job");
    assert_eq!(cpu[0]["cat"], "blocking");
    let cpu_task = trace.rows_named("GET /cpu-task (#");
    assert_eq!(cpu_task.len(), 1, "{:?}", trace.names);
    let handed_back: Vec<&Value> = cpu_task[0].iter().filter(|e| e["args"]["wake"] == "thread").collect();
    assert_eq!(handed_back.len(), 1, "{:?}", cpu_task[0]);
    assert!(nanos(&handed_back[0]["ts"]) >= nanos(&cpu[0]["ts"]) + nanos(&cpu[0]["dur"]), "woken after the job ended");

    // The loop slept in epoll_wait between the requests, for the second of the sleep at
    // least.
    let sleeps = trace.rows_named("epoll sleep");
    assert_eq!(sleeps.len(), 1, "{:?}", trace.names);
    assert!(sleeps[0].iter().all(|e| e["name"] == "epoll_wait" && e["cat"] == "sleep"));
    assert!(sleeps[0].iter().any(|e| nanos(&e["dur"]) >= 900_000_000), "a long sleep: {:?}", sleeps[0]);
    assert!(sleeps[0].iter().all(|e| e["args"]["events"].is_u64()));

    // The live view's strip carries the same rows for its last ten seconds.
    let strip = &demo.state()["timeline"];
    assert_eq!(strip["window_ms"], 10_000.0);
    let rows = strip["rows"].as_array().expect("rows");
    assert_eq!(rows[0]["label"], "epoll sleep");
    assert_eq!(rows[0]["kind"], "sleep");
    let blocked: Vec<&Value> = rows
        .iter()
        .filter(|r| r["kind"] == "task" && r["label"].as_str().is_some_and(|l| l.starts_with("GET /blocking (#")))
        .collect();
    assert_eq!(blocked.len(), 1, "{rows:?}");
    let slow: Vec<&Value> =
        blocked[0]["spans"].as_array().expect("spans").iter().filter(|s| s["slow"] == true).collect();
    assert_eq!(slow.len(), 1, "{}", blocked[0]);
    assert!(slow[0]["duration_ms"].as_f64().is_some_and(|ms| ms >= 300.0), "{}", slow[0]);
    assert!(slow[0]["start_ms"].as_f64().is_some_and(|ms| (0.0..10_000.0).contains(&ms)), "{}", slow[0]);
    let title = slow[0]["title"].as_str().expect("title");
    assert!(title.starts_with("GET /blocking: slow poll of ") && title.contains(" ms, woken by "), "{title}");
    assert_eq!(rows.last().map(|r| &r["kind"]), Some(&Value::from("blocking")), "{rows:?}");
}

/// `/_rasgi/trace.json` is streamed: made 64 KiB at a time, with a yield after each
/// piece, so that a large trace does not hold the loop (a full ring, made whole, held it
/// for 57 ms). The trace taken next shows the first one's polls with the loop's sleeps
/// in `epoll_wait` between them: an I/O check for every piece.
#[test]
fn trace_json_is_streamed_with_the_loop_checking_its_sockets_between_pieces() {
    let demo = Demo::start(&[]);
    for _ in 0..500 {
        assert_eq!(get(demo.addr, "/").status, 200);
    }
    let first = get(demo.addr, "/_rasgi/trace.json");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("transfer-encoding"), Some("chunked"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    Trace::parse(&first.body).assert_well_formed();
    // Every piece but the last holds at least 64 KiB.
    let full_pieces = first.body.len() / (64 * 1024);
    assert!(full_pieces >= 2, "a trace of {} bytes is too small to show pieces", first.body.len());

    let second = Trace::parse(&get(demo.addr, "/_rasgi/trace.json").body);
    let served = second.rows_named("GET /_rasgi/trace.json (#");
    assert_eq!(served.len(), 1, "the first trace request's row: {:?}", second.names);
    let polls = served[0];
    let start = nanos(&polls[0]["ts"]);
    let end = polls.iter().map(|e| nanos(&e["ts"]) + nanos(&e["dur"])).max().expect("polls");
    let sleeps = second.rows_named("epoll sleep");
    let checks = sleeps[0].iter().filter(|e| nanos(&e["ts"]) >= start && nanos(&e["ts"]) + nanos(&e["dur"]) <= end);
    let checks = checks.count();
    assert!(
        checks >= full_pieces,
        "{checks} I/O checks while {} bytes were made in at least {full_pieces} pieces",
        first.body.len()
    );
    assert!(polls.len() > full_pieces, "{} polls for {full_pieces} pieces", polls.len());
}

/// A path for a trace file, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(label: &str) -> TempFile {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        TempFile(std::env::temp_dir().join(format!("rasgi-{label}-{}-{nanos}.json", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn rasgi_trace_file_is_written_at_sigterm_one_process_per_worker() {
    let file = TempFile::new("trace-file");
    let path = file.0.to_str().expect("a UTF-8 temp path");
    let demo = Demo::start_with(&["--workers", "2"], &[("RASGI_DEMO_DATABASE", "off"), ("RASGI_TRACE_FILE", path)]);
    assert_eq!(get(demo.addr, "/items/42?q=hello").status, 200);
    let status = demo.terminate();
    assert!(status.success(), "{status}");

    let json = std::fs::read_to_string(&file.0).expect("the trace file was written at exit");
    let trace = Trace::parse(&json);
    trace.assert_well_formed();
    let mut processes: Vec<String> = trace.document["traceEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["name"] == "process_name")
        .filter_map(|e| e["args"]["name"].as_str().map(str::to_owned))
        .collect();
    processes.sort();
    let workers: Vec<&String> = processes.iter().filter(|p| p.contains("(rasgi-worker-")).collect();
    assert_eq!(workers.len(), 2, "a process per worker loop: {processes:?}");
    assert!(
        workers.iter().any(|p| p.ends_with("(rasgi-worker-0)"))
            && workers.iter().any(|p| p.ends_with("(rasgi-worker-1)"))
    );
    // The request, served by whichever loop accepted it.
    let served = trace.rows_named("GET /items/{item_id} (#");
    assert_eq!(served.len(), 1, "{:?}", trace.names);
    assert!(served[0].iter().any(|e| e["name"] == "GET /items/{item_id}"), "{:?}", served[0]);
}
