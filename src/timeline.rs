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
use serde::Serialize;

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
/// connection task's poll that reads `GET /blocking`, renames itself after the route and
/// blocks (it goes back to `http connection` only when it parks) is `GET /blocking`; so is
/// the poll that a timer wakes
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

/// A Trace Event Format document: what [`chrome_trace`] builds, serialised as is.
///
/// Typed rather than a `serde_json::Value`: a full ring is 50,000 events, and building
/// a map per event would take several times longer, on the loop.
#[derive(Debug, Serialize)]
pub struct TraceDocument<'a> {
    /// The events: metadata first for each row, then the row's spans.
    #[serde(rename = "traceEvents")]
    pub trace_events: Vec<TraceEvent<'a>>,
    /// How the viewer shows times (`ms`); the events' own unit is always microseconds.
    #[serde(rename = "displayTimeUnit")]
    pub display_time_unit: &'static str,
}

/// One event of a [`TraceDocument`].
#[derive(Debug, Serialize)]
pub struct TraceEvent<'a> {
    /// The phase: `M` (metadata) or `X` (a complete event: a start and a duration).
    pub ph: &'static str,
    /// The metadata's kind (`thread_name`), or the span's name (`GET /blocking`).
    pub name: &'a str,
    /// The span's category (`poll`, `sleep`, `blocking`); none on metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cat: Option<&'static str>,
    /// The loop's number.
    pub pid: usize,
    /// The row's number within the loop (0 for the process's own metadata).
    pub tid: usize,
    /// The start, in microseconds from the timeline's epoch (spans only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<f64>,
    /// The duration, in microseconds (spans only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dur: Option<f64>,
    /// A reserved colour name of the trace viewer (`terrible`: red) for a slow poll.
    /// Perfetto picks its own colours and ignores it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cname: Option<&'static str>,
    /// What the viewer shows when the event is selected.
    pub args: TraceArgs<'a>,
}

/// The `args` of a [`TraceEvent`], one shape per kind of event.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum TraceArgs<'a> {
    /// `process_name` and `thread_name`.
    Name {
        /// The name.
        name: String,
    },
    /// `thread_sort_index`: the row's place, top first.
    SortIndex {
        /// The place.
        sort_index: usize,
    },
    /// A poll.
    Poll {
        /// The task's id (`#4`).
        task: String,
        /// What woke it, in one word ([`rasgi_executor::timeline::WakeCause::kind`]).
        wake: &'static str,
        /// What woke it, in words (`socket 5 readable`).
        woken_by: String,
        /// It held the loop past the slow-poll threshold.
        slow: bool,
    },
    /// A sleep in `epoll_wait`.
    Sleep {
        /// Readiness events returned.
        events: usize,
        /// The timeout asked, in milliseconds; `null` for none.
        timeout_ms: Option<f64>,
        /// The timeout asked, in words.
        timeout: String,
    },
    /// A blocking-pool job.
    Job {
        /// The task that submitted it.
        submitted_by: Option<&'a str>,
    },
}

/// The timelines as one Trace Event Format document (see the module documentation).
pub fn chrome_trace(timelines: &[Timeline]) -> TraceDocument<'_> {
    TraceDocument { trace_events: trace_events(timelines).collect(), display_time_unit: "ms" }
}

/// The document's events, made one at a time as they are asked for: for each loop its
/// `process_name`, then for each row its `thread_name` and `thread_sort_index`, then the
/// row's spans.
pub fn trace_events(timelines: &[Timeline]) -> impl Iterator<Item = TraceEvent<'_>> {
    let metadata = |name, pid, tid, args| TraceEvent {
        ph: "M",
        name,
        cat: None,
        pid,
        tid,
        ts: None,
        dur: None,
        cname: None,
        args,
    };
    timelines.iter().flat_map(move |timeline| {
        let pid = timeline.loop_number;
        let process = format!("rasgi loop {} ({})", pid, timeline.thread);
        let named = metadata("process_name", pid, 0, TraceArgs::Name { name: process });
        let rows = rows(timeline).into_iter().enumerate().flat_map(move |(index, row)| {
            // Rows are numbered from 1: tid 0 is where the process-wide `process_name` sits.
            let tid = index + 1;
            let sort = metadata("thread_sort_index", pid, tid, TraceArgs::SortIndex { sort_index: index });
            [metadata("thread_name", pid, tid, TraceArgs::Name { name: row.label }), sort]
                .into_iter()
                .chain(row.spans.into_iter().map(move |span| span_event(&span, pid, tid)))
        });
        std::iter::once(named).chain(rows)
    })
}

