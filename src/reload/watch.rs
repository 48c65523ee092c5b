//! Watching the sources: inotify, waited on by rasgi's own reactor.
//!
//! The kernel's inotify interface is a file descriptor: each watched directory gets a
//! *watch descriptor*, and every change below it (a file written, created, renamed,
//! deleted) becomes a record that `read(2)` returns. That descriptor is registered with
//! the reactor exactly like a socket ([`AsyncFd`]), so the loop that waits for a client's
//! bytes is the loop that waits for a saved file — one `epoll_wait`, one list of wakers.
//! uvicorn's default reloader (`watchfiles`) runs its own Rust thread with its own
//! notify loop; its fallback `StatReload` polls `stat()` on every file each quarter
//! second. Here nothing polls and nothing extra runs.
//!
//! inotify is not recursive: one watch covers one directory's direct children. The
//! watcher therefore walks the tree at start, and adds a watch whenever a directory is
//! created or moved in, skipping excluded trees (`target/`, `.git/`) so a build's own
//! output never wakes it.

use std::collections::HashMap;
use std::ffi::CString;
use std::future::poll_fn;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rasgi_executor::log_warn;

use super::fd::AsyncFd;
use super::glob;

/// What the watcher listens for: content written, and names appearing or disappearing.
/// `IN_MODIFY` alone would miss editors that save by writing a new file and renaming it
/// over the old one (`IN_MOVED_TO`).
const EVENTS: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_MODIFY
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF;

/// Which files count: uvicorn's `--reload-include` and `--reload-exclude`.
#[derive(Clone, Debug)]
pub struct Filter {
    /// Patterns a changed file's name (or its path below the watched directory) must
    /// match for the change to count.
    pub include: Vec<String>,
    /// Patterns that rule a file or a whole directory out, matched against its name and
    /// its path below the watched directory; they win over `include`.
    pub exclude: Vec<String>,
}

impl Filter {
    /// True if a change to `relative` (a path below a watched directory) counts.
    pub fn wants_file(&self, relative: &Path) -> bool {
        !self.excludes(relative, false) && self.include.iter().any(|p| matches_path(p, relative))
    }

    /// True if the tree at `relative` is to be watched at all.
    pub fn wants_dir(&self, relative: &Path) -> bool {
        !self.excludes(relative, true)
    }

    fn excludes(&self, relative: &Path, is_dir: bool) -> bool {
        let text = relative.to_string_lossy();
        // `target/*` names everything below `target`, so `target` itself is
        // tested as `target/`; `.*` names any hidden component, at any depth.
        let as_dir = format!("{text}/");
        self.exclude.iter().any(|p| {
            glob::matches(p, &text)
                || (is_dir && glob::matches(p, &as_dir))
                || relative.components().any(|c| glob::matches(p, &c.as_os_str().to_string_lossy()))
        })
    }
}

/// True if `pattern` matches the file name of `relative` or its whole relative path.
fn matches_path(pattern: &str, relative: &Path) -> bool {
    relative.file_name().is_some_and(|n| glob::matches(pattern, &n.to_string_lossy()))
        || glob::matches(pattern, &relative.to_string_lossy())
}

/// An inotify instance watching some directory trees, read through the reactor.
pub struct Watcher {
    /// The inotify descriptor, non-blocking and close-on-exec (a server child must not
    /// inherit it), registered with this thread's reactor.
    fd: AsyncFd,
    /// Each live watch descriptor and the directory it watches, with the root it belongs
    /// to; entries leave when the kernel reports `IN_IGNORED` (the directory is gone).
    dirs: HashMap<i32, (PathBuf, PathBuf)>,
    /// What counts as a change.
    filter: Filter,
    /// Bytes read from the descriptor and not yet parsed: whole events only (the kernel
    /// never splits one across reads); those after the event `next` returned wait here
    /// for the following call.
    buf: Vec<u8>,
}

impl Watcher {
    /// Starts watching every directory below each of `roots` that `filter` does not
    /// exclude. Must be called inside a runtime (it registers with the reactor).
    pub fn new(roots: &[PathBuf], filter: Filter) -> io::Result<Watcher> {
        // SAFETY: inotify_init1 takes only flags and returns a new descriptor or -1.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just returned by the kernel and is owned by nothing else.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut watcher = Watcher { fd: AsyncFd::new(owned)?, dirs: HashMap::new(), filter, buf: Vec::new() };
        for root in roots {
            let root = root
                .canonicalize()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot watch --reload-dir {}: {e}", root.display())))?;
            watcher.add_tree(&root, &root)?;
        }
        Ok(watcher)
    }

    /// How many directories are watched.
    pub fn watched(&self) -> usize {
        self.dirs.len()
    }

