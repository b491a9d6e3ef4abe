//! Setting poof up: the `config` and `cconfig` scaffolds (poof 1.x's), `paths`,
//! the man page and completions.

use std::os::unix::fs::PermissionsExt;

use crate::common::World;

#[test]
fn config_creates_a_private_scaffold_once_and_prints_it() {
    let w = World::new();
    std::fs::remove_dir(w.path("conf")).unwrap();
    let run = w.poof(&["config"]).expect(0);
    assert!(run.stdout.contains("created"), "{}", run.stdout);
    let conf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("conf/poof.conf")).unwrap()).unwrap();
    let bucket = conf["bucket"].as_str().unwrap();
    assert!(bucket.starts_with("poofbackup-"), "{bucket}");
    let id = bucket.rsplit('-').next().unwrap();
    assert_eq!(id.len(), 12);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(conf["remote"], "poof-backup");
    let mode = |p: &str| std::fs::metadata(w.path(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("conf/poof.conf"), 0o600);
    assert_eq!(mode("conf"), 0o700);

    // A second run prints the same file and changes nothing.
    std::fs::write(w.path("conf/poof.conf"), "{\"mine\": true}\n").unwrap();
    let run = w.poof(&["config"]).expect(0);
    assert_eq!(run.stdout, "{\"mine\": true}\n");
}

