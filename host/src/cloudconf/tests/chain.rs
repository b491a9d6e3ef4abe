//! Tests of the AWS CLI's chain (`aws.rs`): profiles, both shared files,
//! `credential_process`, what poof refuses, and the section options that
//! shape requests. The HTTP sources (instance metadata, container, STS) are
//! tested against local servers in tests/it/credentials.rs.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use super::*;

const TWO_PROFILES: &str = "\
[default]
aws_access_key_id = AKIADEF
aws_secret_access_key = def-secret
[work]
aws_access_key_id = AKIAWORK
aws_secret_access_key = work-secret
";

#[test]
fn the_profile_flag_picks_the_profile_and_skips_the_environments_keys() {
    let w = World::new();
    w.write_aws("credentials", TWO_PROFILES);
    w.write_aws(
        "config",
        "[profile work]\nregion = ap-south-1\ns3 =\n  endpoint_url = http://127.0.0.1:9000\n",
    );
    // --profile: the environment's keys are not used (its region still is).
    let s = w.resolve_as(None, &env_keys(), Some("work")).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIAWORK");
    assert_eq!(s.region.as_deref(), Some("eu-central-1"));
    assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert!(s.source.ends_with("credentials [work]"), "{}", s.source);
    // AWS_PROFILE picks the profile, and the environment's keys still win.
    let mut env = env_keys();
    env.0.insert("AWS_PROFILE".into(), "work".into());
    assert_eq!(
        keys(&w.resolve(None, &env).unwrap()).access_key_id,
        "AKIAENV"
    );
    env.0.remove("AWS_ACCESS_KEY_ID");
    env.0.remove("AWS_SECRET_ACCESS_KEY");
    let s = w.resolve(None, &env).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIAWORK");
    assert_eq!(s.region.as_deref(), Some("eu-central-1"));

    // A profile named on purpose that neither file has is an error.
    let e = w.resolve_as(None, &env_keys(), Some("nope")).unwrap_err();
    assert!(e.contains("profile \"nope\" (named by --profile)"), "{e}");
    assert!(e.contains("[profile nope]"), "{e}");
    let e = w
        .resolve(None, &Env::from_pairs([("AWS_PROFILE", "nope")]))
        .unwrap_err();
    assert!(e.contains("named by AWS_PROFILE"), "{e}");
}

#[test]
fn the_profile_flag_and_the_cloud_config_file() {
    let w = World::new();
    w.write_aws("credentials", TWO_PROFILES);
    w.write_conf(SECTION);
    // An s3:// remote: the flag names where the keys come from, so the
    // file's only section is not used.
    let s = w.resolve_as(None, &Env::default(), Some("work")).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIAWORK");
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    // A section poof.conf names keeps its own keys, and says the flag is not used.
    let s = w
        .resolve_as(Some("poofremote"), &Env::default(), Some("work"))
        .unwrap();
    assert_eq!(keys(&s).access_key_id, "GKfile");
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("--profile work is not used") && n.contains("env_auth = true")),
        "{:?}",
        s.notes
    );
    // With env_auth, the section's own profile and credentials file.
    let other = w.dir.path().join("other-credentials");
    fs::write(
        &other,
        "[ci]\naws_access_key_id = AKIACI\naws_secret_access_key = ci-secret\n",
    )
    .unwrap();
    w.write_conf(&format!(
        "[r]\ntype = s3\nenv_auth = true\nprofile = ci\nshared_credentials_file = {}\nregion = garage\n",
        other.display()
    ));
    let s = w.resolve(Some("r"), &Env::default()).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIACI");
    assert_eq!(s.region.as_deref(), Some("garage"));
    // The flag wins over the section's profile.
    let e = w
        .resolve_as(Some("r"), &Env::default(), Some("work"))
        .unwrap_err();
    assert!(e.contains("profile \"work\" (named by --profile)"), "{e}");
}

#[test]
fn keys_and_region_come_from_either_file() {
    let w = World::new();
    w.write_aws(
        "config",
        "[default]\nregion = us-west-1\n\
         [profile cfg]\nregion = eu-north-1\naws_access_key_id = AKIACFG\naws_secret_access_key = cfg-secret\n\
         aws_session_token = cfg-token\n",
    );
    // Keys written in ~/.aws/config are used, with its region.
    let s = w
        .resolve(None, &Env::from_pairs([("AWS_PROFILE", "cfg")]))
        .unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIACFG");
    assert_eq!(keys(&s).session_token.as_deref(), Some("cfg-token"));
    assert_eq!(s.region.as_deref(), Some("eu-north-1"));
    assert!(s.source.ends_with("config [profile cfg]"), "{}", s.source);
    // ~/.aws/credentials comes first, for keys and for the region.
    w.write_aws(
        "credentials",
        "[cfg]\naws_access_key_id = AKIACRED\naws_secret_access_key = s\nregion = sa-east-1\n",
    );
    let s = w.resolve_as(None, &Env::default(), Some("cfg")).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIACRED");
    assert_eq!(s.region.as_deref(), Some("sa-east-1"));
    // Half a pair in the config file is named.
    w.write_aws("credentials", "");
    w.write_aws("config", "[profile cfg]\naws_access_key_id = AKIACFG\n");
    let e = w
        .resolve_as(None, &Env::default(), Some("cfg"))
        .unwrap_err();
    assert!(
        e.contains("needs both aws_access_key_id and aws_secret_access_key"),
        "{e}"
    );
}

