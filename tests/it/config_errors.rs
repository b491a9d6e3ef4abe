//! Every way a broken poof.conf is refused: one clear message naming the
//! file and the problem, exit code 2, and nothing touched.

use crate::common::{World, listing};

fn refused(w: &World, conf: &str, want: &str) {
    w.write_conf(conf);
    let before = listing(w.dir.path());
    for cmd in ["backup", "download"] {
        let run = w.poof(&[cmd]).expect(2);
        let file = w.path("conf/poof.conf").display().to_string();
        assert!(
            run.stderr.contains(&file),
            "{cmd}: names the file: {}",
            run.stderr
        );
        assert!(run.stderr.contains(want), "{cmd}: {want}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "one message: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(listing(w.dir.path()), before, "nothing touched");
    }
}

#[test]
fn invalid_json() {
    let w = World::new();
    refused(&w, "{\"paths\": {", "not valid JSON (line 1, column 11");
}

#[test]
fn no_paths() {
    let w = World::new();
    refused(&w, r#"{"remote": "file:///tmp"}"#, "has no `paths`");
}

#[test]
fn a_relative_path() {
    let w = World::new();
    refused(
        &w,
        r#"{"paths": {"Documents": "Docs"}, "remote": "file:///tmp/x"}"#,
        "path \"Documents\" is relative",
    );
}

#[test]
fn an_unknown_remote_scheme() {
    let w = World::new();
    let src = w.path("src").display().to_string();
    refused(
        &w,
        &format!(r#"{{"paths": {{"{src}": "Docs"}}, "remote": "gopher://x/y"}}"#),
        "unknown remote scheme `gopher://`",
    );
}

#[test]
fn a_local_path_that_is_a_file() {
    let w = World::new();
    std::fs::write(w.path("src/file.txt"), "x").unwrap();
    let file = w.path("src/file.txt").display().to_string();
    refused(
        &w,
        &format!(r#"{{"paths": {{"{file}": "Docs"}}, "remote": "file:///tmp/x"}}"#),
        "is a file; poof backs up folders",
    );
}

#[test]
fn a_missing_config_file() {
    let w = World::new();
    let run = w.poof(&["backup"]).expect(2);
    assert!(
        run.stderr.contains("poof.conf: no such file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_remote_inside_a_backed_up_folder() {
    let w = World::new();
    let src = w.path("src").display().to_string();
    refused(
        &w,
        &format!(r#"{{"paths": {{"{src}": "Docs"}}, "remote": "file://{src}/backup"}}"#),
        "overlap",
    );
}
