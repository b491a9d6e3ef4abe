//! Tests of what the temporary-credential sources read: STS's answers (the
//! AWS documentation's example), and which container endpoints are allowed.

use super::*;

/// The response of the AssumeRoleWithWebIdentity API reference's example.
const STS_ANSWER: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2014-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <SourceIdentity>SourceIdentityValue</SourceIdentity>
    <Provider>www.amazon.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#;

#[test]
fn sts_answers_are_read() {
    let k = parse_sts(STS_ANSWER).unwrap();
    assert_eq!(k.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
    assert_eq!(
        k.secret_access_key,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
    );
    assert_eq!(
        k.session_token.as_deref(),
        Some("AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE")
    );
    let expires = k.expires.unwrap();
    assert_eq!(
        expires
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_414_191_623
    );
    let e = parse_sts(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>
           <Code>InvalidIdentityToken</Code><Message>Couldn't retrieve verification key</Message></Error></ErrorResponse>"#,
    )
    .unwrap_err();
    assert_eq!(
        e,
        "InvalidIdentityToken: Couldn't retrieve verification key"
    );
    assert!(parse_sts("<x/>").unwrap_err().contains("no Credentials"));
    assert!(parse_sts("{}").unwrap_err().contains("not XML"));
    let e = parse_sts(&STS_ANSWER.replace("2014-10-24T23:00:23Z", "tomorrow")).unwrap_err();
    assert!(e.contains("not an ISO 8601 time"), "{e}");
}

#[test]
fn json_answers_need_both_keys() {
    let k = keys_from(
        parse_answer(
            br#"{"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIA1", "SecretAccessKey": "s",
                 "Token": "t", "Expiration": "2030-01-01T00:00:00Z", "LastUpdated": "2029-12-31T18:00:00Z"}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(k.session_token.as_deref(), Some("t"));
    assert!(k.expires.is_some());
    let e = keys_from(parse_answer(br#"{"AccessKeyId": "", "SecretAccessKey": "s"}"#).unwrap())
        .unwrap_err();
    assert!(e.contains("lacks AccessKeyId"), "{e}");
}

#[test]
fn container_endpoints_over_http_stay_on_this_machine() {
    for ok in [
        "http://127.0.0.1:8080/creds",
        "http://[::1]/creds",
        "http://localhost/x",
        "http://169.254.170.2/v2/credentials/abc",
        "http://169.254.170.23/v1/credentials",
        "https://creds.example.com/x",
    ] {
        assert_eq!(Container::check_url(ok), Ok(()), "{ok}");
    }
    for bad in [
        "http://10.0.0.1/creds",
        "http://example.com/",
        "ftp://127.0.0.1/",
    ] {
        let e = Container::check_url(bad).unwrap_err();
        assert!(e.contains("is not allowed"), "{bad}: {e}");
    }
    assert!(
        Container::check_url("not a url")
            .unwrap_err()
            .contains("not a URL")
    );
}
