//! rclone's names in S3 keys.
//!
//! rclone handles names in its "standard" encoding, where a control
//! character is written as its Control Pictures symbol (U+2400 + c for
//! 0x00–0x1F, U+2421 for DEL). Its S3 backend's default encoding (`Slash,
//! InvalidUtf8, Dot`) does not encode control characters, so it turns those
//! symbols back into the control characters themselves in the key it
//! stores. A crypt name in base32768 uses some of those symbols as digits,
//! so its S3 key holds control characters. Sources: rclone
//! `lib/encoder/encoder.go` (`EncodeCtl`, `EncodeDel`, `Standard`,
//! `FromStandardName`, `ToStandardName`) and `backend/s3/s3.go` (the
//! `encoding` option's default).
//!
//! Not handled: rclone's quote character (U+201B) before a literal symbol,
//! which only names with literal Control Pictures symbols get (no crypt
//! encoding writes one), and an S3 section with an `encoding` of its own.

/// The first Control Pictures symbol (for 0x00).
const PICTURES: u32 = 0x2400;
/// The symbol of DEL.
const DEL_PICTURE: char = '\u{2421}';

/// A stored key in rclone's standard form: control characters as their symbols.
pub fn from_key(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{0}'..='\u{1f}' => {
                char::from_u32(PICTURES + c as u32).expect("a Control Pictures symbol")
            }
            '\u{7f}' => DEL_PICTURE,
            c => c,
        })
        .collect()
}

/// A name in rclone's standard form as its S3 backend stores it: the symbols as control characters.
pub fn to_key(name: &str) -> String {
    name.chars()
        .map(|c| match c as u32 {
            n @ PICTURES..=0x241f => {
                char::from_u32(n - PICTURES).expect("an ASCII control character")
            }
            _ if c == DEL_PICTURE => '\u{7f}',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_their_symbols_trade_places() {
        assert_eq!(from_key("a\u{f}b\u{0}\u{7f}"), "a\u{240f}b\u{2400}\u{2421}");
        assert_eq!(to_key("a\u{240f}b\u{2400}\u{2421}"), "a\u{f}b\u{0}\u{7f}");
        for text in ["plain", "唸韹埛鞇悖䀿䗎\u{240f}ᑿ", "\u{241f}\u{2420}"] {
            assert_eq!(from_key(&to_key(text)), text);
        }
        // U+2420 (SP) is not a control character's symbol.
        assert_eq!(to_key("\u{2420}"), "\u{2420}");
    }
}
