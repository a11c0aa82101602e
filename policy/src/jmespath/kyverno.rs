//! Kyverno's custom JMESPath functions (pkg/engine/jmespath: functions.go, arithmetic.go, time.go).
use super::functions::{Arg, arity, array, num, number, object, string, type_error, type_name, value};
use super::{JpResult, runtime};
use crate::{duration, gofmt, quantity::Quantity, wildcard};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::Digest;

const NAMES: &[&str] = &[
    "compare",
    "equal_fold",
    "replace",
    "replace_all",
    "to_upper",
    "to_lower",
    "trim",
    "trim_prefix",
    "split",
    "regex_replace_all",
    "regex_replace_all_literal",
    "regex_match",
    "pattern_match",
    "label_match",
    "to_boolean",
    "add",
    "sum",
    "subtract",
    "multiply",
    "divide",
    "modulo",
    "round",
    "base64_decode",
    "base64_encode",
    "path_canonicalize",
    "truncate",
    "semver_compare",
    "parse_json",
    "parse_yaml",
    "lookup",
    "items",
    "object_from_lists",
    "random",
    "x509_decode",
    "image_normalize",
    "is_external_url",
    "sha256",
    "time_since",
    "time_now",
    "time_now_utc",
    "time_add",
    "time_parse",
    "time_to_cron",
    "time_utc",
    "time_diff",
    "time_before",
    "time_after",
    "time_between",
    "time_truncate",
];

pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

/// A string argument that may also be given as a number (Kyverno accepts both for regex functions).
fn text(name: &str, args: &[Arg], i: usize) -> JpResult<String> {
    match value(name, args, i)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(gofmt::number_go(n)),
        other => type_error(name, i, "string or number", other),
    }
}

fn regex(name: &str, pattern: &str) -> JpResult<regex::Regex> {
    regex::Regex::new(pattern).or_else(|e| runtime(format!("{name}(): invalid regex {pattern:?}: {e}")))
}

#[derive(Debug, Clone, Copy)]
enum Operand {
    Scalar(f64),
    Quantity(Quantity),
    Duration(i64),
}

