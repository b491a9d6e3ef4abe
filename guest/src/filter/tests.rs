//! The filter rules, natively: rclone's glob translation, its folder globs,
//! and the selection rclone makes (the examples of its `filtering.md`, and
//! the cases where folder rules decide). The integration tests compare
//! with a real rclone on the same trees.

use super::glob::{dir_globs, to_regex};
use super::*;

fn cli(text: &str, origin: &str) -> Line {
    Line {
        text: text.into(),
        from_file: false,
        origin: origin.into(),
    }
}

fn file_lines(text: &str, name: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .map(|(i, l)| Line {
            text: l.into(),
            from_file: true,
            origin: format!("{name} line {}", i + 1),
        })
        .collect()
}

fn excludes(patterns: &[&str]) -> Spec {
    Spec {
        exclude: patterns.iter().map(|p| cli(p, "--exclude")).collect(),
        ..Spec::default()
    }
}

fn includes(patterns: &[&str]) -> Spec {
    Spec {
        include: patterns.iter().map(|p| cli(p, "--include")).collect(),
        ..Spec::default()
    }
}

fn rules(text: &str) -> Spec {
    Spec {
        rules: file_lines(text, "f.txt"),
        ..Spec::default()
    }
}

/// The paths of `tree` the filter keeps.
fn kept(spec: &Spec, tree: &[&str]) -> Vec<String> {
    let f = Filter::new(spec).unwrap();
    f.select(tree.iter().map(|s| s.to_string()).collect(), |s| s)
        .included
}

/// Asserts, for one spec, which paths it keeps and which it leaves out.
fn check(spec: &Spec, keeps: &[&str], drops: &[&str]) {
    let f = Filter::new(spec).unwrap();
    for p in keeps {
        let s = f.select(vec![p.to_string()], |s| s);
        assert_eq!(
            s.included,
            [*p],
            "{spec:?} must keep {p:?}: {:?}",
            s.excluded
        );
    }
    for p in drops {
        let s = f.select(vec![p.to_string()], |s| s);
        assert!(s.included.is_empty(), "{spec:?} must leave out {p:?}");
    }
}

#[test]
fn globs_translate_as_rclone_translates_them() {
    let cases = [
        ("", "(^|/)$"),
        ("potato", "(^|/)potato$"),
        ("potato,sausage", "(^|/)potato,sausage$"),
        ("/potato", "^potato$"),
        ("potato?sausage", "(^|/)potato[^/]sausage$"),
        ("potat[oa]", "(^|/)potat[oa]$"),
        ("potat[a-z]or", "(^|/)potat[a-z]or$"),
        ("potat[[:alpha:]]or", "(^|/)potat[[:alpha:]]or$"),
        (
            "'.' '+' '(' ')' '|' '^' '$'",
            r"(^|/)'\.' '\+' '\(' '\)' '\|' '\^' '\$'$",
        ),
        ("*.jpg", r"(^|/)[^/]*\.jpg$"),
        ("a{b,c,d}e", "(^|/)a(b|c|d)e$"),
        ("a{b,{c,d}}e", "(^|/)a(b|(c|d))e$"),
        ("{a,b/{c,d}/**}", "(^|/)(a|b/(c|d)/.*)$"),
        ("potato**", "(^|/)potato.*$"),
        ("potato**sausage", "(^|/)potato.*sausage$"),
        ("*.p[lm]", r"(^|/)[^/]*\.p[lm]$"),
        (r"[\[\]]", r"(^|/)[\[\]]$"),
        ("*.{jpg,png,gif}", r"(^|/)[^/]*\.(jpg|png|gif)$"),
        (r"a\*b", r"(^|/)a\*b$"),
        (r"a\\b", r"(^|/)a\\b$"),
        ("a{{.*}}b", "(^|/)a(.*)b$"),
        ("{{regexp}}", "(^|/)(regexp)$"),
        (r"\{{{regexp}}", r"(^|/)\{(regexp)$"),
        ("/{{regexp}}", "^(regexp)$"),
        (r"/{{\d{8}}}", r"^(\d{8})$"),
        (r"/{{\}}}", r"^(\})$"),
        ("{{(?i)regexp}}", "(^|/)((?i)regexp)$"),
        ("dir/", "(^|/)dir/$"),
        ("/dir/**", "^dir/.*$"),
        // Go's meaning where Rust's crate would read the text otherwise.
        (r"*.\d\d", r"(^|/)[^/]*\.[0-9][0-9]$"),
        (r"\<x\>", "(^|/)<x>$"),
        (r"[\d_]", "(^|/)[0-9_]$"),
        ("[a&&b~~c]", r"(^|/)[a\&\&b\~\~c]$"),
        ("[+--]", r"(^|/)[+-\-]$"),
        ("[a[b]]", r"(^|/)[a\[b]]$"),
        (r"a\ b\/c", "(^|/)a b/c$"),
    ];
    for (glob, want) in cases {
        assert_eq!(to_regex(glob).as_deref(), Ok(want), "{glob:?}");
        assert!(Regex::new(want).is_ok(), "{want:?} compiles");
    }
}

