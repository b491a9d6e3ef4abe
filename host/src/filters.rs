//! The user's filter rules, gathered for the guest: the flags (`--include`,
//! `--exclude`, `--exclude-from`, `--filter-from`, `--delete-excluded`),
//! poof.conf's per-path `"exclude"` and the `.poofignore` file at the root of
//! each configured folder.
//!
//! Invariant: the host only reads files and forwards their lines, each with
//! where it came from (a flag, a file and line number); the guest reads them
//! with rclone's rules (guest/src/filter.rs) and decides what is left out.
//! The order is the one rclone's rules give each kind: `--exclude`, then
//! `--exclude-from`, then poof.conf's `"exclude"`, then `.poofignore`.

use std::path::Path;

use crate::cli::FilterArgs;
use crate::config::SyncPath;
use crate::engine::sync::{Filter, FilterLine};
use crate::exit::ConfigError;

/// The name of the file of exclude patterns read at the root of each
/// configured folder.
pub const POOFIGNORE: &str = ".poofignore";

/// A filter that keeps every file.
pub fn none() -> Filter {
    Filter {
        includes: Vec::new(),
        excludes: Vec::new(),
        rules: Vec::new(),
        delete_excluded: false,
    }
}

/// The rules given on the command line, with the files they name already read.
#[derive(Debug, Clone)]
pub struct Filters {
    base: Filter,
}

impl Default for Filters {
    fn default() -> Self {
        Filters { base: none() }
    }
}

impl Filters {
    /// Reads the flags, and the files `--exclude-from` and `--filter-from`
    /// name; a file that cannot be read is a configuration error.
    pub fn from_args(args: &FilterArgs) -> Result<Self, ConfigError> {
        let mut base = none();
        base.includes = flag_lines(&args.include, "--include");
        base.excludes = flag_lines(&args.exclude, "--exclude");
        for file in &args.exclude_from {
            base.excludes.extend(file_lines(file, "--exclude-from")?);
        }
        for file in &args.filter_from {
            base.rules.extend(file_lines(file, "--filter-from")?);
        }
        base.delete_excluded = args.delete_excluded;
        Ok(Filters { base })
    }

    /// The whole filter of one configured path: the flags' rules, then the
    /// path's `"exclude"` in poof.conf, then its folder's `.poofignore` (a
    /// missing one adds nothing; one that cannot be read is an error).
    pub fn for_path(&self, path: &SyncPath) -> Result<Filter, ConfigError> {
        let mut f = self.base.clone();
        f.excludes.extend(path.exclude.iter().map(|p| FilterLine {
            text: p.clone(),
            from_file: false,
            origin: format!("poof.conf \"exclude\" of {}", path.local.display()),
        }));
        let ignore = path.local.join(POOFIGNORE);
        match std::fs::read(&ignore) {
            Ok(bytes) => f.excludes.extend(lines_of(&ignore, &bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ConfigError(format!(
                    "{}: cannot read it: {e}; fix its permissions or move it away",
                    ignore.display()
                )));
            }
        }
        Ok(f)
    }
}

/// One line per pattern given with `flag`.
fn flag_lines(patterns: &[String], flag: &str) -> Vec<FilterLine> {
    patterns
        .iter()
        .map(|p| FilterLine {
            text: p.clone(),
            from_file: false,
            origin: flag.to_string(),
        })
        .collect()
}

/// The lines of a file that `flag` names.
fn file_lines(file: &Path, flag: &str) -> Result<Vec<FilterLine>, ConfigError> {
    let bytes = std::fs::read(file)
        .map_err(|e| ConfigError(format!("{flag} {}: cannot read it: {e}", file.display())))?;
    lines_of(file, &bytes)
}

/// Every line of `bytes`, read from `file`, numbered from 1 for messages.
fn lines_of(file: &Path, bytes: &[u8]) -> Result<Vec<FilterLine>, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ConfigError(format!(
            "{}: not UTF-8 text ({e}); filter patterns must be UTF-8",
            file.display()
        ))
    })?;
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, line)| FilterLine {
            text: line.to_string(),
            from_file: true,
            origin: format!("{} line {}", file.display(), i + 1),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(local: &Path, exclude: &[&str]) -> SyncPath {
        SyncPath {
            local: local.to_owned(),
            cloud: "C".into(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn texts(lines: &[FilterLine]) -> Vec<(&str, bool, &str)> {
        lines
            .iter()
            .map(|l| (l.text.as_str(), l.from_file, l.origin.as_str()))
            .collect()
    }

    #[test]
    fn flags_files_conf_and_poofignore_come_in_rclones_order() {
        let dir = tempfile::tempdir().unwrap();
        let ex = dir.path().join("ex.txt");
        std::fs::write(&ex, "# c\n*.tmp\n").unwrap();
        let rules = dir.path().join("rules.txt");
        std::fs::write(&rules, "- *.bak\n+ **\n").unwrap();
        let local = dir.path().join("src");
        std::fs::create_dir(&local).unwrap();
        std::fs::write(local.join(POOFIGNORE), "node_modules/\n").unwrap();
        let args = FilterArgs {
            include: vec!["*.txt".into()],
            exclude: vec!["a".into(), "b".into()],
            exclude_from: vec![ex.clone()],
            filter_from: vec![rules.clone()],
            delete_excluded: true,
        };
        let f = Filters::from_args(&args)
            .unwrap()
            .for_path(&path(&local, &["cache/"]))
            .unwrap();
        assert_eq!(texts(&f.includes), [("*.txt", false, "--include")]);
        let conf = format!("poof.conf \"exclude\" of {}", local.display());
        let ignore = format!("{} line 1", local.join(POOFIGNORE).display());
        assert_eq!(
            texts(&f.excludes),
            [
                ("a", false, "--exclude"),
                ("b", false, "--exclude"),
                ("# c", true, &*format!("{} line 1", ex.display())),
                ("*.tmp", true, &*format!("{} line 2", ex.display())),
                ("cache/", false, &*conf),
                ("node_modules/", true, &*ignore),
            ]
        );
        assert_eq!(texts(&f.rules).len(), 2);
        assert!(f.delete_excluded);
        // Without a .poofignore, nothing is added.
        let other = dir.path().join("other");
        let f = Filters::default().for_path(&path(&other, &[])).unwrap();
        assert!(f.excludes.is_empty() && !f.delete_excluded);
    }

    #[test]
    fn unreadable_rule_files_are_configuration_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.txt");
        let args = FilterArgs {
            filter_from: vec![missing.clone()],
            ..FilterArgs::default()
        };
        let err = Filters::from_args(&args).unwrap_err().0;
        assert!(
            err.starts_with(&format!(
                "--filter-from {}: cannot read it: ",
                missing.display()
            )),
            "{err}"
        );
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, b"\xff\n").unwrap();
        let args = FilterArgs {
            exclude_from: vec![bad.clone()],
            ..FilterArgs::default()
        };
        let err = Filters::from_args(&args).unwrap_err().0;
        assert!(err.contains("not UTF-8 text"), "{err}");
        // A .poofignore that is a folder cannot be read.
        let local = dir.path().join("src");
        std::fs::create_dir_all(local.join(POOFIGNORE)).unwrap();
        let err = Filters::default()
            .for_path(&path(&local, &[]))
            .unwrap_err()
            .0;
        assert!(err.contains(".poofignore: cannot read it"), "{err}");
    }
}
