//! rclone's names: its "standard" form, its S3 keys and local file names.
//!
//! rclone handles every name in its "standard" encoding (`Standard`:
//! `Zero, Slash, Ctl, Del, Dot`): a control character is written as its
//! Control Pictures symbol (U+2400 + c for 0x01–0x1F, U+2421 for DEL), NUL
//! as U+2400, `/` as U+FF0F, a name `.` or `..` as U+FF0E, and a literal
//! symbol that would otherwise be read back as one of those is quoted with
//! U+201B. rclone crypt encrypts names in that form, and with
//! `filename_encryption = off` stores them as they are.
//!
//! Its S3 backend's default encoding (`Slash, InvalidUtf8, Dot`) and its local
//! backend's on Linux (`Slash, Dot`, with `Zero` as in every encoding) do not
//! encode control characters: they turn those symbols back into the control
//! characters themselves. So a crypt name in base32768, which uses some of
//! the symbols as digits, holds control characters in its S3 key, and a
//! plaintext name in the standard form is the local name only after the
//! same step. [`to_key`] is that step (a standard name as S3 or a Linux
//! folder stores it) and [`from_key`] its inverse, segment by segment.
//!
//! Sources: rclone `lib/encoder/encoder.go` (`MultiEncoder::Encode`,
//! `Decode`, `FromStandardName`, `ToStandardName`, `QuoteRune`),
//! `lib/encoder/os_other.go`-era `Standard` and `Base`, `backend/s3/s3.go`
//! (the `encoding` option's default). Not handled: the `InvalidUtf8` escapes
//! (poof's names are UTF-8), and an S3 section with an `encoding` of its own.

/// The first Control Pictures symbol (for NUL).
const PICTURES: u32 = 0x2400;
/// The symbol of DEL.
const DEL_PICTURE: char = '\u{2421}';
/// rclone's quote before a literal symbol.
const QUOTE: char = '\u{201b}';
/// The FULLWIDTH SOLIDUS that stands for `/` inside a name.
const SLASH: char = '\u{ff0f}';
/// The FULLWIDTH FULL STOP that stands for a name `.` or `..`.
const DOT: char = '\u{ff0e}';

/// Which of rclone's encodings: `Standard` also encodes control characters
/// and DEL; the S3 and Linux local encodings (`Base`) do not.
#[derive(Clone, Copy)]
struct Encoding {
    ctl: bool,
}

const STANDARD: Encoding = Encoding { ctl: true };
const BASE: Encoding = Encoding { ctl: false };

impl Encoding {
    /// The symbol `c` is written as under this encoding, if any.
    fn symbol(self, c: char) -> Option<char> {
        match c {
            '\0' => Some('\u{2400}'),
            '/' => Some(SLASH),
            '\u{1}'..='\u{1f}' if self.ctl => char::from_u32(PICTURES + c as u32),
            '\u{7f}' if self.ctl => Some(DEL_PICTURE),
            _ => None,
        }
    }

    /// The character the symbol `c` stands for under this encoding, if it is one.
    fn unsymbol(self, c: char) -> Option<char> {
        match c {
            '\u{2400}' => Some('\0'),
            SLASH => Some('/'),
            '\u{2401}'..='\u{241f}' if self.ctl => char::from_u32(c as u32 - PICTURES),
            DEL_PICTURE if self.ctl => Some('\u{7f}'),
            _ => None,
        }
    }

    /// One raw name in this encoding (rclone's `Encode`).
    fn encode(self, raw: &str) -> String {
        match raw {
            "." => return DOT.to_string(),
            ".." => return [DOT, DOT].iter().collect(),
            "\u{ff0e}" => return [QUOTE, DOT].iter().collect(),
            "\u{ff0e}\u{ff0e}" => return [QUOTE, DOT, QUOTE, DOT].iter().collect(),
            _ => {}
        }
        let mut out = String::with_capacity(raw.len());
        for c in raw.chars() {
            if let Some(s) = self.symbol(c) {
                out.push(s);
            } else if c == QUOTE || self.unsymbol(c).is_some() {
                out.push(QUOTE);
                out.push(c);
            } else {
                out.push(c);
            }
        }
        out
    }

