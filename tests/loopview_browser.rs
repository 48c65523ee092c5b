//! The live loop view in a real browser: headless Chromium loads `/_rasgi/` from the
//! demo binary while requests to `/async-route` are in flight, and the DOM its
//! JavaScript drew must show those requests as waiting tasks, their timers, and the
//! listening socket. It also takes the screenshot the README shows.
//!
//! Chromium is Debian's `chromium` (`.ci/test-all` installs it). Without it the test is
//! skipped with a message — unless `CI` is set, where a missing browser is a failure.
//! `RASGI_CHROMIUM=/path/to/chromium` picks another browser binary.
//! `RASGI_UPDATE_SCREENSHOT=1` copies the screenshot to `tests/screenshots/loop-view.png`.

mod app_support;
mod browser_support;
mod loopview_support;

use std::path::Path;
use std::time::Duration;

use app_support::get;
use browser_support::{run_chromium, TempDir};
use loopview_support::{tasks_named, Demo, Repeaters};

/// The tasks table's rows in a dumped DOM.
fn task_rows(dom: &str) -> Vec<&str> {
    let Some(start) = dom.find(r#"<tbody id="task-rows">"#) else { return Vec::new() };
    let body = &dom[start..];
    let body = &body[..body.find("</tbody>").unwrap_or(body.len())];
    body.split("<tr").skip(1).collect()
}

/// The inner HTML of the element with `id` (up to the end of its panel).
fn panel<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom.find(&format!(r#"id="{id}""#)).unwrap_or(dom.len());
    let rest = &dom[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

#[test]
fn the_browser_draws_the_requests_in_flight() {
    let Some(chromium) = browser_support::chromium("the live loop view's browser test") else { return };
    let demo = Demo::start(&[]);
    // Something for every panel: a slow-poll warning, a pool thread, timers and tasks.
    assert_eq!(get(demo.addr, "/blocking").status, 200);
    assert_eq!(get(demo.addr, "/cpu-task").status, 200);
    let _sleepers = Repeaters::start(demo.addr, "/async-route", 3);
    let _streams = Repeaters::start(demo.addr, "/stream", 1);
    demo.state_when(Duration::from_secs(10), "three requests asleep", |s| {
        tasks_named(s, "GET /async-route").iter().filter(|t| t["state"] == "waiting").count() == 3
    });
    let url = format!("http://{}/_rasgi/", demo.addr);

    // The DOM after the page's script has fetched the state and drawn it. The script's
    // first fetch races Chromium's page-load bookkeeping, so give it a few tries.
    let mut dom = String::new();
    for _attempt in 0..3 {
        dom = run_chromium(&chromium, &url, &["--dump-dom".to_owned()]);
        if task_rows(&dom).iter().any(|row| row.contains("GET /async-route")) {
            break;
        }
    }
    let rows = task_rows(&dom);
    let sleeping: Vec<&&str> = rows
        .iter()
        .filter(|row| {
            row.contains(r#"data-state="waiting""#) && row.contains("GET /async-route") && row.contains("timer in ")
        })
        .collect();
    assert!(!sleeping.is_empty(), "no waiting GET /async-route task with a timer in the tasks table:\n{dom}");
    let me: Vec<&&str> = rows.iter().filter(|row| row.contains("this request")).collect();
    assert_eq!(me.len(), 1, "{rows:#?}");
    // The snapshot was taken by the page's live WebSocket session, named after its route.
    assert!(me[0].contains("WS /_rasgi/ws") && me[0].contains(r#"data-state="running""#), "{}", me[0]);
    assert!(panel(&dom, "timers").contains("GET /async-route (#"), "{}", panel(&dom, "timers"));
    assert!(panel(&dom, "sockets").contains("main future: the accept loop"), "{}", panel(&dom, "sockets"));
    assert!(panel(&dom, "warnings").contains("task 'GET /blocking'"), "{}", panel(&dom, "warnings"));
    assert!(
        dom.contains("live · loop thread rasgi-worker-0 · pushed over a WebSocket every 300 ms"),
        "the status line says the page is live over its WebSocket"
    );

    // The screenshot, taken to a temp dir; copied into the repository on request.
    let shots = TempDir::new("loop-view");
    let shot = shots.0.join("loop-view.png");
    run_chromium(&chromium, &url, &[format!("--screenshot={}", shot.display()), "--window-size=1280,900".to_owned()]);
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 20_000, "a {}-byte screenshot is too small to show the page", png.len());
    if std::env::var_os("RASGI_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let dest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screenshots/loop-view.png");
        std::fs::create_dir_all(dest.parent().expect("a parent")).expect("create tests/screenshots");
        std::fs::copy(&shot, &dest).expect("copy the screenshot");
        eprintln!("screenshot written to {}", dest.display());
    }
}
