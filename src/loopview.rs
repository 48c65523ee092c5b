//! The live loop view: the event loop drawn in a browser while it runs.
//!
//! An event loop is hard to read because nothing in it is visible: tasks park, sockets
//! become ready, timers fire, all within microseconds. [`mount`] adds two routes to an
//! [`App`] that show the loop of the thread serving them:
//!
//! - `GET /_rasgi/` — a self-contained page (inline CSS and JavaScript, no external
//!   assets) that receives the state every 300 ms and redraws it: the tasks, the
//!   registered sockets, the pending timers, the blocking pool, the recent warnings, and
//!   buttons that fire requests at the demo so a person can watch tasks come and go;
//! - `WS /_rasgi/ws` — the WebSocket the page listens on: the server pushes a
//!   [`LoopState`] every 300 ms, so the page makes no request per refresh (polling
//!   `/_rasgi/state` is its fallback when the socket cannot open);
//! - `GET /_rasgi/state` — the same facts as JSON ([`LoopState`]);
//! - `GET /_rasgi/trace.json` — the loop's timeline ([`rasgi_executor::timeline`]) as
//!   Chrome Trace Event JSON ([`crate::timeline`]), for Perfetto or `chrome://tracing`.
//!
//! The page also draws the timeline of the last [`TIMELINE_WINDOW`]: a row per task, one
//! for the loop's sleeps in `epoll_wait`, one per blocking-pool thread, and a poll that
//! held the loop past the slow-poll threshold as a red bar.
//!
//! Python's nearest counterparts are `asyncio.all_tasks()` (with each task's
//! `get_stack()`) plus debug mode's slow-callback warnings; tokio's is tokio-console,
//! which needs a special build and a separate program. Here the handler runs *on the
//! loop it describes* — it is one of the tasks it lists, shown as "this request" — so it
//! reads the loop's thread-local snapshots directly ([`task::snapshot`],
//! [`Reactor::sources`], [`Reactor::timer_deadlines`]) with no locking and no copying
//! between threads. The price: with `--workers N` each request shows only the loop that
//! happened to accept its connection.
//!
//! What each task *waits for* is only known while wait reasons are recorded
//! ([`trace::set_recording`]): every leaf future that returns `Pending` then pushes a
//! note, and the executor keeps the notes of each task's last poll. [`mount`] turns that
//! on for the whole process, and the timeline with it. They cost a little on every
//! `Pending` (a `Vec` push and a move) and every poll (two clock reads and a ring
//! entry), which is why the benchmark binaries do not mount the view.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use rasgi_executor::blocking;
use rasgi_executor::task::{self, TaskInfo};
use rasgi_executor::timeline as recording;
use rasgi_reactor::trace::{self, Wait};
use rasgi_reactor::Reactor;
use serde::Serialize;

use rasgi_executor::{select, sleep, yield_now, Either};

use crate::app::{App, Received, Request, Response, WebSocket, WebSocketError};
use crate::timeline::{self, RowKind};

/// Where the page is served.
pub const PAGE_PATH: &str = "/_rasgi/";

/// Where the page fetches the state from.
pub const STATE_PATH: &str = "/_rasgi/state";

/// The WebSocket the page receives its snapshots on.
pub const LIVE_PATH: &str = "/_rasgi/ws";

/// Where the timeline is served as Chrome Trace Event JSON.
pub const TRACE_PATH: &str = "/_rasgi/trace.json";

/// How much of the timeline the page draws: long enough to hold a one-second sleep with
/// what came before and after it, short enough that a 1 ms poll is still a visible tick.
pub const TIMELINE_WINDOW: Duration = Duration::from_secs(10);

/// The most task rows a snapshot carries (the most recently active); a loaded loop runs
/// thousands of tasks in ten seconds, more than a page can draw or a person can read.
const TIMELINE_TASK_ROWS: usize = 40;

/// The most spans a snapshot carries per row (the newest).
const TIMELINE_SPANS_PER_ROW: usize = 400;

/// How often the live socket pushes a snapshot.
const PUSH_EVERY: Duration = Duration::from_millis(300);

/// The page: one HTML file with its CSS and JavaScript inline, kept beside this module so
/// that it reads (and is highlighted) as HTML rather than as a Rust string.
const PAGE: &str = include_str!("loopview.html");

