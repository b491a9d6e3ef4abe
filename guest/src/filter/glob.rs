//! rclone's glob syntax, translated into regular expressions the way rclone
//! translates it (rclone's `fs/filter/glob.go`, read from its source; no code
//! copied), then read by `regex-automata` (the engine of Rust's `regex`).
//!
//! Invariant: a glob means here what it means to rclone. `*` and `?` never
//! cross a `/`, `**` does, `[...]` is a character class, `{a,b}` are
//! alternatives (nested ones too), `{{...}}` is a raw regular expression, and
//! `\` makes the next character literal. A glob that starts with `/` is
//! anchored at the root of the synced folder; any other matches at the end of
//! the path, from a `/` or the start. Where Go's regular expressions (RE2)
//! and Rust's read the same text differently, the translation writes what Go
//! means: `\d`, `\s`, `\w` and `\b` stay ASCII-only, `\<` and `\>` are the
//! characters `<` and `>`, and inside a class a `[` that does not open a
//! `[:name:]` class, `&&`, `~~` and `--` are literal characters. Only a raw
//! `{{...}}` is handed to the regex engine as it is.

/// Translates one glob into the regular expression rclone would match a
/// path with, anchors included; the error says, in words, what is wrong.
pub fn to_regex(glob: &str) -> Result<String, String> {
    let mut re = String::new();
    let body = match glob.strip_prefix('/') {
        Some(rest) => {
            re.push('^');
            rest
        }
        None => {
            re.push_str("(^|/)");
            glob
        }
    };
    let mut stars = 0usize;
    let mut braces = 0usize;
    let mut class = Class::default();
    let mut escaped = false;
    let mut raw = false;
    let mut raw_closed = false;
    let mut last: Option<char> = None;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let before = last.replace(c);
        if escaped {
            escaped = false;
            push_escaped(&mut re, c);
            continue;
        }
        if raw_closed {
            if c == '}' {
                // `}}}`: the regular expression ends with a `}` (as in
                // `\d{8}}}`), so the group closes one character later.
                re.pop();
                re.push_str("})");
                continue;
            }
            raw_closed = false;
        }
        if raw {
            if c == '}' && before == Some('}') {
                raw = false;
                raw_closed = true;
                re.pop();
                re.push(')');
            } else {
                re.push(c);
            }
            continue;
        }
        if c != '*' {
            flush_stars(&mut re, &mut stars, glob)?;
        }
        if class.depth > 0 {
            class.push(&mut re, c, chars.peek().copied());
            continue;
        }
        match c {
            '\\' => escaped = true,
            '*' => stars += 1,
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                class = Class {
                    depth: 1,
                    ..Class::default()
                };
            }
            ']' => return Err(format!("{glob:?} has a `]` that closes no `[`")),
            '{' if braces > 0 && before == Some('{') => {
                // `{{` opens a raw regular expression: the `(` the first
                // `{` wrote wraps it, so that `{` is no longer a group.
                raw = true;
                braces -= 1;
            }
            '{' => {
                braces += 1;
                re.push('(');
            }
            '}' if braces == 0 => {
                return Err(format!("{glob:?} has a `}}` that closes no `{{`"));
            }
            '}' => {
                braces -= 1;
                re.push(')');
            }
            ',' if braces > 0 => re.push('|'),
            '.' | '+' | '(' | ')' | '|' | '^' | '$' => {
                re.push('\\');
                re.push(c);
            }
            _ => re.push(c),
        }
    }
    flush_stars(&mut re, &mut stars, glob)?;
    if escaped {
        return Err(format!("{glob:?} ends with a `\\` that escapes nothing"));
    }
    if class.depth > 0 {
        return Err(format!("{glob:?} has a `[` that is never closed"));
    }
    if braces > 0 {
        return Err(format!("{glob:?} has a `{{` that is never closed"));
    }
    if raw {
        return Err(format!(
            "{glob:?} has a `{{{{` that is never closed by `}}}}`"
        ));
    }
    re.push('$');
    Ok(re)
}

/// Writes the stars seen so far: `*` within a name, `**` across folders.
fn flush_stars(re: &mut String, stars: &mut usize, glob: &str) -> Result<(), String> {
    match std::mem::take(stars) {
        0 => {}
        1 => re.push_str("[^/]*"),
        2 => re.push_str(".*"),
        _ => {
            return Err(format!(
                "{glob:?} has too many `*` in a row: `*` matches within a name, `**` across folders"
            ));
        }
    }
    Ok(())
}

