//! IBM code page 037 (EBCDIC, US/Canada), the code page of most mainframe
//! files sent to ferry. Only decoding is needed: the checks of zoned and
//! packed decimal look at nibbles, and the text is decoded only to show a
//! bad value in a reason a person reads.

/// The Unicode character of each cp037 byte (the same table as Python's and
/// ICU's `cp037`). Rows are the high nibble, as in IBM's code charts.
#[rustfmt::skip]
const CP037: [char; 256] = [
    '\u{00}', '\u{01}', '\u{02}', '\u{03}', '\u{9c}', '\u{09}', '\u{86}', '\u{7f}', '\u{97}', '\u{8d}', '\u{8e}', '\u{0b}', '\u{0c}', '\u{0d}', '\u{0e}', '\u{0f}', // 00
    '\u{10}', '\u{11}', '\u{12}', '\u{13}', '\u{9d}', '\u{85}', '\u{08}', '\u{87}', '\u{18}', '\u{19}', '\u{92}', '\u{8f}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{1f}', // 10
    '\u{80}', '\u{81}', '\u{82}', '\u{83}', '\u{84}', '\u{0a}', '\u{17}', '\u{1b}', '\u{88}', '\u{89}', '\u{8a}', '\u{8b}', '\u{8c}', '\u{05}', '\u{06}', '\u{07}', // 20
    '\u{90}', '\u{91}', '\u{16}', '\u{93}', '\u{94}', '\u{95}', '\u{96}', '\u{04}', '\u{98}', '\u{99}', '\u{9a}', '\u{9b}', '\u{14}', '\u{15}', '\u{9e}', '\u{1a}', // 30
    ' ', '\u{a0}', '\u{e2}', '\u{e4}', '\u{e0}', '\u{e1}', '\u{e3}', '\u{e5}', '\u{e7}', '\u{f1}', '\u{a2}', '.', '<', '(', '+', '|', // 40
    '&', '\u{e9}', '\u{ea}', '\u{eb}', '\u{e8}', '\u{ed}', '\u{ee}', '\u{ef}', '\u{ec}', '\u{df}', '!', '$', '*', ')', ';', '\u{ac}', // 50
    '-', '/', '\u{c2}', '\u{c4}', '\u{c0}', '\u{c1}', '\u{c3}', '\u{c5}', '\u{c7}', '\u{d1}', '\u{a6}', ',', '%', '_', '>', '?', // 60
    '\u{f8}', '\u{c9}', '\u{ca}', '\u{cb}', '\u{c8}', '\u{cd}', '\u{ce}', '\u{cf}', '\u{cc}', '`', ':', '#', '@', '\'', '=', '"', // 70
    '\u{d8}', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', '\u{ab}', '\u{bb}', '\u{f0}', '\u{fd}', '\u{fe}', '\u{b1}', // 80
    '\u{b0}', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', '\u{aa}', '\u{ba}', '\u{e6}', '\u{b8}', '\u{c6}', '\u{a4}', // 90
    '\u{b5}', '~', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', '\u{a1}', '\u{bf}', '\u{d0}', '\u{dd}', '\u{de}', '\u{ae}', // A0
    '^', '\u{a3}', '\u{a5}', '\u{b7}', '\u{a9}', '\u{a7}', '\u{b6}', '\u{bc}', '\u{bd}', '\u{be}', '[', ']', '\u{af}', '\u{a8}', '\u{b4}', '\u{d7}', // B0
    '{', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', '\u{ad}', '\u{f4}', '\u{f6}', '\u{f2}', '\u{f3}', '\u{f5}', // C0
    '}', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', '\u{b9}', '\u{fb}', '\u{fc}', '\u{f9}', '\u{fa}', '\u{ff}', // D0
    '\\', '\u{f7}', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', '\u{b2}', '\u{d4}', '\u{d6}', '\u{d2}', '\u{d3}', '\u{d5}', // E0
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '\u{b3}', '\u{db}', '\u{dc}', '\u{d9}', '\u{da}', '\u{9f}', // F0
];

/// The character a cp037 byte stands for.
pub fn decode_byte(byte: u8) -> char {
    CP037[usize::from(byte)]
}

/// The cp037 byte of a character, for building test data and fixtures; a
/// character that cp037 does not have is a mistake in the caller's data.
#[cfg(test)]
pub fn encode(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| {
            let at = CP037.iter().position(|&d| d == c);
            u8::try_from(at.unwrap_or_else(|| panic!("{c:?} is not in cp037"))).unwrap()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_a_bijection() {
        let mut seen = std::collections::HashSet::new();
        for byte in 0..=255u8 {
            assert!(
                seen.insert(decode_byte(byte)),
                "{byte:02X} decodes to a character twice"
            );
            assert_eq!(encode(&decode_byte(byte).to_string()), vec![byte]);
        }
    }

    #[test]
    fn the_landmarks_of_cp037() {
        assert_eq!(decode_byte(0x40), ' ');
        assert_eq!(decode_byte(0xC1), 'A');
        assert_eq!(decode_byte(0xD1), 'J');
        assert_eq!(decode_byte(0xE2), 'S');
        assert_eq!(decode_byte(0x81), 'a');
        assert_eq!(decode_byte(0xF0), '0');
        assert_eq!(decode_byte(0xF9), '9');
        assert_eq!(decode_byte(0xC0), '{');
        assert_eq!(decode_byte(0xD0), '}');
        assert_eq!(decode_byte(0x4E), '+');
        assert_eq!(decode_byte(0x60), '-');
        assert_eq!(decode_byte(0x25), '\n');
        assert_eq!(decode_byte(0x15), '\u{85}');
        assert_eq!(
            encode("CUST 01"),
            [0xC3, 0xE4, 0xE2, 0xE3, 0x40, 0xF0, 0xF1]
        );
    }
}
