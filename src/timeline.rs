//! The loop's timeline, drawn: rows for a strip chart, Chrome's Trace Event JSON, and
//! the trace file a server writes when it exits.
//!
//! The executor records ([`rasgi_executor::timeline`]): every poll of a task with what
//! woke it, every sleep of the reactor in `epoll_wait`, every blocking-pool job. This
//! module arranges those records into **rows** — one for the loop's sleeps, one per task,
//! one per blocking-pool thread — which the live view draws as SVG and
//! [`chrome_trace`] writes in the Trace Event Format that Perfetto (ui.perfetto.dev →
//! "Open trace file") and `chrome://tracing` (→ "Load") open:
//!
//! ```text
//! {"traceEvents": [
//!    {"ph":"M","name":"thread_name","pid":1,"tid":3,"args":{"name":"GET /blocking (#2)"}},
//!    {"ph":"X","name":"GET /blocking","cat":"poll","pid":1,"tid":3,"ts":1520.5,"dur":300114.2,
//!     "args":{"task":"#2","wake":"socket","woken_by":"socket 5 readable","slow":true}},
//!    ...],
//!  "displayTimeUnit":"ms"}
//! ```
//!
//! A task is labelled by what it did, not by the name it was spawned with: the server
//! spawns every connection as `http connection`, and the application renames it after
//! the route it serves for as long as it serves it ([`work_name`]). So the row of a
//! connection that answered `GET /blocking` is `GET /blocking (#2)`, and each of its
//! polls is named after the route it worked for.
//!
//! Every event is a *complete* event (`"ph":"X"`: a start `ts` and a duration `dur`, in
//! microseconds from the process's timeline epoch), so no begin/end pair can be left
//! unmatched by a full ring. Each loop is a process (`pid` = the loop's number, named
//! after its thread by a `process_name` event) and each row a thread (`tid`, named by a
//! `thread_name` event, ordered by `thread_sort_index`). The rows never overlap within
//! themselves: one loop polls one task at a time, and a pool thread runs one job at a
//! time.
//!
//! Python's counterparts: `viztracer` and `py-spy`'s Chrome output draw Python programs
//! on the same viewers; asyncio itself keeps no timeline (debug mode only warns past
//! `loop.slow_callback_duration`).
//!
//! `RASGI_TRACE_FILE=/path/trace.json` ([`trace_file_from_env`]) switches recording on
//! for the whole process and keeps each loop's timeline when its runtime ends; the demo
//! binary writes them all into that one file after its graceful shutdown
//! ([`write_trace_file`]), each worker loop as its own process in the viewer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rasgi_executor::task::TaskId;
use rasgi_executor::timeline::{self, JobView, PollRecord, SleepRecord, Timeline};
use serde_json::{json, Value};

/// The environment variable naming the trace file written at exit.
pub const TRACE_FILE_VAR: &str = "RASGI_TRACE_FILE";

/// What a row of the timeline shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// The loop's sleeps in `epoll_wait`.
    Sleep,
    /// The polls of one task under one name.
    Task,
    /// The jobs one blocking-pool thread ran for this loop.
    Blocking,
}

/// One row of the timeline.
#[derive(Clone, Debug)]
pub struct Row<'a> {
    /// What the row shows.
    pub kind: RowKind,
    /// Its label: `epoll sleep`, `GET /async-route (#4)`, `blocking pool thread 1`.
    pub label: String,
    /// Its spans, oldest first and never overlapping.
    pub spans: Vec<Span<'a>>,
}

/// One span of a row: a record of the executor's timeline.
#[derive(Clone, Copy, Debug)]
pub enum Span<'a> {
    /// A poll of the row's task, with the name it worked under ([`work_name`]).
    Poll(&'a PollRecord, Option<&'a str>),
    /// A sleep of the reactor.
    Sleep(&'a SleepRecord),
    /// A blocking-pool job.
    Job(&'a JobView),
}

impl Span<'_> {
    /// Start and duration, in nanoseconds from the timeline's epoch.
    pub fn extent(&self) -> (u64, u64) {
        match self {
            Span::Poll(p, _) => (p.start_ns, p.duration_ns),
            Span::Sleep(s) => (s.start_ns, s.duration_ns),
            Span::Job(j) => (j.start_ns, j.duration_ns),
        }
    }

    /// Whether the span held the loop past the slow-poll threshold.
    pub fn slow(&self) -> bool {
        matches!(self, Span::Poll(p, _) if p.slow)
    }

    /// One line saying what the span was, for a tooltip.
    pub fn describe(&self) -> String {
        match self {
            Span::Poll(p, name) => format!(
                "{}: {}poll of {:.3} ms, woken by {}",
                name.unwrap_or("unnamed"),
                if p.slow { "slow " } else { "" },
                p.duration_ns as f64 / 1e6,
                p.woken_by
            ),
            Span::Sleep(s) => format!(
                "epoll_wait for {:.3} ms (asked: {}), {} event(s)",
                s.duration_ns as f64 / 1e6,
                timeout_label(s.timeout),
                s.events
            ),
            Span::Job(j) => format!(
                "blocking job of {:.3} ms, submitted by {}",
                j.duration_ns as f64 / 1e6,
                j.submitted_by.as_deref().unwrap_or("an unnamed task")
            ),
        }
    }
}

