//! Where the passphrase comes from, end to end: `--passphrase-command`,
//! `POOF_PASSPHRASE_FILE`, the order they are tried in, what a program poof
//! starts inherits (never `POOF_PASSPHRASE`), the weak-passphrase warning,
//! and `poof schedule install` on an encrypted config, which writes the
//! passphrase's source into the job or refuses.

use std::os::unix::fs::PermissionsExt;

use crate::common::{Kind, World};
use crate::schedule::poof_sched;

crate::on_both_remotes!(
    a_backup_reads_the_passphrase_from_a_command_and_hides_the_variable,
    a_backup_reads_the_passphrase_file_named_by_the_environment,
);

const PASS: &str = "correct horse battery staple";

/// A world with a key made with `PASS` and the encrypted layout on, and one
/// file to back up.
fn encrypted(kind: Kind) -> World {
    let w = World::on(kind);
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let run = w
        .poof_env(&["econfig"], &[("POOF_PASSPHRASE", PASS)])
        .expect(0);
    assert!(
        !run.stderr.contains("weak"),
        "a strong passphrase gets no warning: {}",
        run.stderr
    );
    w.poof_env(&["cryptoggle"], &[("POOF_PASSPHRASE", PASS)])
        .expect(0);
    w
}

/// A private file holding `text`.
fn secret_file(w: &World, name: &str, text: &str, mode: u32) -> String {
    let p = w.path(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p.display().to_string()
}

fn a_backup_reads_the_passphrase_from_a_command_and_hides_the_variable(kind: Kind) {
    let w = encrypted(kind);
    let pass = secret_file(&w, "pass.txt", &format!("{PASS}\n"), 0o600);
    let seen = w.path("seen-env.txt");
    // The command comes before POOF_PASSPHRASE (a wrong one here), and
    // what it sees of the environment is written down.
    let cmd = format!("env > '{}'; cat '{pass}'", seen.display());
    let run = w
        .poof_env(
            &["--passphrase-command", &cmd, "backup"],
            &[("POOF_PASSPHRASE", "not the passphrase")],
        )
        .expect(0);
    assert!(run.stdout.contains("1 copied"), "{}", run.stdout);
    let env = std::fs::read_to_string(&seen).unwrap();
    assert!(env.contains("PATH="), "{env}");
    assert!(
        !env.contains("POOF_PASSPHRASE") && !env.contains("not the passphrase"),
        "a program poof starts does not inherit the passphrase: {env}"
    );

    // A failing command is named; what it printed is not shown.
    let run = w
        .poof_env(
            &["--passphrase-command", "echo $((6 * 7)); exit 3", "backup"],
            &[],
        )
        .expect(2);
    assert!(
        run.stderr
            .contains("--passphrase-command `echo $((6 * 7)); exit 3` failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("42") && !run.stdout.contains("42"));
    let run = w
        .poof_env(&["--passphrase-command", "true", "backup"], &[])
        .expect(2);
    assert!(run.stderr.contains("printed nothing"), "{}", run.stderr);
    let run = w
        .poof_env(&["--passphrase-command", "echo wrong", "backup"], &[])
        .expect(2);
    assert!(
        run.stderr.contains("the passphrase does not open this key"),
        "{}",
        run.stderr
    );
}

fn a_backup_reads_the_passphrase_file_named_by_the_environment(kind: Kind) {
    let w = encrypted(kind);
    let pass = secret_file(&w, "pass.txt", &format!("{PASS}\n"), 0o600);
    let run = w
        .poof_env(&["backup"], &[("POOF_PASSPHRASE_FILE", &pass)])
        .expect(0);
    assert!(run.stdout.contains("1 copied"), "{}", run.stdout);
    assert!(!run.stderr.contains("other users"), "{}", run.stderr);

    // It comes before POOF_PASSPHRASE, and a readable file is warned about.
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = w
        .poof_env(
            &["verify"],
            &[
                ("POOF_PASSPHRASE_FILE", &pass),
                ("POOF_PASSPHRASE", "not the passphrase"),
            ],
        )
        .expect(0);
    assert!(
        run.stdout.contains("the passphrase opens the key"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("can be read by other users (mode 0644)"),
        "{}",
        run.stderr
    );

    // --passphrase-file comes before it.
    let wrong = secret_file(&w, "wrong.txt", "wrong\n", 0o600);
    let run = w
        .poof_env(
            &["--passphrase-file", &wrong, "backup"],
            &[("POOF_PASSPHRASE_FILE", &pass)],
        )
        .expect(2);
    assert!(
        run.stderr.contains("the passphrase does not open this key"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_weak_new_passphrase_is_warned_about_and_used() {
    let w = World::new();
    w.conf(&[("src", "Docs")]);
    let run = w
        .poof_env(&["econfig"], &[("POOF_PASSPHRASE", "password1")])
        .expect(0);
    assert!(run.stdout.contains("created key"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("this passphrase is weak: zxcvbn scores it"),
        "{}",
        run.stderr
    );
    let run = w
        .poof_env(
            &["econfig", "--change-passphrase"],
            &[
                ("POOF_PASSPHRASE", "password1"),
                ("POOF_NEW_PASSPHRASE", "qwerty"),
            ],
        )
        .expect(0);
    assert!(
        run.stderr.contains("this passphrase is weak"),
        "{}",
        run.stderr
    );
    let new = [("POOF_PASSPHRASE", "qwerty")];
    w.poof_env(&["cryptoggle"], &new).expect(0);
    let run = w.poof_env(&["verify"], &new).expect(0);
    assert!(
        run.stdout.contains("the passphrase opens the key"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains("weak"),
        "only when a passphrase is set"
    );
}

/// Marks the world's config encrypted (no key is needed to install a job).
fn mark_encrypted(w: &World) {
    let p = w.path("conf/poof.conf");
    let mut conf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    conf["encrypted"] = serde_json::Value::Bool(true);
    std::fs::write(&p, conf.to_string()).unwrap();
}

/// `poof_sched` (a fake crontab, a home of the world's own) with more
/// environment variables.
fn sched_env(w: &World, args: &[&str], extra: &[(&str, &str)]) -> crate::common::Run {
    let script = crate::schedule::fake_crontab(w);
    let (table, config) = (w.path("crontab.txt"), w.path("home/.config"));
    let mut env = vec![
        ("POOF_CRONTAB", script.to_str().unwrap()),
        ("FAKE_CRONTAB_FILE", table.to_str().unwrap()),
        ("XDG_CONFIG_HOME", config.to_str().unwrap()),
    ];
    env.extend_from_slice(extra);
    w.poof_env(args, &env)
}

#[test]
fn schedule_install_on_an_encrypted_config_needs_a_passphrase_source() {
    let w = World::new();
    w.conf(&[("src", "Docs")]);
    mark_encrypted(&w);
    let install = ["schedule", "install", "--kind", "cron"];
    let table = w.path("crontab.txt");

    // No source, or only POOF_PASSPHRASE: refused, nothing written.
    for env in [vec![], vec![("POOF_PASSPHRASE", PASS)]] {
        let run = sched_env(&w, &install, &env).expect(2);
        assert!(
            run.stderr
                .contains("--passphrase-file FILE or --passphrase-command CMD"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains(PASS));
        assert!(!table.exists(), "no job was written");
    }

    // A relative --passphrase-file is written as an absolute path, and a
    // file others can read is warned about.
    let pass = secret_file(&w, "pass.txt", PASS, 0o640);
    let mut args = vec!["--passphrase-file", "pass.txt"];
    args.extend(install);
    let run = poof_sched(&w, &args).expect(0);
    assert!(
        run.stderr.contains("can be read by other users"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(&table).unwrap();
    assert!(
        text.contains(&format!("'--passphrase-file' '{pass}' '-q'")),
        "{text}"
    );
    assert!(!text.contains(PASS), "never the passphrase itself: {text}");

    // A command is written as given.
    let mut args = vec!["--passphrase-command", "pass show poof"];
    args.extend(install);
    poof_sched(&w, &args).expect(0);
    let text = std::fs::read_to_string(&table).unwrap();
    assert!(
        text.contains("'--passphrase-command' 'pass show poof' '-q'"),
        "{text}"
    );

    // A missing file is refused: the job could never read it.
    let mut args = vec!["--passphrase-file", "nowhere.txt"];
    args.extend(install);
    let run = poof_sched(&w, &args).expect(2);
    assert!(run.stderr.contains("no such file"), "{}", run.stderr);
}

#[test]
fn schedule_install_takes_the_file_named_by_the_environment() {
    let w = World::new();
    w.conf(&[("src", "Docs")]);
    mark_encrypted(&w);
    let pass = secret_file(&w, "pass.txt", PASS, 0o600);
    let run = sched_env(
        &w,
        &["schedule", "install", "--kind", "systemd"],
        &[("POOF_PASSPHRASE_FILE", &pass)],
    )
    .expect(0);
    assert!(!run.stderr.contains("other users"), "{}", run.stderr);
    let service =
        std::fs::read_to_string(w.path("home/.config/systemd/user/poof.service")).unwrap();
    assert!(
        service.contains(&format!("\"--passphrase-file\" \"{pass}\" \"-q\"")),
        "{service}"
    );
    assert!(!service.contains(PASS), "{service}");
    poof_sched(&w, &["schedule", "remove", "--kind", "systemd"]).expect(0);
}