/// A character made literal by `\` outside a class. Go reads `\` before
/// punctuation as that character, and `\d`, `\s`, `\w`, `\b` as ASCII
/// classes; Rust's crate reads `\<`, `\>` as word boundaries and its
/// classes as Unicode, so those are written out.
fn push_escaped(re: &mut String, c: char) {
    match c {
        'd' => re.push_str("[0-9]"),
        'D' => re.push_str("[^0-9]"),
        's' => re.push_str(r"[\t\n\f\r ]"),
        'S' => re.push_str(r"[^\t\n\f\r ]"),
        'w' => re.push_str("[0-9A-Za-z_]"),
        'W' => re.push_str("[^0-9A-Za-z_]"),
        'b' => re.push_str(r"(?-u:\b)"),
        'B' => re.push_str(r"(?-u:\B)"),
        c if c.is_ascii_punctuation() || c == ' ' => {
            re.push_str(&regex_syntax::escape(&c.to_string()))
        }
        c => {
            re.push('\\');
            re.push(c);
        }
    }
}

/// Where a character class stands while it is translated.
#[derive(Debug, Default)]
struct Class {
    /// rclone's count of `[` minus `]` since the class opened: the class
    /// ends when it is back to zero.
    depth: usize,
    /// The previous character was a `\` that escapes this one.
    escaped: bool,
    /// The previous character was an unescaped `-`.
    dash: bool,
}

impl Class {
    /// Writes one character of a class.
    fn push(&mut self, re: &mut String, c: char, next: Option<char>) {
        // rclone counts brackets whatever escapes them.
        match c {
            '[' => self.depth += 1,
            ']' => self.depth -= 1,
            _ => {}
        }
        let escaped = std::mem::take(&mut self.escaped);
        let dash = std::mem::take(&mut self.dash);
        if escaped {
            match c {
                'd' => re.push_str("0-9"),
                's' => re.push_str(r"\t\n\f\r "),
                'w' => re.push_str("0-9A-Za-z_"),
                'D' => re.push_str("[^0-9]"),
                'S' => re.push_str(r"[^\t\n\f\r ]"),
                'W' => re.push_str("[^0-9A-Za-z_]"),
                _ => {
                    re.push('\\');
                    re.push(c);
                }
            }
            return;
        }
        match c {
            '\\' => self.escaped = true,
            // Go reads a `[` in a class as itself, unless it opens `[:name:]`.
            '[' if next != Some(':') => re.push_str(r"\["),
            '&' | '~' => {
                re.push('\\');
                re.push(c);
            }
            '-' if dash => re.push_str(r"\-"),
            '-' => {
                self.dash = true;
                re.push('-');
            }
            _ => re.push(c),
        }
    }
}

/// The folder globs that rclone derives from a file glob: a folder (given
/// with a trailing `/`) that matches none of them cannot hold a file the
/// glob matches. A glob too hard to split (braces holding `/` or `**`,
/// nested braces, a raw `{{...}}`) gives `/**`: every folder.
pub fn dir_globs(glob: &str) -> Vec<String> {
    if too_hard(glob) {
        return vec!["/**".to_string()];
    }
    let mut glob = squash_slashes(glob);
    let mut out: Vec<String> = Vec::new();
    loop {
        let slash = glob.rfind('/');
        let stars = glob.rfind("**");
        let (cut, kept) = match (slash, stars) {
            (_, Some(j)) if slash.is_none_or(|i| j > i) => (j, "**"),
            (Some(i), _) => (i, ""),
            _ => {
                if out.is_empty() {
                    out.push("/**".to_string());
                }
                return out;
            }
        };
        glob.truncate(cut);
        let dir = format!("{glob}{kept}/");
        if out.last() != Some(&dir) {
            out.push(dir);
        }
    }
}

/// True for the globs rclone gives up splitting into folder globs.
fn too_hard(glob: &str) -> bool {
    if glob.contains("{{") || glob.contains("}}") {
        return true;
    }
    // Each `{` up to the next brace: a `{` there means nested braces; a
    // `}` closes a group, which is too hard when it holds `/` or `**`.
    let mut rest = glob;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        match rest.find(['{', '}']) {
            None => return false,
            Some(i) if rest.as_bytes()[i] == b'{' => return true,
            Some(i) => {
                let group = &rest[..i];
                if group.contains('/') || group.contains("**") {
                    return true;
                }
                rest = &rest[i + 1..];
            }
        }
    }
    false
}

/// `glob` with every run of `/` made one.
fn squash_slashes(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len());
    for c in glob.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}
