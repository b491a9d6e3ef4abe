//! Tests of the credentials chain: which source wins, and every refusal's words.

use std::fs;

use super::*;

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let w = World {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(w.home().join(".aws")).unwrap();
        w
    }
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn conf(&self) -> PathBuf {
        self.dir.path().join("rclone-poof.conf")
    }
    fn write_conf(&self, text: &str) {
        fs::write(self.conf(), text).unwrap();
    }
    fn write_aws(&self, name: &str, text: &str) {
        fs::write(self.home().join(".aws").join(name), text).unwrap();
    }
    fn resolved(&self, section: Option<&str>, env: &Env) -> Result<Resolved, String> {
        self.resolved_as(section, env, None)
    }
    /// Resolves with `--profile` (`profile`); the instance metadata service
    /// is off unless the test sets one of its variables.
    fn resolved_as(
        &self,
        section: Option<&str>,
        env: &Env,
        profile: Option<&str>,
    ) -> Result<Resolved, String> {
        let conf = self.conf();
        let home = self.home();
        let mut env = env.clone();
        if !env
            .0
            .keys()
            .any(|k| k.starts_with("AWS_EC2_METADATA") || k.starts_with("AWS_METADATA"))
        {
            env.0
                .insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
        }
        resolve(&Lookup {
            file: &conf,
            section,
            env: &env,
            home: Some(&home),
            profile,
        })
        .map_err(|e| e.0)
    }
    fn resolve(&self, section: Option<&str>, env: &Env) -> Result<S3Settings, String> {
        self.resolve_as(section, env, None)
    }
    fn resolve_as(
        &self,
        section: Option<&str>,
        env: &Env,
        profile: Option<&str>,
    ) -> Result<S3Settings, String> {
        match self.resolved_as(section, env, profile)? {
            Resolved::S3(s) => Ok(s),
            Resolved::Crypt(c) => Err(format!("a crypt section: {c:?}")),
        }
    }
}

/// The keys the settings sign with now.
fn keys(s: &S3Settings) -> crate::s3::Credentials {
    s.credentials.current().unwrap()
}

const SECTION: &str = "\
[poofremote]
type = s3
provider = Other
access_key_id = GKfile
secret_access_key = file-secret
region = garage
endpoint = http://127.0.0.1:3900
server_side_encryption = AES256
storage_class = STANDARD_IA
acl = private
chunk_size = 16M
upload_concurrency = 8
";

fn env_keys() -> Env {
    Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIAENV"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
        ("AWS_SESSION_TOKEN", "env-token"),
        ("AWS_DEFAULT_REGION", "eu-central-1"),
    ])
}

#[test]
fn the_cloud_config_file_wins() {
    let w = World::new();
    w.write_conf(SECTION);
    w.write_aws(
        "credentials",
        "[default]\naws_access_key_id = AKIAAWS\naws_secret_access_key = s\n",
    );
    let s = w.resolve(Some("poofremote"), &env_keys()).unwrap();
    assert_eq!(keys(&s).access_key_id, "GKfile");
    assert_eq!(keys(&s).secret_access_key, "file-secret");
    assert_eq!(s.region.as_deref(), Some("garage"));
    assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
    assert_eq!(s.provider.as_deref(), Some("Other"));
    assert_eq!(s.server_side_encryption.as_deref(), Some("AES256"));
    assert_eq!(s.storage_class.as_deref(), Some("STANDARD_IA"));
    assert_eq!(s.acl.as_deref(), Some("private"));
    assert_eq!(s.chunk_size, Some(16 << 20));
    assert_eq!(s.upload_concurrency, Some(8));
    assert!(
        s.source.ends_with("rclone-poof.conf [poofremote]"),
        "{}",
        s.source
    );
    // An s3:// remote uses the file's only s3 section too.
    let s = w.resolve(None, &env_keys()).unwrap();
    assert_eq!(keys(&s).access_key_id, "GKfile");
}

#[test]
fn then_the_environment_then_the_aws_files() {
    let w = World::new();
    w.write_aws(
        "credentials",
        "[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = def-secret\n\
         [work]\naws_access_key_id = AKIAWORK\naws_secret_access_key = work-secret\naws_session_token = t\n",
    );
    w.write_aws(
        "config",
        "[default]\nregion = us-west-1\n[profile work]\nregion = ap-south-1\nendpoint_url = http://127.0.0.1:9000\n",
    );
    // No cloud config file: the environment comes first.
    let s = w.resolve(None, &env_keys()).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIAENV");
    assert_eq!(keys(&s).session_token.as_deref(), Some("env-token"));
    assert_eq!(s.region.as_deref(), Some("eu-central-1"));
    // AWS_REGION beats AWS_DEFAULT_REGION.
    let mut env = env_keys();
    env.0.insert("AWS_REGION".into(), "sa-east-1".into());
    assert_eq!(
        w.resolve(None, &env).unwrap().region.as_deref(),
        Some("sa-east-1")
    );
    // Without keys in the environment: ~/.aws, default profile.
    let s = w.resolve(None, &Env::default()).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIADEF");
    assert_eq!(s.region.as_deref(), Some("us-west-1"));
    assert_eq!(s.endpoint, None);
    // AWS_PROFILE picks another profile, in both files.
    let s = w
        .resolve(None, &Env::from_pairs([("AWS_PROFILE", "work")]))
        .unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIAWORK");
    assert_eq!(keys(&s).session_token.as_deref(), Some("t"));
    assert_eq!(s.region.as_deref(), Some("ap-south-1"));
    assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    // Nothing anywhere.
    let empty = World::new();
    let e = empty.resolve(None, &Env::default()).unwrap_err();
    assert!(e.contains("no S3 credentials found"), "{e}");
}

