//! Listing a prefix with several requests at once.
//!
//! A ListObjectsV2 listing is a chain: each page names where the next one
//! starts, so 100,000 keys are 100 round trips one after another. When the
//! first two pages say there is more, the rest of the key space is cut into
//! ranges, as many as the pages it probably fills, and the ranges are
//! listed side by side, each from just before its first name
//! (`start-after`) up to the next range's first name.
//!
//! Where to cut comes from the caller's hints when some of them sort after
//! the second page (a backup's source folders: the names its keys are
//! probably under), and otherwise from the prefix's own folder names: one
//! request with a delimiter, one level down when everything left is in one
//! folder. The chain goes on while that question is out, since some
//! servers (Garage) answer it by reading every later key, and the ranges
//! start where the chain got to.
//!
//! Invariant: the objects handed on are exactly those one chained listing
//! returns, each once (in parts, in the order the requests finish); a key
//! is kept by the range whose bounds hold it and by no other, whatever the
//! server puts on a page past a range's end, and whatever the hints are
//! (names that are not there, missing, unsorted, repeated, outside the
//! prefix). Where the ranges are cut changes only how many requests run at
//! once, and how evenly the keys spread over them.

use std::ops::ControlFlow;

use super::ops::next_token;
use super::{Client, Error, Object, Result};

/// Keys per page (S3's maximum).
const PAGE: u32 = 1000;

/// Pages listed one after another before the rest is cut into ranges: a
/// listing of up to this many pages costs what a chained one costs.
const CHAINED: usize = 2;

/// At most this many ranges per worker: a few more than the workers, so
/// that one slow range does not hold the rest back, but each costs a request.
const RANGES_PER_WORKER: usize = 4;

/// The keys `start <= key < end` (`None`: no bound).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Range {
    start: Option<String>,
    end: Option<String>,
}

impl Client {
    /// `list_each` gathered, in key order: what the tests compare with the
    /// chained listing (the store gathers its own, as `ObjectInfo`).
    #[cfg(test)]
    pub fn list_parallel(&self, prefix: &str, workers: usize) -> Result<Vec<Object>> {
        self.list_parallel_hinted(prefix, &[], workers)
    }

    /// `list_parallel` with `hints` for `list_each`.
    #[cfg(test)]
    pub fn list_parallel_hinted(
        &self,
        prefix: &str,
        hints: &[String],
        workers: usize,
    ) -> Result<Vec<Object>> {
        let mut all = Vec::new();
        self.list_each(prefix, hints, workers, &mut |part| {
            all.extend(part);
            ControlFlow::Continue(())
        })?;
        // The parts come as their requests finish; keys are unique.
        all.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(all)
    }