/// The serialised document in pieces of a little over `size` bytes each, made as they
/// are asked for; joined, they are exactly `serde_json::to_vec(&chrome_trace(..))`.
///
/// For `/_rasgi/trace.json`, which runs on the loop it reports on: a full ring is about
/// 9 MB of JSON, and made whole it held the loop for 57 ms (measured with the demo after
/// 3 s of `wrk`). Made a piece at a time with a yield between pieces, the loop checks
/// its sockets and runs its other tasks in between.
pub struct TracePieces<I> {
    /// The events still to write.
    events: I,
    /// The target size of a piece.
    size: usize,
    /// The opening (`{"traceEvents":[`) has been written.
    opened: bool,
    /// An event has been written: every later one is preceded by a comma.
    any_event: bool,
    /// The closing has been written: nothing is left.
    closed: bool,
}

/// [`TracePieces`] over `timelines`.
pub fn trace_pieces(timelines: &[Timeline], size: usize) -> TracePieces<impl Iterator<Item = TraceEvent<'_>>> {
    TracePieces { events: trace_events(timelines), size, opened: false, any_event: false, closed: false }
}

impl<'a, I: Iterator<Item = TraceEvent<'a>>> Iterator for TracePieces<I> {
    type Item = Vec<u8>;

    /// Events until the piece holds `size` bytes, or the closing after the last one:
    /// at least one of the two, however small `size` is.
    fn next(&mut self) -> Option<Vec<u8>> {
        if self.closed {
            return None;
        }
        let mut piece = Vec::with_capacity(self.size + 512);
        if !std::mem::replace(&mut self.opened, true) {
            piece.extend_from_slice(b"{\"traceEvents\":[");
        }
        loop {
            let Some(event) = self.events.next() else {
                piece.extend_from_slice(b"],\"displayTimeUnit\":\"ms\"}");
                self.closed = true;
                return Some(piece);
            };
            if std::mem::replace(&mut self.any_event, true) {
                piece.push(b',');
            }
            // Into a Vec, serialisation fails only for a type serde_json cannot
            // represent, which no field of an event is.
            if let Err(e) = serde_json::to_writer(&mut piece, &event) {
                rasgi_executor::log_error!("trace event serialisation failed: {e}");
            }
            if piece.len() >= self.size {
                return Some(piece);
            }
        }
    }
}

