//! Finding the headless Chromium the browser tests drive (Debian's `chromium`, installed
//! by `.ci/test-all`; `RASGI_CHROMIUM` names another). Without one, a test is skipped
//! loudly — unless `CI` is set, where a missing browser fails it.

use std::path::PathBuf;

/// The Chromium executable, or `None` (after the SKIPPED message) when there is none;
/// `what` names the test in that message.
pub fn chromium(what: &str) -> Option<PathBuf> {
    let found = match std::env::var_os("RASGI_CHROMIUM") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
                .chain([PathBuf::from("/usr/bin/chromium")])
                .find(|candidate| candidate.is_file())
        }
    };
    if found.is_none() {
        let message =
            format!("Chromium not found (apt-get install chromium, or set RASGI_CHROMIUM): {what} cannot run");
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("\n!!!!!!!!!!\n!!! SKIPPED: {message}\n!!!!!!!!!!\n");
    }
    found
}