    /// Watches `dir` and every directory below it that the filter allows.
    fn add_tree(&mut self, root: &Path, dir: &Path) -> io::Result<()> {
        let relative = dir.strip_prefix(root).unwrap_or(dir);
        if !relative.as_os_str().is_empty() && !self.filter.wants_dir(relative) {
            return Ok(());
        }
        let path = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a directory name contains a NUL byte"))?;
        // SAFETY: the descriptor is a live inotify instance and `path` is NUL-terminated.
        let wd = unsafe { libc::inotify_add_watch(self.fd.raw(), path.as_ptr(), EVENTS | libc::IN_ONLYDIR) };
        if wd < 0 {
            let e = io::Error::last_os_error();
            // A directory that vanished (or never was one) between listing and watching
            // has nothing to watch; anything else (the watch limit) is the user's to fix.
            return match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => Ok(()),
                _ => Err(io::Error::new(e.kind(), format!("cannot watch {}: {e}", dir.display()))),
            };
        }
        self.dirs.insert(wd, (root.to_path_buf(), dir.to_path_buf()));
        let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
        for entry in entries.flatten() {
            // `file_type` does not follow symlinks: a link to a directory is not walked,
            // so a link cycle cannot make the walk endless.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.add_tree(root, &entry.path())?;
            }
        }
        Ok(())
    }

    /// Waits for the next change that passes the filter and returns the changed path.
    pub async fn next(&mut self) -> io::Result<PathBuf> {
        loop {
            if let Some(path) = self.take_event() {
                return Ok(path);
            }
            if self.buf.len() >= 16 {
                continue;
            }
            // Room for many events at once; one event is at most 16 + NAME_MAX + 1 bytes.
            let mut chunk = [0u8; 8192];
            let n = poll_fn(|cx| self.fd.poll_read(cx, &mut chunk)).await?;
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Parses one event off the front of `buf`: the changed path if it counts.
    fn take_event(&mut self) -> Option<PathBuf> {
        // struct inotify_event { int wd; uint32_t mask; uint32_t cookie; uint32_t len;
        // char name[len]; } — read field by field, with no pointer casts.
        if self.buf.len() < 16 {
            return None;
        }
        let word = |at: usize| [self.buf[at], self.buf[at + 1], self.buf[at + 2], self.buf[at + 3]];
        let wd = i32::from_ne_bytes(word(0));
        let mask = u32::from_ne_bytes(word(4));
        let len = u32::from_ne_bytes(word(12)) as usize;
        let end = (16 + len).min(self.buf.len());
        let name_bytes = &self.buf[16..end];
        let name = std::ffi::OsStr::from_bytes(name_bytes.split(|&b| b == 0).next().unwrap_or(&[])).to_owned();
        self.buf.drain(..end);
        if mask & libc::IN_Q_OVERFLOW != 0 {
            // Events were lost: something changed, and that is all a reloader needs.
            return Some(PathBuf::from("(many files)"));
        }
        if mask & libc::IN_IGNORED != 0 {
            self.dirs.remove(&wd);
            return None;
        }
        let (root, dir) = self.dirs.get(&wd).cloned()?;
        let path = dir.join(&name);
        let relative = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
        if mask & libc::IN_ISDIR != 0 {
            if mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 && self.filter.wants_dir(&relative) {
                // A new directory that cannot be watched (the watch limit) must not stop
                // the reloader: the rest of the tree is still watched.
                if let Err(e) = self.add_tree(&root, &path) {
                    log_warn!("changes below {} will go unnoticed: {e}", path.display());
                }
                // Files may have landed in it before the watch existed.
                return Some(path);
            }
            return None;
        }
        if name.is_empty() || !self.filter.wants_file(&relative) {
            return None;
        }
        Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Filter {
        Filter {
            include: vec!["*.rs".into(), "*.toml".into(), "*.html".into()],
            exclude: vec!["target/*".into(), ".*".into()],
        }
    }

    #[test]
    fn the_default_filter() {
        let f = defaults();
        assert!(f.wants_file(Path::new("src/main.rs")));
        assert!(f.wants_file(Path::new("Cargo.toml")));
        assert!(f.wants_file(Path::new("src/loopview.html")));
        assert!(!f.wants_file(Path::new("README.md")));
        assert!(!f.wants_file(Path::new("target/debug/build/out.rs")));
        assert!(!f.wants_file(Path::new(".main.rs.swp")));
        assert!(!f.wants_file(Path::new("src/.hidden.rs")));
        assert!(!f.wants_file(Path::new(".git/config.toml")));
        assert!(f.wants_dir(Path::new("src")));
        assert!(f.wants_dir(Path::new("src/app")));
        assert!(!f.wants_dir(Path::new("target")));
        assert!(!f.wants_dir(Path::new(".git")));
    }

    /// Events until `want` is reported, failing if an excluded path shows up first.
    async fn until(w: &mut Watcher, want: &Path, never: &[PathBuf]) {
        let seen = rasgi_executor::timeout(std::time::Duration::from_secs(5), async {
            loop {
                let path = w.next().await.unwrap();
                assert!(!never.contains(&path), "{} is excluded but was reported", path.display());
                if path == want {
                    return;
                }
            }
        })
        .await;
        assert!(seen.is_ok(), "{} was never reported", want.display());
    }

    /// Real files in a real directory, waited on by a real reactor.
    #[test]
    fn sees_edits_and_new_directories_and_ignores_excluded_ones() {
        let root = std::env::temp_dir().join(format!("rasgi-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        let root = root.canonicalize().unwrap();
        let never = [root.join("target/x.rs"), root.join("notes.md")];
        rasgi_executor::block_on(async {
            let mut w = Watcher::new(std::slice::from_ref(&root), defaults()).unwrap();
            assert_eq!(w.watched(), 2, "the root and src/, not target/");
            std::fs::write(&never[0], "ignored").unwrap();
            std::fs::write(&never[1], "ignored").unwrap();
            std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
            until(&mut w, &root.join("src/main.rs"), &never).await;
            std::fs::create_dir(root.join("src/app")).unwrap();
            until(&mut w, &root.join("src/app"), &never).await;
            assert_eq!(w.watched(), 3);
            std::fs::write(root.join("src/app/mod.rs"), "").unwrap();
            until(&mut w, &root.join("src/app/mod.rs"), &never).await;
        });
        let _ = std::fs::remove_dir_all(&root);
    }
}