/// Who waits on a socket or a timer that no task claims: the future given to
/// `block_on`, which is not a task. In the server it is the accept loop, so the socket
/// it waits on is the listening socket.
pub const MAIN_FUTURE: &str = "main future";

/// Adds the live loop view's routes to `app` and turns on the recording of wait
/// reasons and of the timeline (see the module documentation for their cost).
pub fn mount(app: App) -> App {
    trace::set_recording(true);
    recording::set_enabled(true);
    // Fix the epoch before any timer is set, so that every deadline is after it.
    view_epoch();
    app.get(PAGE_PATH, page).get(STATE_PATH, state).get(TRACE_PATH, trace_json).websocket(LIVE_PATH, live)
}

/// `WS /_rasgi/ws`: a snapshot now and every [`PUSH_EVERY`] until the page goes away.
/// The snapshot is taken by this session's task, so the page shows it as "this request",
/// named `WS /_rasgi/ws`.
async fn live(ws: WebSocket<'_>) -> Result<(), WebSocketError> {
    ws.accept().await?;
    loop {
        ws.send_json(&LoopState::capture()).await?;
        // Waiting on the client too, so a closed page ends the session at once rather
        // than at the next push.
        if let Either::Right(Received::Disconnect { .. }) = select(sleep(PUSH_EVERY), ws.receive()).await {
            return Ok(());
        }
    }
}

/// `GET /_rasgi/`: the page.
async fn page(_request: Request) -> Response {
    Response::new(200, "text/html; charset=utf-8", PAGE.as_bytes()).with_header("cache-control", "no-store")
}

/// `GET /_rasgi/state`: the loop's state as JSON.
async fn state(_request: Request) -> Response {
    Response::json(200, &LoopState::capture()).with_header("cache-control", "no-store")
}

/// `GET /_rasgi/trace.json`: the loop's whole ring as Trace Event JSON, streamed.
///
/// A full ring (50,000 records, after a few seconds of load) is a document of about
/// 9 MB. Made whole, it held the loop for 57 ms, and every other connection waited that
/// long. So the ring is copied at once (what the document shows is the ring at the
/// request), and the JSON is made [`TRACE_PIECE`] bytes at a time, yielding between
/// pieces, which lets the loop check its sockets and run its other tasks. The channel's
/// bound makes a slow reader slow the making too, rather than queueing megabytes.
///
/// Measured with the demo after 3 s of `wrk -c16` (a full ring, 8.7 MB), the trace's
/// own timeline shows about 270 polls: each piece takes about 0.4 ms, and the longest
/// poll is the first, which copies the ring and sorts it into rows: 12.2 and 6.7 ms in
/// two fetches.
async fn trace_json(_request: Request) -> Response {
    let recorded = [recording::snapshot(None)];
    Response::stream(200, "application/json", move |tx| async move {
        for piece in timeline::trace_pieces(&recorded, TRACE_PIECE) {
            if tx.send(piece).await.is_err() {
                return; // the client left
            }
            yield_now().await;
        }
    })
    .with_header("cache-control", "no-store")
}

/// The size of one piece of `/_rasgi/trace.json`: about 370 events, made in about
/// 0.4 ms.
const TRACE_PIECE: usize = 64 * 1024;

/// The instant timer deadlines are measured from in [`TimerView::deadline_ms`]. Any fixed
/// instant would do; it only has to be the same for every snapshot.
fn view_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Everything the view shows about one loop at one instant: the JSON of `/_rasgi/state`.
#[derive(Clone, Debug, Serialize)]
pub struct LoopState {
    /// The name of the loop's thread (`rasgi-worker-0`): each worker loop has its own.
    pub thread: String,
    /// Every live task of the loop, in task-table order.
    pub tasks: Vec<TaskView>,
    /// Every socket registered with the loop's reactor, by token.
    pub sockets: Vec<SocketView>,
    /// Every pending timer, earliest first.
    pub timers: Vec<TimerView>,
    /// The reactor's counters.
    pub reactor: ReactorView,
    /// The process-wide blocking pool.
    pub blocking: BlockingView,
    /// The loop's most recent warnings, oldest first.
    pub warnings: Vec<WarningView>,
    /// What the loop did in the last [`TIMELINE_WINDOW`].
    pub timeline: TimelineView,
}