fn operand(name: &str, args: &[Arg], i: usize) -> JpResult<Operand> {
    match value(name, args, i)? {
        Value::Number(n) => Ok(Operand::Scalar(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => {
            if let Some(q) = Quantity::parse(s) {
                Ok(Operand::Quantity(q))
            } else if let Some(d) = duration::parse(s) {
                Ok(Operand::Duration(d))
            } else {
                runtime(format!("{name}(): invalid operand {s:?}: not a number, quantity or duration"))
            }
        }
        other => type_error(name, i, "number, quantity or duration", other),
    }
}

fn quantity_value(q: Option<Quantity>, name: &str) -> JpResult<Value> {
    q.map(|q| Value::String(q.canonical())).map_or_else(|| runtime(format!("{name}(): quantity overflow")), Ok)
}

fn quantity_from_f64(f: f64, format: crate::quantity::Format) -> Option<Quantity> {
    let text = if f.fract() == 0.0 { format!("{}", f as i64) } else { format!("{f}") };
    Quantity::parse(&text).map(|mut q| {
        q.format = format;
        q
    })
}

fn arithmetic(name: &str, args: &[Arg]) -> JpResult<Value> {
    arity(name, args, 2, Some(2))?;
    let (a, b) = (operand(name, args, 0)?, operand(name, args, 1)?);
    use Operand::*;
    let invalid = || runtime(format!("{name}(): invalid operands"));
    match name {
        "add" | "subtract" => match (a, b) {
            (Scalar(x), Scalar(y)) => Ok(num(if name == "add" { x + y } else { x - y })),
            (Quantity(x), Quantity(y)) => quantity_value(if name == "add" { x.add(&y) } else { x.sub(&y) }, name),
            (Duration(x), Duration(y)) => {
                let r = if name == "add" { x.checked_add(y) } else { x.checked_sub(y) };
                r.map(|d| Value::String(duration::format(d))).map_or_else(|| runtime("duration overflow"), Ok)
            }
            _ => invalid(),
        },
        "multiply" => match (a, b) {
            (Scalar(x), Scalar(y)) => Ok(num(x * y)),
            (Quantity(q), Scalar(s)) | (Scalar(s), Quantity(q)) => {
                quantity_value(quantity_from_f64(q.as_f64() * s, q.format), name)
            }
            (Duration(d), Scalar(s)) | (Scalar(s), Duration(d)) => {
                Ok(Value::String(duration::format((d as f64 * s) as i64)))
            }
            _ => invalid(),
        },
        "divide" => {
            let zero = match b {
                Scalar(y) => y == 0.0,
                Quantity(q) => q.sign() == 0,
                Duration(d) => d == 0,
            };
            if zero {
                return runtime(format!("{name}(): Zero divisor"));
            }
            match (a, b) {
                (Scalar(x), Scalar(y)) => Ok(num(x / y)),
                (Quantity(x), Quantity(y)) => Ok(num(x.as_f64() / y.as_f64())),
                (Quantity(q), Scalar(s)) => quantity_value(quantity_from_f64(q.as_f64() / s, q.format), name),
                (Duration(x), Duration(y)) => Ok(num(x as f64 / y as f64)),
                (Duration(d), Scalar(s)) => Ok(Value::String(duration::format((d as f64 / s) as i64))),
                _ => invalid(),
            }
        }
        "modulo" => match (a, b) {
            (Scalar(x), Scalar(y)) => {
                if x.fract() != 0.0 || y.fract() != 0.0 {
                    return runtime(format!("{name}(): Non-integer argument(s)"));
                }
                if y == 0.0 {
                    return runtime(format!("{name}(): Zero divisor"));
                }
                Ok(num((x as i64 % y as i64) as f64))
            }
            (Quantity(x), Quantity(y)) => match (x.as_i64(), y.as_i64()) {
                (Some(_), Some(0)) => runtime(format!("{name}(): Zero divisor")),
                (Some(a), Some(b)) => quantity_value(quantity_from_f64((a % b) as f64, x.format), name),
                _ => runtime(format!("{name}(): Non-integer argument(s)")),
            },
            (Duration(x), Duration(y)) => {
                if y == 0 {
                    return runtime(format!("{name}(): Zero divisor"));
                }
                Ok(Value::String(duration::format(x % y)))
            }
            _ => invalid(),
        },
        _ => invalid(),
    }
}

/// `sum(array)`: numbers, quantities or durations, all of one kind.
pub fn sum(args: &[Arg]) -> JpResult<Value> {
    let name = "sum";
    arity(name, args, 1, Some(1))?;
    let items = array(name, args, 0)?;
    if items.is_empty() {
        return Ok(num(0.0));
    }
    if items.iter().all(Value::is_number) {
        return Ok(num(items.iter().filter_map(Value::as_f64).sum()));
    }
    let strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    if strings.len() != items.len() {
        return runtime("sum(): values must all be numbers, quantities or durations");
    }
    if let Some(qs) = strings.iter().map(|s| Quantity::parse(s)).collect::<Option<Vec<_>>>() {
        let mut total = qs[0];
        for q in &qs[1..] {
            total = total.add(q).map_or_else(|| runtime("sum(): quantity overflow"), Ok)?;
        }
        return Ok(Value::String(total.canonical()));
    }
    if let Some(ds) = strings.iter().map(|s| duration::parse(s)).collect::<Option<Vec<_>>>() {
        return Ok(Value::String(duration::format(ds.iter().sum())));
    }
    runtime("sum(): values must all be numbers, quantities or durations")
}

/// Go's `path.Clean`.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn image_normalize(image: &str) -> JpResult<String> {
    if image.is_empty() {
        return runtime("image_normalize(): empty image reference");
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    let first = repo.split('/').next().unwrap_or("");
    let has_registry = repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        repo.to_string()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    let mut out = full;
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(out)
}

fn is_external_url(raw: &str) -> bool {
    let rest = match raw.split_once("://") {
        Some((_, r)) => r,
        None => return false,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(stripped) = host_port.strip_prefix('[') {
        stripped.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() || host == "localhost" {
        return false;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            !(ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_unspecified())
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            !(ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00)
        }
        Err(_) => true,
    }
}

pub fn call(name: &str, a: &[Arg]) -> JpResult<Value> {
    match name {
        "compare" => {
            arity(name, a, 2, Some(2))?;
            Ok(num(match string(name, a, 0)?.cmp(string(name, a, 1)?) {
                std::cmp::Ordering::Less => -1.0,
                std::cmp::Ordering::Equal => 0.0,
                std::cmp::Ordering::Greater => 1.0,
            }))
        }
        "equal_fold" => {
            arity(name, a, 2, Some(2))?;
            Ok(Value::Bool(string(name, a, 0)?.to_lowercase() == string(name, a, 1)?.to_lowercase()))
        }
        "replace" => {
            arity(name, a, 4, Some(4))?;
            let (s, old, new) = (string(name, a, 0)?, string(name, a, 1)?, string(name, a, 2)?);
            let n = number(name, a, 3)? as i64;
            Ok(Value::String(if n < 0 { s.replace(old, new) } else { s.replacen(old, new, n as usize) }))
        }
        "replace_all" => {
            arity(name, a, 3, Some(3))?;
            Ok(Value::String(string(name, a, 0)?.replace(string(name, a, 1)?, string(name, a, 2)?)))
        }
        "to_upper" => {
            arity(name, a, 1, Some(1))?;
            Ok(Value::String(string(name, a, 0)?.to_uppercase()))
        }
        "to_lower" => {
            arity(name, a, 1, Some(1))?;
            Ok(Value::String(string(name, a, 0)?.to_lowercase()))
        }
        "trim" => {
            arity(name, a, 2, Some(2))?;
            let cutset: Vec<char> = string(name, a, 1)?.chars().collect();
            Ok(Value::String(string(name, a, 0)?.trim_matches(|c| cutset.contains(&c)).to_string()))
        }
        "trim_prefix" => {
            arity(name, a, 2, Some(2))?;
            let (s, p) = (string(name, a, 0)?, string(name, a, 1)?);
            Ok(Value::String(s.strip_prefix(p).unwrap_or(s).to_string()))
        }
        "split" => {
            arity(name, a, 2, Some(2))?;
            let (s, sep) = (string(name, a, 0)?, string(name, a, 1)?);
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep).map(|p| Value::String(p.to_string())).collect()
            };
            Ok(Value::Array(parts))
        }
        "regex_replace_all" | "regex_replace_all_literal" => {
            arity(name, a, 3, Some(3))?;
            let re = regex(name, string(name, a, 0)?)?;
            let src = text(name, a, 1)?;
            let rep = text(name, a, 2)?;
            Ok(Value::String(if name == "regex_replace_all" {
                re.replace_all(&src, rep.as_str()).into_owned()
            } else {
                re.replace_all(&src, regex::NoExpand(&rep)).into_owned()
            }))
        }
        "regex_match" => {
            arity(name, a, 2, Some(2))?;
            let re = regex(name, string(name, a, 0)?)?;
            Ok(Value::Bool(re.is_match(&text(name, a, 1)?)))
        }
        "pattern_match" => {
            arity(name, a, 2, Some(2))?;
            let pattern = string(name, a, 0)?;
            let src = match value(name, a, 1)? {
                Value::String(s) => s.clone(),
                Value::Number(n) => gofmt::number_go(n),
                other => return type_error(name, 1, "string or number", other),
            };
            Ok(Value::Bool(wildcard::matches(pattern, &src)))
        }
        "label_match" => {
            arity(name, a, 2, Some(2))?;
            let selector = object(name, a, 0)?;
            let labels = object(name, a, 1)?;
            Ok(Value::Bool(selector.iter().all(|(k, v)| labels.get(k) == Some(v))))
        }
        "to_boolean" => {
            arity(name, a, 1, Some(1))?;
            match string(name, a, 0)?.to_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                other => {
                    runtime(format!("to_boolean(): lowercase argument must be 'true' or 'false' (provided: '{other}')"))
                }
            }
        }
        "add" | "subtract" | "multiply" | "divide" | "modulo" => arithmetic(name, a),
        "round" => {
            arity(name, a, 2, Some(2))?;
            let (x, digits) = (number(name, a, 0)?, number(name, a, 1)?);
            if digits.fract() != 0.0 || digits < 0.0 {
                return runtime("round(): digits must be a non-negative integer");
            }
            let factor = 10f64.powi(digits as i32);
            Ok(num((x * factor).round() / factor))
        }
        "base64_decode" => {
            arity(name, a, 1, Some(1))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(string(name, a, 0)?)
                .or_else(|e| runtime(format!("base64_decode(): {e}")))?;
            Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        }
        "base64_encode" => {
            arity(name, a, 1, Some(1))?;
            Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(string(name, a, 0)?)))
        }
        "path_canonicalize" => {
            arity(name, a, 1, Some(1))?;
            Ok(Value::String(clean_path(string(name, a, 0)?)))
        }
        "truncate" => {
            arity(name, a, 2, Some(2))?;
            let s = string(name, a, 0)?;
            let n = number(name, a, 1)?;
            if n < 0.0 {
                return runtime("truncate(): length must be non-negative");
            }
            let n = n as usize;
            let mut end = n.min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Ok(Value::String(s[..end].to_string()))
        }
        "semver_compare" => {
            arity(name, a, 2, Some(2))?;
            super::semver_range::matches(string(name, a, 0)?, string(name, a, 1)?).map(Value::Bool)
        }
        "parse_json" => {
            arity(name, a, 1, Some(1))?;
            serde_json::from_str(string(name, a, 0)?).or_else(|e| runtime(format!("parse_json(): {e}")))
        }
        "parse_yaml" => {
            arity(name, a, 1, Some(1))?;
            crate::yaml::parse_value(string(name, a, 0)?).or_else(|e| runtime(format!("parse_yaml(): {e}")))
        }
        "lookup" => {
            arity(name, a, 2, Some(2))?;
            match (value(name, a, 0)?, value(name, a, 1)?) {
                (Value::Object(m), Value::String(k)) => Ok(m.get(k).cloned().unwrap_or(Value::Null)),
                (Value::Array(items), Value::Number(n)) => {
                    let f = n.as_f64().unwrap_or(-1.0);
                    if f.fract() != 0.0 {
                        return runtime("lookup(): index must be an integer");
                    }
                    Ok(if f >= 0.0 { items.get(f as usize).cloned().unwrap_or(Value::Null) } else { Value::Null })
                }
                (c, k) => runtime(format!("lookup(): invalid types {} and {}", type_name(c), type_name(k))),
            }
        }
        "items" => {
            arity(name, a, 3, Some(3))?;
            let (kn, vn) = (string(name, a, 1)?, string(name, a, 2)?);
            let entry = |k: Value, v: &Value| {
                let mut m = Map::new();
                m.insert(kn.to_string(), k);
                m.insert(vn.to_string(), v.clone());
                Value::Object(m)
            };
            match value(name, a, 0)? {
                Value::Object(m) => {
                    Ok(Value::Array(m.iter().map(|(k, v)| entry(Value::String(k.clone()), v)).collect()))
                }
                Value::Array(items) => {
                    Ok(Value::Array(items.iter().enumerate().map(|(i, v)| entry(num(i as f64), v)).collect()))
                }
                other => type_error(name, 0, "object or array", other),
            }
        }
        "object_from_lists" => {
            arity(name, a, 2, Some(2))?;
            let (keys, values) = (array(name, a, 0)?, array(name, a, 1)?);
            let mut out = Map::new();
            for (i, k) in keys.iter().enumerate() {
                let k = k.as_str().map_or_else(|| type_error(name, 0, "array of strings", k), Ok)?;
                out.insert(k.to_string(), values.get(i).cloned().unwrap_or(Value::Null));
            }
            Ok(Value::Object(out))
        }
        "random" => runtime("random(): not available in medic's evaluator (results must be reproducible)"),
        "x509_decode" => {
            arity(name, a, 1, Some(1))?;
            super::x509::decode(string(name, a, 0)?)
        }
        "image_normalize" => {
            arity(name, a, 1, Some(1))?;
            image_normalize(string(name, a, 0)?).map(Value::String)
        }
        "is_external_url" => {
            arity(name, a, 1, Some(1))?;
            Ok(Value::Bool(is_external_url(string(name, a, 0)?)))
        }
        "sha256" => {
            arity(name, a, 1, Some(1))?;
            Ok(Value::String(hex::encode(sha2::Sha256::digest(string(name, a, 0)?.as_bytes()))))
        }
        "sha1" => {
            arity(name, a, 1, Some(1))?;
            Ok(Value::String(super::digest::sha1_hex(string(name, a, 0)?.as_bytes())))
        }
        "md5" => {
            arity(name, a, 1, Some(1))?;
            Ok(Value::String(super::digest::md5_hex(string(name, a, 0)?.as_bytes())))
        }
        other if other.starts_with("time_") => super::time::call(other, a),
        other => runtime(format!("unknown function: {other}()")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths_like_go() {
        for (input, want) in [
            ("///var/run//containerd.sock", "/var/run/containerd.sock"),
            ("/a/./b/../c", "/a/c"),
            ("a/../../b", "../b"),
            ("", "."),
            ("/..", "/"),
        ] {
            assert_eq!(clean_path(input), want, "{input}");
        }
    }

    #[test]
    fn normalises_images() {
        for (input, want) in [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.2", "docker.io/library/nginx:1.2"),
            ("bitnami/nginx", "docker.io/bitnami/nginx:latest"),
            ("ghcr.io/a/b:1", "ghcr.io/a/b:1"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("nginx@sha256:abc", "docker.io/library/nginx@sha256:abc"),
        ] {
            assert_eq!(image_normalize(input).unwrap(), want, "{input}");
        }
    }
}
