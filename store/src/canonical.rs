//! Canonical JSON: one byte sequence per JSON value, so that a hash over it is reproducible.
//!
//! The form:
//! - no whitespace anywhere;
//! - object members sorted by their keys' UTF-8 bytes (duplicate keys cannot occur in a parsed value);
//! - arrays in their order;
//! - strings escaped only where JSON requires it: `"` and `\` as `\"` and `\\`, the control characters
//!   U+0000–U+001F as `\b \f \n \r \t` or `\u00XX` (lowercase hex); everything else is written as UTF-8;
//! - integers in plain decimal; other numbers in the shortest form that reads back to the same f64
//!   (as serde_json writes them);
//! - `true`, `false`, `null`.
//!
//! For ASCII keys this is the key order of RFC 8785 (JCS); numbers that are not integers may differ from JCS
//! in exponent notation, which medic does not need.
use serde_json::Value;

/// Appends the canonical form of `value` to `out`.
pub fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_scalar(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            // serde_json may keep insertion order (its `preserve_order` feature), so sort explicitly.
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(key, out);
                out.push(b':');
                write(&members[key], out);
            }
            out.push(b'}');
        }
    }
}

/// The canonical form of `value` as a string.
pub fn to_string(value: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    write(value, &mut out);
    // Every piece written above is valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    write_scalar(s, out);
}

fn write_scalar<T: serde::Serialize + ?Sized>(scalar: &T, out: &mut Vec<u8>) {
    // Writing a string or number into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, scalar);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_forms() {
        let cases = [
            (json!(null), "null"),
            (json!({"b": 1, "a": [true, false, null], "A": "x"}), r#"{"A":"x","a":[true,false,null],"b":1}"#),
            (json!({"z": {"y": 2, "x": 1}}), r#"{"z":{"x":1,"y":2}}"#),
            (json!("tab\tquote\"slash\\/ é\u{1}"), r#""tab\tquote\"slash\\/ é\u0001""#),
            (json!(0.1), "0.1"),
            (json!(-3), "-3"),
            (json!(18446744073709551615u64), "18446744073709551615"),
            (json!(1e300), "1e+300"),
            (json!({"é": 1, "e": 2, "f": 3}), r#"{"e":2,"f":3,"é":1}"#),
        ];
        for (value, expected) in cases {
            assert_eq!(to_string(&value), expected, "canonical form of {value}");
        }
    }

    #[test]
    fn the_form_does_not_depend_on_how_the_value_was_written() {
        let a: Value = serde_json::from_str(r#"{ "b" : [1, 2], "a" : {"d": 0.5, "c": "x"} }"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"c":"x","d":0.5},"b":[1,2]}"#).unwrap();
        assert_eq!(to_string(&a), to_string(&b));
        let reparsed: Value = serde_json::from_str(&to_string(&a)).unwrap();
        assert_eq!(to_string(&reparsed), to_string(&a));
    }
}
