//! A small reader for the INI files poof reads: rclone's config
//! (`rclone-poof.conf`) and the AWS shared files (`~/.aws/credentials`,
//! `~/.aws/config`).
//!
//! Invariant: what it cannot read is an error naming the line, never a
//! silently skipped line, so a typo in a credentials file is found at once.

use std::collections::BTreeMap;

/// One `[section]`: its keys in file order, later duplicates winning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets, trimmed.
    pub name: String,
    /// The 1-based line of the header.
    pub line: usize,
    /// Keys (lower-cased) and values (trimmed, quotes kept).
    pub values: BTreeMap<String, String>,
}

impl Section {
    /// The value of `key`, if it is set and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Parses INI text: `[section]` headers, `key = value` lines, `#` and `;`
/// comment lines, blank lines. Keys before any header are an error. AWS's
/// nested values (an indented line under `s3 =`) are joined to their key as
/// `key.subkey`.
pub fn parse(text: &str) -> Result<Vec<Section>, String> {
    let mut sections: Vec<Section> = Vec::new();
    let mut nested: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let indented = raw.starts_with([' ', '\t']);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(format!("line {line_no}: a section header must end with ]"));
            };
            nested = None;
            sections.push(Section {
                name: name.trim().to_string(),
                line: line_no,
                values: BTreeMap::new(),
            });
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "line {line_no}: expected `key = value`, a [section] or a comment"
            ));
        };
        let Some(section) = sections.last_mut() else {
            return Err(format!(
                "line {line_no}: `{}` comes before any [section]",
                key.trim()
            ));
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        if key.is_empty() {
            return Err(format!("line {line_no}: a value without a key"));
        }
        match (&nested, indented) {
            (Some(parent), true) => {
                section.values.insert(format!("{parent}.{key}"), value);
            }
            _ => {
                nested = value.is_empty().then(|| key.clone());
                section.values.insert(key, value);
            }
        }
    }
    Ok(sections)
}

/// The section named `name`, if there is one (the last one wins, as in rclone).
pub fn find<'a>(sections: &'a [Section], name: &str) -> Option<&'a Section> {
    sections.iter().rev().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rclone_and_aws_files() {
        let text = "\
# made by poof 1.x
[poofremote]
type = s3
provider = AWS
access_key_id = AKIAEXAMPLE
secret_access_key = a=b/c+d
region=eu-west-1
endpoint =

; another one
[profile dev]
region = us-west-2
s3 =
  endpoint_url = http://127.0.0.1:3900
  addressing_style = path
";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        let r = find(&s, "poofremote").unwrap();
        assert_eq!(r.line, 2);
        assert_eq!(r.get("type"), Some("s3"));
        assert_eq!(r.get("secret_access_key"), Some("a=b/c+d"));
        assert_eq!(r.get("region"), Some("eu-west-1"));
        assert_eq!(r.get("endpoint"), None);
        let d = find(&s, "profile dev").unwrap();
        assert_eq!(d.get("s3.endpoint_url"), Some("http://127.0.0.1:3900"));
        assert_eq!(d.get("region"), Some("us-west-2"));
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(parse("key = v").unwrap_err().contains("line 1"));
        assert!(parse("[a]\njust words").unwrap_err().contains("line 2"));
        assert!(parse("[a\nk = v").unwrap_err().contains("must end with ]"));
        assert!(parse("[a]\n= v").unwrap_err().contains("without a key"));
    }

    #[test]
    fn later_duplicates_win() {
        let s = parse("[a]\nk = 1\n[b]\n[a]\nk = 2\nK = 3").unwrap();
        assert_eq!(find(&s, "a").unwrap().get("k"), Some("3"));
    }
}
