//! JSON text exactly as Go's `encoding/json` writes it, for the kinds of
//! values the original's structs hold. The job hash is a digest of these
//! bytes, so every detail is Go's:
//! - strings escape `"`, `\`, `<`, `>`, `&`, U+2028 and U+2029
//!   (`Encoder.Encode` escapes HTML by default), and control characters
//!   as `\b`, `\f`, `\n`, `\r`, `\t` or `\u00XX` (the escapes of Go 1.22
//!   and later; earlier releases wrote `\u0008` and `\u000c`);
//! - floats use the shortest digits that read back as the same `float64`
//!   (the closest such, the even one of two as close), in `%f` form unless the magnitude is below 1e-6 or at least 1e21,
//!   then in `%e` form with a signed exponent of at least two digits,
//!   except that a negative one loses its leading zero (`1e-7`, `1e+21`);
//! - map keys are sorted by their bytes (a `BTreeMap<String, _>` already
//!   is), and a nil map or slice is `null`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Writes `text` as a Go JSON string.
pub fn string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let code = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(char::from(HEX[((code >> shift) & 0xf) as usize]));
                }
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

/// Writes a `float64` as Go's `encoding/json` does.
pub fn float(out: &mut String, value: f64) {
    let (negative, digits, exponent) = shortest_digits(value);
    if negative {
        out.push('-');
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        // `%e`: `d.ddde±XX`, at least two exponent digits, except that
        // encoding/json strips the zero of a negative one (`1e-7`).
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        if exponent < 0 {
            let _ = write!(out, "e-{}", -exponent);
        } else {
            let _ = write!(out, "e+{exponent:02}");
        }
    } else if exponent < 0 {
        // `%f` below 1: `0.000ddd`.
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
        out.push_str(&digits);
    } else {
        // `%f` from 1: the integer digits, padded with zeros, then the
        // fraction's, if any.
        let integer = exponent as usize + 1;
        if digits.len() <= integer {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', integer - digits.len()));
        } else {
            out.push_str(&digits[..integer]);
            out.push('.');
            out.push_str(&digits[integer..]);
        }
    }
}

/// The shortest decimal digits that read back as `value`, as Go chooses
/// them: the sign, the digits (no leading zero but for zero itself) and
/// the decimal exponent of the first. Rust's shortest form has as few
/// digits as Go's, but where two candidates are equally close to the
/// binary value (2247530364666752.25: `.2` or `.3`) it may take the other
/// one; Go takes the even one. Formatting exactly at that many digits
/// rounds half to even, as Go does.
fn shortest_digits(value: f64) -> (bool, String, i32) {
    let shortest = format!("{value:e}");
    let mantissa = shortest
        .split('e')
        .next()
        .expect("`{:e}` writes a mantissa");
    let count = mantissa.trim_start_matches('-').replace('.', "").len();
    let exact = format!("{:.*e}", count - 1, value);
    let (mantissa, exponent) = exact.split_once('e').expect("`{:e}` writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    let negative = mantissa.starts_with('-');
    let digits = mantissa.trim_start_matches('-').replace('.', "");
    (negative, digits, exponent)
}

/// Writes a map, or `null` for a nil one, its values written by `value`.
pub fn map<V>(
    out: &mut String,
    entries: Option<&BTreeMap<String, V>>,
    mut value: impl FnMut(&mut String, &V),
) {
    let Some(entries) = entries else {
        out.push_str("null");
        return;
    };
    out.push('{');
    for (i, (key, item)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, key);
        out.push(':');
        value(out, item);
    }
    out.push('}');
}

/// Writes a slice, or `null` for a nil one, its items written by `item`.
pub fn slice<T>(out: &mut String, items: Option<&[T]>, mut item: impl FnMut(&mut String, &T)) {
    let Some(items) = items else {
        out.push_str("null");
        return;
    };
    out.push('[');
    for (i, each) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item(out, each);
    }
    out.push(']');
}

/// An object being written: members are separated by commas, each
/// written as `"key":` and then its value by the caller.
pub struct Object<'a> {
    out: &'a mut String,
    members: usize,
}

impl<'a> Object<'a> {
    /// Opens an object.
    pub fn open(out: &'a mut String) -> Object<'a> {
        out.push('{');
        Object { out, members: 0 }
    }

    /// Starts member `key`; write its value into the returned string.
    pub fn member(&mut self, key: &str) -> &mut String {
        if self.members > 0 {
            self.out.push(',');
        }
        self.members += 1;
        string(self.out, key);
        self.out.push(':');
        self.out
    }

    /// Closes the object.
    pub fn close(self) {
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float_text(value: f64) -> String {
        let mut out = String::new();
        float(&mut out, value);
        out
    }

    #[test]
    fn floats_are_formatted_as_go_formats_them() {
        // Expected values are what Go's json.Marshal writes for each.
        for (value, go) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (0.5, "0.5"),
            (2.0, "2"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (0.000001, "0.000001"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.2345678901234569e23, "1.2345678901234569e+23"),
            (-2.5e-8, "-2.5e-8"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            // Halfway between two shortest candidates: Go takes the even.
            (2247530364666752.2, "2247530364666752.2"),
            (1621977556728281.2, "1621977556728281.2"),
            (0.000123, "0.000123"),
            (-1234.5, "-1234.5"),
            (9.999999999999999e20, "999999999999999900000"),
        ] {
            assert_eq!(float_text(value), go, "{value:e}");
        }
    }

    #[test]
    fn strings_escape_what_go_escapes() {
        let mut out = String::new();
        string(
            &mut out,
            "a\"b\\c<d>&e\u{2028}\u{2029}\n\r\t\u{8}\u{c}\u{1}\u{7f}é€",
        );
        assert_eq!(
            out,
            r#""a\"b\\c\u003cd\u003e\u0026e\u2028\u2029\n\r\t\b\f\u0001"#.to_owned() + "\u{7f}é€\""
        );
    }

    #[test]
    fn nil_collections_are_null_and_maps_sorted() {
        let mut out = String::new();
        map::<u16>(&mut out, None, |_, _| {});
        slice::<u16>(&mut out, None, |_, _| {});
        let entries: BTreeMap<String, u16> = [
            ("b".to_owned(), 2),
            ("B".to_owned(), 1),
            ("a".to_owned(), 0),
        ]
        .into();
        map(&mut out, Some(&entries), |out, v| {
            out.push_str(&v.to_string())
        });
        slice(&mut out, Some(&[1u8, 2][..]), |out, v| {
            out.push_str(&v.to_string())
        });
        assert_eq!(out, r#"nullnull{"B":1,"a":0,"b":2}[1,2]"#);
    }
}