/// One span as a complete (`"ph":"X"`) event.
fn span_event<'a>(span: &Span<'a>, pid: usize, tid: usize) -> TraceEvent<'a> {
    let (start, duration) = span.extent();
    let (name, cat, args) = match *span {
        Span::Poll(p, name) => (
            name.unwrap_or("poll"),
            "poll",
            TraceArgs::Poll {
                task: p.task.to_string(),
                wake: p.woken_by.kind(),
                woken_by: p.woken_by.to_string(),
                slow: p.slow,
            },
        ),
        Span::Sleep(s) => (
            "epoll_wait",
            "sleep",
            TraceArgs::Sleep {
                events: s.events,
                timeout_ms: s.timeout.map(|t| t.as_secs_f64() * 1000.0),
                timeout: timeout_label(s.timeout),
            },
        ),
        Span::Job(j) => ("blocking job", "blocking", TraceArgs::Job { submitted_by: j.submitted_by.as_deref() }),
    };
    TraceEvent {
        ph: "X",
        name,
        cat: Some(cat),
        pid,
        tid,
        ts: Some(micros(start)),
        dur: Some(micros(duration)),
        cname: span.slow().then_some("terrible"),
        args,
    }
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
    let count = document.trace_events.len();
    let bytes = serde_json::to_vec(&document).map_err(std::io::Error::other)?;
    std::fs::write(path, bytes)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rasgi_executor::timeline::WakeCause;
    use serde_json::{json, Value};
    use std::time::Duration;

    /// A poll record of task `id` (whatever `TaskId` the loop gave it), named `name` when
    /// it began and renamed `to` during it.
    fn poll(task: TaskId, start_ns: u64, name: &str, to: Option<&str>, slow: bool) -> PollRecord {
        PollRecord {
            task,
            name: Some(name.to_owned()),
            renamed_to: to.map(str::to_owned),
            start_ns,
            duration_ns: 10,
            woken_by: WakeCause::Unknown,
            slow,
        }
    }

    #[test]
    fn a_connection_is_labelled_by_the_routes_it_served() {
        let ids: Vec<TaskId> = rasgi_executor::block_on(async {
            let first = rasgi_executor::spawn(async { rasgi_executor::task::id() });
            let second = rasgi_executor::spawn(async { rasgi_executor::task::id() });
            vec![first.await.unwrap().expect("an id"), second.await.unwrap().expect("an id")]
        });
        let (conn, sleeper) = (ids[0], ids[1]);
        let timeline = Timeline {
            loop_number: 1,
            thread: "rasgi-worker-0".to_owned(),
            polls: vec![
                // Reads the request, takes the route's name, blocks, takes its own back.
                poll(conn, 100, "http connection", Some("GET /blocking"), true),
                poll(sleeper, 200, "sleeper", None, false),
                // A keep-alive request for another route, woken in the middle of it.
                poll(conn, 300, "http connection", Some("GET /async-route"), false),
                poll(conn, 400, "GET /async-route", Some("http connection"), false),
            ],
            ..Timeline::default()
        };
        let rows = rows(&timeline);
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, [&*format!("GET /blocking · GET /async-route ({conn})"), &*format!("sleeper ({sleeper})")]);
        let names: Vec<Option<&str>> = rows[0]
            .spans
            .iter()
            .map(|span| match span {
                Span::Poll(_, name) => *name,
                _ => None,
            })
            .collect();
        assert_eq!(names, [Some("GET /blocking"), Some("GET /async-route"), Some("GET /async-route")]);
        assert!(rows[0].spans[0].slow() && !rows[0].spans[1].slow());
        assert_eq!(
            rows[0].spans[0].describe(),
            "GET /blocking: slow poll of 0.000 ms, woken by unknown (queued before recording began)"
        );
    }

    /// The streamed document is byte for byte the whole one, whatever the piece size,
    /// and every piece but the last holds at least `size` bytes.
    #[test]
    fn the_trace_in_pieces_is_the_whole_document() {
        let (conn, napper) = rasgi_executor::block_on(async {
            let first = rasgi_executor::spawn(async { rasgi_executor::task::id() });
            let second = rasgi_executor::spawn(async { rasgi_executor::task::id() });
            (first.await.unwrap().expect("an id"), second.await.unwrap().expect("an id"))
        });
        let timeline = Timeline {
            loop_number: 1,
            thread: "rasgi-worker-0".to_owned(),
            polls: (0..200)
                .map(|i| {
                    let task = if i % 3 == 0 { napper } else { conn };
                    poll(task, 1_000 * i, "http connection", (i % 5 == 0).then_some("GET /"), i == 7)
                })
                .collect(),
            sleeps: (0..50)
                .map(|i| SleepRecord {
                    start_ns: 1_000 * i + 500,
                    duration_ns: 400,
                    events: i as usize,
                    timeout: (i % 2 == 0).then(|| Duration::from_micros(i)),
                })
                .collect(),
            ..Timeline::default()
        };
        for timelines in [vec![], vec![Timeline::default()], vec![timeline]] {
            let whole = serde_json::to_vec(&chrome_trace(&timelines)).expect("serialisable");
            for size in [1, 2, 100, 333, 4096, 1 << 20] {
                let pieces: Vec<Vec<u8>> = trace_pieces(&timelines, size).collect();
                for piece in &pieces[..pieces.len() - 1] {
                    assert!(piece.len() >= size, "a piece of {} bytes, asked for {size}", piece.len());
                }
                assert_eq!(pieces.concat(), whole, "pieces of {size} bytes");
            }
        }
    }

    #[test]
    fn a_recorded_loop_becomes_named_rows_of_complete_events() {
        let timeline = rasgi_executor::block_on(async {
            rasgi_executor::timeline::set_enabled(true);
            rasgi_executor::spawn_named("napper", rasgi_executor::sleep(Duration::from_millis(5))).await.unwrap();
            let recorded = timeline::snapshot(None);
            rasgi_executor::timeline::set_enabled(false);
            recorded
        });
        let document = serde_json::to_value(chrome_trace(&[timeline])).expect("serialisable");
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
