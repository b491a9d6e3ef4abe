//! The XML S3 speaks: reading its answers and writing the two request
//! bodies poof sends (DeleteObjects, CompleteMultipartUpload).
//!
//! Invariant: element names are matched without their namespace (AWS sends
//! one, some stores do not), and text written into a request is escaped.

use roxmltree::{Document, Node};

use super::ops::{DeleteFailure, ListPage, Object, ObjectLock, Versioning};

/// The first child element of `node` named `name`.
fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

/// The text of the first child element named `name` ("" when it is empty).
fn text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).map(|n| n.text().unwrap_or(""))
}

fn children<'a, 'i>(node: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn parse(body: &str) -> Result<Document<'_>, String> {
    Document::parse(body).map_err(|e| format!("not XML: {e}"))
}

/// The root element of an answer, which must be named `name`.
fn root_named<'a, 'i>(doc: &'a Document<'i>, name: &str) -> Result<Node<'a, 'i>, String> {
    let root = doc.root_element();
    match root.tag_name().name() {
        n if n == name => Ok(root),
        other => Err(format!("expected {name}, got {other}")),
    }
}

/// The `Code` and `Message` of an `<Error>` answer, if it is one.
pub fn parse_error(body: &str) -> Option<(String, String)> {
    let doc = Document::parse(body).ok()?;
    let root = doc.root_element();
    if root.tag_name().name() != "Error" {
        return None;
    }
    Some((
        text(root, "Code").unwrap_or("").to_string(),
        text(root, "Message").unwrap_or("").to_string(),
    ))
}

/// Decodes a key sent with `encoding-type=url`: `%XX` escapes, and `+` for a
/// space (as AWS writes it; other stores escape `+` itself as `%2B`).
fn url_decode(s: &str) -> Option<String> {
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// One page of a ListObjectsV2 answer.
pub fn parse_list(body: &str) -> Result<ListPage, String> {
    let doc = parse(body)?;
    let root = root_named(&doc, "ListBucketResult")?;
    // Asked for with `encoding-type=url`, so that keys holding characters
    // XML cannot carry (control characters, a lone `\r`) arrive intact.
    let url_encoded = text(root, "EncodingType").is_some_and(|e| e.trim() == "url");
    let mut objects = Vec::new();
    for c in children(root, "Contents") {
        let raw = text(c, "Key").ok_or("an entry without a Key")?;
        let key = listed_name(raw, url_encoded, "key")?;
        let size = text(c, "Size")
            .ok_or("an entry without a Size")?
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("bad Size for {key:?}: {e}"))?;
        let last_modified_ns = text(c, "LastModified").and_then(parse_iso8601_ns);
        objects.push(Object {
            key,
            size,
            last_modified_ns,
            etag: text(c, "ETag").map(unquote),
        });
    }
    let mut prefixes = Vec::new();
    for c in children(root, "CommonPrefixes") {
        let raw = text(c, "Prefix").ok_or("a CommonPrefixes entry without a Prefix")?;
        prefixes.push(listed_name(raw, url_encoded, "prefix")?);
    }
    let truncated = text(root, "IsTruncated").is_some_and(|t| t.trim() == "true");
    let next = text(root, "NextContinuationToken")
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    if truncated && next.is_none() {
        return Err("a truncated listing without NextContinuationToken".into());
    }
    Ok(ListPage {
        objects,
        prefixes,
        next_token: if truncated { next } else { None },
    })
}

/// A key or prefix of a listing, URL-decoded when the listing says so.
fn listed_name(raw: &str, url_encoded: bool, what: &str) -> Result<String, String> {
    if !url_encoded {
        return Ok(raw.to_string());
    }
    url_decode(raw).ok_or_else(|| format!("a {what} that is not valid UTF-8 once decoded: {raw:?}"))
}

/// The `UploadId` of an InitiateMultipartUpload answer.
pub fn parse_upload_id(body: &str) -> Result<String, String> {
    let doc = parse(body)?;
    text(doc.root_element(), "UploadId")
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "no UploadId".into())
}

