//! The credential chain with the real binary: profiles, `~/.aws/config`,
//! `credential_process`, the scaffold's placeholder section, unknown
//! options and virtual-hosted addressing against the test S3 server; and
//! the EC2 instance metadata service, the container endpoint and STS web
//! identity against fake services on 127.0.0.1 that speak their documented
//! protocols and hand out the test server's keys, including keys about to
//! expire that must be renewed before use.
//!
//! Invariant: every service contacted is on loopback.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{Kind, S3Server, World, snapshot};
use crate::proxy::{read_exact_vec, read_head};

/// One request a fake service received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Answer = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

/// A fake HTTP service on 127.0.0.1: one request per connection, answered
/// by a function of the request; it records what it received.
struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Fake {
    fn start(answer: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Arc<Answer> = Arc::new(answer);
        let (log, stopping) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (log, answer) = (log.clone(), answer.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &log, answer.as_ref());
                });
            }
        });
        Fake { port, seen, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests had this method and path.
    fn count(&self, method: &str, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .count()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, log: &Mutex<Vec<Seen>>, answer: &Answer) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    let Some(head) = read_head(&mut reader)? else {
        return Ok(());
    };
    let body = read_exact_vec(&mut reader, head.content_length().unwrap_or(0))?;
    let seen = Seen {
        method: head.first.clone(),
        path: head.second.clone(),
        headers: head.headers.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    log.lock().unwrap().push(seen.clone());
    let (status, text) = answer(&seen);
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    out.flush()
}

/// An ISO 8601 time `secs` seconds from now (GNU date).
fn in_secs(secs: u64) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    assert!(out.status.success(), "date: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The keys JSON the metadata service and the container endpoint answer with.
fn keys_json(s3: &S3Server, secret: &str, expires_in: u64) -> String {
    serde_json::json!({
        "Code": "Success",
        "Type": "AWS-HMAC",
        "AccessKeyId": s3.key,
        "SecretAccessKey": secret,
        "Token": "session-token",
        "Expiration": in_secs(expires_in),
    })
    .to_string()
}

/// A world on the test S3 server with a file to back up and an `s3://`
/// remote, whose keys must come from elsewhere.
fn world() -> Option<(World, S3Server)> {
    let Kind::S3(s3) = Kind::s3()? else {
        unreachable!()
    };
    let w = World::on(Kind::S3(s3.clone()));
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/b/c.txt", b"gamma", 1_600_000_000, 0o600);
    let conf = serde_json::json!({
        "paths": { w.path("src").display().to_string(): "Docs" },
        "remote": format!("s3://{}", w.bucket),
    });
    w.write_conf(&conf.to_string());
    Some((w, s3))
}

/// Backs up, then checks that the bucket holds the folder.
fn backs_up(w: &World, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = args.to_vec();
    all.push("backup");
    let run = w.poof_env(&all, env).expect(0);
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
    run.stdout
}

const TOKEN_PATH: &str = "/latest/api/token";
const ROLES_PATH: &str = "/latest/meta-data/iam/security-credentials/";

#[test]
fn instance_role_keys_are_used_and_renewed_before_they_expire() {
    let Some((w, s3)) = world() else { return };
    let fetches = Arc::new(AtomicUsize::new(0));
    let (s3c, count) = (s3.clone(), fetches.clone());
    let imds = Fake::start(move |r| {
        let token_ok = r.header("x-aws-ec2-metadata-token") == Some("T0K3N");
        match (r.method.as_str(), r.path.as_str()) {
            ("PUT", TOKEN_PATH) if r.header("x-aws-ec2-metadata-token-ttl-seconds").is_some() => {
                (200, "T0K3N".into())
            }
            (_, _) if !token_ok => (401, String::new()),
            ("GET", ROLES_PATH) => (200, "poof-role\n".into()),
            ("GET", p) if p == format!("{ROLES_PATH}poof-role") => {
                // The first keys are wrong and expire in four minutes,
                // within the five-minute margin: poof must renew them
                // before it signs anything; the next ones last an hour.
                match count.fetch_add(1, Ordering::SeqCst) {
                    0 => (200, keys_json(&s3c, "not-the-secret", 240)),
                    _ => (200, keys_json(&s3c, &s3c.secret, 3600)),
                }
            }
            _ => (404, String::new()),
        }
    });
    let env = [
        ("AWS_EC2_METADATA_DISABLED", ""),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url()),
        ("AWS_REGION", &s3.region),
        ("AWS_ENDPOINT_URL_S3", &s3.endpoint),
    ];
    backs_up(&w, &[], &env);
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "{:?}", imds.seen());
    assert!(imds.count("PUT", TOKEN_PATH) >= 2);
    let run = w.poof_env(&["verify"], &env).expect(0);
    assert!(
        run.stdout.contains(&format!(
            "the EC2 instance metadata service at {}",
            imds.url()
        )),
        "{}",
        run.stdout
    );
    // An instance without a role: no keys anywhere.
    let bare = Fake::start(|r| match r.method.as_str() {
        "PUT" => (200, "T".into()),
        _ => (404, String::new()),
    });
    let env = [
        ("AWS_EC2_METADATA_DISABLED", ""),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &bare.url()),
    ];
    let run = w.poof_env(&["backup"], &env).expect(2);
    assert!(
        run.stderr.contains("no S3 credentials found"),
        "{}",
        run.stderr
    );
    assert_eq!(bare.count("GET", ROLES_PATH), 1);
}

