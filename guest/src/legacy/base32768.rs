//! base32768, one of rclone crypt's name encodings (`filename_encoding =
//! base32768`): 15 bits per UTF-16 code unit, for remotes that count a
//! name's length in UTF-16 units or characters.
//!
//! rclone uses github.com/Max-Sum/base32768's `SafeEncoding`, which is
//! qntm's base32768 repertoire (docs/RCLONE-CRYPT.md, "Names"): 1,028 blocks
//! of 32 consecutive code points, named by their first code point below. In
//! code point order, the first 4 blocks carry 7 bits (the last character of
//! some encodings), the other 1,024 carry 15. Bytes are read as one stream of
//! bits, most significant first; a last group of 1 to 7 bits is padded with
//! 1s to 7 bits, a last group of 8 to 14 bits is padded with 1s to 15 bits.
//! The one Rust crate (`base32768` 0.1) needs a nightly compiler and is not
//! kept up, so the codec is written here (docs/DEPENDENCIES.md).
//!
//! Invariant: [`decode`] accepts only the spelling [`encode`] produces (the
//! padding bits all 1s, a 7-bit character only at the end), so each byte
//! string has exactly one encoded name.

use std::sync::OnceLock;

/// The first code point of each block, in code point order.
const REPERTOIRE: &str = concat!(
    "ƀɀɠʀҠԀڀڠݠހ߀ကႠᄀᄠᅀᆀᇠሀሠበዠጠᎠᏀᐠᑀᑠᒀᒠᓀᓠ",
    "ᔀᔠᕀᕠᖀᖠᗀᗠᘀᘠᙀᚠᛀកᠠᡀᣀᦀ᧠ᨠᯀᰀᴀ⇠⋀⍀⍠⎀⎠⏀␀─",
    "┠╀╠▀■◀◠☀☠♀♠⚀⚠⛀⛠✀✠❀➀➠⠀⠠⡀⡠⢀⢠⣀⣠⤀⤠⥀⥠",
    "⦠⨠⩀⪀⪠⫠⬀⬠⭀ⰀⲀⲠⳀⴀⵀ⺠⻀㇀㐀㐠㑀㑠㒀㒠㓀㓠㔀㔠㕀㕠㖀㖠",
    "㗀㗠㘀㘠㙀㙠㚀㚠㛀㛠㜀㜠㝀㝠㞀㞠㟀㟠㠀㠠㡀㡠㢀㢠㣀㣠㤀㤠㥀㥠㦀㦠",
    "㧀㧠㨀㨠㩀㩠㪀㪠㫀㫠㬀㬠㭀㭠㮀㮠㯀㯠㰀㰠㱀㱠㲀㲠㳀㳠㴀㴠㵀㵠㶀㶠",
    "㷀㷠㸀㸠㹀㹠㺀㺠㻀㻠㼀㼠㽀㽠㾀㾠㿀㿠䀀䀠䁀䁠䂀䂠䃀䃠䄀䄠䅀䅠䆀䆠",
    "䇀䇠䈀䈠䉀䉠䊀䊠䋀䋠䌀䌠䍀䍠䎀䎠䏀䏠䐀䐠䑀䑠䒀䒠䓀䓠䔀䔠䕀䕠䖀䖠",
    "䗀䗠䘀䘠䙀䙠䚀䚠䛀䛠䜀䜠䝀䝠䞀䞠䟀䟠䠀䠠䡀䡠䢀䢠䣀䣠䤀䤠䥀䥠䦀䦠",
    "䧀䧠䨀䨠䩀䩠䪀䪠䫀䫠䬀䬠䭀䭠䮀䮠䯀䯠䰀䰠䱀䱠䲀䲠䳀䳠䴀䴠䵀䵠䶀䷀",
    "䷠一丠乀习亀亠什仠伀传佀你侀侠俀俠倀倠偀偠傀傠僀僠儀儠兀兠冀冠净",
    "几刀删剀剠劀加勀勠匀匠區占厀厠叀叠吀吠呀呠咀咠哀哠唀唠啀啠喀喠嗀",
    "嗠嘀嘠噀噠嚀嚠囀因圀圠址坠垀垠埀埠堀堠塀塠墀墠壀壠夀夠奀奠妀妠姀",
    "姠娀娠婀婠媀媠嫀嫠嬀嬠孀孠宀宠寀寠尀尠局屠岀岠峀峠崀崠嵀嵠嶀嶠巀",
    "巠帀帠幀幠庀庠廀廠开张彀彠往徠忀忠怀怠恀恠悀悠惀惠愀愠慀慠憀憠懀",
    "懠戀戠所扠技抠拀拠挀挠捀捠掀掠揀揠搀搠摀摠撀撠擀擠攀攠敀敠斀斠旀",
    "无昀映晀晠暀暠曀曠最朠杀杠枀枠柀柠栀栠桀桠梀梠检棠椀椠楀楠榀榠槀",
    "槠樀樠橀橠檀檠櫀櫠欀欠歀歠殀殠毀毠氀氠汀池沀沠泀泠洀洠浀浠涀涠淀",
    "淠渀渠湀湠満溠滀滠漀漠潀潠澀澠激濠瀀瀠灀灠炀炠烀烠焀焠煀煠熀熠燀",
    "燠爀爠牀牠犀犠狀狠猀猠獀獠玀玠珀珠琀琠瑀瑠璀璠瓀瓠甀甠畀畠疀疠痀",
    "痠瘀瘠癀癠皀皠盀盠眀眠着睠瞀瞠矀矠砀砠础硠碀碠磀磠礀礠祀祠禀禠秀",
    "秠稀稠穀穠窀窠竀章笀笠筀筠简箠節篠簀簠籀籠粀粠糀糠紀素絀絠綀綠緀",
    "締縀縠繀繠纀纠绀绠缀缠罀罠羀羠翀翠耀耠聀聠肀肠胀胠脀脠腀腠膀膠臀",
    "臠舀舠艀艠芀芠苀苠茀茠荀荠莀莠菀菠萀萠葀葠蒀蒠蓀蓠蔀蔠蕀蕠薀薠藀",
    "藠蘀蘠虀虠蚀蚠蛀蛠蜀蜠蝀蝠螀螠蟀蟠蠀蠠血衠袀袠裀裠褀褠襀襠覀覠觀",
    "觠言訠詀詠誀誠諀諠謀謠譀譠讀讠诀诠谀谠豀豠貀負賀賠贀贠赀赠趀趠跀",
    "跠踀踠蹀蹠躀躠軀軠輀輠轀轠辀辠迀迠退造遀遠邀邠郀郠鄀鄠酀酠醀醠釀",
    "釠鈀鈠鉀鉠銀銠鋀鋠錀錠鍀鍠鎀鎠鏀鏠鐀鐠鑀鑠钀钠铀铠销锠镀镠門閠闀",
    "闠阀阠陀陠隀隠雀雠需霠靀靠鞀鞠韀韠頀頠顀顠颀颠飀飠餀餠饀饠馀馠駀",
    "駠騀騠驀驠骀骠髀髠鬀鬠魀魠鮀鮠鯀鯠鰀鰠鱀鱠鲀鲠鳀鳠鴀鴠鵀鵠鶀鶠鷀",
    "鷠鸀鸠鹀鹠麀麠黀黠鼀鼠齀齠龀龠ꀀꀠꁀꁠꂀꂠꃀꃠꄀꄠꅀꅠꆀꆠꇀꇠꈀ",
    "ꈠꉀꉠꊀꊠꋀꋠꌀꌠꍀꍠꎀꎠꏀꏠꐀꐠꑀꑠ꒠ꔀꔠꕀꕠꖀꖠꗀꗠꙀꚠꛀ꜀",
    "꜠ꝀꞀꡀ",
);

