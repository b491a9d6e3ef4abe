//! Relative paths as the plan sees them.
//!
//! Invariant: every path the guest accepts is relative, `/`-separated, and
//! free of empty, `.` and `..` segments and of NUL bytes, so joining it to a
//! root can never reach outside that root. The host checks again before it
//! writes; this is the first of two locks.

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The path is the empty string.
    Empty,
    /// The path starts with `/`.
    Absolute,
    /// The path has an empty segment (`a//b` or a trailing `/`).
    EmptySegment,
    /// The path has a `.` or `..` segment.
    DotSegment,
    /// The path holds a NUL byte.
    Nul,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::Empty => "it is empty",
            PathError::Absolute => "it is absolute",
            PathError::EmptySegment => "it has an empty segment",
            PathError::DotSegment => "it has a `.` or `..` segment",
            PathError::Nul => "it holds a NUL byte",
        })
    }
}

/// Checks that `path` is a safe relative path (see the module's invariant).
pub fn check(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// Returns every proper ancestor folder of `path`: `a/b/c` gives `a` and `a/b`.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let cases = [
            ("", PathError::Empty),
            ("/etc/passwd", PathError::Absolute),
            ("a//b", PathError::EmptySegment),
            ("a/", PathError::EmptySegment),
            ("..", PathError::DotSegment),
            ("a/../../b", PathError::DotSegment),
            ("./a", PathError::DotSegment),
            ("a/./b", PathError::DotSegment),
            ("a\0b", PathError::Nul),
        ];
        for (p, want) in cases {
            assert_eq!(check(p), Err(want), "{p:?}");
        }
    }

    #[test]
    fn lists_ancestors_outermost_first() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}