/// The `ETag` of a CompleteMultipartUpload or CopyObject answer; these
/// may carry an `<Error>` under a 200 status.
pub fn parse_etag_result(body: &str) -> Result<Option<String>, (String, String)> {
    if let Some(err) = parse_error(body) {
        return Err(err);
    }
    let Ok(doc) = Document::parse(body) else {
        return Ok(None);
    };
    Ok(text(doc.root_element(), "ETag").map(unquote))
}

/// The keys a DeleteObjects answer reports as failed.
pub fn parse_delete_result(body: &str) -> Result<Vec<DeleteFailure>, String> {
    let doc = parse(body)?;
    let root = root_named(&doc, "DeleteResult")?;
    Ok(children(root, "Error")
        .map(|e| DeleteFailure {
            key: text(e, "Key").unwrap_or("").to_string(),
            code: text(e, "Code").unwrap_or("").to_string(),
            message: text(e, "Message").unwrap_or("").to_string(),
        })
        .collect())
}

/// The (key, upload id) pairs of a ListMultipartUploads answer.
pub fn parse_uploads(body: &str) -> Result<Vec<(String, String)>, String> {
    let doc = parse(body)?;
    Ok(children(doc.root_element(), "Upload")
        .map(|u| {
            (
                text(u, "Key").unwrap_or("").to_string(),
                text(u, "UploadId").unwrap_or("").to_string(),
            )
        })
        .collect())
}

/// A GetBucketVersioning answer: `Status` is `Enabled` or `Suspended`, and
/// absent (an empty configuration) when versioning was never turned on.
pub fn parse_versioning(body: &str) -> Result<Versioning, String> {
    let doc = parse(body)?;
    let root = root_named(&doc, "VersioningConfiguration")?;
    match text(root, "Status").map(str::trim) {
        None | Some("") => Ok(Versioning::Off),
        Some("Enabled") => Ok(Versioning::Enabled),
        Some("Suspended") => Ok(Versioning::Suspended),
        Some(other) => Err(format!("an unknown versioning status {other:?}")),
    }
}

/// A GetObjectLockConfiguration answer.
pub fn parse_object_lock(body: &str) -> Result<ObjectLock, String> {
    let doc = parse(body)?;
    let root = root_named(&doc, "ObjectLockConfiguration")?;
    let enabled = text(root, "ObjectLockEnabled").is_some_and(|t| t.trim() == "Enabled");
    let default_retention = child(root, "Rule")
        .and_then(|r| child(r, "DefaultRetention"))
        .map(|d| {
            let mode = text(d, "Mode").unwrap_or("").trim();
            let count = |n: &str, unit: &str| match n.trim() {
                "1" => format!("1 {unit}"),
                n => format!("{n} {unit}s"),
            };
            let period = match (text(d, "Days"), text(d, "Years")) {
                (Some(n), _) => count(n, "day"),
                (None, Some(n)) => count(n, "year"),
                (None, None) => "no period".into(),
            };
            format!("{mode}, {period}")
        });
    Ok(ObjectLock {
        enabled,
        default_retention,
    })
}

/// The body of a quiet DeleteObjects request.
pub fn delete_body<S: AsRef<str>>(keys: &[S]) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>"#,
    );
    for k in keys {
        s.push_str("<Object><Key>");
        s.push_str(&escape(k.as_ref()));
        s.push_str("</Key></Object>");
    }
    s.push_str("</Delete>");
    s
}

/// The body of a CompleteMultipartUpload request; `etags[i]` is part `i + 1`'s.
pub fn complete_body(etags: &[String]) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
    );
    for (i, etag) in etags.iter().enumerate() {
        s.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            i + 1,
            escape(etag)
        ));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

/// The body of a CreateBucket request that names the bucket's region.
pub fn create_bucket_body(location_constraint: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>"#,
        escape(location_constraint)
    )
}

/// Escapes text for an XML element, including characters XML 1.0 cannot
/// hold raw (control characters become character references that S3 reads).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 => out.push_str(&format!("&#x{:X};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Strips the quotes S3 puts around an ETag.
pub fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