/// The timeline strip: rows of spans over the last [`TIMELINE_WINDOW`].
#[derive(Clone, Debug, Serialize)]
pub struct TimelineView {
    /// The span of time drawn, in milliseconds; it ends at the snapshot.
    pub window_ms: f64,
    /// The loop's sleeps first, then tasks in the order they first ran (at most
    /// `TIMELINE_TASK_ROWS`, the most recently active), then blocking-pool threads.
    pub rows: Vec<TimelineRowView>,
}

/// One row of the timeline strip.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineRowView {
    /// `epoll sleep`, `GET /async-route (#4)`, `blocking pool thread 1`.
    pub label: String,
    /// `sleep`, `task` or `blocking`.
    pub kind: &'static str,
    /// Its newest spans (at most `TIMELINE_SPANS_PER_ROW`), oldest first.
    pub spans: Vec<TimelineSpanView>,
}

/// One bar of the timeline strip.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineSpanView {
    /// Where it starts, in milliseconds from the start of the window (negative when it
    /// began before the window).
    pub start_ms: f64,
    /// How long it lasted, in milliseconds.
    pub duration_ms: f64,
    /// A poll past the slow-poll threshold: it blocked the loop.
    pub slow: bool,
    /// What it was (`GET /async-route: poll of 0.041 ms, woken by a timer`).
    pub title: String,
}

/// One task, as the tasks table shows it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskView {
    /// The task's id as the narration prints it (`#4`).
    pub id: String,
    /// Its name (`GET /async-route` for a request task), or `None`.
    pub name: Option<String>,
    /// Running, ready or waiting.
    pub state: TaskState,
    /// True for the task serving this very snapshot (it is always `running`).
    pub this_request: bool,
    /// Completed polls that returned `Pending` (the last, `Ready`, poll is never seen).
    pub polls: u64,
    /// Time spent inside `poll`, in milliseconds (measured while the slow-poll detector or
    /// the timeline is on, so always with this view mounted).
    pub busy_ms: f64,
    /// The longest single poll, in milliseconds.
    pub longest_poll_ms: f64,
    /// What the task waits for, as the narration says it (`timer in 734 ms`, `socket 3
    /// readable`); empty for a running task, which waits for nothing.
    pub waits: Vec<String>,
}

/// Where a task is in its life: asyncio's task states, minus "done" (a finished task
/// leaves the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Being polled right now (on one thread, at most one task is).
    Running,
    /// Woken and queued: it will be polled on this or the next loop turn.
    Ready,
    /// Parked until something calls its waker.
    Waiting,
}

/// One registered socket.
#[derive(Clone, Debug, Serialize)]
pub struct SocketView {
    /// The socket's reactor token (the narration's "socket 3").
    pub token: usize,
    /// Some future waits for it to become readable.
    pub read_waiting: bool,
    /// Some future waits for it to become writable.
    pub write_waiting: bool,
    /// The tasks whose latest wait names this socket (`GET /async-route (#4)`), or
    /// [`MAIN_FUTURE`] when someone waits on it and no task does. A task listed here
    /// while neither direction is awaited owns the socket but is not waiting on it now.
    pub waited_by: Vec<String>,
}

/// One pending timer.
#[derive(Clone, Debug, Serialize)]
pub struct TimerView {
    /// Milliseconds until it fires (zero if overdue: it fires on the next loop turn).
    pub in_ms: f64,
    /// Its deadline, in milliseconds since a fixed instant: the same timer has the same
    /// value in every snapshot, so the page can tell timers apart.
    pub deadline_ms: f64,
    /// The tasks whose latest wait names this timer, or [`MAIN_FUTURE`] when none does.
    pub waited_by: Vec<String>,
}

/// The reactor's counters since the loop started.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ReactorView {
    /// Calls to `epoll_wait`: one per loop turn.
    pub waits: u64,
    /// Readiness events the kernel reported.
    pub events: u64,
    /// Timers that reached their deadline.
    pub timers_fired: u64,
}

/// The blocking pool (`run_in_executor`'s thread pool), shared by every loop.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BlockingView {
    /// Jobs waiting for a free thread.
    pub queued: usize,
    /// Threads alive, busy or idle.
    pub threads: usize,
    /// Threads waiting for a job.
    pub idle: usize,
    /// The most threads the pool may start.
    pub max_threads: usize,
    /// Jobs finished since the process started.
    pub completed: u64,
}