/// How many of the first blocks carry 7 bits.
const SEVEN_BIT_BLOCKS: usize = 4;

/// The repertoire, indexed both ways.
struct Tables {
    /// First code point of the block of each 15-bit value's upper 10 bits.
    fifteen: [u16; 1024],
    /// First code point of the block of each 7-bit value's upper 2 bits.
    seven: [u16; SEVEN_BIT_BLOCKS],
    /// For a code point's upper 11 bits: whether its block carries 7 bits,
    /// and the block's index.
    blocks: [Option<(bool, u16)>; 2048],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = Tables {
            fifteen: [0; 1024],
            seven: [0; SEVEN_BIT_BLOCKS],
            blocks: [None; 2048],
        };
        for (i, c) in REPERTOIRE.chars().enumerate() {
            // Every block start is a BMP code point that is a multiple of 32
            // (a test checks the repertoire).
            let start = c as u32 as u16;
            let seven = i < SEVEN_BIT_BLOCKS;
            let index = if seven { i } else { i - SEVEN_BIT_BLOCKS };
            if seven {
                t.seven[index] = start;
            } else {
                t.fifteen[index] = start;
            }
            t.blocks[usize::from(start >> 5)] = Some((seven, index as u16));
        }
        t
    })
}

/// The character for a value of `bits` bits (7 or 15).
fn symbol(t: &Tables, value: u32, seven: bool) -> char {
    let start = if seven {
        t.seven[(value >> 5) as usize]
    } else {
        t.fifteen[(value >> 5) as usize]
    };
    char::from_u32(u32::from(start) | (value & 31))
        .expect("the repertoire holds BMP code points outside the surrogates")
}