/// An instance whose role is taken away between the first keys and their
/// renewal: the renewal's failure says so, in its own words (at the first
/// fetch, a role-less instance is only one place without keys).
#[test]
fn an_instance_that_lost_its_role_is_named() {
    let Some((w, s3)) = world() else { return };
    let listed = Arc::new(AtomicUsize::new(0));
    let (s3c, count) = (s3.clone(), listed.clone());
    let imds = Fake::start(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("PUT", TOKEN_PATH) => (200, "T".into()),
        ("GET", ROLES_PATH) => match count.fetch_add(1, Ordering::SeqCst) {
            0 => (200, "poof-role\n".into()),
            _ => (404, String::new()),
        },
        // Keys that expire as they are given: renewed before their first use.
        ("GET", p) if p == format!("{ROLES_PATH}poof-role") => {
            (200, keys_json(&s3c, &s3c.secret, 0))
        }
        _ => (404, String::new()),
    });
    let env = [
        ("AWS_EC2_METADATA_DISABLED", ""),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url()),
        ("AWS_REGION", &s3.region),
        ("AWS_ENDPOINT_URL_S3", &s3.endpoint),
    ];
    let run = w.poof_env(&["backup"], &env).expect(1);
    assert!(
        run.stderr.contains(&format!(
            "the temporary credentials from the EC2 instance metadata service at {} expired \
             and could not be renewed: the instance has no IAM role (instance profile)",
            imds.url()
        )),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("no S3 credentials found"),
        "{}",
        run.stderr
    );
    assert!(listed.load(Ordering::SeqCst) >= 2, "{:?}", imds.seen());
}