#[test]
fn cconfig_redacts_secrets_unless_asked() {
    let w = World::new();
    let run = w.poof(&["cconfig"]).expect(0);
    assert!(run.stdout.contains("[poof-backup]"), "{}", run.stdout);
    assert!(run.stdout.contains("access_key_id = BOGUS-KEY-USE-YOURS"));
    assert!(
        run.stdout.contains("secret_access_key = <redacted>"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("BOGUS-SECRET-KEY-USE-YOURS"));
    let mode = std::fs::metadata(w.path("conf/rclone-poof.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let run = w.poof(&["cconfig", "--show-secrets"]).expect(0);
    assert!(
        run.stdout
            .contains("secret_access_key = BOGUS-SECRET-KEY-USE-YOURS")
    );
    // --rcloneconf is poof 1.x's name for --cloudconf.
    let other = w.path("other.conf");
    w.poof(&["--rcloneconf", other.to_str().unwrap(), "cconfig"])
        .expect(0);
    assert!(other.exists());
}

#[test]
fn paths_lists_every_file_poof_may_create() {
    let w = World::new();
    let run = w.poof(&["paths"]).expect(0);
    for name in ["poof.conf", "rclone-poof.conf", "poof.lock"] {
        assert!(
            run.stdout
                .contains(&w.path(&format!("conf/{name}")).display().to_string()),
            "{name}: {}",
            run.stdout
        );
    }
}

#[test]
fn man_page_and_completions_come_from_the_command_line_definitions() {
    let w = World::new();
    let man = w.poof(&["man"]).expect(0).stdout;
    assert!(man.contains(".TH poof 1"));
    for cmd in [
        "backup", "download", "config", "cconfig", "paths", "guest", "version",
    ] {
        assert!(man.contains(cmd), "man page lacks {cmd}");
    }
    for section in ["EXIT STATUS", "ENVIRONMENT", "FILES"] {
        let shown = if section.contains(' ') {
            format!("\n.SH \"{section}\"\n")
        } else {
            format!("\n.SH {section}\n")
        };
        assert!(man.contains(&shown), "man page lacks {section}");
    }
    assert!(man.contains("\\fB3\\fR\nA safety rule refused"));
    assert!(man.contains("\\fBAWS_PROFILE\\fR"));
    assert!(man.contains("freshness.json"));
    for shell in ["bash", "zsh", "fish"] {
        let out = w.poof(&["completions", shell]).expect(0).stdout;
        assert!(out.contains("backup"), "{shell}");
    }
    let run = w.poof(&["completions", "tcsh"]).expect(2);
    assert!(
        run.stderr.contains("invalid value 'tcsh'"),
        "{}",
        run.stderr
    );
}

/// The subcommands a `--help` text lists, `help` aside.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_help_shows_an_example() {
    let w = World::new();
    let top = subcommands(&w.poof(&["--help"]).expect(0).stdout);
    assert!(top.len() >= 18, "{top:?}");
    let mut checked = 0;
    for cmd in &top {
        let run = w.poof(&[cmd, "--help"]).expect(0);
        let nested = subcommands(&run.stdout);
        if nested.is_empty() {
            assert!(run.stdout.contains("Example:"), "{cmd}: {}", run.stdout);
            checked += 1;
        }
        for sub in nested {
            let run = w.poof(&[cmd, &sub, "--help"]).expect(0);
            assert!(
                run.stdout.contains("Example:"),
                "{cmd} {sub}: {}",
                run.stdout
            );
            checked += 1;
        }
    }
    assert!(checked >= 24, "only {checked} commands checked");
}

#[test]
fn a_closed_pipe_is_success() {
    // `poof completions zsh | head -c 1`: the reader goes away early.
    for args in [&["completions", "zsh"][..], &["man"], &["version"]] {
        let mut child = std::process::Command::new(crate::common::poof_bin())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn econfig_and_cryptoggle_have_a_dry_run() {
    let w = World::new();
    w.file("src/a", b"a", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let before = crate::common::listing(w.dir.path());
    let run = w.poof(&["econfig", "--dry-run"]).expect(0);
    assert!(
        run.stdout.contains("would create a new key"),
        "{}",
        run.stdout
    );
    assert_eq!(
        crate::common::listing(w.dir.path()),
        before,
        "a dry run wrote something"
    );
    let env = [("POOF_PASSPHRASE", "correct horse battery staple")];
    w.poof_env(&["econfig"], &env).expect(0);
    let conf = std::fs::read(w.path("conf/poof.conf")).unwrap();
    let run = w.poof_env(&["cryptoggle", "--dry-run"], &env).expect(0);
    assert!(
        run.stdout.contains("would switch encryption on"),
        "{}",
        run.stdout
    );
    assert_eq!(std::fs::read(w.path("conf/poof.conf")).unwrap(), conf);
}

#[test]
fn the_scaffold_leaves_the_config_folder_out_unless_asked() {
    let w = World::new();
    w.poof(&["config"]).expect(0);
    let conf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("conf/poof.conf")).unwrap()).unwrap();
    let paths = conf["paths"].as_object().unwrap();
    let home = w.path("home").display().to_string();
    assert_eq!(paths.len(), 1, "{paths:?}");
    let (local, cloud) = paths.iter().next().unwrap();
    assert_eq!(local, &format!("{home}/BOGUS-FOLDER-TO-BACK-UP"));
    assert_eq!(cloud, "BOGUS-FOLDER-TO-BACK-UP");
    // verify refuses the placeholder before anything else.
    let run = w.poof(&["verify"]).expect(2);
    assert!(
        run.stderr
            .contains("is the scaffold's placeholder; replace it"),
        "{}",
        run.stderr
    );

    // Asked for, as poof 1.x had it: the config folder is a path too.
    let w = World::new();
    w.poof(&["config", "--with-config-folder"]).expect(0);
    let text = std::fs::read_to_string(w.path("conf/poof.conf")).unwrap();
    let conf: serde_json::Value = serde_json::from_str(&text).unwrap();
    let confdir = w.path("conf").display().to_string();
    assert_eq!(conf["paths"][&confdir], "unittest", "{text}");
    // With the placeholder gone, the config folder alone is not enough.
    let mut conf = conf;
    conf["paths"]
        .as_object_mut()
        .unwrap()
        .retain(|local, _| local == &confdir);
    w.write_conf(&conf.to_string());
    let run = w.poof(&["verify"]).expect(2);
    assert!(
        run.stderr.contains(
            "the only path is poof's own config folder (`poof config --with-config-folder`"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn verify_creates_a_missing_bucket_and_leaves_an_existing_one_alone() {
    let Some(kind) = crate::common::Kind::s3() else {
        return;
    };
    let crate::common::Kind::S3(s3) = &kind else {
        unreachable!()
    };
    let w = World::on(kind.clone());
    w.file("src/a", b"a", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let text = std::fs::read_to_string(w.path("conf/poof.conf")).unwrap();
    let fresh = format!("{}-new", w.bucket);
    // The bucket's value only: the world's folder can have the same name.
    let mut conf: serde_json::Value = serde_json::from_str(&text).unwrap();
    conf["bucket"] = serde_json::Value::String(fresh.clone());
    std::fs::write(w.path("conf/poof.conf"), conf.to_string()).unwrap();
    let run = w.poof(&["verify"]).expect(1);
    assert!(
        run.stderr
            .contains("does not exist; create it (`poof verify --create-bucket`)"),
        "{}",
        run.stderr
    );
    // The section names the server's own region as location_constraint.
    let cloud = w.path("conf/rclone-poof.conf");
    let section = std::fs::read_to_string(&cloud).unwrap();
    std::fs::write(
        &cloud,
        format!("{section}location_constraint = {}\n", s3.region),
    )
    .unwrap();
    let run = w.poof(&["verify", "--create-bucket"]).expect(0);
    assert!(
        run.stdout.contains(&format!(
            "bucket         created bucket \"{fresh}\" in {}",
            s3.region
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("poof is ready"), "{}", run.stdout);
    let run = w.poof(&["verify", "--create-bucket"]).expect(0);
    assert!(
        run.stdout
            .contains(&format!("bucket \"{fresh}\" exists; left as it is")),
        "{}",
        run.stdout
    );
    w.poof(&["backup"]).expect(0);
    // A region the server does not serve is sent, and refused by it.
    std::fs::write(&cloud, format!("{section}location_constraint = mars-1\n")).unwrap();
    let other = format!("{}-mars", w.bucket);
    // The bucket field only: the world's folder may carry the bucket's name.
    let mut mars: serde_json::Value = serde_json::from_str(&text).unwrap();
    mars["bucket"] = other.as_str().into();
    std::fs::write(w.path("conf/poof.conf"), mars.to_string()).unwrap();
    let run = w.poof(&["verify", "--create-bucket"]).expect(1);
    assert!(
        run.stderr
            .contains(&format!("cannot create bucket \"{other}\"")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("mars-1"), "{}", run.stderr);
}

#[test]
fn create_bucket_is_for_s3_remotes() {
    let w = World::new();
    w.conf(&[("src", "Docs")]);
    let run = w.poof(&["verify", "--create-bucket"]).expect(2);
    assert!(
        run.stderr
            .contains("the remote is a folder, and --create-bucket is for S3 buckets"),
        "{}",
        run.stderr
    );
}
