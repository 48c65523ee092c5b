//! The narrated loop: with `RASGI_TRACE=1`, one request to `/async-route` makes the
//! loop tell its story on stderr — the connection task spawned and polled, parked on a
//! one-second timer, the reactor asleep, the timer firing, the task woken by it, polled
//! again, and finished.

mod app_support;

use std::time::Duration;

use app_support::Demo;

/// Finds each pattern in `lines`, in order; every pattern's pieces must all occur in one
/// line. Returns the matched lines, or panics naming the first pattern not found.
fn find_in_order<'a>(lines: &'a [String], patterns: &[&[&str]]) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut from = 0;
    for pattern in patterns {
        let Some(offset) = lines[from..].iter().position(|l| pattern.iter().all(|piece| l.contains(piece))) else {
            panic!("no line containing {pattern:?} after line {from}; the narration was:\n{}", lines.join("\n"));
        };
        found.push(lines[from + offset].as_str());
        from += offset + 1;
    }
    found
}

#[test]
fn one_async_request_is_narrated_step_by_step() {
    let demo = Demo::start_with(&["--no-access-log"], &[("RASGI_TRACE", "1"), ("RASGI_DEMO_DATABASE", "off")]);
    // Let the startup narration settle, then skip it: the request's story starts now.
    std::thread::sleep(Duration::from_millis(200));
    let mark = demo.log_len();

    let reply = app_support::get(demo.addr, "/async-route");
    assert_eq!(reply.body, r#"{"message":"This is an async route"}"#);
    std::thread::sleep(Duration::from_millis(300));
    let lines: Vec<String> = demo.log_since(mark).into_iter().filter(|l| l.starts_with("TRACE:")).collect();
    drop(demo);

    let story = find_in_order(
        &lines,
        &[
            &["reactor: socket", "is readable"],
            &["main future woken by socket", "readable"],
            &["'http connection' spawned"],
            &["'http connection' polled"],
            &["'GET /async-route' returned Pending; it waits for timer in 1000 ms"],
            &["reactor: sleeping up to", "until the next timer"],
            &["reactor: a timer fired"],
            &["'GET /async-route' woken by a timer"],
            &["'GET /async-route' polled"],
            &["'GET /async-route' finished after"],
        ],
    );
    // Two polls (request, then the timer's wake-up); one more when the connection was
    // accepted before its request bytes arrived, and the task first parked on its socket;
    // and one more when, after its `connection: close` response, the client's FIN had not
    // arrived yet, so the task parked once more reading it (the lingering close).
    let polls = story[9].split("finished after ").nth(1).and_then(|rest| rest.split(' ').next());
    assert!(matches!(polls, Some("2") | Some("3") | Some("4")), "{}", story[9]);
    // All of it is one task: the same id from spawn to finish.
    let id = |line: &str| line.split("task #").nth(1).and_then(|rest| rest.split(' ').next()).map(str::to_owned);
    let spawned = id(story[2]).expect("a task id");
    assert_eq!(id(story[9]), Some(spawned.clone()), "{story:?}");
    assert_eq!(id(story[7]), Some(spawned), "{story:?}");
}
