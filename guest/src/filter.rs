//! Filters: which files a sync leaves out, with rclone's filter rules.
//!
//! The host hands over the user's patterns as written (`--include`,
//! `--exclude`, the lines of `--exclude-from` and `--filter-from` files,
//! poof.conf's `"exclude"`, `.poofignore`), each with where it came from;
//! `Filter::new` reads them as rclone does and `Filter::select` splits a
//! listing into the files it keeps and those it leaves out, naming for each
//! the rule that left it out. Invariants, all rclone's (its docs'
//! `filtering.md` and `fs/filter/`, read from its source):
//! - rules are tried in order and the first that matches decides; a path no
//!   rule matches is kept;
//! - the order is every include, then every exclude, then every filter-file
//!   rule; `!` in a filter file clears the rules before it; any `--include`
//!   adds a final `- /**` (everything else is left out);
//! - a rule ending in `/` is about folders: `- dir/` leaves out every file
//!   under a folder `dir`, `+ dir/` keeps no file by itself;
//! - folders are judged as rclone's walk judges them: a file is left out
//!   when one of its folders is, by the folder rules rclone derives from the
//!   file rules (`filter/glob.rs`), whatever the file rules say of it;
//! - lines read from files are trimmed, and empty lines and lines starting
//!   with `#` or `;` are comments; patterns from the command line and from
//!   poof.conf are taken as they are.

use std::collections::BTreeMap;

use regex_automata::meta::{BuildError, Regex};
use regex_automata::{Input, MatchKind, PatternSet};

mod glob;

/// One pattern or rule as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The text: a pattern, or for `rules` a `+ PATTERN`, `- PATTERN` or `!` line.
    pub text: String,
    /// True for a line read from a file: trimmed, and a comment when empty or
    /// starting with `#` or `;`.
    pub from_file: bool,
    /// Where it came from, for messages: `--exclude`, `FILE line 3`, ...
    pub origin: String,
}

/// The user's filter input, grouped as rclone groups it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    /// Patterns to include (`--include`); any of them implies `- /**` at the end.
    pub include: Vec<Line>,
    /// Patterns to exclude (`--exclude`, `--exclude-from`, poof.conf, `.poofignore`).
    pub exclude: Vec<Line>,
    /// Filter-file lines (`--filter-from`): `+ PATTERN`, `- PATTERN`, `!`.
    pub rules: Vec<Line>,
}

/// A rule as the user wrote it (or as rclone implies it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The pattern.
    pub pattern: String,
    /// Where it came from.
    pub origin: String,
}

/// A file, or a folder with every file under it, that the filter left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excluded {
    /// The file, or the folder (ending in `/`).
    pub path: String,
    /// How many files of the listing it stands for (1 for a file).
    pub files: u64,
    /// The rule that left it out.
    pub rule: Origin,
}

/// A listing split by the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection<T> {
    /// What the filter keeps, in the listing's order.
    pub included: Vec<T>,
    /// What it leaves out, sorted by path; folders stand for their files.
    pub excluded: Vec<Excluded>,
}

/// One compiled rule: include or exclude, and which `Origin` it came from.
#[derive(Debug, Clone, Copy)]
struct Rule {
    include: bool,
    origin: usize,
}

/// Rules in order, matched in one pass: the lowest matching index decides.
#[derive(Debug)]
struct Rules {
    /// Every rule's regular expression, as one regex reporting all matches.
    set: Regex,
    rules: Vec<Rule>,
}

impl Rules {
    /// Compiles `list` in order.
    fn new(list: Vec<(String, Rule)>) -> Result<Self, String> {
        let (patterns, rules): (Vec<String>, Vec<Rule>) = list.into_iter().unzip();
        let set = Regex::builder()
            .configure(Regex::config().match_kind(MatchKind::All))
            .build_many(&patterns)
            .map_err(|e| format!("the filter rules do not compile together: {}", why(&e)))?;
        Ok(Rules { set, rules })
    }

    /// The first rule that matches `text`, if any.
    fn first(&self, text: &str) -> Option<Rule> {
        if self.rules.is_empty() {
            return None;
        }
        let mut matched = PatternSet::new(self.set.pattern_len());
        self.set
            .which_overlapping_matches(&Input::new(text), &mut matched);
        matched.iter().next().map(|id| self.rules[id.as_usize()])
    }
}