/// `until a timer, 12.5 ms`, `no wait (tasks were ready)`, `no limit`.
fn timeout_label(timeout: Option<std::time::Duration>) -> String {
    match timeout {
        None => "no limit".to_owned(),
        Some(t) if t.is_zero() => "no wait (tasks were ready)".to_owned(),
        Some(t) => format!("up to {:.3} ms", t.as_secs_f64() * 1000.0),
    }
}

/// `GET /async-route (#4)`, or `task #4` for an unnamed task: the live view's label.
pub fn task_label(name: Option<&str>, id: TaskId) -> String {
    match name {
        Some(name) => format!("{name} ({id})"),
        None => format!("task {id}"),
    }
}

/// The name a poll worked under: its name when it began, unless that is the name the
/// task was spawned with (`spawned_as`) and the poll renamed it — then the new name. The
/// connection task's poll that reads `GET /blocking`, renames itself after the route,
/// blocks and renames itself back is `GET /blocking`; so is the poll that a timer wakes
/// in the middle of `GET /async-route` and that answers it.
pub fn work_name<'a>(poll: &'a PollRecord, spawned_as: Option<&str>) -> Option<&'a str> {
    match (&poll.name, &poll.renamed_to) {
        (name, Some(renamed)) if name.as_deref() == spawned_as => Some(renamed),
        (name, _) => name.as_deref(),
    }
}

/// The label of a task's row: the names its polls worked under, without the name it was
/// spawned with when it has others (`GET /a · GET /b (#4)` for a keep-alive connection
/// that served both), at most three.
fn row_label(id: TaskId, names: &[Option<&str>]) -> String {
    let spawned_as = names.first().copied().flatten();
    let mut shown: Vec<&str> = names.iter().flatten().copied().filter(|n| Some(*n) != spawned_as).collect();
    if shown.is_empty() {
        return task_label(spawned_as, id);
    }
    let more = shown.len() > 3;
    shown.truncate(3);
    let mut label = shown.join(" · ");
    if more {
        label.push_str(" · …");
    }
    task_label(Some(&label), id)
}

/// What [`rows`] gathers about one task.
struct TaskRow<'a> {
    /// The index of its row.
    at: usize,
    /// The name its first recorded poll began with.
    spawned_as: Option<&'a str>,
    /// The distinct names its polls worked under, in order, starting with `spawned_as`.
    names: Vec<Option<&'a str>>,
}

/// The rows of one loop's timeline: its sleeps, then its tasks in the order they first
/// ran, then its blocking-pool threads by number. Rows without spans are left out.
pub fn rows(timeline: &Timeline) -> Vec<Row<'_>> {
    let mut rows = Vec::new();
    if !timeline.sleeps.is_empty() {
        let spans = timeline.sleeps.iter().map(Span::Sleep).collect();
        rows.push(Row { kind: RowKind::Sleep, label: "epoll sleep".to_owned(), spans });
    }
    let mut tasks: HashMap<TaskId, TaskRow<'_>> = HashMap::new();
    for poll in &timeline.polls {
        let task = tasks.entry(poll.task).or_insert_with(|| {
            rows.push(Row { kind: RowKind::Task, label: String::new(), spans: Vec::new() });
            TaskRow { at: rows.len() - 1, spawned_as: poll.name.as_deref(), names: vec![poll.name.as_deref()] }
        });
        let name = work_name(poll, task.spawned_as);
        if !task.names.contains(&name) {
            task.names.push(name);
        }
        rows[task.at].spans.push(Span::Poll(poll, name));
    }
    for (id, task) in tasks {
        rows[task.at].label = row_label(id, &task.names);
    }
    let mut threads: Vec<u32> = timeline.jobs.iter().map(|j| j.thread).collect();
    threads.sort_unstable();
    threads.dedup();
    for thread in threads {
        let mut spans: Vec<Span<'_>> = timeline.jobs.iter().filter(|j| j.thread == thread).map(Span::Job).collect();
        spans.sort_by_key(Span::extent);
        rows.push(Row { kind: RowKind::Blocking, label: format!("blocking pool thread {thread}"), spans });
    }
    rows
}

