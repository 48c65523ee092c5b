//! The live loop view's JSON, read from the real demo binary while requests are in
//! flight: the sleeping requests are tasks parked on their timers, the listener is a
//! socket the main future waits on, the pending timers are those sleeps, and blocking
//! the loop leaves a slow-poll warning naming the route.

mod app_support;
mod loopview_support;

use std::thread;
use std::time::Duration;

use app_support::get;
use loopview_support::{tasks_named, Demo};
use serde_json::Value;

/// Generous for a loaded two-core machine; a passing run takes milliseconds.
const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn sleeping_requests_are_tasks_waiting_on_timers() {
    let demo = Demo::start(&[]);
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let addr = demo.addr;
            thread::spawn(move || get(addr, "/async-route"))
        })
        .collect();
    // Each request sleeps for one second: a window in which all three are parked.
    let state = demo.state_when(PATIENCE, "three requests asleep", |s| {
        let sleeping = tasks_named(s, "GET /async-route");
        sleeping.len() == 3 && sleeping.iter().all(|t| t["state"] == "waiting")
    });

    // The three request tasks: parked, each on a timer under a second away.
    for task in tasks_named(&state, "GET /async-route") {
        assert_eq!(task["this_request"], false, "{task}");
        assert!(task["polls"].as_u64().is_some_and(|polls| polls >= 1), "{task}");
        let waits: Vec<&str> = task["waits"].as_array().expect("waits").iter().filter_map(Value::as_str).collect();
        let timers: Vec<f64> =
            waits.iter().filter_map(|w| w.strip_prefix("timer in ")?.strip_suffix(" ms")?.parse().ok()).collect();
        assert_eq!(timers.len(), 1, "one timer each: {waits:?}");
        assert!((0.0..=1000.0).contains(&timers[0]), "{waits:?}");
    }

    // The task serving the snapshot is the one running: the view sees itself.
    let running: Vec<&Value> =
        state["tasks"].as_array().expect("tasks").iter().filter(|t| t["state"] == "running").collect();
    assert_eq!(running.len(), 1, "one task runs at a time: {running:?}");
    assert_eq!(running[0]["name"], "GET /_rasgi/state");
    assert_eq!(running[0]["this_request"], true);
    assert_eq!(running[0]["waits"], serde_json::json!([]));

    // The listener: the first socket its loop registers, awaited by the accept loop in
    // the main future (which is not a task).
    let sockets = state["sockets"].as_array().expect("sockets");
    let listener: Vec<&Value> =
        sockets.iter().filter(|s| s["waited_by"] == serde_json::json!(["main future"])).collect();
    assert_eq!(listener.len(), 1, "{sockets:?}");
    assert_eq!(listener[0]["token"], 0);
    assert_eq!(listener[0]["read_waiting"], true);
    assert_eq!(listener[0]["write_waiting"], false);
    // Each sleeping request's connection is a socket too, claimed by its task.
    let claimed = sockets
        .iter()
        .filter(|s| {
            s["waited_by"].as_array().is_some_and(|w| {
                w.iter().any(|who| who.as_str().is_some_and(|who| who.starts_with("GET /async-route (#")))
            })
        })
        .count();
    assert_eq!(claimed, 3, "{sockets:?}");

    // The timers: at least the three sleeps, each named after its task.
    let timers = state["timers"].as_array().expect("timers");
    let sleeps: Vec<&Value> = timers
        .iter()
        .filter(|t| {
            t["waited_by"].as_array().is_some_and(|w| {
                w.len() == 1 && w[0].as_str().is_some_and(|who| who.starts_with("GET /async-route (#"))
            })
        })
        .collect();
    assert_eq!(sleeps.len(), 3, "{timers:?}");
    assert!(timers.len() >= 3);
    for sleep in sleeps {
        let in_ms = sleep["in_ms"].as_f64().expect("in_ms");
        assert!((0.0..=1000.0).contains(&in_ms), "{sleep}");
    }

    // The reactor has slept and been woken (the connections arriving, at least).
    assert!(state["reactor"]["waits"].as_u64().is_some_and(|n| n >= 1), "{}", state["reactor"]);
    assert!(state["reactor"]["events"].as_u64().is_some_and(|n| n >= 1), "{}", state["reactor"]);
    assert_eq!(state["thread"], "rasgi-worker-0");

    for client in clients {
        assert_eq!(client.join().expect("client").body, r#"{"message":"This is an async route"}"#);
    }
    // Finished tasks leave the table.
    let state = demo.state();
    assert!(tasks_named(&state, "GET /async-route").is_empty(), "{state:#}");
}

#[test]
fn blocking_the_loop_shows_as_a_slow_poll_warning_and_cpu_work_as_pool_jobs() {
    let demo = Demo::start(&[]);
    let state = demo.state();
    assert_eq!(state["warnings"], serde_json::json!([]), "a fresh loop has nothing to warn about");
    assert_eq!(state["blocking"]["completed"], 0);

    assert_eq!(get(demo.addr, "/blocking").status, 200);
    let state = demo.state();
    let warnings = state["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["kind"], "slow poll");
    let message = warnings[0]["message"].as_str().expect("message");
    assert!(message.starts_with("slow poll: task 'GET /blocking' (#"), "{message}");
    let held_ms: f64 = message
        .split("held the event loop for ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|n| n.parse().ok())
        .expect("the time blocked");
    assert!((295.0..5000.0).contains(&held_ms), "300 ms and a little: {message}");
    assert!(warnings[0]["age_ms"].as_u64().is_some_and(|age| age < PATIENCE.as_millis() as u64), "{}", warnings[0]);

    // `/cpu-task` runs on the blocking pool: a job completed, on a thread that lingers.
    assert_eq!(get(demo.addr, "/cpu-task").status, 200);
    let state = demo.state_when(PATIENCE, "the pool's job done", |s| s["blocking"]["completed"] == 1);
    let pool = &state["blocking"];
    assert_eq!(pool["queued"], 0, "{pool}");
    assert!(pool["threads"].as_u64().is_some_and(|n| n >= 1), "{pool}");
    assert!(pool["max_threads"].as_u64().is_some_and(|n| n >= 1), "{pool}");
    // Still one warning: handing CPU work to the pool does not block the loop.
    assert_eq!(state["warnings"].as_array().map(Vec::len), Some(1), "{}", state["warnings"]);
}

#[test]
fn the_page_is_one_self_contained_html_file() {
    let demo = Demo::start(&[]);
    for path in ["/_rasgi/", "/_rasgi"] {
        let reply = get(demo.addr, path);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert!(reply.body.starts_with("<!doctype html>"), "{path}");
        assert!(reply.body.contains(r#"const STATE_URL = "/_rasgi/state";"#));
        assert!(reply.body.contains(r#"<tbody id="task-rows">"#));
        // No CDN, no web font, no external script: the page works offline.
        assert!(!reply.body.contains("://"), "the page must not load anything from elsewhere");
    }
}
