//! Kyverno's `time_*` functions. Times are RFC 3339 strings unless a Go layout is given.
use super::functions::{Arg, arity, string};
use super::{JpError, JpResult, runtime};
use crate::duration;
use jiff::{Timestamp, tz::TimeZone};
use serde_json::Value;

/// A point in time with the UTC offset it was written with.
#[derive(Debug, Clone, Copy)]
struct Time {
    at: Timestamp,
    offset_seconds: i32,
}

fn parse_rfc3339(name: &str, s: &str) -> JpResult<Time> {
    let pieces =
        jiff::fmt::temporal::Pieces::parse(s).or_else(|e| runtime(format!("{name}(): invalid time {s:?}: {e}")))?;
    let offset_seconds = match pieces.offset() {
        Some(jiff::fmt::temporal::PiecesOffset::Numeric(n)) => n.offset().seconds(),
        _ => 0,
    };
    let at: Timestamp = s.parse().or_else(|e| runtime(format!("{name}(): invalid time {s:?}: {e}")))?;
    Ok(Time { at, offset_seconds })
}

/// Converts a Go reference-time layout (`2006-01-02T15:04:05Z07:00`) to a strftime format.
fn go_layout_to_strftime(layout: &str) -> String {
    const TOKENS: &[(&str, &str)] = &[
        ("January", "%B"),
        ("Monday", "%A"),
        ("2006", "%Y"),
        ("Z07:00", "%:z"),
        ("-07:00", "%:z"),
        ("Z0700", "%z"),
        ("-0700", "%z"),
        ("Jan", "%b"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("01", "%m"),
        ("02", "%d"),
        ("_2", "%e"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("06", "%y"),
        ("PM", "%p"),
        (".000000000", ".%f"),
        (".000000", ".%f"),
        (".000", ".%f"),
        ("1", "%m"),
        ("2", "%d"),
        ("3", "%I"),
        ("4", "%M"),
        ("5", "%S"),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (token, spec) in TOKENS {
            if let Some(r) = rest.strip_prefix(token) {
                out.push_str(spec);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn parse_layout(name: &str, layout: &str, s: &str) -> JpResult<Time> {
    if layout.is_empty() || layout == "2006-01-02T15:04:05Z07:00" {
        return parse_rfc3339(name, s);
    }
    let format = go_layout_to_strftime(layout);
    let fail = |e: jiff::Error| JpError::Runtime(format!("{name}(): cannot parse {s:?} with layout {layout:?}: {e}"));
    let parsed = jiff::fmt::strtime::parse(&format, s).map_err(fail)?;
    if let Ok(z) = parsed.to_zoned() {
        return Ok(Time { at: z.timestamp(), offset_seconds: z.offset().seconds() });
    }
    let dt = parsed.to_datetime().map_err(fail)?;
    let z = dt.to_zoned(TimeZone::UTC).map_err(fail)?;
    Ok(Time { at: z.timestamp(), offset_seconds: 0 })
}

fn format_rfc3339(t: Time) -> String {
    let offset = jiff::tz::Offset::from_seconds(t.offset_seconds).unwrap_or(jiff::tz::Offset::UTC);
    let z = t.at.to_zoned(TimeZone::fixed(offset));
    let text = z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    match text.strip_suffix("+00:00") {
        Some(base) => format!("{base}Z"),
        None => text,
    }
}

fn now() -> Time {
    Time { at: Timestamp::now(), offset_seconds: 0 }
}

fn nanos_between(a: Time, b: Time) -> i64 {
    let d = b.at.as_nanosecond() - a.at.as_nanosecond();
    d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn dur(name: &str, s: &str) -> JpResult<i64> {
    duration::parse(s).map_or_else(|| runtime(format!("{name}(): invalid duration {s:?}")), Ok)
}

pub fn call(name: &str, a: &[Arg]) -> JpResult<Value> {
    let t = |i: usize| parse_rfc3339(name, string(name, a, i)?);
    match name {
        "time_now" | "time_now_utc" => {
            arity(name, a, 0, Some(0))?;
            Ok(Value::String(format_rfc3339(now())))
        }
        "time_since" => {
            arity(name, a, 3, Some(3))?;
            let layout = string(name, a, 0)?;
            let start = parse_layout(name, layout, string(name, a, 1)?)?;
            let end_text = string(name, a, 2)?;
            let end = if end_text.is_empty() { now() } else { parse_layout(name, layout, end_text)? };
            Ok(Value::String(duration::format(nanos_between(start, end))))
        }
        "time_add" => {
            arity(name, a, 2, Some(2))?;
            let start = t(0)?;
            let d = dur(name, string(name, a, 1)?)?;
            let at = Timestamp::from_nanosecond(start.at.as_nanosecond() + i128::from(d))
                .or_else(|e| runtime(format!("{name}(): {e}")))?;
            Ok(Value::String(format_rfc3339(Time { at, ..start })))
        }
        "time_parse" => {
            arity(name, a, 2, Some(2))?;
            Ok(Value::String(format_rfc3339(parse_layout(name, string(name, a, 0)?, string(name, a, 1)?)?)))
        }
        "time_to_cron" => {
            arity(name, a, 1, Some(1))?;
            let time = t(0)?;
            let offset = jiff::tz::Offset::from_seconds(time.offset_seconds).unwrap_or(jiff::tz::Offset::UTC);
            let z = time.at.to_zoned(TimeZone::fixed(offset));
            let weekday = z.weekday().to_sunday_zero_offset();
            Ok(Value::String(format!("{} {} {} {} {}", z.minute(), z.hour(), z.day(), z.month(), weekday)))
        }
        "time_utc" => {
            arity(name, a, 1, Some(1))?;
            let time = t(0)?;
            Ok(Value::String(format_rfc3339(Time { offset_seconds: 0, ..time })))
        }
        "time_diff" => {
            arity(name, a, 2, Some(2))?;
            Ok(Value::String(duration::format(nanos_between(t(0)?, t(1)?))))
        }
        "time_before" => {
            arity(name, a, 2, Some(2))?;
            Ok(Value::Bool(t(0)?.at < t(1)?.at))
        }
        "time_after" => {
            arity(name, a, 2, Some(2))?;
            Ok(Value::Bool(t(0)?.at > t(1)?.at))
        }
        "time_between" => {
            arity(name, a, 3, Some(3))?;
            let (x, start, end) = (t(0)?, t(1)?, t(2)?);
            Ok(Value::Bool(x.at > start.at && x.at < end.at))
        }
        "time_truncate" => {
            arity(name, a, 2, Some(2))?;
            let time = t(0)?;
            let d = i128::from(dur(name, string(name, a, 1)?)?);
            if d <= 0 {
                return Ok(Value::String(format_rfc3339(time)));
            }
            let n = time.at.as_nanosecond();
            let at = Timestamp::from_nanosecond(n - n.rem_euclid(d)).or_else(|e| runtime(format!("{name}(): {e}")))?;
            Ok(Value::String(format_rfc3339(Time { at, ..time })))
        }
        other => runtime(format!("unknown function: {other}()")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Arg {
        Arg::Value(Value::String(v.into()))
    }

    #[test]
    fn time_functions_table() {
        let cases: Vec<(&str, Vec<Arg>, Value)> = vec![
            ("time_add", vec![s("2023-01-01T00:00:00Z"), s("1h30m")], Value::from("2023-01-01T01:30:00Z")),
            ("time_diff", vec![s("2023-01-01T00:00:00Z"), s("2023-01-01T02:00:00Z")], Value::from("2h0m0s")),
            ("time_utc", vec![s("2023-01-01T02:00:00+02:00")], Value::from("2023-01-01T00:00:00Z")),
            ("time_before", vec![s("2023-01-01T00:00:00Z"), s("2023-01-02T00:00:00Z")], Value::Bool(true)),
            ("time_after", vec![s("2023-01-01T00:00:00Z"), s("2023-01-02T00:00:00Z")], Value::Bool(false)),
            (
                "time_between",
                vec![s("2023-01-01T12:00:00Z"), s("2023-01-01T00:00:00Z"), s("2023-01-02T00:00:00Z")],
                Value::Bool(true),
            ),
            ("time_truncate", vec![s("2023-01-01T12:34:56Z"), s("1h")], Value::from("2023-01-01T12:00:00Z")),
            ("time_to_cron", vec![s("2023-01-01T12:34:56Z")], Value::from("34 12 1 1 0")),
            ("time_parse", vec![s("2006-01-02"), s("2023-03-04")], Value::from("2023-03-04T00:00:00Z")),
            ("time_since", vec![s(""), s("2023-01-01T00:00:00Z"), s("2023-01-01T00:00:30Z")], Value::from("30s")),
        ];
        for (name, args, want) in cases {
            assert_eq!(call(name, &args).unwrap(), want, "{name}");
        }
    }
}