#[test]
fn env_auth_takes_keys_from_the_chain_and_keeps_the_rest() {
    let w = World::new();
    w.write_conf(
        "[r]\ntype = s3\nenv_auth = true\nregion = garage\nendpoint = http://127.0.0.1:3900\n",
    );
    let s = w.resolve(Some("r"), &env_keys()).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIAENV");
    assert_eq!(s.region.as_deref(), Some("garage"));
    assert!(s.source.contains("env_auth"), "{}", s.source);
    let e = w.resolve(Some("r"), &Env::default()).unwrap_err();
    assert!(e.contains("env_auth = true"), "{e}");
}

#[test]
fn a_placeholder_section_falls_through_and_is_named_when_nothing_else_is_found() {
    let scaffold = SECTION.replace("file-secret", "BOGUS-SECRET-ACCESS-KEY");
    let w = World::new();
    w.write_conf(&scaffold);
    // Nothing else anywhere: the error names the placeholder, once.
    for section in [Some("poofremote"), None] {
        let e = w.resolve(section, &Env::default()).unwrap_err();
        assert!(
            e.contains("rclone-poof.conf: [poofremote] `secret_access_key`"),
            "{e}"
        );
        assert!(e.contains("placeholder"), "{e}");
        assert!(e.contains("fill in"), "{e}");
        assert_eq!(e.matches("placeholder").count(), 1, "{e}");
        assert!(
            !e.contains("BOGUS-SECRET"),
            "the value is not repeated: {e}"
        );
    }
    // The environment is tried: the section counts as not configured, so
    // none of its settings are used.
    for section in [Some("poofremote"), None] {
        let s = w.resolve(section, &env_keys()).unwrap();
        assert_eq!(keys(&s).access_key_id, "AKIAENV");
        assert_eq!(s.region.as_deref(), Some("eu-central-1"));
        assert_eq!(s.endpoint, None);
        assert_eq!(s.storage_class, None);
    }
    // And ~/.aws.
    w.write_aws(
        "credentials",
        "[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = def-secret\n",
    );
    let s = w.resolve(Some("poofremote"), &Env::default()).unwrap();
    assert_eq!(keys(&s).access_key_id, "AKIADEF");
    // A crypt section over the scaffold's S3 section gets its keys the same way.
    w.write_conf(&format!(
        "{scaffold}\n[secret]\ntype = crypt\nremote = poofremote:bucket\npassword = zzz\n"
    ));
    let Resolved::Crypt(c) = w.resolved(Some("secret"), &Env::default()).unwrap() else {
        panic!("not read as a crypt section")
    };
    assert_eq!(keys(&c.s3).access_key_id, "AKIADEF");
    let w = World::new();
    w.write_conf(&format!(
        "{scaffold}\n[secret]\ntype = crypt\nremote = poofremote:bucket\npassword = zzz\n"
    ));
    let e = w.resolve(Some("secret"), &Env::default()).unwrap_err();
    assert!(e.contains("[poofremote] `secret_access_key`"), "{e}");
}

#[test]
fn placeholders_outside_the_scaffold_are_refused() {
    let w = World::new();
    let env = Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "BOGUS"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ]);
    let e = w.resolve(None, &env).unwrap_err();
    assert!(e.contains("environment variable AWS_ACCESS_KEY_ID"), "{e}");

    w.write_aws(
        "credentials",
        "[default]\naws_access_key_id = k\naws_secret_access_key = bogus-x\n",
    );
    let e = w.resolve(None, &Env::default()).unwrap_err();
    assert!(
        e.contains("credentials: [default] `aws_secret_access_key`"),
        "{e}"
    );
}