/// Encodes `bytes` as base32768.
pub fn encode(bytes: &[u8]) -> String {
    let t = tables();
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(15) * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        if bits >= 15 {
            bits -= 15;
            out.push(symbol(t, (acc >> bits) & 0x7fff, false));
            acc &= (1 << bits) - 1;
        }
    }
    if bits > 0 {
        let width = if bits <= 7 { 7 } else { 15 };
        let pad = width - bits;
        let value = ((acc & ((1 << bits) - 1)) << pad) | ((1 << pad) - 1);
        out.push(symbol(t, value, width == 7));
    }
    out
}

/// Decodes base32768, refusing anything [`encode`] would not write.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    let t = tables();
    let mut out = Vec::with_capacity(text.len() * 15 / 24);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut chars = text.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let block = u16::try_from(u32::from(c))
            .ok()
            .and_then(|cp| t.blocks[usize::from(cp >> 5)]);
        let Some((seven, index)) = block else {
            return Err(format!("character {} is not base32768", i + 1));
        };
        if seven && chars.peek().is_some() {
            return Err(format!("character {} may only end a base32768 text", i + 1));
        }
        let width = if seven { 7 } else { 15 };
        acc = (acc << width) | (u32::from(index) << 5) | (u32::from(c) & 31);
        bits += width;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if encode(&out) != text {
        return Err(
            "the text is not base32768 as rclone writes it (its padding bits are not all 1s)"
                .into(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repertoire_is_1028_sorted_block_starts_in_the_bmp() {
        let starts: Vec<u32> = REPERTOIRE.chars().map(u32::from).collect();
        assert_eq!(starts.len(), 1024 + SEVEN_BIT_BLOCKS);
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        for s in starts {
            assert_eq!(s % 32, 0, "{s:#x} starts a block of 32");
            assert!(s + 31 < 0xd800 || (0xe000..0x10000).contains(&s), "{s:#x}");
        }
    }

    #[test]
    fn every_length_round_trips_and_only_the_canonical_spelling_decodes() {
        for len in 0usize..64 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = encode(&bytes);
            assert_eq!(text.chars().count(), (len * 8).div_ceil(15));
            assert_eq!(decode(&text).unwrap(), bytes);
            // Clearing a padding bit of the last character spells the same
            // bytes another way: refused.
            let rest = (len * 8) % 15;
            if let Some(last) = text.chars().last()
                && rest != 0
                && rest != 7
            {
                let other = char::from_u32(u32::from(last) & !1).unwrap();
                let mut changed: String = text.chars().take(text.chars().count() - 1).collect();
                changed.push(other);
                assert!(decode(&changed).is_err(), "{len}: {changed:?}");
            }
        }
    }

    #[test]
    fn foreign_characters_and_a_7_bit_character_inside_are_refused() {
        assert!(decode("!").is_err());
        assert!(decode("a").is_err());
        assert!(decode("\u{1f600}").is_err());
        // `ʟ` (U+029F) is in a 7-bit block: only at the end.
        assert!(decode("ʟ㼿").is_err());
    }
}
