//! Changes to poof.conf that keep the user's file as it was written: one
//! top-level key's value replaced in the text (or the key added first), and
//! the file replaced through a temporary file and a rename, with its
//! permission bits kept.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

/// `text` (a JSON object) with its top-level `key` set to `value` (JSON
/// text, e.g. `true` or `"name"`): the value replaced where the key is,
/// else the key added first, indented like the key that follows it, so
/// nothing else moves. `None` when `text` is not a JSON object.
pub fn set_top_level(text: &str, key: &str, value: &str) -> Option<String> {
    let open = text.find('{')?;
    let mut depth = 0usize;
    let mut i = open;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(text, i)?;
                let token = &text[i..end];
                let rest = text[end..].trim_start();
                if depth == 1 && rest.starts_with(':') {
                    let found: String = serde_json::from_str(token).ok()?;
                    let value_at = text.len() - rest[1..].trim_start().len();
                    if found == key {
                        let mut values = serde_json::Deserializer::from_str(&text[value_at..])
                            .into_iter::<serde::de::IgnoredAny>();
                        values.next()?.ok()?;
                        let value_end = value_at + values.byte_offset();
                        return Some(format!(
                            "{}{value}{}",
                            &text[..value_at],
                            &text[value_end..]
                        ));
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Added first, indented like the key that follows it.
    let rest = &text[open + 1..];
    let ws = &rest[..rest.len() - rest.trim_start().len()];
    let sep = if ws.is_empty() { " " } else { ws };
    let key = serde_json::to_string(key).ok()?;
    Some(format!(
        "{}{ws}{key}: {value},{sep}{}",
        &text[..=open],
        rest.trim_start()
    ))
}

/// The byte after the JSON string that starts at `start` (a `"`).
fn string_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Replaces `file` with `text`, keeping its permission bits: written to a
/// temporary file beside it, synced, then renamed over it.
pub fn replace_file(file: &Path, text: &str) -> Result<()> {
    let mode = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .permissions()
        .mode()
        & 0o7777;
    let tmp = file.with_file_name(format!(".poof.conf.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::set_top_level;

    #[test]
    fn only_the_named_top_level_key_changes() {
        let t = "{\"paths\": {\"/remote\": \"remote\", \"/b\": {\"remote\": 1}},\n \"remote\": \"poofcrypt\", \"bucket\": \"b\"}";
        assert_eq!(
            set_top_level(t, "remote", "\"poofremote\"").unwrap(),
            t.replace("\"remote\": \"poofcrypt\"", "\"remote\": \"poofremote\"")
        );
        assert_eq!(
            set_top_level(t, "encrypted", "true").unwrap(),
            t.replacen("{", "{\"encrypted\": true, ", 1)
        );
        let pretty = "{\n  \"remote\": \"a\\\"b\",\n  \"bucket\": null\n}";
        assert_eq!(
            set_top_level(pretty, "bucket", "\"x\"").unwrap(),
            "{\n  \"remote\": \"a\\\"b\",\n  \"bucket\": \"x\"\n}"
        );
        assert_eq!(
            set_top_level("{\n  \"paths\": {}\n}", "encrypted", "true").unwrap(),
            "{\n  \"encrypted\": true,\n  \"paths\": {}\n}"
        );
        assert_eq!(set_top_level("not json", "a", "1"), None);
    }
}