/// An ISO 8601 time, as the AWS services and credential_process write it.
fn iso(t: SystemTime) -> String {
    aws_smithy_types::DateTime::from(t)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

/// A script that prints `json` (with `N` replaced by how many times it ran)
/// and counts its runs in `runs`.
fn script(w: &World, name: &str, json: &str) -> (PathBuf, PathBuf) {
    let runs = w.dir.path().join(format!("{name}.runs"));
    let path = w.dir.path().join(name);
    let body = format!(
        "#!/bin/sh\necho x >> '{}'\nN=$(wc -l < '{}' | tr -d ' ')\ncat <<JSON\n{}\nJSON\n",
        runs.display(),
        runs.display(),
        json.replace("N", "$N")
    );
    fs::write(&path, body).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    (path, runs)
}

fn runs(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn credential_process_is_run_and_run_again_before_its_keys_expire() {
    let w = World::new();
    let soon = iso(SystemTime::now() + Duration::from_secs(120));
    let (path, count) = script(
        &w,
        "creds helper",
        &format!(
            r#"{{"Version": 1, "AccessKeyId": "AKIAPROCN", "SecretAccessKey": "proc-secret",
                 "SessionToken": "proc-token", "Expiration": "{soon}"}}"#
        ),
    );
    // Quoted as a shell would: the path has a space, and an argument too.
    w.write_aws(
        "config",
        &format!(
            "[profile p]\nregion = eu-west-3\ncredential_process = '{}' --label 'two words'\n",
            path.display()
        ),
    );
    let s = w.resolve_as(None, &Env::default(), Some("p")).unwrap();
    assert_eq!(runs(&count), 1, "run once to find the keys");
    assert!(
        s.source.starts_with("credential_process of profile p in "),
        "{}",
        s.source
    );
    assert_eq!(s.region.as_deref(), Some("eu-west-3"));
    // They expire in two minutes, within the refresh margin: each use runs it again.
    let k = keys(&s);
    assert_eq!(k.access_key_id, "AKIAPROC2");
    assert_eq!(k.session_token.as_deref(), Some("proc-token"));
    assert!(k.expires.is_some());
    assert_eq!(runs(&count), 2);
    // Keys far from expiring are kept.
    let later = iso(SystemTime::now() + Duration::from_secs(3600));
    let (path, count) = script(
        &w,
        "steady",
        &format!(
            r#"{{"Version": 1, "AccessKeyId": "AKIASTEADYN", "SecretAccessKey": "s", "Expiration": "{later}"}}"#
        ),
    );
    w.write_aws(
        "config",
        &format!("[default]\ncredential_process = {}\n", path.display()),
    );
    let s = w.resolve(None, &Env::default()).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIASTEADY1");
    assert_eq!(keys(&s).access_key_id, "AKIASTEADY1");
    assert_eq!(runs(&count), 1);
    // The credentials file's keys come before the process.
    w.write_aws("credentials", TWO_PROFILES);
    assert_eq!(
        keys(&w.resolve(None, &Env::default()).unwrap()).access_key_id,
        "AKIADEF"
    );
}

#[test]
fn a_credential_process_that_misbehaves_is_named() {
    let w = World::new();
    let cases = [
        (
            r#"{"AccessKeyId": "a", "SecretAccessKey": "b"}"#,
            "printed no Version",
        ),
        (
            r#"{"Version": 2, "AccessKeyId": "a", "SecretAccessKey": "b"}"#,
            "printed Version 2",
        ),
        (
            r#"{"Version": 1, "AccessKeyId": "a"}"#,
            "lacks AccessKeyId or SecretAccessKey",
        ),
        ("not json", "not the expected JSON"),
        (
            r#"{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "b", "Expiration": "soon"}"#,
            "is not an ISO 8601 time",
        ),
    ];
    for (i, (json, want)) in cases.iter().enumerate() {
        let (path, _) = script(&w, &format!("bad{i}"), json);
        w.write_aws(
            "config",
            &format!("[default]\ncredential_process = {}\n", path.display()),
        );
        let e = w.resolve(None, &Env::default()).unwrap_err();
        assert!(
            e.contains("no S3 credentials from credential_process of profile default"),
            "{e}"
        );
        assert!(e.contains(want), "{want}: {e}");
    }
    w.write_aws("config", "[default]\ncredential_process = sh -c 'exit 3'\n");
    let e = w.resolve(None, &Env::default()).unwrap_err();
    assert!(e.contains("`sh -c 'exit 3'` failed"), "{e}");
    w.write_aws(
        "config",
        "[default]\ncredential_process = /nonexistent/helper\n",
    );
    let e = w.resolve(None, &Env::default()).unwrap_err();
    assert!(e.contains("could not be started"), "{e}");
    w.write_aws("config", "[default]\ncredential_process = 'unclosed\n");
    let e = w.resolve(None, &Env::default()).unwrap_err();
    assert!(e.contains("cannot be split into words"), "{e}");
}

