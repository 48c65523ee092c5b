//! The live view's timeline strip in a real browser: after `GET /blocking` held the loop
//! for 300 ms, headless Chromium loads `/_rasgi/`, and the SVG its JavaScript drew must
//! have a row for that request with a red (`slow`) bar, a row for the loop's epoll
//! sleeps, and a row for the blocking-pool thread `/cpu-task` used. It also takes the
//! screenshot of the strip.
//!
//! Chromium as in `tests/loopview_browser.rs` (skipped loudly without it, unless `CI` is
//! set). `RASGI_UPDATE_SCREENSHOT=1` copies the screenshot to
//! `tests/screenshots/timeline.png`.

mod app_support;
mod browser_support;
mod loopview_support;

use std::path::Path;
use std::time::Duration;

use app_support::get;
use browser_support::{run_chromium, TempDir};
use loopview_support::{tasks_named, Demo, Repeaters};

/// The timeline's rows in a dumped DOM, each from its `<g class="row"` to the next.
fn timeline_rows(dom: &str) -> Vec<&str> {
    let Some(start) = dom.find(r#"<svg id="timeline-svg""#) else { return Vec::new() };
    let svg = &dom[start..];
    let svg = &svg[..svg.find("</svg>").unwrap_or(svg.len())];
    svg.split(r#"<g class="row" "#).skip(1).collect()
}

/// The rows whose label starts with `prefix`.
fn rows_labelled<'a>(rows: &[&'a str], kind: &str, prefix: &str) -> Vec<&'a str> {
    let head = format!(r#"data-kind="{kind}" data-label="{prefix}"#);
    rows.iter().filter(|row| row.starts_with(&head)).copied().collect()
}

/// Makes sure a slow poll and a pool job happened within the strip's window.
fn block_the_loop_and_use_the_pool(demo: &Demo) {
    assert_eq!(get(demo.addr, "/cpu-task").status, 200);
    assert_eq!(get(demo.addr, "/blocking").status, 200);
}

#[test]
fn the_browser_draws_a_blocked_loop_as_a_red_bar() {
    let Some(chromium) = browser_support::chromium("the timeline's browser test") else { return };
    let demo = Demo::start(&[]);
    let _sleepers = Repeaters::start(demo.addr, "/async-route", 2);
    demo.state_when(Duration::from_secs(10), "two requests asleep", |s| tasks_named(s, "GET /async-route").len() == 2);
    let url = format!("http://{}/_rasgi/", demo.addr);

    // The strip shows the last ten seconds; a slow machine may take longer than that to
    // start the browser, so each attempt blocks the loop again just before.
    let mut dom = String::new();
    for _attempt in 0..3 {
        block_the_loop_and_use_the_pool(&demo);
        dom = run_chromium(&chromium, &url, &["--dump-dom".to_owned()]);
        if !rows_labelled(&timeline_rows(&dom), "task", "GET /blocking (#").is_empty() {
            break;
        }
    }
    let rows = timeline_rows(&dom);
    let blocking = rows_labelled(&rows, "task", "GET /blocking (#");
    assert!(!blocking.is_empty(), "no timeline row for GET /blocking:\n{dom}");
    assert!(
        blocking.iter().any(|row| row.contains(r#"<rect class="bar poll slow""#)),
        "no red bar in the GET /blocking row: {blocking:#?}"
    );
    // Only a poll past the threshold is red: the sleeping requests' rows have none.
    let sleeping = rows_labelled(&rows, "task", "GET /async-route (#");
    assert!(!sleeping.is_empty(), "{rows:#?}");
    assert!(sleeping.iter().all(|row| row.contains(r#"class="bar poll""#) && !row.contains("slow")), "{sleeping:#?}");
    let sleeps = rows_labelled(&rows, "sleep", "epoll sleep\"");
    assert_eq!(sleeps.len(), 1, "{rows:#?}");
    assert!(sleeps[0].contains(r#"<rect class="bar sleep""#) && sleeps[0].contains("epoll_wait for "));
    let pool = rows_labelled(&rows, "blocking", "blocking pool thread ");
    assert!(pool.iter().any(|row| row.contains("submitted by GET /cpu-task")), "{pool:#?}");
    // The epoll row comes first, the pool's last.
    assert!(rows[0].starts_with(r#"data-kind="sleep""#), "{}", rows[0]);
    assert!(rows.last().is_some_and(|row| row.starts_with(r#"data-kind="blocking""#)), "{rows:#?}");

    // The screenshot: the header, the buttons and the strip.
    block_the_loop_and_use_the_pool(&demo);
    let shots = TempDir::new("timeline");
    let shot = shots.0.join("timeline.png");
    run_chromium(&chromium, &url, &[format!("--screenshot={}", shot.display()), "--window-size=1280,800".to_owned()]);
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 20_000, "a {}-byte screenshot is too small to show the strip", png.len());
    if std::env::var_os("RASGI_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let dest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screenshots/timeline.png");
        std::fs::copy(&shot, &dest).expect("copy the screenshot");
        eprintln!("screenshot written to {}", dest.display());
    }
}