    /// One encoded name back to the raw name (rclone's `Decode`).
    fn decode(self, encoded: &str) -> String {
        match encoded {
            "\u{ff0e}" => return ".".to_string(),
            "\u{ff0e}\u{ff0e}" => return "..".to_string(),
            "\u{201b}\u{ff0e}" => return DOT.to_string(),
            "\u{201b}\u{ff0e}\u{201b}\u{ff0e}" => return [DOT, DOT].iter().collect(),
            _ => {}
        }
        let mut out = String::with_capacity(encoded.len());
        let mut quoted = false;
        for c in encoded.chars() {
            let unquote = std::mem::take(&mut quoted);
            if c == QUOTE && !unquote {
                quoted = true;
            } else if let Some(raw) = self.unsymbol(c).filter(|_| !unquote) {
                out.push(raw);
            } else {
                // A quote before a character that needs none is kept, as rclone does.
                if unquote && c != QUOTE && self.unsymbol(c).is_none() {
                    out.push(QUOTE);
                }
                out.push(c);
            }
        }
        if quoted {
            out.push(QUOTE);
        }
        out
    }
}

/// Each `/`-separated segment of `path` through `f`.
fn by_segment(path: &str, f: impl Fn(&str) -> String) -> String {
    path.split('/').map(f).collect::<Vec<_>>().join("/")
}

/// A stored key (or a Linux file name) in rclone's standard form
/// (`ToStandardPath`).
pub fn from_key(key: &str) -> String {
    by_segment(key, |s| STANDARD.encode(&BASE.decode(s)))
}

/// A path in rclone's standard form as its S3 backend stores it, and as its
/// local backend names the file on Linux (`FromStandardPath`).
pub fn to_key(name: &str) -> String {
    by_segment(name, |s| BASE.encode(&STANDARD.decode(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_their_symbols_trade_places() {
        assert_eq!(from_key("a\u{f}b\u{7f}"), "a\u{240f}b\u{2421}");
        assert_eq!(to_key("a\u{240f}b\u{2421}"), "a\u{f}b\u{7f}");
        for text in ["plain", "唸韹埛鞇悖䀿䗎\u{240f}ᑿ", "\u{241f}\u{2420}"] {
            assert_eq!(from_key(&to_key(text)), text);
        }
        // U+2420 (SP) is not a control character's symbol.
        assert_eq!(to_key("\u{2420}"), "\u{2420}");
    }

    #[test]
    fn literal_symbols_are_quoted_in_the_standard_form() {
        // A file named with a literal symbol keeps it, quoted in rclone's form.
        assert_eq!(from_key("a\u{240d}b"), "a\u{201b}\u{240d}b");
        assert_eq!(to_key("a\u{201b}\u{240d}b"), "a\u{240d}b");
        // NUL's symbol and the full-width solidus are quoted in both forms.
        assert_eq!(from_key("\u{201b}\u{2400}"), "\u{201b}\u{2400}");
        assert_eq!(to_key("\u{2400}"), "\u{2400}");
        assert_eq!(to_key("x\u{ff0f}y"), "x\u{ff0f}y");
        assert_eq!(STANDARD.decode("x\u{ff0f}y"), "x/y");
        // A quote before an ordinary character stays, and rclone's Linux
        // names quote every quote.
        assert_eq!(to_key("a\u{201b}b"), "a\u{201b}\u{201b}b");
        assert_eq!(STANDARD.encode("a\u{201b}b"), "a\u{201b}\u{201b}b");
        assert_eq!(STANDARD.decode("a\u{201b}\u{201b}b"), "a\u{201b}b");
        assert_eq!(STANDARD.decode("end\u{201b}"), "end\u{201b}");
    }

    #[test]
    fn dot_names_are_full_stops() {
        assert_eq!(STANDARD.encode("."), "\u{ff0e}");
        assert_eq!(STANDARD.encode(".."), "\u{ff0e}\u{ff0e}");
        assert_eq!(STANDARD.decode("\u{201b}\u{ff0e}"), "\u{ff0e}");
        assert_eq!(to_key("a/\u{ff0e}\u{ff0e}/b"), "a/\u{ff0e}\u{ff0e}/b");
        assert_eq!(from_key("a/.x/b"), "a/.x/b");
    }

    #[test]
    fn every_character_round_trips_through_both_forms() {
        let specials = [
            '\u{1}', '\u{d}', '\u{1f}', '\u{7f}', '\u{2400}', '\u{2401}', '\u{240d}', '\u{241f}',
            '\u{2421}', QUOTE, SLASH, DOT, 'a', '.', ' ',
        ];
        for a in specials {
            for b in specials {
                for c in specials {
                    let local: String = [a, b, c].iter().collect();
                    for enc in [STANDARD, BASE] {
                        let e = enc.encode(&local);
                        assert_eq!(enc.decode(&e), local, "{local:?} as {e:?}");
                    }
                    let std = STANDARD.encode(&local);
                    assert_eq!(STANDARD.decode(&std), local);
                }
            }
        }
    }
}