/// Parses S3's `2023-07-22T10:00:00.000Z` into nanoseconds since the epoch.
pub fn parse_iso8601_ns(s: &str) -> Option<i64> {
    let t = aws_smithy_types::DateTime::from_str(
        s.trim(),
        aws_smithy_types::date_time::Format::DateTime,
    )
    .ok()?;
    Some(t.secs() * 1_000_000_000 + i64::from(t.subsec_nanos()))
}

/// Parses an HTTP date (`Sat, 22 Jul 2023 10:00:00 GMT`) into nanoseconds since the epoch.
pub fn parse_http_date_ns(s: &str) -> Option<i64> {
    let t = aws_smithy_types::DateTime::from_str(
        s.trim(),
        aws_smithy_types::date_time::Format::HttpDate,
    )
    .ok()?;
    Some(t.secs() * 1_000_000_000 + i64::from(t.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_listings_are_decoded() {
        let body = r#"<ListBucketResult><EncodingType>url</EncodingType>
  <Contents><Key>Docs/a%01b%0D+c%2Bd</Key><Size>1</Size></Contents>
</ListBucketResult>"#;
        let page = parse_list(body).unwrap();
        assert_eq!(page.objects[0].key, "Docs/a\u{1}b\r c+d");
        // Without the marker, keys are taken as they are.
        let body = "<ListBucketResult><Contents><Key>a%01+</Key><Size>1</Size></Contents></ListBucketResult>";
        assert_eq!(parse_list(body).unwrap().objects[0].key, "a%01+");
        // Folder names of a delimited listing are decoded the same way.
        let body = r#"<ListBucketResult><EncodingType>url</EncodingType>
  <CommonPrefixes><Prefix>Docs/caf%C3%A9+x/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>Docs/b/</Prefix></CommonPrefixes>
</ListBucketResult>"#;
        let page = parse_list(body).unwrap();
        assert_eq!(page.prefixes, ["Docs/café x/", "Docs/b/"]);
        assert!(page.objects.is_empty());
        let bad = body.replace("%C3%A9", "%C3");
        assert!(parse_list(&bad).unwrap_err().contains("prefix"));
    }

    #[test]
    fn reads_a_listing_page() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt</Name><Prefix>Docs/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>Docs/a &amp; b.txt</Key><LastModified>2023-07-22T10:00:00.500Z</LastModified>
    <ETag>&quot;9a0364b9e99bb480dd25e1f0284c8555&quot;</ETag><Size>7</Size></Contents>
  <Contents><Key>Docs/empty</Key><LastModified>2023-07-22T10:00:01.000Z</LastModified><Size>0</Size></Contents>
  <NextContinuationToken>tok+/=</NextContinuationToken>
</ListBucketResult>"#;
        let page = parse_list(body).unwrap();
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].key, "Docs/a & b.txt");
        assert_eq!(page.objects[0].size, 7);
        assert_eq!(
            page.objects[0].etag.as_deref(),
            Some("9a0364b9e99bb480dd25e1f0284c8555")
        );
        assert_eq!(
            page.objects[0].last_modified_ns,
            Some(1_690_020_000_500_000_000)
        );
        assert_eq!(page.next_token.as_deref(), Some("tok+/="));
        let last = body.replace("<IsTruncated>true", "<IsTruncated>false");
        assert_eq!(parse_list(&last).unwrap().next_token, None);
        let broken = body.replace("<NextContinuationToken>tok+/=</NextContinuationToken>", "");
        assert!(parse_list(&broken).is_err());
    }

    #[test]
    fn reads_errors_and_results() {
        let e = "<Error><Code>NoSuchBucket</Code><Message>nope</Message></Error>";
        assert_eq!(parse_error(e), Some(("NoSuchBucket".into(), "nope".into())));
        assert_eq!(parse_error("<ListBucketResult/>"), None);
        assert_eq!(parse_error("not xml"), None);
        assert!(parse_etag_result(e).is_err());
        assert_eq!(
            parse_etag_result("<CopyObjectResult><ETag>\"abc\"</ETag></CopyObjectResult>").unwrap(),
            Some("abc".into())
        );
        let d = "<DeleteResult><Deleted><Key>a</Key></Deleted>\
                 <Error><Key>b</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>";
        let f = parse_delete_result(d).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].key.as_str(), f[0].code.as_str()),
            ("b", "AccessDenied")
        );
        assert_eq!(
            parse_upload_id("<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>")
                .unwrap(),
            "u1"
        );
    }

    #[test]
    fn reads_versioning_as_aws_and_garage_answer() {
        let ns = r#"xmlns="http://s3.amazonaws.com/doc/2006-03-01/""#;
        let answer = |inner: &str| {
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration {ns}>{inner}</VersioningConfiguration>"#
            )
        };
        // AWS, and Garage, on a bucket where it was never turned on.
        assert_eq!(parse_versioning(&answer("")), Ok(Versioning::Off));
        assert_eq!(
            parse_versioning("<VersioningConfiguration/>"),
            Ok(Versioning::Off)
        );
        assert_eq!(
            parse_versioning(&answer(
                "<Status>Enabled</Status><MfaDelete>Disabled</MfaDelete>"
            )),
            Ok(Versioning::Enabled)
        );
        assert_eq!(
            parse_versioning(&answer("<Status>Suspended</Status>")),
            Ok(Versioning::Suspended)
        );
        let err = parse_versioning(&answer("<Status>Maybe</Status>")).unwrap_err();
        assert!(err.contains("\"Maybe\""), "{err}");
        assert_eq!(
            parse_versioning("<ListBucketResult/>").unwrap_err(),
            "expected VersioningConfiguration, got ListBucketResult"
        );
        assert!(parse_versioning("not xml").is_err());
    }

    #[test]
    fn reads_an_object_lock_configuration() {
        let lock = parse_object_lock(
            r#"<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <ObjectLockEnabled>Enabled</ObjectLockEnabled>
  <Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>30</Days></DefaultRetention></Rule>
</ObjectLockConfiguration>"#,
        )
        .unwrap();
        assert!(lock.enabled);
        assert_eq!(
            lock.default_retention.as_deref(),
            Some("GOVERNANCE, 30 days")
        );
        let lock = parse_object_lock(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
             <Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>1</Years></DefaultRetention></Rule>\
             </ObjectLockConfiguration>",
        )
        .unwrap();
        assert_eq!(
            lock.default_retention.as_deref(),
            Some("COMPLIANCE, 1 year")
        );
        // Enabled, without a default retention.
        let lock = parse_object_lock(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>",
        )
        .unwrap();
        assert_eq!(
            lock,
            ObjectLock {
                enabled: true,
                default_retention: None
            }
        );
        assert!(
            !parse_object_lock("<ObjectLockConfiguration/>")
                .unwrap()
                .enabled
        );
        assert!(parse_object_lock("<Error/>").is_err());
    }

    #[test]
    fn request_bodies_escape_keys() {
        let b = delete_body(&["a<&>'\"", "tab\there"]);
        assert!(b.contains("<Key>a&lt;&amp;&gt;&apos;&quot;</Key>"), "{b}");
        assert!(b.contains("<Key>tab&#x9;here</Key>"), "{b}");
        assert!(b.contains("<Quiet>true</Quiet>"));
        let doc = Document::parse(&b).unwrap();
        let keys: Vec<_> = doc
            .descendants()
            .filter(|n| n.tag_name().name() == "Key")
            .map(|n| n.text().unwrap().to_string())
            .collect();
        assert_eq!(keys, ["a<&>'\"", "tab\there"]);
        let c = complete_body(&["\"e1\"".into(), "\"e2\"".into()]);
        assert!(c.contains("<Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part>"));
    }

    #[test]
    fn reads_dates() {
        assert_eq!(
            parse_iso8601_ns("1970-01-01T00:00:01Z"),
            Some(1_000_000_000)
        );
        assert_eq!(
            parse_http_date_ns("Sat, 22 Jul 2023 10:00:00 GMT"),
            Some(1_690_020_000_000_000_000)
        );
        assert_eq!(parse_iso8601_ns("yesterday"), None);
    }
}