/// One warning the loop raised.
#[derive(Clone, Debug, Serialize)]
pub struct WarningView {
    /// `slow poll`, `lost waker`, or `warning` for anything else.
    pub kind: &'static str,
    /// Milliseconds since it was raised.
    pub age_ms: u64,
    /// The message, as logged.
    pub message: String,
}

impl LoopState {
    /// Snapshots the loop of the calling thread. Outside a loop every list is empty.
    pub fn capture() -> LoopState {
        let infos = task::snapshot();
        let reactor = Reactor::try_current();
        let stats = reactor.as_ref().map(Reactor::stats).unwrap_or_default();
        let pool = blocking::stats();
        LoopState {
            thread: std::thread::current().name().unwrap_or("unnamed thread").to_owned(),
            tasks: task_views(&infos),
            sockets: socket_views(reactor.as_ref(), &infos),
            timers: timer_views(reactor.as_ref(), &infos),
            reactor: ReactorView { waits: stats.waits, events: stats.events, timers_fired: stats.timers_fired },
            blocking: BlockingView {
                queued: pool.queued,
                threads: pool.threads,
                idle: pool.idle,
                max_threads: pool.max_threads,
                completed: pool.completed,
            },
            warnings: warning_views(),
            timeline: timeline_view(),
        }
    }
}

/// The last [`TIMELINE_WINDOW`] of this loop's timeline, bounded for the page.
fn timeline_view() -> TimelineView {
    // In nanoseconds from the timeline's epoch; negative while the process is younger
    // than the window.
    let origin = recording::epoch().elapsed().as_nanos() as f64 - TIMELINE_WINDOW.as_nanos() as f64;
    let recorded = recording::snapshot(Some(TIMELINE_WINDOW));
    let rows = timeline::rows(&recorded);
    // The task rows to leave out: all but the most recently active.
    let mut tasks: Vec<(u64, usize)> = (rows.iter().enumerate())
        .filter(|(_, row)| row.kind == RowKind::Task)
        .map(|(at, row)| (row.spans.last().map_or(0, |span| span.extent().0), at))
        .collect();
    tasks.sort_unstable_by(|a, b| b.cmp(a));
    let left_out: HashSet<usize> = tasks.iter().skip(TIMELINE_TASK_ROWS).map(|&(_, at)| at).collect();
    let rows = (rows.into_iter().enumerate())
        .filter(|(at, _)| !left_out.contains(at))
        .map(|(_, row)| {
            let newest = row.spans.len().saturating_sub(TIMELINE_SPANS_PER_ROW);
            let spans = row.spans[newest..]
                .iter()
                .map(|span| {
                    let (start, duration) = span.extent();
                    TimelineSpanView {
                        start_ms: (start as f64 - origin) / 1e6,
                        duration_ms: duration as f64 / 1e6,
                        slow: span.slow(),
                        title: span.describe(),
                    }
                })
                .collect();
            let kind = match row.kind {
                RowKind::Sleep => "sleep",
                RowKind::Task => "task",
                RowKind::Blocking => "blocking",
            };
            TimelineRowView { label: row.label, kind, spans }
        })
        .collect();
    TimelineView { window_ms: millis(TIMELINE_WINDOW), rows }
}

/// The tasks table.
fn task_views(infos: &[TaskInfo]) -> Vec<TaskView> {
    let this_request = task::id();
    infos
        .iter()
        .map(|info| {
            let state = if info.running {
                TaskState::Running
            } else if info.scheduled {
                TaskState::Ready
            } else {
                TaskState::Waiting
            };
            TaskView {
                id: info.id.to_string(),
                name: info.name.as_deref().map(str::to_owned),
                state,
                this_request: this_request == Some(info.id),
                polls: info.stats.polls,
                busy_ms: millis(info.stats.busy),
                longest_poll_ms: millis(info.stats.longest_poll),
                // A running task's notes are from its previous poll: stale.
                waits: if info.running { Vec::new() } else { info.waits.iter().map(ToString::to_string).collect() },
            }
        })
        .collect()
}

/// The labels of the tasks whose latest wait notes contain one that `matches`. A
/// running or woken task's notes are from its previous poll, but they still name what
/// it owns (the running task's keep-alive timer, say).
fn claimants(infos: &[TaskInfo], matches: impl Fn(&Wait) -> bool) -> Vec<String> {
    infos
        .iter()
        .filter(|info| info.waits.iter().any(&matches))
        .map(|info| label(info.name.as_deref(), &info.id.to_string()))
        .collect()
}