    /// Every object whose key starts with `prefix`, handed to `part` as
    /// they come: the first `CHAINED` pages together, then, when more are
    /// expected than one range would list, the rest with up to `workers`
    /// requests at once, one range at a time in the order the ranges
    /// finish. `part` returns `Break` to be given no more: ranges already
    /// being listed still finish, and what they list is dropped.
    ///
    /// `hints` are keys (whole, bucket-relative) the rest may be cut at,
    /// e.g. the prefix followed by the names of the folders being backed
    /// up: those after the second page are used instead of asking the
    /// server. They decide only where the ranges are cut, never what is
    /// listed.
    pub fn list_each(
        &self,
        prefix: &str,
        hints: &[String],
        workers: usize,
        part: &mut dyn FnMut(Vec<Object>) -> ControlFlow<()>,
    ) -> Result<()> {
        let mut seen = Vec::new();
        let mut token = None;
        for _ in 0..CHAINED {
            let page = self.list_page(prefix, token.as_deref(), PAGE)?;
            seen.extend(page.objects);
            match next_token(prefix, token.as_deref(), page.next_token)? {
                None => {
                    let _ = part(seen);
                    return Ok(());
                }
                Some(t) => token = Some(t),
            }
        }
        let last = seen
            .last()
            .map(|o| o.key.clone())
            .ok_or_else(|| Error::BadResponse {
                op: format!("listing {prefix:?}"),
                detail: "a truncated page without keys".into(),
            })?;
        // Where to cut: the hints after `last`, when there are any (inside
        // the prefix: the others would only cost a request each); else one
        // delimited request, which some servers (Garage) answer by reading
        // every key after `last`: the chain goes on meanwhile, and the
        // ranges start where it got to.
        let mut at = last.clone();
        let hinted = cuts_after(prefix, &last, hints);
        let (level, names) = if workers < 2 {
            (prefix.to_string(), Vec::new())
        } else if !hinted.is_empty() {
            (prefix.to_string(), hinted)
        } else {
            let mut ended = false;
            let answer = std::thread::scope(|s| -> Result<_> {
                let asking = s.spawn(|| self.names_after(prefix, &last));
                while !asking.is_finished() {
                    let page = self.list_page(prefix, token.as_deref(), PAGE)?;
                    let next = next_token(prefix, token.as_deref(), page.next_token)?;
                    if let Some(o) = page.objects.last() {
                        at.clone_from(&o.key);
                    }
                    ended = part(page.objects).is_break() || next.is_none();
                    if ended {
                        break;
                    }
                    token = next;
                }
                asking.join().expect("listing does not panic")
            });
            if ended {
                // The chain reached the end (or `part` wants no more): the
                // question's answer, or its failure, no longer matters.
                let _ = part(seen);
                return Ok(());
            }
            answer?
        };
        // Only the names after where the chain got to are left to list.
        let names: Vec<String> = names.into_iter().filter(|n| *n > at).collect();
        let most = expected_pages(&seen, &level, &names).min(workers * RANGES_PER_WORKER);
        let ranges = ranges(&at, &names, most);
        if part(seen).is_break() {
            return Ok(());
        }
        let mut failed = None;
        let mut stopped = false;
        crate::pool::for_each(
            &ranges,
            workers,
            |r| self.list_range(prefix, r),
            |_, listed| match listed {
                _ if stopped || failed.is_some() => {}
                Ok(objects) => stopped = part(objects).is_break(),
                Err(e) => failed = Some(e),
            },
        );
        failed.map_or(Ok(()), Err)
    }

    /// The names one level under `prefix` (folders end in `/`) that sort
    /// after `after`, from one delimited request, and the level they are
    /// under: while they are a single folder, the names one level further
    /// down. Enough to cut the rest of the listing into ranges, not a
    /// listing: a folder with more than a page of names gives only its
    /// first page.
    fn names_after(&self, prefix: &str, after: &str) -> Result<(String, Vec<String>)> {
        let mut level = prefix.to_string();
        loop {
            let page = self.list_query(&level, None, Some(after), true, PAGE)?;
            let mut names: Vec<String> = page
                .prefixes
                .into_iter()
                .chain(page.objects.into_iter().map(|o| o.key))
                .collect();
            names.sort();
            match names.as_slice() {
                [only] if only.ends_with('/') && only.len() > level.len() => {
                    level = only.clone();
                }
                _ => return Ok((level, names)),
            }
        }
    }

    /// The keys of `prefix` inside `r`, page by page from just before its
    /// start until a key at or past its end.
    fn list_range(&self, prefix: &str, r: &Range) -> Result<Vec<Object>> {
        let mut from = r.start.as_deref().map(before);
        let mut keys = Vec::new();
        loop {
            let page = self.list_query(prefix, None, from.as_deref(), false, PAGE)?;
            let more = page.next_token.is_some();
            let Some(last) = page.objects.last().map(|o| o.key.clone()) else {
                return Ok(keys);
            };
            let past_end = r.end.as_ref().is_some_and(|e| last >= *e);
            keys.extend(page.objects.into_iter().filter(|o| r.holds(&o.key)));
            if !more || past_end {
                return Ok(keys);
            }
            if from.as_ref().is_some_and(|f| last <= *f) {
                return Err(Error::BadResponse {
                    op: format!("listing {prefix:?}"),
                    detail: "a page that did not move past where it was asked to start".into(),
                });
            }
            from = Some(last);
        }
    }
}

