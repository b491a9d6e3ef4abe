//! The user metadata rclone keeps on S3 objects, written and read the way
//! rclone does, so that buckets written by poof 1.x, rclone and poof are
//! interchangeable.
//!
//! - `mtime`: seconds since the epoch as a fixed-point decimal string with
//!   up to nine fractional digits and no trailing zeros
//!   (`1690000000.123456789`, `-1.5`, `1690000000`); rclone's S3 backend
//!   writes it with `swift.TimeToFloatString` and reads it with
//!   `swift.FloatStringToTime`.
//! - `mode`: the file's `st_mode` in octal, file type bits included
//!   (`100644`), as rclone's local backend reports it in its metadata
//!   (`rclone -M` copies it into `X-Amz-Meta-Mode`).
//!
//! Invariant: formatting then parsing gives back the same nanoseconds and
//! the same permission bits, for every value.

/// The metadata key of the modification time.
pub const MTIME: &str = "mtime";
/// The metadata key of the permission bits.
pub const MODE: &str = "mode";
/// The metadata key of a multipart upload's MD5 (base64), which rclone
/// writes and `rclone check` reads; the S3 store writes it and checks
/// downloads against it (`S3Store::from_settings`).
pub const MD5CHKSUM: &str = "md5chksum";
/// The metadata key of a file's SHA-256 (lower-case hex), which poof writes
/// for `poof upload --verify=stored` (rclone ignores it).
pub const SHA256: &str = "sha256";

/// Formats nanoseconds since the epoch as rclone's `mtime` string.
pub fn format_mtime(ns: i64) -> String {
    if ns < 0 {
        // i64::MIN has no positive counterpart; it is not a real mtime.
        return format!("-{}", format_unsigned(ns.unsigned_abs()));
    }
    format_unsigned(ns as u64)
}

fn format_unsigned(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    if frac == 0 {
        return secs.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{secs}.{}", digits.trim_end_matches('0'))
}

/// Parses rclone's `mtime` string into nanoseconds since the epoch. Digits
/// past the ninth decimal are dropped, as rclone does.
pub fn parse_mtime(s: &str) -> Option<i64> {
    let s = s.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut frac_ns: i128 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        frac_ns += i128::from(b - b'0') * 10i128.pow(8 - i as u32);
    }
    let total = secs * 1_000_000_000 + frac_ns;
    let total = if negative { -total } else { total };
    i64::try_from(total).ok()
}

/// Formats permission bits as rclone's `mode` of a regular file.
pub fn format_mode(mode: u32) -> String {
    format!("{:o}", 0o100000 | (mode & 0o7777))
}

/// Reads the permission bits from a `mode` value; `None` when it is not octal.
pub fn parse_mode(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim(), 8).ok().map(|m| m & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtime_strings_match_rclone() {
        let cases = [
            (1_690_000_000_123_456_789, "1690000000.123456789"),
            (1_690_000_000_000_000_000, "1690000000"),
            (1_690_000_000_500_000_000, "1690000000.5"),
            (1_000_000, "0.001"),
            (0, "0"),
            (-1_500_000_000, "-1.5"),
            (-500_000_000, "-0.5"),
            (-1, "-0.000000001"),
        ];
        for (ns, s) in cases {
            assert_eq!(format_mtime(ns), s);
            assert_eq!(parse_mtime(s), Some(ns), "{s}");
        }
    }

    #[test]
    fn mtime_parsing_is_as_lenient_as_rclone() {
        assert_eq!(parse_mtime("1.1234567891"), Some(1_123_456_789));
        assert_eq!(parse_mtime("+2"), Some(2_000_000_000));
        assert_eq!(parse_mtime(".5"), Some(500_000_000));
        assert_eq!(parse_mtime("7."), Some(7_000_000_000));
        for bad in [
            "",
            ".",
            "-",
            "1e9",
            "abc",
            "1.2.3",
            "1 2",
            "99999999999999999999",
        ] {
            assert_eq!(parse_mtime(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mtime_round_trips() {
        for ns in [
            i64::MAX,
            i64::MIN + 1,
            1,
            -1,
            999_999_999,
            -999_999_999,
            1_234_567_890_000_000_001,
        ] {
            assert_eq!(parse_mtime(&format_mtime(ns)), Some(ns), "{ns}");
        }
    }

    #[test]
    fn modes_look_like_rclone_local_metadata() {
        assert_eq!(format_mode(0o644), "100644");
        assert_eq!(format_mode(0o4755), "104755");
        assert_eq!(parse_mode("100644"), Some(0o644));
        assert_eq!(parse_mode("0640"), Some(0o640));
        assert_eq!(parse_mode("rw-r--r--"), None);
    }
}
