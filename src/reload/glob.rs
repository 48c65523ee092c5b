//! The shell-style patterns of `--reload-include` and `--reload-exclude`: `*`, `?` and
//! `[abc]`/`[a-z]`/`[!abc]`, matched the way Python's `fnmatch` (which uvicorn's reloader
//! uses) matches them — `*` crosses `/`, so `target/*` covers the whole tree below
//! `target`.
//!
//! The matcher walks pattern and name together and remembers only the last `*` it
//! passed: on a mismatch it lets that star swallow one more byte and retries. That is
//! linear in practice and never recursive, where the obvious recursive matcher is
//! exponential on patterns like `*a*a*a*b`.

/// True if `name` matches the whole of `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Where to resume after the most recent `*`: (pattern index after it, name index it
    // has swallowed up to).
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                b'[' => {
                    if let Some((hit, next)) = class(p, pi, n[ni]) {
                        if hit {
                            pi = next;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == b'[' {
                        // An unclosed `[` is a literal, as in fnmatch.
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((after, swallowed)) => {
                pi = after;
                ni = swallowed + 1;
                star = Some((after, swallowed + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches byte `c` against the class starting at `p[start] == b'['`: `Some((hit, index
/// after the class))`, or `None` if the class is not closed.
fn class(p: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negated = p.get(i) == Some(&b'!');
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    // A `]` right after `[` or `[!` is a member, not the end (fnmatch's rule).
    while i < p.len() && (first || p[i] != b']') {
        first = false;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    (i < p.len()).then_some((hit != negated, i + 1))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_literals() {
        assert!(matches("*.rs", "main.rs"));
        assert!(matches("*.rs", ".rs"));
        assert!(!matches("*.rs", "main.rsx"));
        assert!(!matches("*.rs", "main.r"));
        assert!(matches("target/*", "target/debug/build/x.rs"));
        assert!(!matches("target/*", "target"));
        assert!(!matches("target/*", "src/target/x"));
        assert!(matches(".*", ".git"));
        assert!(!matches(".*", "git"));
        assert!(matches("*", ""));
        assert!(!matches("a", ""));
        assert!(matches("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaab"));
        assert!(!matches("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn question_marks_and_classes() {
        assert!(matches("v?.rs", "v1.rs"));
        assert!(!matches("v?.rs", "v.rs"));
        assert!(matches("[abc].toml", "b.toml"));
        assert!(!matches("[abc].toml", "d.toml"));
        assert!(matches("[a-c]x", "cx"));
        assert!(!matches("[!a-c]x", "cx"));
        assert!(matches("[!a-c]x", "dx"));
        assert!(matches("[]]", "]"));
        assert!(matches("[", "["));
        assert!(!matches("[", "a"));
    }
}