#[test]
fn container_endpoint_keys_with_a_token_file() {
    let Some((w, s3)) = world() else { return };
    let token = w.path("container-token");
    std::fs::write(&token, "Bearer abc123\n").unwrap();
    let s3c = s3.clone();
    let ecs = Fake::start(
        move |r| match (r.path.as_str(), r.header("authorization")) {
            ("/v1/credentials", Some("Bearer abc123")) => (200, keys_json(&s3c, &s3c.secret, 3600)),
            _ => (401, "unauthorized".into()),
        },
    );
    let full = format!("{}/v1/credentials", ecs.url());
    let token_file = token.display().to_string();
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file),
        ("AWS_REGION", &s3.region),
        ("AWS_ENDPOINT_URL_S3", &s3.endpoint),
    ];
    backs_up(&w, &[], &env);
    // A wrong token is refused by the endpoint, and poof says so.
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong"),
        ("AWS_ENDPOINT_URL_S3", &s3.endpoint),
    ];
    let run = w.poof_env(&["backup"], &env).expect(2);
    assert!(
        run.stderr.contains(&format!(
            "no S3 credentials from the container credentials endpoint {full}"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("HTTP 401: unauthorized"),
        "{}",
        run.stderr
    );
    // A token file that cannot be read, and a token holding a line break
    // (it would end the header), are refused before the endpoint is asked.
    let asked = ecs.seen().len();
    let missing = w.path("no-such-token").display().to_string();
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &missing),
        ("AWS_ENDPOINT_URL_S3", &s3.endpoint),
    ];
    let run = w.poof_env(&["backup"], &env).expect(2);
    assert!(
        run.stderr.contains(&format!(
            "no S3 credentials from the container credentials endpoint {full}: \
             cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {missing}: No such file or directory"
        )),
        "{}",
        run.stderr
    );
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "Bearer abc\r\nX-Injected: 1",
        ),
        ("AWS_ENDPOINT_URL_S3", &s3.endpoint),
    ];
    let run = w.poof_env(&["backup"], &env).expect(2);
    assert!(
        run.stderr.contains(&format!(
            "no S3 credentials from the container credentials endpoint {full}: \
             the authorization token holds a line break"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(ecs.seen().len(), asked, "{:?}", ecs.seen());
}

#[test]
fn web_identity_through_sts() {
    let Some((w, s3)) = world() else { return };
    let token = w.path("oidc-token");
    std::fs::write(&token, "eyJ.web.token").unwrap();
    let reject = Arc::new(AtomicBool::new(false));
    let (s3c, rejecting) = (s3.clone(), reject.clone());
    let sts = Fake::start(move |r| {
        let wants = [
            "Action=AssumeRoleWithWebIdentity",
            "Version=2011-06-15",
            "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbackup",
            "RoleSessionName=nightly",
            "WebIdentityToken=eyJ.web.token",
        ];
        if rejecting.load(Ordering::SeqCst)
            || r.method != "POST"
            || !wants.iter().all(|p| r.body.contains(p))
        {
            return (
                400,
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>\
                 <Message>the token is not valid</Message></Error></ErrorResponse>"
                    .into(),
            );
        }
        (
            200,
            format!(
                "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <AssumeRoleWithWebIdentityResult><Credentials><SessionToken>sts-token</SessionToken>\
                 <SecretAccessKey>{}</SecretAccessKey><Expiration>{}</Expiration>\
                 <AccessKeyId>{}</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>\
                 </AssumeRoleWithWebIdentityResponse>",
                s3c.secret,
                in_secs(3600),
                s3c.key
            ),
        )
    });
    let token_file = token.display().to_string();
    let sts_url = sts.url();
    let env = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.as_str()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/backup"),
        ("AWS_ROLE_SESSION_NAME", "nightly"),
        ("AWS_ENDPOINT_URL_STS", &sts_url),
        ("AWS_REGION", &s3.region),
        ("AWS_ENDPOINT_URL_S3", &s3.endpoint),
    ];
    backs_up(&w, &[], &env);
    assert_eq!(sts.count("POST", "/"), 1, "{:?}", sts.seen());
    reject.store(true, Ordering::SeqCst);
    let run = w.poof_env(&["backup"], &env).expect(2);
    assert!(
        run.stderr
            .contains("web identity (role arn:aws:iam::123456789012:role/backup"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("STS (HTTP 400): InvalidIdentityToken: the token is not valid"),
        "{}",
        run.stderr
    );
    // A token file that cannot be read: said, and STS is not asked.
    let asked = sts.seen().len();
    let missing = w.path("no-such-token").display().to_string();
    let mut env = env.to_vec();
    env[0] = ("AWS_WEB_IDENTITY_TOKEN_FILE", missing.as_str());
    let run = w.poof_env(&["backup"], &env).expect(2);
    assert!(
        run.stderr.contains(&format!(
            "cannot read the web identity token {missing}: No such file or directory"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(sts.seen().len(), asked, "{:?}", sts.seen());
}

#[test]
fn profiles_config_keys_and_credential_process() {
    let Some((w, s3)) = world() else { return };
    std::fs::create_dir_all(w.path("home/.aws")).unwrap();
    let helper = w.path("creds-helper");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncat <<'JSON'\n{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{}\"}}\nJSON\n",
            s3.key, s3.secret
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        w.path("home/.aws/config"),
        format!(
            "[profile garage]\nregion = {r}\naws_access_key_id = {k}\naws_secret_access_key = {s}\n\
             s3 =\n  endpoint_url = {e}\n\
             [profile helper]\nregion = {r}\nendpoint_url = {e}\ncredential_process = {h}\n",
            r = s3.region,
            k = s3.key,
            s = s3.secret,
            e = s3.endpoint,
            h = helper.display()
        ),
    )
    .unwrap();
    // --profile: keys, region and endpoint from ~/.aws/config; the wrong
    // keys in the environment are not used, as with the AWS CLI.
    let wrong = [
        ("AWS_ACCESS_KEY_ID", "AKIAWRONG"),
        ("AWS_SECRET_ACCESS_KEY", "wrong"),
    ];
    backs_up(&w, &["--profile", "garage"], &wrong);
    let run = w
        .poof_env(&["--profile", "garage", "verify"], &wrong)
        .expect(0);
    assert!(
        run.stdout.contains("config [profile garage]"),
        "{}",
        run.stdout
    );
    // AWS_PROFILE, and a credential_process.
    w.file("src/d.txt", b"delta", 1_600_000_000, 0o644);
    backs_up(&w, &[], &[("AWS_PROFILE", "helper")]);
    let run = w
        .poof_env(&["verify"], &[("AWS_PROFILE", "helper")])
        .expect(0);
    assert!(
        run.stdout.contains("credential_process of profile helper"),
        "{}",
        run.stdout
    );
    let run = w.poof(&["--profile", "nobody", "backup"]).expect(2);
    assert!(run.stderr.contains("profile \"nobody\""), "{}", run.stderr);
}

#[test]
fn the_scaffold_section_does_not_block_the_environment() {
    let Some((w, s3)) = world() else { return };
    w.poof(&["cconfig"]).expect(0);
    let env = [
        ("AWS_ACCESS_KEY_ID", s3.key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret.as_str()),
        ("AWS_REGION", s3.region.as_str()),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.as_str()),
    ];
    // An s3:// remote, and the scaffold's own named remote.
    backs_up(&w, &[], &env);
    let conf = serde_json::json!({
        "bucket": w.bucket,
        "paths": { w.path("src").display().to_string(): "Docs" },
        "remote": "poof-backup",
    });
    w.write_conf(&conf.to_string());
    w.file("src/e.txt", b"epsilon", 1_600_000_000, 0o644);
    backs_up(&w, &[], &env);
    // Nowhere else either: the placeholder is named, once.
    let run = w.poof(&["backup"]).expect(2);
    assert!(
        run.stderr
            .contains("[poof-backup] `access_key_id` still holds the placeholder"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("placeholder").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_options_are_named_once_and_virtual_hosted_style_works() {
    let Some((w, s3)) = world() else { return };
    let port = s3.endpoint.rsplit(':').next().unwrap();
    // The test server answers for buckets under s3.garage.localhost
    // (tests/garage.sh sets its root_domain).
    std::fs::write(
        w.path("conf/rclone-poof.conf"),
        format!(
            "[vh]\ntype = s3\nprovider = Other\naccess_key_id = {}\nsecret_access_key = {}\n\
             region = {}\nendpoint = http://s3.garage.localhost:{port}\nforce_path_style = false\n\
             v2_auth = false\nsse_kms_key_id = none\n",
            s3.key, s3.secret, s3.region
        ),
    )
    .unwrap();
    let conf = serde_json::json!({
        "bucket": w.bucket,
        "paths": { w.path("src").display().to_string(): "Docs" },
        "remote": "vh",
    });
    w.write_conf(&conf.to_string());
    let out = backs_up(&w, &[], &[]);
    assert!(
        out.contains(&format!(
            "http://{}.s3.garage.localhost:{port}/Docs",
            w.bucket
        )),
        "{out}"
    );
    // verify opens the remote twice, and says it once.
    let run = w.poof(&["verify"]).expect(0);
    let note = "[vh] has options poof does not use, which are ignored: sse_kms_key_id, v2_auth";
    assert_eq!(run.stderr.matches(note).count(), 1, "{}", run.stderr);
    let run = w.poof(&["--json", "backup"]).expect(0);
    assert_eq!(run.stderr.matches(note).count(), 1, "{}", run.stderr);
}