/// The registered sockets and who waits on each.
fn socket_views(reactor: Option<&Reactor>, infos: &[TaskInfo]) -> Vec<SocketView> {
    let sources = reactor.map(Reactor::sources).unwrap_or_default();
    sources
        .into_iter()
        .map(|source| {
            let token = source.token;
            let mut waited_by = claimants(infos, |wait| match *wait {
                Wait::Readable { token: t } | Wait::Writable { token: t } => t == token,
                _ => false,
            });
            if waited_by.is_empty() && (source.read_waiting || source.write_waiting) {
                waited_by.push(MAIN_FUTURE.to_owned());
            }
            SocketView { token, read_waiting: source.read_waiting, write_waiting: source.write_waiting, waited_by }
        })
        .collect()
}

/// The pending timers and who waits on each.
fn timer_views(reactor: Option<&Reactor>, infos: &[TaskInfo]) -> Vec<TimerView> {
    let (now, epoch) = (Instant::now(), view_epoch());
    let deadlines = reactor.map(Reactor::timer_deadlines).unwrap_or_default();
    deadlines
        .into_iter()
        .map(|deadline| {
            let mut waited_by = claimants(infos, |wait| *wait == Wait::Timer { deadline });
            if waited_by.is_empty() {
                waited_by.push(MAIN_FUTURE.to_owned());
            }
            TimerView {
                in_ms: millis(deadline.saturating_duration_since(now)),
                deadline_ms: millis(deadline.saturating_duration_since(epoch)),
                waited_by,
            }
        })
        .collect()
}

/// The loop's recent warnings with their age.
fn warning_views() -> Vec<WarningView> {
    let now = SystemTime::now();
    task::recent_warnings()
        .into_iter()
        .map(|warning| WarningView {
            kind: warning_kind(&warning.message),
            // A clock stepped backwards makes the warning look new: harmless.
            age_ms: now.duration_since(warning.at).unwrap_or_default().as_millis() as u64,
            message: warning.message,
        })
        .collect()
}

/// `GET /async-route (#4)`: several tasks often share a route, the id tells them apart.
fn label(name: Option<&str>, id: &str) -> String {
    match name {
        Some(name) => format!("{name} ({id})"),
        None => format!("task {id}"),
    }
}

/// The kind of a warning, from the prefix the executor gives each message.
fn warning_kind(message: &str) -> &'static str {
    if message.starts_with("slow poll") {
        "slow poll"
    } else if message.starts_with("lost waker") {
        "lost waker"
    } else {
        "warning"
    }
}

/// A duration in milliseconds, with microsecond resolution.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rasgi_executor::{sleep, spawn_named};

    #[test]
    fn a_sleeping_task_is_waiting_on_its_timer() {
        trace::set_recording(true);
        let state = rasgi_executor::block_on(async {
            let sleeper = spawn_named("sleeper", sleep(Duration::from_secs(10)));
            // The main future parks on its own short timer, so the sleeper gets its
            // first poll before the capture.
            sleep(Duration::from_millis(10)).await;
            let state = LoopState::capture();
            sleeper.abort();
            state
        });
        let sleeper = state.tasks.iter().find(|t| t.name.as_deref() == Some("sleeper")).expect("the sleeper task");
        assert_eq!(sleeper.state, TaskState::Waiting);
        assert_eq!(sleeper.polls, 1);
        assert!(!sleeper.this_request, "the capture ran in the main future, not in a task");
        assert_eq!(sleeper.waits.len(), 1, "{:?}", sleeper.waits);
        assert!(sleeper.waits[0].starts_with("timer in "), "{:?}", sleeper.waits);
        let owner = format!("sleeper ({})", sleeper.id);
        let timers: Vec<&TimerView> = state.timers.iter().filter(|t| t.waited_by == [owner.as_str()]).collect();
        assert_eq!(timers.len(), 1, "{:?}", state.timers);
        assert!((5_000.0..=10_000.0).contains(&timers[0].in_ms), "{:?}", timers[0]);
    }

    #[test]
    fn warnings_are_classified_by_their_prefix() {
        assert_eq!(warning_kind("slow poll: task 'GET /blocking' (#2) held the loop"), "slow poll");
        assert_eq!(warning_kind("lost waker: task #3 returned Pending"), "lost waker");
        assert_eq!(warning_kind("something else"), "warning");
    }
}