#[test]
fn a_crypt_section_resolves_to_the_s3_section_it_wraps() {
    let w = World::new();
    w.write_conf(&format!(
        "{SECTION}\n[secret]\ntype = crypt\nremote = poofremote:bucket/some/prefix/\npassword = zzz\npassword2 = yyy\nfilename_encoding = base64\n"
    ));
    let Resolved::Crypt(c) = w.resolved(Some("secret"), &Env::default()).unwrap() else {
        panic!("not read as a crypt section")
    };
    assert_eq!(
        (
            c.name.as_str(),
            c.s3_section.as_str(),
            c.bucket.as_str(),
            c.prefix.as_str()
        ),
        ("secret", "poofremote", "bucket", "some/prefix")
    );
    assert_eq!(
        c.options.get("filename_encoding").map(String::as_str),
        Some("base64")
    );
    assert_eq!(keys(&c.s3).access_key_id, "GKfile");
    assert_eq!(c.s3.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("zzz") && !shown.contains("yyy") && !shown.contains("file-secret"),
        "{shown}"
    );
}

#[test]
fn crypt_and_other_sections_get_clear_words() {
    let w = World::new();
    w.write_conf(&format!(
        "{SECTION}\n[secret]\ntype = crypt\nremote = nowhere:bucket/x\npassword = zzz\n\
         [nobucket]\ntype = crypt\nremote = poofremote:\n\
         [local]\ntype = crypt\nremote = /home/me/vault\n\
         [twice]\ntype = crypt\nremote = nobucket:b-u-c\n\
         [drive]\ntype = drive\n"
    ));
    let e = w.resolve(Some("secret"), &Env::default()).unwrap_err();
    assert!(e.contains("[secret] wraps remote \"nowhere\""), "{e}");
    assert!(e.contains("has no [nowhere] section"), "{e}");
    assert!(!e.contains("zzz"), "{e}");
    let e = w.resolve(Some("nobucket"), &Env::default()).unwrap_err();
    assert!(e.contains("names no bucket"), "{e}");
    let e = w.resolve(Some("local"), &Env::default()).unwrap_err();
    assert!(e.contains("S3SECTION:BUCKET[/PREFIX]"), "{e}");
    let e = w.resolve(Some("twice"), &Env::default()).unwrap_err();
    assert!(e.contains("another crypt section"), "{e}");
    let e = w.resolve(Some("drive"), &Env::default()).unwrap_err();
    assert!(e.contains("poof reads only type = s3"), "{e}");
    let e = w.resolve(Some("missing"), &Env::default()).unwrap_err();
    assert!(e.contains("has no [missing] section"), "{e}");
}

#[test]
fn an_encrypted_rclone_config_is_named() {
    let w = World::new();
    w.write_conf("# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nabcdef\n");
    // The comment lines rclone writes come first.
    let e = w.resolve(Some("secret"), &Env::default()).unwrap_err();
    assert!(e.contains("encrypted rclone config"), "{e}");
    assert!(e.contains("rclone config encryption remove"), "{e}");
}

#[test]
fn a_named_remote_needs_its_file() {
    let w = World::new();
    let e = w.resolve(Some("poofremote"), &env_keys()).unwrap_err();
    assert!(e.contains("no such file"), "{e}");
    assert!(e.contains("\"poofremote\""), "{e}");
}

#[test]
fn half_keys_are_refused() {
    let w = World::new();
    w.write_conf("[r]\ntype = s3\naccess_key_id = k\n");
    let e = w.resolve(Some("r"), &Env::default()).unwrap_err();
    assert!(e.contains("no secret_access_key"), "{e}");
    let e = w
        .resolve(None, &Env::from_pairs([("AWS_SECRET_ACCESS_KEY", "s")]))
        .unwrap_err();
    // The file's only s3 section is used first, and it is incomplete.
    assert!(e.contains("no secret_access_key"), "{e}");
    let w = World::new();
    let e = w
        .resolve(None, &Env::from_pairs([("AWS_SECRET_ACCESS_KEY", "s")]))
        .unwrap_err();
    assert!(e.contains("AWS_ACCESS_KEY_ID is not"), "{e}");
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let w = World::new();
    w.write_conf(SECTION);
    let s = w.resolve(Some("poofremote"), &Env::default()).unwrap();
    let shown = format!("{s:?} {:?} {}", env_keys(), s.describe());
    assert!(!shown.contains("file-secret"), "{shown}");
    assert!(!shown.contains("env-secret"), "{shown}");
    assert!(!shown.contains("GKfile"), "{shown}");
    assert!(shown.contains("GKfi…"), "{shown}");
}

#[test]
fn rclone_sizes() {
    assert_eq!(parse_size("5M"), Ok(5 << 20));
    assert_eq!(parse_size("5Mi"), Ok(5 << 20));
    assert_eq!(parse_size("5MiB"), Ok(5 << 20));
    assert_eq!(parse_size("64"), Ok(64 << 10));
    assert_eq!(parse_size("1.5G"), Ok(3 << 29));
    assert_eq!(parse_size("100b"), Ok(100));
    assert!(parse_size("5X").is_err());
    assert!(parse_size("M").is_err());
    assert!(parse_size("0").is_err());
}

mod chain;