#[test]
fn what_poof_does_not_do_is_refused_with_the_way_round() {
    let w = World::new();
    w.write_aws("credentials", TWO_PROFILES);
    w.write_aws(
        "config",
        "[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/admin\nsource_profile = default\n\
         [profile sso]\nsso_session = corp\nsso_account_id = 1\n",
    );
    for (profile, key) in [("admin", "source_profile"), ("sso", "sso_session")] {
        let e = w
            .resolve_as(None, &Env::default(), Some(profile))
            .unwrap_err();
        assert!(
            e.contains(&format!("profile {profile} uses `{key}`")),
            "{e}"
        );
        assert!(
            e.contains(&format!(
                "credential_process = aws configure export-credentials --profile {profile} --format process"
            )),
            "{e}"
        );
    }
}

#[test]
fn half_configured_http_sources_are_refused() {
    let w = World::new();
    let e = w
        .resolve(
            None,
            &Env::from_pairs([("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token")]),
        )
        .unwrap_err();
    assert!(
        e.contains("needs both AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN"),
        "{e}"
    );
    let e = w
        .resolve(
            None,
            &Env::from_pairs([(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://10.0.0.1/creds",
            )]),
        )
        .unwrap_err();
    assert!(e.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "{e}");
    assert!(e.contains("must be on this machine"), "{e}");
    // The metadata service's settings are checked.
    for (var, value, want) in [
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
            "IPv5",
            "endpoint mode \"IPv5\" is neither IPv4 nor IPv6",
        ),
        (
            "AWS_METADATA_SERVICE_TIMEOUT",
            "soon",
            "AWS_METADATA_SERVICE_TIMEOUT = \"soon\" is not a positive number",
        ),
    ] {
        // Refused before anything is sent.
        let e = w
            .resolve(None, &Env::from_pairs([(var, value)]))
            .unwrap_err();
        assert!(e.contains(want), "{e}");
    }
    // A metadata service that does not answer means "not on EC2": nothing found.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = w
        .resolve(
            None,
            &Env::from_pairs([(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                format!("http://127.0.0.1:{port}").as_str(),
            )]),
        )
        .unwrap_err();
    assert!(e.contains("no S3 credentials found"), "{e}");
}

#[test]
fn section_options_shape_requests_and_unknown_ones_are_named() {
    let w = World::new();
    w.write_conf(&format!(
        "{SECTION}force_path_style = false\nlocation_constraint = eu-west-1\nupload_cutoff = 64M\n\
         v2_auth = true\nsse_kms_key_id = k\ndescription = mine\nno_check_bucket = true\n"
    ));
    let s = w.resolve(Some("poofremote"), &Env::default()).unwrap();
    assert_eq!(s.addressing, Addressing::Virtual);
    assert_eq!(s.location_constraint.as_deref(), Some("eu-west-1"));
    assert_eq!(s.upload_cutoff, Some(64 << 20));
    // Without bucket_acl, a new bucket gets `acl`, as rclone does.
    assert_eq!(s.bucket_acl.as_deref(), Some("private"));
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(
        s.notes[0].ends_with(
            "rclone-poof.conf: [poofremote] has options poof does not use, which are ignored: \
             sse_kms_key_id, v2_auth (docs/USAGE.md lists the options poof reads)"
        ),
        "{}",
        s.notes[0]
    );
    w.write_conf(&format!(
        "{SECTION}force_path_style = true\nbucket_acl = public-read\n"
    ));
    let s = w.resolve(Some("poofremote"), &Env::default()).unwrap();
    assert_eq!(s.addressing, Addressing::Path);
    assert_eq!(s.bucket_acl.as_deref(), Some("public-read"));
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    w.write_conf(&format!("{SECTION}force_path_style = maybe\n"));
    let e = w.resolve(Some("poofremote"), &Env::default()).unwrap_err();
    assert!(
        e.contains("force_path_style = maybe: write true or false"),
        "{e}"
    );
    // The AWS config's addressing_style.
    let w = World::new();
    w.write_aws("credentials", TWO_PROFILES);
    w.write_aws("config", "[default]\ns3 =\n  addressing_style = virtual\n");
    let s = w.resolve(None, &Env::default()).unwrap();
    assert_eq!(s.addressing, Addressing::Virtual);
    w.write_aws("config", "[default]\ns3 =\n  addressing_style = sideways\n");
    let e = w.resolve(None, &Env::default()).unwrap_err();
    assert!(e.contains("addressing_style = sideways"), "{e}");
}
