//! The host's second lock on relative paths: a tiny native check that a
//! path it is about to join to a root cannot reach outside that root.
//!
//! The guest decides which paths are acceptable (its `paths` module, behind
//! WIT); this guard repeats the narrowest part of that rule natively, right
//! before the host touches a file or an object key, so that a bug in a
//! decision can never turn into a write outside a root. It is deliberately
//! small and makes no policy choice: it only refuses what could escape.
//!
//! Invariant: a path accepted here is non-empty, relative, `/`-separated,
//! free of empty, `.` and `..` segments and of NUL bytes.

/// Checks that `path` is a safe relative path; the error says why not, in
/// words that complete "it is not a safe path: …".
pub fn check(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("it is empty");
    }
    if path.starts_with('/') {
        return Err("it is absolute");
    }
    if path.contains('\0') {
        return Err("it holds a NUL byte");
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err("it has an empty segment"),
            "." | ".." => return Err("it has a `.` or `..` segment"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_plain_relative_paths() {
        for p in [
            "a",
            "a/b",
            "a b/c.txt",
            ".hidden/x",
            "a..b",
            "...",
            "\u{e9}t\u{e9}/\n",
        ] {
            assert_eq!(check(p), Ok(()), "{p:?}");
        }
    }

    #[test]
    fn refuses_paths_that_could_escape() {
        for p in [
            "",
            "/etc/passwd",
            "a//b",
            "a/",
            "..",
            "a/../../b",
            "./a",
            "a/./b",
            "a\0b",
        ] {
            assert!(check(p).is_err(), "{p:?}");
        }
    }
}
