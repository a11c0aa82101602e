//! Go's formatting of values, reproduced where Kyverno's results depend on it: `fmt.Sprint` (used by the
//! set operators), `encoding/json` (used when a variable is embedded in a string) and `strconv` float formats.
use serde_json::Value;
use std::fmt::Write;

/// The shortest decimal digits of `f` and its decimal exponent, as in `d.ddd × 10^exp`.
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse().unwrap_or(0))
}

fn exponent_form(f: f64, upper: bool) -> String {
    let (digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if f.is_sign_negative() && f != 0.0 {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.abs());
    out
}

fn plain_form(f: f64) -> String {
    // Rust's Display prints the shortest round-trip digits without an exponent, like Go's 'f' with -1.
    let s = format!("{f}");
    if s == "-0" { "0".to_string() } else { s }
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf".into() } else { "-Inf".into() })
    } else {
        None
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`, which is also what `fmt.Sprint(f)` prints.
pub fn format_g(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    if f == 0.0 {
        return "0".into();
    }
    let (_, exp) = shortest_digits(f);
    if !(-4..6).contains(&exp) { exponent_form(f, false) } else { plain_form(f) }
}

/// `strconv.FormatFloat(f, 'E', -1, 64)`.
pub fn format_upper_e(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    if f == 0.0 {
        return "0E+00".into();
    }
    exponent_form(f, true)
}

/// `fmt.Sprintf("%f", f)`.
pub fn format_f6(f: f64) -> String {
    format!("{f:.6}")
}

/// How `encoding/json` writes a float64.
pub fn format_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = exponent_form(f, false);
        // encoding/json trims "e-07" to "e-7".
        if let Some(pos) = s.find("e-0") {
            return format!("{}e-{}", &s[..pos], &s[pos + 3..]);
        }
        return s;
    }
    plain_form(f)
}

/// A JSON number as Go would format it after decoding into `interface{}` (always a float64).
pub fn number_go(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() < (1u64 << 53)
    {
        return format_g_int(i);
    }
    format_g(n.as_f64().unwrap_or(0.0))
}

fn format_g_int(i: i64) -> String {
    // Integral float64 values print in %g form: exponent form from 1e21 only for 'f', but %v switches at 1e6.
    format_g(i as f64)
}

/// `fmt.Sprint(v)` for a decoded JSON value.
pub fn sprint(v: &Value) -> String {
    let mut out = String::new();
    sprint_into(v, &mut out);
    out
}

fn sprint_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_go(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                sprint_into(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            for (i, (k, item)) in sorted_entries(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                sprint_into(item, out);
            }
            out.push(']');
        }
    }
}

/// Go prints and marshals maps in key order; serde_json's map keeps insertion order when another crate in
/// the build turns on its `preserve_order` feature, so the order is imposed here.
fn sorted_entries(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

/// `json.Marshal(v)` with Go's defaults: sorted keys, HTML-safe escaping, float64 numbers.
pub fn json_marshal(v: &Value) -> String {
    let mut out = String::new();
    json_into(v, &mut out);
    out
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i.unsigned_abs() < (1u64 << 53) => {
                let _ = write!(out, "{i}");
            }
            _ => out.push_str(&format_json_float(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) => json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_into(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in sorted_entries(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                json_into(item, out);
            }
            out.push('}');
        }
    }
}

/// A number value from an f64, kept integral when it is (so that JSON output stays `3`, not `3.0`).
pub fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_floats_like_go() {
        let cases: &[(f64, &str, &str, &str)] = &[
            (3.0, "3", "3E+00", "3"),
            (1.5, "1.5", "1.5E+00", "1.5"),
            (1e6, "1e+06", "1E+06", "1000000"),
            (123456.0, "123456", "1.23456E+05", "123456"),
            (0.0001, "0.0001", "1E-04", "0.0001"),
            (0.00001, "1e-05", "1E-05", "0.00001"),
            (1e-7, "1e-07", "1E-07", "1e-7"),
            (1e21, "1e+21", "1E+21", "1e+21"),
            (-2.25, "-2.25", "-2.25E+00", "-2.25"),
        ];
        for (f, g, e, j) in cases {
            assert_eq!(format_g(*f), *g, "g {f}");
            assert_eq!(format_upper_e(*f), *e, "E {f}");
            assert_eq!(format_json_float(*f), *j, "json {f}");
        }
    }

    #[test]
    fn sprints_and_marshals_like_go() {
        let v = json!({"b": [1, "x", true], "a": null});
        assert_eq!(sprint(&v), "map[a:<nil> b:[1 x true]]");
        assert_eq!(json_marshal(&v), r#"{"a":null,"b":[1,"x",true]}"#);
        assert_eq!(json_marshal(&json!("<a&b>")), r#""\u003ca\u0026b\u003e""#);
    }
}
