//! rclone's version stamps in file names (lib/version/version.go).
//!
//! A name such as `report-v2001-02-03-040506-123.txt` carries a stamp
//! `-vYYYY-MM-DD-hhmmss-mmm` before its extension. rclone crypt encrypts
//! such a name without its stamp and puts the stamp back, unencrypted, on the
//! encrypted name (crypt's `encryptFileName`), so reading must take it off
//! before decrypting and put it back after.
//!
//! Invariant: a stamp is taken off only when rclone takes it off: it matches
//! the pattern somewhere in the name, it ends the part before the extension,
//! and it is a real time (month 1 to 12, a day of that month, 00:00:00 to
//! 23:59:59).

/// The length of a stamp, `-vYYYY-MM-DD-hhmmss-mmm`.
const LEN: usize = 23;

/// Whether `at` starts a stamp's shape: `-v`, then digits and dashes.
fn shaped(at: &[u8]) -> bool {
    const SHAPE: &[u8; LEN] = b"-vdddd-dd-dd-dddddd-ddd";
    at.len() >= LEN
        && SHAPE.iter().zip(at).all(|(s, c)| match s {
            b'd' => c.is_ascii_digit(),
            s => s == c,
        })
}

/// Whether `name` holds a stamp's shape anywhere (rclone's `version.Match`).
pub fn matches(name: &str) -> bool {
    let bytes = name.as_bytes();
    (0..bytes.len()).any(|i| shaped(&bytes[i..]))
}

/// Splits `name` as rclone's `splitExt`: the extension starts at the last
/// `.` of the last `/`-segment; a name that is all extension (`.file`) has
/// none.
fn split_ext(name: &str) -> (&str, &str) {
    let last_segment = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_segment..].rfind('.') {
        Some(dot) if last_segment + dot > 0 => name.split_at(last_segment + dot),
        _ => (name, ""),
    }
}

/// Takes the stamp off `name` when rclone would (`version.Remove`): the
/// stamp and the name without it.
pub fn remove(name: &str) -> Option<(&str, String)> {
    let (base, ext) = split_ext(name);
    let start = base.len().checked_sub(LEN)?;
    let stamp = &base.as_bytes()[start..];
    if !shaped(stamp) {
        return None;
    }
    let number = |from: usize, to: usize| {
        stamp[from..to]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let (year, month, day) = (number(2, 6), number(7, 9), number(10, 12));
    let (hour, minute, second) = (number(13, 15), number(15, 17), number(17, 19));
    let real = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in(month, year)
        && hour < 24
        && minute < 60
        && second < 60;
    // The stamp is ASCII and starts with `-`, so `start` is a character
    // boundary of `base`.
    real.then(|| (&base[start..], format!("{}{ext}", &base[..start])))
}

/// Puts `stamp` back on `name`, before its extension (`version.Add`).
pub fn add(name: &str, stamp: &str) -> String {
    let (base, ext) = split_ext(name);
    format!("{base}{stamp}{ext}")
}

/// Days in `month` of `year`, in the proleptic Gregorian calendar.
fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_come_off_and_go_back_before_the_extension() {
        let (stamp, rest) = remove("hello-v2001-02-03-040506-123.txt").unwrap();
        assert_eq!(
            (stamp, rest.as_str()),
            ("-v2001-02-03-040506-123", "hello.txt")
        );
        assert_eq!(add("uryyB.GKG", stamp), "uryyB-v2001-02-03-040506-123.GKG");
        assert_eq!(remove("-v2001-02-03-040506-123").unwrap().1, "");
        assert_eq!(
            remove("1/12/123-v2001-02-03-040506-123").unwrap().1,
            "1/12/123"
        );
        assert_eq!(
            add(".hidden", "-v2001-02-03-040506-123"),
            ".hidden-v2001-02-03-040506-123"
        );
    }

    #[test]
    fn only_real_times_at_the_end_of_the_base_are_stamps() {
        assert!(matches("a-v2001-02-03-040506-123b"));
        assert!(!matches("a-v2001-02-03-04056-123"));
        assert!(remove("a-v2001-02-03-040506-123b").is_none());
        assert!(remove("a-v2001-13-03-040506-123").is_none());
        assert!(remove("a-v2001-02-29-040506-123").is_none());
        assert!(remove("a-v2000-02-29-040506-123").is_some());
        assert!(remove("a-v1900-02-29-040506-123").is_none());
        assert!(remove("a-v2001-02-03-240506-123").is_none());
        assert!(remove("a-v2001-02-03-236059-123").is_none());
        assert!(remove("\u{e9}\u{e9}-v2001-02-03-040506-123").is_some());
        assert!(remove("\u{e9}v2001-02-03-040506-123").is_none());
    }
}