#[test]
fn bad_globs_are_refused_with_words() {
    let cases = [
        ("***", "too many `*` in a row"),
        ("potato***", "too many `*` in a row"),
        ("ab]c", "a `]` that closes no `[`"),
        ("ab[c", "a `[` that is never closed"),
        ("ab{x{cd", "a `{` that is never closed"),
        ("ab{}}cd", "a `}` that closes no `{`"),
        ("ab}c", "a `}` that closes no `{`"),
        ("a{{.*}", "a `{{` that is never closed by `}}`"),
        ("ab\\", "ends with a `\\` that escapes nothing"),
    ];
    for (glob, want) in cases {
        let err = to_regex(glob).unwrap_err();
        assert!(err.contains(want), "{glob:?}: {err}");
    }
    // The regex crate's own refusal is named with the regular expression.
    let err = Filter::new(&excludes(&["[z-a]"])).unwrap_err();
    assert!(
        err.starts_with("the filter pattern \"[z-a]\" (--exclude) is not valid: "),
        "{err}"
    );
    assert!(
        err.contains(r#"(as the regular expression "(^|/)[z-a]$")"#),
        "{err}"
    );
}

#[test]
fn folder_globs_are_rclones() {
    let cases: &[(&str, &[&str])] = &[
        ("*", &["/**"]),
        ("/*", &["/"]),
        ("*.jpg", &["/**"]),
        ("/*.jpg", &["/"]),
        ("//*.jpg", &["/"]),
        ("/a/*.jpg", &["/a/", "/"]),
        ("/a//*.jpg", &["/a/", "/"]),
        ("/a/b/*.jpg", &["/a/b/", "/a/", "/"]),
        ("a/*.jpg", &["a/"]),
        ("a/b/*.jpg", &["a/b/", "a/"]),
        ("*/*/*.jpg", &["*/*/", "*/"]),
        ("a/b/", &["a/b/", "a/"]),
        ("a/b", &["a/"]),
        ("a/b/*.{jpg,png,gif}", &["a/b/", "a/"]),
        (
            "/a/{jpg,png,gif}/*.{jpg,png,gif}",
            &["/a/{jpg,png,gif}/", "/a/", "/"],
        ),
        ("a/{b,{c,d}}/*.jpg", &["/**"]),
        ("a/{a,a*b,a**c}/d/", &["/**"]),
        ("/a/{a,a*b,a/c,d}/d/", &["/**"]),
        ("/a/{{.*}}/d/", &["/**"]),
        ("**", &["**/"]),
        ("a**", &["a**/"]),
        ("a**b", &["a**/"]),
        ("a**b**c**d", &["a**b**c**/", "a**b**/", "a**/"]),
        ("a**b/c**d", &["a**b/c**/", "a**b/", "a**/"]),
        (
            "/var/spool/**/ncw",
            &["/var/spool/**/", "/var/spool/", "/var/", "/"],
        ),
        (
            "var/spool/**/ncw/",
            &["var/spool/**/ncw/", "var/spool/**/", "var/spool/", "var/"],
        ),
        ("/sausage3**", &["/sausage3**/", "/"]),
    ];
    for (glob, want) in cases {
        assert_eq!(dir_globs(glob), *want, "{glob:?}");
    }
}

#[test]
fn the_pattern_examples_of_rclones_docs() {
    // filtering.md: "Filter pattern examples".
    check(
        &excludes(&["*.jpg"]),
        &["file.png", "dir/file.png"],
        &["file.jpg", "dir/file.jpg"],
    );
    check(
        &excludes(&["/*.jpg"]),
        &["file.png", "dir/file.jpg"],
        &["file.jpg", "file2.jpg"],
    );
    check(
        &excludes(&["*.{jpg,png}"]),
        &["file.gif", "dir/file.gif"],
        &["file.jpg", "dir/file.png"],
    );
    check(
        &excludes(&["dir/**"]),
        &["file.png", "subdir/file.png"],
        &["dir/anyfile", "subdir/dir/subsubdir/anyfile"],
    );
    check(
        &excludes(&["*.t?t"]),
        &["file.qxt", "dir/file.png"],
        &["file.txt", "dir/file.tzt"],
    );
    check(
        &excludes(&["*.[a-z]"]),
        &["file.0", "dir/file.1"],
        &["file.a", "dir/file.b"],
    );
    check(
        &excludes(&[r"*.\?\?\?"]),
        &["file.abc", "dir/file.def"],
        &["file.???", "dir/file.???"],
    );
    check(
        &excludes(&[r"*.\d\d\d"]),
        &["file.abc", "dir/file.def", "file.\u{661}\u{662}\u{663}"],
        &["file.012", "dir/file.345"],
    );
    check(
        &excludes(&["*.{{jpe?g}}"]),
        &["file.png", "dir/file.jpeeg"],
        &["file.jpeg", "dir/file.jpg"],
    );
    check(
        &excludes(&[r"/{{.*\.jpe?g}}"]),
        &["file.png"],
        &["file.jpeg", "file.jpg"],
    );
    // An unanchored pattern matches whole names only, at any depth.
    check(
        &excludes(&["file.jpg"]),
        &["afile.jpg", "directory/afile.jpg"],
        &["file.jpg", "directory/file.jpg"],
    );
    check(
        &excludes(&["/file.jpg"]),
        &["afile.jpg", "directory/file.jpg"],
        &["file.jpg"],
    );
    // Patterns are case sensitive.
    check(&excludes(&["potato"]), &["POTATO"], &["potato"]);
}

#[test]
fn stars_questions_classes_and_braces() {
    let tree = [
        "a.txt",
        "b.md",
        "sub/c.txt",
        "sub/deep/d.txt",
        "x1",
        "x22",
        "x/y",
    ];
    assert_eq!(
        kept(&excludes(&["*"]), &tree),
        Vec::<String>::new(),
        "`*` matches every name"
    );
    assert_eq!(
        kept(&excludes(&["sub/*"]), &tree)[2..],
        ["sub/deep/d.txt", "x1", "x22", "x/y"]
    );
    assert_eq!(
        kept(&excludes(&["sub/**"]), &tree),
        ["a.txt", "b.md", "x1", "x22", "x/y"]
    );
    assert_eq!(
        kept(&excludes(&["x?"]), &tree),
        ["a.txt", "b.md", "sub/c.txt", "sub/deep/d.txt", "x22", "x/y"],
        "`?` is one character, never `/`"
    );
    assert_eq!(
        kept(&excludes(&["x[0-9]*"]), &tree),
        ["a.txt", "b.md", "sub/c.txt", "sub/deep/d.txt", "x/y"]
    );
    assert_eq!(
        kept(&excludes(&["{a,b}.*", "deep/"]), &tree),
        ["sub/c.txt", "x1", "x22", "x/y"]
    );
    assert_eq!(kept(&excludes(&["/*.txt"]), &tree)[0], "b.md");
    assert_eq!(
        kept(&excludes(&["**.txt"]), &tree),
        ["b.md", "x1", "x22", "x/y"],
        "`**` crosses folders"
    );
}

#[test]
fn the_first_matching_rule_wins() {
    let spec = rules("- secret*.jpg\n+ *.jpg\n+ *.png\n+ file2.avi\n- *\n");
    check(
        &spec,
        &["file1.jpg", "file3.png", "file2.avi", "d/file1.jpg"],
        &["secret17.jpg", "d/secret.jpg", "file.gif", "notes"],
    );
    let spec = rules(
        "# a sample filter rule file\n- secret*.jpg\n+ *.jpg\n+ *.png\n+ file2.avi\n\
         - /dir/tmp/**\n- /dir/Trash/**\n+ /dir/**\n# exclude everything else\n- *\n",
    );
    check(
        &spec,
        &["a.jpg", "dir/x", "dir/sub/y", "dir/tmp.jpg"],
        &["dir/tmp/x", "dir/Trash/y", "other/x", "x.doc"],
    );
}

#[test]
fn bang_clears_the_rules_above() {
    let spec = rules("+ *.jpg\n+ *.gif\n!\n+ 42.doc\n- *\n");
    check(&spec, &["42.doc"], &["a.jpg", "b.gif", "43.doc"]);
    // It clears the flags' rules too, as in rclone.
    let mut spec = rules("!\n");
    spec.exclude = vec![cli("*.tmp", "--exclude")];
    check(&spec, &["a.tmp"], &[]);
}

#[test]
fn an_include_implies_excluding_everything_else() {
    let spec = includes(&["*.{png,jpg}"]);
    check(&spec, &["a.png", "d/b.jpg"], &["c.gif", "d/e"]);
    // `+` in a filter file implies nothing.
    check(&rules("+ *.png\n"), &["a.png", "c.gif"], &[]);
    // Includes come before excludes, whatever the order of the flags.
    let spec = Spec {
        include: vec![cli("*.log", "--include")],
        exclude: vec![cli("app.log", "--exclude")],
        ..Spec::default()
    };
    check(&spec, &["app.log", "x.log"], &["x.txt"]);
    // Excludes come before filter-file rules.
    let mut spec = rules("+ *.tmp\n");
    spec.exclude = vec![cli("*.tmp", "--exclude")];
    check(&spec, &[], &["a.tmp"]);
}

#[test]
fn an_include_of_one_file_keeps_that_file_only() {
    let tree = ["notes/todo.txt", "notes/done.txt", "todo.txt", "pics/a.jpg"];
    assert_eq!(
        kept(&includes(&["/notes/todo.txt"]), &tree),
        ["notes/todo.txt"]
    );
    assert_eq!(
        kept(&includes(&["todo.txt"]), &tree),
        ["notes/todo.txt", "todo.txt"],
        "unanchored, it matches at any depth"
    );
    assert_eq!(
        kept(&includes(&["/notes/**"]), &tree),
        ["notes/todo.txt", "notes/done.txt"]
    );
    // A folder rule alone includes no file (filtering.md).
    assert_eq!(kept(&includes(&["/notes/"]), &tree), Vec::<String>::new());
}

#[test]
fn excluding_a_folder_excludes_everything_under_it() {
    let tree = [
        "node_modules/a.js",
        "web/node_modules/b/c.js",
        "web/app.js",
        "node_modules_list.txt",
    ];
    assert_eq!(
        kept(&excludes(&["node_modules/"]), &tree),
        ["web/app.js", "node_modules_list.txt"]
    );
    assert_eq!(
        kept(&excludes(&["/node_modules/"]), &tree),
        [
            "web/node_modules/b/c.js",
            "web/app.js",
            "node_modules_list.txt"
        ]
    );
    // A later include cannot bring a file back from an excluded folder.
    let spec = rules("- web/\n+ web/app.js\n");
    assert_eq!(
        kept(&spec, &tree),
        ["node_modules/a.js", "node_modules_list.txt"]
    );
}

#[test]
fn folder_rules_decide_as_rclones_walk_does() {
    // An unanchored include with a `/` derives folder globs that match at
    // the root only; with the implied `- /**`, rclone never enters `x/`, so
    // `x/a/y/c` is left out although its file rule matches.
    let spec = includes(&["a/*/c"]);
    let tree = ["a/b/c", "x/a/y/c", "a/b/d"];
    assert_eq!(kept(&spec, &tree), ["a/b/c"]);
    let f = Filter::new(&spec).unwrap();
    let s = f.select(tree.iter().map(|s| s.to_string()).collect(), |s| s);
    assert_eq!(
        s.excluded,
        [
            Excluded {
                path: "a/b/d".into(),
                files: 1,
                rule: Origin {
                    pattern: IMPLIED.into(),
                    origin: IMPLIED_ORIGIN.into()
                }
            },
            Excluded {
                path: "x/".into(),
                files: 1,
                rule: Origin {
                    pattern: IMPLIED.into(),
                    origin: IMPLIED_ORIGIN.into()
                }
            },
        ]
    );
    // A class that matches `/` makes a folder-only rule: it leaves out
    // `ab/x` although no file path ends in `/`.
    check(&excludes(&["/a**[/]"]), &["b/x", "a"], &["ab/x", "a/x"]);
    // Excluding `*` rules out every folder too.
    check(&rules("+ /a/x\n- *\n"), &["a/x"], &["a/y", "b/x", "z"]);
}

#[test]
fn the_selection_names_the_rule_and_groups_folders() {
    let spec = Spec {
        exclude: vec![cli("*.log", "--exclude")],
        rules: file_lines("# cache\n\n  - cache/  \n; end\n", "/home/me/f.txt"),
        ..Spec::default()
    };
    let f = Filter::new(&spec).unwrap();
    let tree: Vec<String> = ["a.log", "cache/1", "cache/2", "d/cache/3", "d/keep", "keep"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let s = f.select(tree, |s| s);
    assert_eq!(s.included, ["d/keep", "keep"]);
    let got: Vec<(&str, u64, &str, &str)> = s
        .excluded
        .iter()
        .map(|e| {
            (
                e.path.as_str(),
                e.files,
                e.rule.pattern.as_str(),
                e.rule.origin.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a.log", 1, "*.log", "--exclude"),
            ("cache/", 2, "cache/", "/home/me/f.txt line 3"),
            ("d/cache/", 1, "cache/", "/home/me/f.txt line 3"),
        ]
    );
}

#[test]
fn lines_from_files_are_trimmed_and_comments_skipped_but_flags_are_not() {
    let spec = Spec {
        exclude: file_lines("  a  \n#b\n;c\n\n", "x"),
        ..Spec::default()
    };
    check(&spec, &["#b", ";c", " a "], &["a"]);
    // A command-line pattern is taken as it is: `#b` is a name.
    check(&excludes(&["#b"]), &["b"], &["#b"]);
}

#[test]
fn malformed_rules_name_their_line() {
    let err = Filter::new(&rules("+ ok\nno prefix\n")).unwrap_err();
    assert!(
        err.starts_with("the filter rule \"no prefix\" (f.txt line 2) is not valid"),
        "{err}"
    );
    let err = Filter::new(&rules("-nospace\n")).unwrap_err();
    assert!(
        err.contains("`+ PATTERN` (include), `- PATTERN` (exclude) or `!`"),
        "{err}"
    );
    let err = Filter::new(&rules("- a[\n")).unwrap_err();
    assert!(
        err.starts_with("the filter pattern \"a[\" (f.txt line 1) is not valid: "),
        "{err}"
    );
}

#[test]
fn folders_are_judged_by_folder_rules_and_the_root_is_always_kept() {
    // `--include '*.txt'` leaves out every other file, but enters every
    // folder: a folder (a path ending in `/`) is kept, as is the root.
    let spec = includes(&["*.txt"]);
    check(&spec, &["a/", "a/b/", "", "x.txt"], &["x.md", "a/x"]);
    // `- cache/` leaves the folder out, and everything under it.
    check(
        &excludes(&["cache/"]),
        &["a/", ""],
        &["cache/", "a/cache/", "cache/x/"],
    );
    // A file rule never leaves a folder out.
    check(&excludes(&["*"]), &[""], &["a/", "x"]);
    check(&excludes(&["*.tmp"]), &["a.tmp/", ""], &["a.tmp"]);
}

#[test]
fn no_rules_keep_everything() {
    let f = Filter::new(&Spec::default()).unwrap();
    assert!(f.is_empty());
    let s = f.select(vec!["a".to_string(), "b/c".to_string()], |s| s);
    assert_eq!(s.included, ["a", "b/c"]);
    // Comments only are no rules either.
    assert!(Filter::new(&rules("# nothing\n\n")).unwrap().is_empty());
}