/// The `hints` inside `prefix` that sort after `last`, sorted, each once.
fn cuts_after(prefix: &str, last: &str, hints: &[String]) -> Vec<String> {
    let mut cuts: Vec<String> = hints
        .iter()
        .filter(|h| h.starts_with(prefix) && h.as_str() > last)
        .cloned()
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

impl Range {
    fn holds(&self, key: &str) -> bool {
        self.start.as_deref().is_none_or(|s| key >= s)
            && self.end.as_deref().is_none_or(|e| key < e)
    }
}

/// How many pages the keys after the `seen` ones probably fill: as many
/// keys per name under `level` as the seen keys had, times the `names`
/// left. One when nothing is known.
fn expected_pages(seen: &[Object], level: &str, names: &[String]) -> usize {
    let mut per_name: std::collections::BTreeMap<&str, usize> = Default::default();
    for o in seen {
        if let Some(rest) = o.key.strip_prefix(level) {
            let name = rest.find('/').map_or(rest, |i| &rest[..=i]);
            *per_name.entry(name).or_default() += 1;
        }
    }
    if per_name.is_empty() {
        return names.len().max(1);
    }
    let keys: usize = per_name.values().sum();
    let expected = keys * names.len() / per_name.len();
    expected.div_ceil(PAGE as usize).max(1)
}

/// The ranges after `last` (the seen pages' last key), cut at some of
/// `names` (sorted; each the first key of what it names, or below it) so
/// that there are at most `most` of them. The first range starts right
/// after `last`, the last has no end.
fn ranges(last: &str, names: &[String], most: usize) -> Vec<Range> {
    let cuts: Vec<&String> = names.iter().filter(|n| n.as_str() > last).collect();
    let wanted = most.saturating_sub(1);
    let mut bounds: Vec<String> = if wanted == 0 {
        Vec::new()
    } else {
        let step = cuts.len().div_ceil(wanted).max(1);
        cuts.into_iter().step_by(step).cloned().collect()
    };
    bounds.dedup();
    let mut out = Vec::with_capacity(bounds.len() + 1);
    // After `last` itself: `start` is only a lower bound for `holds`, so a
    // key equal to `last` (already on the first page) is left out here.
    let mut start = Some(successor(last));
    for b in bounds {
        out.push(Range {
            start: start.take(),
            end: Some(b.clone()),
        });
        start = Some(b);
    }
    out.push(Range { start, end: None });
    out
}

/// The least string greater than `s`.
fn successor(s: &str) -> String {
    format!("{s}\0")
}

/// A string just below `s` to start a listing after: every key from it on
/// that is below `s` is filtered out by the range, so it need only be
/// below `s` and close to it: `s` with its last character lowered by one
/// and followed by the greatest character.
fn before(s: &str) -> String {
    let mut out = s.to_string();
    let Some(c) = out.pop() else { return out };
    if let Some(lower) = (0..u32::from(c)).rev().find_map(char::from_u32) {
        out.push(lower);
        out.push(char::MAX);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback stand-in for a server's ListObjectsV2 over `keys`: pages
    /// by continuation token or `start-after`, folder names with a
    /// delimiter. Each page waits `PAGE_MS`; a delimited question waits
    /// `QUESTION_MS`, as a server that reads every later key to answer it.
    /// Counts the requests by kind: (chained, ranged, delimited). With
    /// `ranges_fail`, every ranged request gets a server error.
    fn listing_server(
        keys: Vec<String>,
        ranges_fail: bool,
    ) -> (String, std::sync::Arc<std::sync::Mutex<[usize; 3]>>) {
        use std::io::{Read, Write};
        const PAGE_MS: u64 = 50;
        const QUESTION_MS: u64 = 1000;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counts = std::sync::Arc::new(std::sync::Mutex::new([0usize; 3]));
        let seen = counts.clone();
        let keys = std::sync::Arc::new(keys);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let (keys, seen) = (keys.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut req = Vec::new();
                    let mut byte = [0u8; 1];
                    while !req.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                        req.push(byte[0]);
                    }
                    let line = String::from_utf8_lossy(&req);
                    let target = line.split(' ').nth(1).unwrap_or("");
                    let query = target.split_once('?').map_or("", |(_, q)| q);
                    let param = |name: &str| {
                        query.split('&').find_map(|kv| {
                            let (k, v) = kv.split_once('=')?;
                            (k == name).then(|| decode(v))
                        })
                    };
                    let prefix = param("prefix").unwrap_or_default();
                    let delimited = param("delimiter").is_some();
                    let after = param("continuation-token").or(param("start-after"));
                    let ranged = !delimited && param("start-after").is_some();
                    seen.lock().unwrap()[match () {
                        _ if delimited => 2,
                        _ if ranged => 1,
                        _ => 0,
                    }] += 1;
                    if ranged && ranges_fail {
                        let _ = write!(
                            conn,
                            "HTTP/1.1 500 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                        return;
                    }
                    let max: usize = param("max-keys").map_or(1000, |m| m.parse().unwrap());
                    let mut body = String::from("<ListBucketResult>");
                    let mut listed = 0;
                    let mut last_cp = String::new();
                    let rest = keys
                        .iter()
                        .filter(|k| k.starts_with(&prefix))
                        .filter(|k| after.as_ref().is_none_or(|a| k.as_str() > a.as_str()));
                    let mut truncated = false;
                    let mut next = String::new();
                    for k in rest {
                        if listed == max {
                            truncated = true;
                            break;
                        }
                        match k[prefix.len()..].find('/').filter(|_| delimited) {
                            Some(i) => {
                                let cp = &k[..prefix.len() + i + 1];
                                if cp != last_cp {
                                    body += &format!(
                                        "<CommonPrefixes><Prefix>{cp}</Prefix></CommonPrefixes>"
                                    );
                                    last_cp = cp.to_string();
                                    listed += 1;
                                }
                            }
                            None => {
                                body += &format!(
                                    "<Contents><Key>{k}</Key><Size>1</Size><ETag>&quot;e&quot;</ETag></Contents>"
                                );
                                listed += 1;
                            }
                        }
                        next = k.clone();
                    }
                    body += &format!("<IsTruncated>{truncated}</IsTruncated>");
                    if truncated {
                        body += &format!("<NextContinuationToken>{next}</NextContinuationToken>");
                    }
                    body += "</ListBucketResult>";
                    let wait = if delimited { QUESTION_MS } else { PAGE_MS };
                    std::thread::sleep(std::time::Duration::from_millis(wait));
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        (url, counts)
    }

    /// Percent-decoding of a query value (the keys here are ASCII).
    fn decode(v: &str) -> String {
        let mut out = Vec::new();
        let b = v.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(if b[i] == b'+' { b' ' } else { b[i] });
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// 30,000 keys in 30 folders under `p/`, listed by 4 workers from the
    /// stand-in with `hints`: the keys, what was listed, and the requests
    /// by kind (chained, ranged, delimited).
    fn thirty_folders_listed(hints: &[String]) -> (Vec<String>, Vec<String>, [usize; 3]) {
        let mut keys: Vec<String> = (0..30_000)
            .map(|i| format!("p/d{:02}/f{i:05}", i / 1000))
            .collect();
        keys.sort();
        let (url, counts) = listing_server(keys.clone(), false);
        let client = crate::s3::retry::tests::client_for(&url);
        let listed: Vec<String> = client
            .list_parallel_hinted("p/", hints, 4)
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        let counts = *counts.lock().unwrap();
        (keys, listed, counts)
    }

    #[test]
    fn the_chain_goes_on_while_the_folder_names_are_asked_for() {
        let (keys, listed, [chained, ranged, delimited]) = thirty_folders_listed(&[]);
        assert_eq!(listed, keys, "the whole listing, once, in order");
        assert_eq!(delimited, 1, "one question");
        // The first two pages, and more while the question was out (it
        // takes twenty pages' time, the listing thirty pages); the ranges
        // list what the chain did not reach.
        assert!(chained > 2, "{chained} chained requests");
        assert!(ranged >= 1, "{ranged} ranged requests");
    }

    #[test]
    fn hints_after_the_second_page_cut_the_listing_without_the_question() {
        let hints: Vec<String> = (0..30).map(|i| format!("p/d{i:02}/")).collect();
        let (keys, listed, [chained, ranged, delimited]) = thirty_folders_listed(&hints);
        assert_eq!(listed, keys, "the whole listing, once, in order");
        assert_eq!(delimited, 0, "no question");
        assert_eq!(chained, 2, "the first two pages only");
        assert!(ranged >= 4, "{ranged} ranged requests");
    }

    #[test]
    fn wrong_hints_change_how_the_keys_are_listed_never_which() {
        let mut all: Vec<String> = (0..12_000)
            .map(|i| format!("p/d{:02}/f{i:05}", i / 400))
            .collect();
        // Keys right under the prefix, and beside its folders' names.
        all.extend(["p/d05", "p/d05.txt", "p/d10/", "p/zz", "p/\u{10ffff}"].map(String::from));
        all.sort();
        let hint_sets: Vec<Vec<String>> = vec![
            // None, or none left after the second page: the question.
            vec![],
            keys(&["p/d00/", "p/d01/", "a", ""]),
            // Outside the prefix, unsorted, repeated, empty, a folder the
            // server does not have; below, keys themselves and names
            // beside the folders'.
            keys(&["q/", "o/", "p", "", "p/d20/", "p/d07/", "p/d20/", "p/d07/"]),
            keys(&[
                "p/d05",
                "p/d10/",
                "p/d10/f04000",
                "p/zz",
                "p/zzz/",
                "p/x/",
                "p/\u{10ffff}",
            ]),
            keys(&["p/d29/", "p/d29/"]),
            // Many more than the ranges: some are cut at, the rest skipped.
            (0..3000)
                .rev()
                .map(|i| format!("p/d{:02}/f{i:05}", i / 100))
                .collect(),
            // Only names past every key.
            keys(&["p/zzz", "p/\u{10ffff}\u{10ffff}"]),
        ];
        for hints in hint_sets {
            let (url, counts) = listing_server(all.clone(), false);
            let client = crate::s3::retry::tests::client_for(&url);
            let listed: Vec<String> = client
                .list_parallel_hinted("p/", &hints, 4)
                .unwrap()
                .into_iter()
                .map(|o| o.key)
                .collect();
            assert_eq!(listed, all, "each key once, with hints {hints:?}");
            let delimited = counts.lock().unwrap()[2];
            let usable = cuts_after("p/", "p/d04/f01999", &hints);
            assert_eq!(delimited, usize::from(usable.is_empty()), "{hints:?}");
        }
    }

    #[test]
    fn the_cuts_are_the_hints_inside_the_prefix_after_the_last_key_sorted_once() {
        let hints = keys(&["p/c/", "q/", "p/a/", "p/c/", "", "p/b", "o/z", "p/a/9"]);
        assert_eq!(cuts_after("p/", "p/a/9", &hints), keys(&["p/b", "p/c/"]));
        assert!(cuts_after("p/", "p/z", &hints).is_empty());
        assert!(cuts_after("p/", "p/a", &[]).is_empty());
    }

    #[test]
    fn a_range_that_fails_fails_the_listing_after_parts_were_handed_on() {
        let keys: Vec<String> = (0..30_000)
            .map(|i| format!("p/d{:02}/f{i:05}", i / 1000))
            .collect();
        let (url, counts) = listing_server(keys, true);
        let client = crate::s3::retry::tests::client_for(&url);
        let mut handed = 0;
        let listed = client.list_each("p/", &[], 4, &mut |part| {
            handed += part.len();
            ControlFlow::Continue(())
        });
        // What was handed on is only part of the listing: the caller is told
        // the listing failed, never given a short one as if whole.
        assert!(listed.is_err(), "a failed range must fail the listing");
        assert!((2000..30_000).contains(&handed), "{handed} handed on");
        assert!(counts.lock().unwrap()[1] >= 1, "a range was asked for");
    }

    fn keys(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn before_is_below_and_close() {
        for s in ["b", "a/b/", "x\u{e000}", "\u{10000}", "a\0"] {
            let b = before(s);
            assert!(b.as_str() < s, "{s:?} {b:?}");
        }
        assert_eq!(before("folder12/"), format!("folder12.{}", char::MAX));
        // Surrogates are not characters: the one below U+E000 is U+D7FF.
        assert_eq!(before("x\u{e000}"), format!("x\u{d7ff}{}", char::MAX));
        assert_eq!(before("a\0"), "a");
        assert_eq!(before("\0"), "");
        assert!(successor("ab").as_str() > "ab");
    }

    #[test]
    fn ranges_cover_everything_after_the_first_page_once() {
        let names = keys(&["p/a/", "p/b/", "p/c", "p/d/", "p/e/"]);
        let r = ranges("p/a/9", &names, 100);
        // The folder holding `last` sorts below it: the cuts are the others.
        let starts: Vec<_> = r.iter().map(|r| r.start.clone()).collect();
        assert_eq!(
            starts,
            [
                Some("p/a/9\0".to_string()),
                Some("p/b/".into()),
                Some("p/c".into()),
                Some("p/d/".into()),
                Some("p/e/".into())
            ]
        );
        assert_eq!(r.last().unwrap().end, None);
        for k in [
            "p/a/9",
            "p/a/9/x",
            "p/b/1",
            "p/c",
            "p/c0",
            "p/d/z",
            "p/e/",
            "p/f",
            "p/\u{10ffff}",
        ] {
            let holders = r.iter().filter(|r| r.holds(k)).count();
            let expect = usize::from(k != "p/a/9");
            assert_eq!(holders, expect, "{k}");
        }
        // At most `most` ranges, still contiguous.
        let many: Vec<String> = (0..1000).map(|i| format!("p/{i:04}/")).collect();
        let r = ranges("p/0000/z", &many, 8);
        assert!((2..=8).contains(&r.len()), "{}", r.len());
        for w in r.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        // Nothing to cut at, or one range wanted: one, from after the last
        // key to the end.
        assert_eq!(ranges("p/z", &[], 8).len(), 1);
        assert_eq!(ranges("p/0000/z", &many, 1).len(), 1);
    }

    fn objects(keys: &[String]) -> Vec<Object> {
        keys.iter()
            .map(|k| Object {
                key: k.clone(),
                size: 1,
                last_modified_ns: None,
                etag: None,
            })
            .collect()
    }

    #[test]
    fn the_pages_left_are_estimated_from_the_keys_per_name_seen() {
        // 2,000 keys seen in two folders of 1,000; 98 folders left.
        let seen: Vec<String> = (0..2000)
            .map(|i| format!("D/d{:03}/f{i}", i / 1000))
            .collect();
        let left: Vec<String> = (1..100).map(|i| format!("D/d{i:03}/")).collect();
        assert_eq!(expected_pages(&objects(&seen), "D/", &left), 99);
        // 1,500 keys in ten folders, three left: less than a page.
        let seen: Vec<String> = (0..1000).map(|i| format!("D/d{}/f{i}", i % 7)).collect();
        let left = keys(&["D/d6/", "D/d7/", "D/d8/", "D/d9/"]);
        assert_eq!(expected_pages(&objects(&seen), "D/", &left), 1);
        // Names one level down, none of the seen keys under them: one per name.
        assert_eq!(expected_pages(&objects(&seen), "E/", &left), 4);
        assert_eq!(expected_pages(&objects(&seen), "D/", &[]), 1);
    }
}
