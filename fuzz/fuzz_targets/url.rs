//! The client's URL parser (`rasgi_http::client::Url::parse`) and the resolution of a
//! redirect's `Location` against it (`Url::join`).
//!
//! Properties: what a URL displays parses back to the same URL; the request target that
//! goes on the wire starts with `/` and holds only bytes allowed in a request target (so
//! no URL can inject a line break or a space into the request line); the `Host` value
//! holds no path, query or whitespace; the redacted form of any text shows no query value
//! and no fragment, and redacting it again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rasgi_http::client::{redact, Url, REDACTED};

/// The redacted form of any text: no query value left, and redacting again changes nothing.
fn check_redaction(text: &str) {
    let shown = redact(text);
    assert_eq!(redact(&shown), shown, "redacting {text:?} twice differs");
    assert!(!shown.contains('#'), "{shown:?} keeps a fragment");
    if let Some((_, query)) = shown.split_once('?') {
        for item in query.split('&').filter(|item| !item.is_empty()) {
            assert!(item == REDACTED || item.ends_with(&format!("={REDACTED}")), "{shown:?} shows {item:?}");
        }
    }
}

fn check(url: &Url) {
    check_redaction(&url.to_string());
    let shown = url.to_string();
    let again = Url::parse(&shown).unwrap_or_else(|e| panic!("{shown:?} does not parse back: {e}"));
    assert_eq!(&again, url, "{shown:?} parses back to another URL");
    let target = url.target();
    assert!(target.starts_with('/'), "{target:?}");
    assert!(
        target.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)),
        "{target:?} holds a byte a request target may not"
    );
    let authority = url.authority();
    assert!(!authority.is_empty() && !authority.contains(['/', '?', '#', ' ', '\r', '\n', '@']), "{authority:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The input is a URL, then optionally a newline and a reference to join to it.
    check_redaction(text);
    let (base, reference) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(url) = Url::parse(base) else {
        return;
    };
    check(&url);
    if let Ok(next) = url.join(reference) {
        check(&next);
    }
});