/// The words of a regular expression's refusal: the last line of the
/// syntax error (`invalid character class range, ...`), or the error.
fn why(e: &BuildError) -> String {
    let detail = match e.syntax_error() {
        Some(syntax) => syntax.to_string(),
        None => e.to_string(),
    };
    let last = detail.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

/// The rules while they are read.
#[derive(Debug, Default)]
struct Builder {
    origins: Vec<Origin>,
    files: Vec<(String, Rule)>,
    dirs: Vec<(String, Rule)>,
}

/// The pattern that `--include` implies at the end of the rules.
pub const IMPLIED: &str = "/**";

/// Where the implied rule comes from, in messages.
pub const IMPLIED_ORIGIN: &str = "implied by --include: what no include names is left out";

impl Builder {
    /// Adds one rule, with rclone's reading of folder rules.
    fn add(&mut self, include: bool, pattern: &str, origin: &str) -> Result<(), String> {
        let bad =
            |why: String| format!("the filter pattern {pattern:?} ({origin}) is not valid: {why}");
        let index = self.origins.len();
        self.origins.push(Origin {
            pattern: pattern.to_string(),
            origin: origin.to_string(),
        });
        let rule = Rule {
            include,
            origin: index,
        };
        let mut glob = pattern.to_string();
        let mut is_dir = glob.ends_with('/');
        let mut is_file = !is_dir;
        // Excluding `dir/` excludes everything under it: `dir/**`.
        if is_dir && !include {
            glob.push_str("**");
        }
        if glob.contains("**") {
            (is_dir, is_file) = (true, true);
        }
        let re = compile(&glob).map_err(bad)?;
        if is_file {
            self.files.push((re.clone(), rule));
            // The folders an include needs; an exclude rules no folder out,
            // except `*`, which matches every name.
            if include || glob == "*" {
                for dir in glob::dir_globs(&glob) {
                    if dir != "/" {
                        self.dirs.push((compile(&dir).map_err(bad)?, rule));
                    }
                }
            }
        }
        if is_dir {
            self.dirs.push((re, rule));
        }
        Ok(())
    }

    /// `!`: forgets every rule so far.
    fn clear(&mut self) {
        self.files.clear();
        self.dirs.clear();
    }
}

/// Translates a glob and checks that the regex engine reads the result.
fn compile(glob: &str) -> Result<String, String> {
    let re = glob::to_regex(glob)?;
    Regex::new(&re).map_err(|e| format!("{} (as the regular expression {re:?})", why(&e)))?;
    Ok(re)
}

/// The user's patterns, compiled.
#[derive(Debug)]
pub struct Filter {
    origins: Vec<Origin>,
    files: Rules,
    dirs: Rules,
}

impl Filter {
    /// Reads the user's patterns as rclone does; the error names the pattern,
    /// where it came from, and what is wrong with it.
    pub fn new(spec: &Spec) -> Result<Self, String> {
        let mut b = Builder::default();
        for line in &spec.include {
            if let Some(pattern) = pattern_of(line) {
                b.add(true, pattern, &line.origin)?;
            }
        }
        for line in &spec.exclude {
            if let Some(pattern) = pattern_of(line) {
                b.add(false, pattern, &line.origin)?;
            }
        }
        for line in &spec.rules {
            let Some(rule) = pattern_of(line) else {
                continue;
            };
            if rule == "!" {
                b.clear();
            } else if let Some(pattern) = rule.strip_prefix("- ") {
                b.add(false, pattern, &line.origin)?;
            } else if let Some(pattern) = rule.strip_prefix("+ ") {
                b.add(true, pattern, &line.origin)?;
            } else {
                return Err(format!(
                    "the filter rule {rule:?} ({}) is not valid: a rule is `+ PATTERN` (include), \
                     `- PATTERN` (exclude) or `!` (forget the rules above)",
                    line.origin
                ));
            }
        }
        if !spec.include.is_empty() {
            b.add(false, IMPLIED, IMPLIED_ORIGIN)?;
        }
        Ok(Filter {
            origins: b.origins,
            files: Rules::new(b.files)?,
            dirs: Rules::new(b.dirs)?,
        })
    }

    /// True when the filter keeps every file.
    pub fn is_empty(&self) -> bool {
        self.files.rules.is_empty() && self.dirs.rules.is_empty()
    }

    /// The rule that leaves the folder `dir` (ending in `/`) out, if any.
    fn dir_excluder(&self, dir: &str) -> Option<usize> {
        self.dirs
            .first(dir)
            .filter(|r| !r.include)
            .map(|r| r.origin)
    }

    /// The rule that leaves the file `path` out, if any.
    fn file_excluder(&self, path: &str) -> Option<usize> {
        self.files
            .first(path)
            .filter(|r| !r.include)
            .map(|r| r.origin)
    }

    /// Splits `items` (each with a relative, `/`-separated path) into what
    /// the filter keeps and what it leaves out. A file under a folder the
    /// folder rules leave out is counted in that folder's entry (the
    /// outermost such folder), as rclone's walk never enters it. A path
    /// ending in `/` is a folder, judged by the folder rules only; the root
    /// (`""`) is always kept, as rclone always enters it.
    pub fn select<T>(&self, items: Vec<T>, path_of: impl Fn(&T) -> &str) -> Selection<T> {
        if self.is_empty() {
            return Selection {
                included: items,
                excluded: Vec::new(),
            };
        }
        let mut folders: BTreeMap<String, Option<usize>> = BTreeMap::new();
        let mut left_out: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        // Kept in place: a listing can be millions of entries long.
        let mut included = items;
        included.retain(|item| {
            let path = path_of(item);
            let mut excluder = None;
            for (i, _) in path.match_indices('/') {
                let dir = &path[..=i];
                let verdict = match folders.get(dir) {
                    Some(v) => *v,
                    None => {
                        let v = self.dir_excluder(dir);
                        folders.insert(dir.to_string(), v);
                        v
                    }
                };
                if let Some(origin) = verdict {
                    excluder = Some((dir, origin));
                    break;
                }
            }
            let is_folder = path.is_empty() || path.ends_with('/');
            let excluder = excluder.or_else(|| {
                (!is_folder)
                    .then(|| self.file_excluder(path).map(|o| (path, o)))
                    .flatten()
            });
            match excluder {
                Some((what, origin)) => {
                    left_out.entry(what.to_string()).or_insert((0, origin)).0 += 1;
                    false
                }
                None => true,
            }
        });
        let excluded = left_out
            .into_iter()
            .map(|(path, (files, origin))| Excluded {
                path,
                files,
                rule: self.origins[origin].clone(),
            })
            .collect();
        Selection { included, excluded }
    }
}

/// The pattern of a line: a file's line trimmed, `None` for a comment.
fn pattern_of(line: &Line) -> Option<&str> {
    if !line.from_file {
        return Some(&line.text);
    }
    let text = line.text.trim();
    (!text.is_empty() && !text.starts_with(['#', ';'])).then_some(text)
}

#[cfg(test)]
mod tests;