/// Nanoseconds as the format's microseconds, keeping the nanoseconds as decimals.
fn micros(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// The timelines as one Trace Event Format document (see the module documentation).
pub fn chrome_trace(timelines: &[Timeline]) -> Value {
    let mut events = Vec::new();
    for timeline in timelines {
        let pid = timeline.loop_number;
        events.push(json!({
            "ph": "M", "name": "process_name", "pid": pid, "tid": 0,
            "args": {"name": format!("rasgi loop {} ({})", pid, timeline.thread)},
        }));
        for (index, row) in rows(timeline).iter().enumerate() {
            // Row 0 is a valid tid, but some viewers treat tid 0 as "the process": start at 1.
            let tid = index + 1;
            events.push(json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": row.label}}));
            events.push(
                json!({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": index}}),
            );
            for span in &row.spans {
                events.push(span_event(span, pid, tid));
            }
        }
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms"})
}

/// One span as a complete (`"ph":"X"`) event.
fn span_event(span: &Span<'_>, pid: usize, tid: usize) -> Value {
    let (start, duration) = span.extent();
    let (name, cat, args) = match span {
        Span::Poll(p, name) => (
            name.unwrap_or("poll"),
            "poll",
            json!({"task": p.task.to_string(), "wake": p.woken_by.kind(), "woken_by": p.woken_by.to_string(), "slow": p.slow}),
        ),
        Span::Sleep(s) => (
            "epoll_wait",
            "sleep",
            json!({
                "events": s.events,
                "timeout_ms": s.timeout.map(|t| t.as_secs_f64() * 1000.0),
                "timeout": timeout_label(s.timeout),
            }),
        ),
        Span::Job(j) => ("blocking job", "blocking", json!({"submitted_by": j.submitted_by})),
    };
    let mut event = json!({
        "ph": "X", "name": name, "cat": cat, "pid": pid, "tid": tid,
        "ts": micros(start), "dur": micros(duration), "args": args,
    });
    if span.slow() {
        // One of the trace viewer's reserved colour names: a red slice. Perfetto picks
        // its own colours and ignores it.
        event["cname"] = json!("terrible");
    }
    event
}

/// Reads [`TRACE_FILE_VAR`]: when set (and not empty), switches the timeline on for the
/// whole process, keeps each loop's timeline when its runtime ends, and returns the path
/// [`write_trace_file`] should write at exit.
pub fn trace_file_from_env() -> Option<PathBuf> {
    let path = std::env::var_os(TRACE_FILE_VAR).filter(|p| !p.is_empty())?;
    timeline::keep_finished_loops();
    Some(PathBuf::from(path))
}

/// Writes the timelines of every loop that has finished (and of this thread's, if it ran
/// one) to `path` as one Trace Event Format file. Returns how many events it holds.
pub fn write_trace_file(path: &Path) -> std::io::Result<usize> {
    let mut timelines = timeline::take_archive();
    let here = timeline::snapshot(None);
    if here.loop_number != 0 {
        timelines.push(here);
    }
    timelines.sort_by_key(|t| t.loop_number);
    let document = chrome_trace(&timelines);
    let count = document["traceEvents"].as_array().map_or(0, Vec::len);
    let bytes = serde_json::to_vec(&document).map_err(std::io::Error::other)?;
    std::fs::write(path, bytes)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_recorded_loop_becomes_named_rows_of_complete_events() {
        let timeline = rasgi_executor::block_on(async {
            rasgi_executor::timeline::set_enabled(true);
            rasgi_executor::spawn_named("napper", rasgi_executor::sleep(Duration::from_millis(5))).await.unwrap();
            let recorded = timeline::snapshot(None);
            rasgi_executor::timeline::set_enabled(false);
            recorded
        });
        let document = chrome_trace(&[timeline]);
        assert_eq!(document["displayTimeUnit"], "ms");
        let events = document["traceEvents"].as_array().expect("traceEvents");
        let named = |label: &str| {
            events
                .iter()
                .find(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == label)
                .map(|e| e["tid"].clone())
        };
        let napper = events
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .find(|e| e["args"]["name"].as_str().is_some_and(|n| n.starts_with("napper (#")))
            .map(|e| e["tid"].clone())
            .expect("a row for the napper");
        assert!(named("epoll sleep").is_some(), "{document:#}");
        let polls: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X" && e["tid"] == napper).collect();
        let wakes: Vec<&Value> = polls.iter().map(|p| &p["args"]["wake"]).collect();
        assert_eq!(wakes, [&json!("spawn"), &json!("timer")], "{polls:?}");
        assert!(polls.iter().all(|p| p["cat"] == "poll" && p["name"] == "napper" && p["ts"].is_f64()));
    }
}
