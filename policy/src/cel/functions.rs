//! CEL's standard functions and the Kubernetes extension libraries (strings, lists, regex, quantity,
//! URL, IP/CIDR, sets) that admission policies use.
use super::eval::EvalResult;
use super::value::{Val, compare, equals, key_val};
use crate::quantity::Quantity;
use std::net::IpAddr;
use std::sync::Arc;

fn overload(func: &str, target: Option<&Val>, args: &[Val]) -> String {
    let mut types: Vec<&str> = Vec::new();
    if let Some(t) = target {
        types.push(t.type_name());
    }
    types.extend(args.iter().map(Val::type_name));
    format!("found no matching overload for '{func}' applied to '({})'", types.join(", "))
}

fn s(v: &str) -> Val {
    Val::str(v)
}

fn list(items: Vec<Val>) -> Val {
    Val::List(Arc::new(items))
}

fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, prefix) = text.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((ip, prefix))
}

fn ip_bits(ip: &IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v) => (u128::from(u32::from(*v)), 32),
        IpAddr::V6(v) => (u128::from(*v), 128),
    }
}

fn cidr_contains(net: &IpAddr, prefix: u8, ip: &IpAddr) -> bool {
    if net.is_ipv4() != ip.is_ipv4() {
        return false;
    }
    let (n, width) = ip_bits(net);
    let (a, _) = ip_bits(ip);
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(width - prefix);
    (n >> shift) == (a >> shift)
}

fn url_parts(u: &str) -> Option<(String, String, String, String)> {
    let (scheme, rest) = u.split_once("://")?;
    let (authority, path_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_query, ""),
    };
    Some((
        scheme.to_string(),
        authority.rsplit('@').next().unwrap_or("").to_string(),
        path.to_string(),
        query.to_string(),
    ))
}

fn as_int(v: &Val) -> Option<i64> {
    match v {
        Val::Int(i) => Some(*i),
        Val::Uint(u) => i64::try_from(*u).ok(),
        _ => None,
    }
}

fn quantity_arg(v: &Val) -> Result<Quantity, String> {
    match v {
        Val::Quantity(q) => Ok(*q),
        Val::Int(i) => Ok(Quantity::from_i64(*i)),
        other => Err(format!("expected quantity, got {}", other.type_name())),
    }
}

fn timestamp(text: &str) -> Result<i128, String> {
    let ts: jiff::Timestamp = text.parse().map_err(|e| format!("invalid timestamp {text:?}: {e}"))?;
    Ok(ts.as_nanosecond())
}

fn utc_parts(nanos: i128) -> Result<jiff::Zoned, String> {
    let ts = jiff::Timestamp::from_nanosecond(nanos).map_err(|e| e.to_string())?;
    Ok(ts.to_zoned(jiff::tz::TimeZone::UTC))
}

pub fn call(target: Option<Val>, func: &str, args: Vec<Val>) -> EvalResult {
    let a = &args;
    match (&target, func, a.as_slice()) {
        // ---- global functions ----
        (None, "size", [v]) | (Some(v), "size", []) => match v {
            Val::Str(x) => Ok(Val::Int(x.chars().count() as i64)),
            Val::Bytes(b) => Ok(Val::Int(b.len() as i64)),
            Val::List(l) => Ok(Val::Int(l.len() as i64)),
            Val::Map(m) => Ok(Val::Int(m.len() as i64)),
            other => Err(overload("size", None, std::slice::from_ref(other))),
        },
        (None, "int", [v]) => match v {
            Val::Int(i) => Ok(Val::Int(*i)),
            Val::Uint(u) => i64::try_from(*u).map(Val::Int).map_err(|_| "int overflow".into()),
            Val::Double(d) => {
                if d.is_finite() && *d > -9.223_372_036_854_776e18 && *d < 9.223_372_036_854_776e18 {
                    Ok(Val::Int(d.trunc() as i64))
                } else {
                    Err("int overflow".into())
                }
            }
            Val::Str(x) => x.parse::<i64>().map(Val::Int).map_err(|_| format!("cannot convert {x:?} to int")),
            Val::Timestamp(t) => Ok(Val::Int((t / 1_000_000_000) as i64)),
            Val::Duration(d) => Ok(Val::Int(*d)),
            other => Err(overload("int", None, std::slice::from_ref(other))),
        },
        (None, "uint", [v]) => match v {
            Val::Uint(u) => Ok(Val::Uint(*u)),
            Val::Int(i) => u64::try_from(*i).map(Val::Uint).map_err(|_| "uint overflow".into()),
            Val::Double(d) if *d >= 0.0 && d.is_finite() => Ok(Val::Uint(d.trunc() as u64)),
            Val::Str(x) => x.parse::<u64>().map(Val::Uint).map_err(|_| format!("cannot convert {x:?} to uint")),
            other => Err(overload("uint", None, std::slice::from_ref(other))),
        },
        (None, "double", [v]) => match v {
            Val::Double(d) => Ok(Val::Double(*d)),
            Val::Int(i) => Ok(Val::Double(*i as f64)),
            Val::Uint(u) => Ok(Val::Double(*u as f64)),
            Val::Str(x) => x.parse::<f64>().map(Val::Double).map_err(|_| format!("cannot convert {x:?} to double")),
            other => Err(overload("double", None, std::slice::from_ref(other))),
        },
        (None, "string", [v]) => match v {
            Val::Str(_) => Ok(v.clone()),
            Val::Bytes(b) => String::from_utf8(b.to_vec()).map(|x| s(&x)).map_err(|_| "invalid UTF-8".into()),
            Val::Duration(d) => Ok(s(&format!("{}s", *d as f64 / 1e9))),
            Val::Null | Val::List(_) | Val::Map(_) => Err(overload("string", None, std::slice::from_ref(v))),
            other => Ok(s(&other.display())),
        },
        (None, "bool", [v]) => match v {
            Val::Bool(b) => Ok(Val::Bool(*b)),
            Val::Str(x) => match x.as_ref() {
                "1" | "t" | "true" | "TRUE" | "True" => Ok(Val::Bool(true)),
                "0" | "f" | "false" | "FALSE" | "False" => Ok(Val::Bool(false)),
                _ => Err(format!("cannot convert {x:?} to bool")),
            },
            other => Err(overload("bool", None, std::slice::from_ref(other))),
        },
        (None, "bytes", [Val::Str(x)]) => Ok(Val::Bytes(x.as_bytes().into())),
        (None, "dyn", [v]) => Ok(v.clone()),
        (None, "type", [v]) => Ok(Val::Type(Arc::from(v.type_name()))),
        (None, "duration", [Val::Str(x)]) => {
            crate::duration::parse(x).map(Val::Duration).ok_or_else(|| format!("invalid duration {x:?}"))
        }
        (None, "duration", [Val::Duration(d)]) => Ok(Val::Duration(*d)),
        (None, "timestamp", [Val::Str(x)]) => timestamp(x).map(Val::Timestamp),
        (None, "matches", [Val::Str(x), Val::Str(re)]) | (Some(Val::Str(x)), "matches", [Val::Str(re)]) => {
            Ok(Val::Bool(regex(re)?.is_match(x)))
        }
        // ---- strings ----
        (Some(Val::Str(x)), "contains", [Val::Str(y)]) => Ok(Val::Bool(x.contains(y.as_ref()))),
        (Some(Val::Str(x)), "startsWith", [Val::Str(y)]) => Ok(Val::Bool(x.starts_with(y.as_ref()))),
        (Some(Val::Str(x)), "endsWith", [Val::Str(y)]) => Ok(Val::Bool(x.ends_with(y.as_ref()))),
        (Some(Val::Str(x)), "lowerAscii", []) => Ok(s(&x.to_ascii_lowercase())),
        (Some(Val::Str(x)), "upperAscii", []) => Ok(s(&x.to_ascii_uppercase())),
        (Some(Val::Str(x)), "trim", []) => Ok(s(x.trim())),
        (Some(Val::Str(x)), "reverse", []) => Ok(s(&x.chars().rev().collect::<String>())),
        (Some(Val::Str(x)), "replace", [Val::Str(from), Val::Str(to)]) => Ok(s(&x.replace(from.as_ref(), to))),
        (Some(Val::Str(x)), "replace", [Val::Str(from), Val::Str(to), n]) => {
            let n = as_int(n).ok_or("replace count must be an int")?;
            Ok(s(&if n < 0 { x.replace(from.as_ref(), to) } else { x.replacen(from.as_ref(), to, n as usize) }))
        }
        (Some(Val::Str(x)), "split", [Val::Str(sep)]) => Ok(list(x.split(sep.as_ref()).map(s).collect())),
        (Some(Val::Str(x)), "split", [Val::Str(sep), n]) => {
            let n = as_int(n).ok_or("split count must be an int")?;
            let parts: Vec<Val> = match n {
                0 => Vec::new(),
                n if n < 0 => x.split(sep.as_ref()).map(s).collect(),
                n => x.splitn(n as usize, sep.as_ref()).map(s).collect(),
            };
            Ok(list(parts))
        }
        (Some(Val::Str(x)), "substring", rest) => {
            let chars: Vec<char> = x.chars().collect();
            let start = rest.first().and_then(as_int).ok_or("substring start must be an int")?;
            let end = match rest.get(1) {
                Some(e) => as_int(e).ok_or("substring end must be an int")?,
                None => chars.len() as i64,
            };
            if start < 0 || end < start || end as usize > chars.len() {
                return Err(format!("index out of range: {start}..{end}"));
            }
            Ok(s(&chars[start as usize..end as usize].iter().collect::<String>()))
        }
        (Some(Val::Str(x)), "charAt", [i]) => {
            let i = as_int(i).ok_or("charAt index must be an int")?;
            let chars: Vec<char> = x.chars().collect();
            if i < 0 || i as usize > chars.len() {
                return Err(format!("index out of range: {i}"));
            }
            Ok(s(&chars.get(i as usize).map(|c| c.to_string()).unwrap_or_default()))
        }
        (Some(Val::Str(x)), "indexOf" | "lastIndexOf", [Val::Str(sub), ..]) => {
            let chars: Vec<char> = x.chars().collect();
            let needle: Vec<char> = sub.chars().collect();
            let positions = (0..=chars.len().saturating_sub(needle.len())).filter(|&i| chars[i..].starts_with(&needle));
            let found = if func == "indexOf" { positions.min() } else { positions.max() };
            Ok(Val::Int(found.map_or(-1, |i| i as i64)))
        }
        (Some(Val::Str(x)), "find", [Val::Str(re)]) => Ok(s(regex(re)?.find(x).map(|m| m.as_str()).unwrap_or(""))),
        (Some(Val::Str(x)), "findAll", [Val::Str(re), rest @ ..]) => {
            let limit = rest.first().and_then(as_int).unwrap_or(-1);
            let all: Vec<Val> = regex(re)?.find_iter(x).map(|m| s(m.as_str())).collect();
            Ok(list(if limit < 0 { all } else { all.into_iter().take(limit as usize).collect() }))
        }
        (Some(Val::List(items)), "join", rest) => {
            let sep = match rest.first() {
                Some(Val::Str(x)) => x.to_string(),
                None => String::new(),
                Some(other) => return Err(overload("join", None, std::slice::from_ref(other))),
            };
            let parts: Result<Vec<String>, String> = items
                .iter()
                .map(|v| match v {
                    Val::Str(x) => Ok(x.to_string()),
                    other => Err(overload("join", None, std::slice::from_ref(other))),
                })
                .collect();
            Ok(s(&parts?.join(&sep)))
        }
        // ---- lists ----
        (Some(Val::List(items)), "isSorted", []) => {
            Ok(Val::Bool(items.windows(2).all(|w| compare(&w[0], &w[1]).is_some_and(|o| o.is_le()))))
        }
        (Some(Val::List(items)), "sum", []) => {
            let mut total = items.first().map_or(Val::Int(0), |f| match f {
                Val::Double(_) => Val::Double(0.0),
                Val::Uint(_) => Val::Uint(0),
                Val::Duration(_) => Val::Duration(0),
                _ => Val::Int(0),
            });
            for item in items.iter() {
                total = super::eval::eval(
                    &super::parser::Ast::Binary(
                        super::parser::BinOp::Add,
                        Box::new(super::parser::Ast::Lit(total.clone())),
                        Box::new(super::parser::Ast::Lit(item.clone())),
                    ),
                    &super::eval::Activation::new(Default::default(), &[]),
                )?;
            }
            Ok(total)
        }
        (Some(Val::List(items)), "min" | "max", []) => {
            let mut best: Option<&Val> = None;
            for item in items.iter() {
                best = match best {
                    None => Some(item),
                    Some(b) => {
                        let ord = compare(item, b).ok_or_else(|| overload(func, None, &[item.clone(), b.clone()]))?;
                        if (func == "min" && ord.is_lt()) || (func == "max" && ord.is_gt()) {
                            Some(item)
                        } else {
                            Some(b)
                        }
                    }
                };
            }
            best.cloned().ok_or_else(|| format!("{func} called on an empty list"))
        }
        (Some(Val::List(items)), "indexOf" | "lastIndexOf", [v]) => {
            let positions = items.iter().enumerate().filter(|(_, i)| equals(i, v)).map(|(i, _)| i);
            let found = if func == "indexOf" { positions.min() } else { positions.max() };
            Ok(Val::Int(found.map_or(-1, |i| i as i64)))
        }
        (Some(Val::List(items)), "slice", [start, end]) => {
            let (start, end) = (as_int(start).unwrap_or(-1), as_int(end).unwrap_or(-1));
            if start < 0 || end < start || end as usize > items.len() {
                return Err(format!("index out of range: {start}..{end}"));
            }
            Ok(list(items[start as usize..end as usize].to_vec()))
        }
        (Some(Val::List(items)), "reverse", []) => Ok(list(items.iter().rev().cloned().collect())),
        (Some(Val::List(items)), "distinct", []) => {
            let mut out: Vec<Val> = Vec::new();
            for item in items.iter() {
                if !out.iter().any(|o| equals(o, item)) {
                    out.push(item.clone());
                }
            }
            Ok(list(out))
        }
        (Some(Val::List(items)), "flatten", []) => {
            let mut out = Vec::new();
            for item in items.iter() {
                match item {
                    Val::List(inner) => out.extend(inner.iter().cloned()),
                    other => out.push(other.clone()),
                }
            }
            Ok(list(out))
        }
        (Some(Val::Map(m)), "keys", []) => Ok(list(m.keys().map(key_val).collect())),
        // ---- optionals ----
        (Some(Val::Optional(o)), "hasValue", []) => Ok(Val::Bool(o.is_some())),
        (Some(Val::Optional(o)), "value", []) => {
            o.as_deref().cloned().ok_or_else(|| "optional.none() dereference".into())
        }
        (Some(Val::Optional(o)), "orValue", [v]) => Ok(o.as_deref().cloned().unwrap_or_else(|| v.clone())),
        (Some(Val::Optional(o)), "or", [v]) => Ok(if o.is_some() { Val::Optional(o.clone()) } else { v.clone() }),
        // ---- durations and timestamps ----
        (Some(Val::Duration(d)), f, []) => match f {
            "getHours" => Ok(Val::Int(d / 3_600_000_000_000)),
            "getMinutes" => Ok(Val::Int(d / 60_000_000_000)),
            "getSeconds" => Ok(Val::Int(d / 1_000_000_000)),
            "getMilliseconds" => Ok(Val::Int(d / 1_000_000)),
            _ => Err(overload(f, target.as_ref(), a)),
        },
        (Some(Val::Timestamp(t)), f, []) => {
            let z = utc_parts(*t)?;
            match f {
                "getFullYear" => Ok(Val::Int(i64::from(z.year()))),
                "getMonth" => Ok(Val::Int(i64::from(z.month()) - 1)),
                "getDate" | "getDayOfMonth" => {
                    Ok(Val::Int(i64::from(z.day()) - if f == "getDayOfMonth" { 1 } else { 0 }))
                }
                "getDayOfWeek" => Ok(Val::Int(i64::from(z.weekday().to_sunday_zero_offset()))),
                "getDayOfYear" => Ok(Val::Int(i64::from(z.day_of_year()) - 1)),
                "getHours" => Ok(Val::Int(i64::from(z.hour()))),
                "getMinutes" => Ok(Val::Int(i64::from(z.minute()))),
                "getSeconds" => Ok(Val::Int(i64::from(z.second()))),
                "getMilliseconds" => Ok(Val::Int(i64::from(z.millisecond()))),
                _ => Err(overload(f, target.as_ref(), a)),
            }
        }
        // ---- Kubernetes quantity ----
        (None, "quantity", [Val::Str(x)]) => {
            Quantity::parse(x).map(Val::Quantity).ok_or_else(|| format!("invalid quantity {x:?}"))
        }
        (None, "isQuantity", [Val::Str(x)]) => Ok(Val::Bool(Quantity::parse(x).is_some())),
        (Some(Val::Quantity(q)), f, rest) => match (f, rest) {
            ("isLessThan", [o]) => Ok(Val::Bool(*q < quantity_arg(o)?)),
            ("isGreaterThan", [o]) => Ok(Val::Bool(*q > quantity_arg(o)?)),
            ("compareTo", [o]) => Ok(Val::Int(match q.cmp(&quantity_arg(o)?) {
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Greater => 1,
            })),
            ("add", [o]) => q.add(&quantity_arg(o)?).map(Val::Quantity).ok_or_else(|| "quantity overflow".into()),
            ("sub", [o]) => q.sub(&quantity_arg(o)?).map(Val::Quantity).ok_or_else(|| "quantity overflow".into()),
            ("asInteger", []) => q.as_i64().map(Val::Int).ok_or_else(|| "cannot convert value to integer".into()),
            ("isInteger", []) => Ok(Val::Bool(q.as_i64().is_some())),
            ("asApproximateFloat", []) => Ok(Val::Double(q.as_f64())),
            ("sign", []) => Ok(Val::Int(i64::from(q.sign()))),
            _ => Err(overload(f, target.as_ref(), a)),
        },
        // ---- Kubernetes URL ----
        (None, "url", [Val::Str(x)]) => url_parts(x)
            .map(|_| Val::Url(x.clone()))
            .ok_or_else(|| format!("URL parse error during conversion from string: {x}")),
        (None, "isURL", [Val::Str(x)]) => Ok(Val::Bool(url_parts(x).is_some())),
        (Some(Val::Url(u)), f, []) => {
            let (scheme, host, path, query) = url_parts(u).ok_or("invalid URL")?;
            let (hostname, port) = match host.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || host.starts_with('[') => (h.to_string(), p.to_string()),
                _ => (host.clone(), String::new()),
            };
            match f {
                "getScheme" => Ok(s(&scheme)),
                "getHost" => Ok(s(&host)),
                "getHostname" => Ok(s(hostname.trim_start_matches('[').trim_end_matches(']'))),
                "getPort" => Ok(s(&port)),
                "getEscapedPath" => Ok(s(&path)),
                "getQuery" => Ok(s(&query)),
                _ => Err(overload(f, target.as_ref(), a)),
            }
        }
        // ---- Kubernetes IP / CIDR ----
        (None, "ip", [Val::Str(x)]) => {
            x.parse::<IpAddr>().map(Val::Ip).map_err(|_| format!("IP Address {x:?} parse error"))
        }
        (None, "isIP", [Val::Str(x)]) => Ok(Val::Bool(x.parse::<IpAddr>().is_ok())),
        (None, "cidr", [Val::Str(x)]) => {
            parse_cidr(x).map(|(ip, p)| Val::Cidr(ip, p)).ok_or_else(|| format!("network address {x:?} parse error"))
        }
        (None, "isCIDR", [Val::Str(x)]) => Ok(Val::Bool(parse_cidr(x).is_some())),
        (Some(Val::Ip(ip)), f, []) => match f {
            "family" => Ok(Val::Int(if ip.is_ipv4() { 4 } else { 6 })),
            "isUnspecified" => Ok(Val::Bool(ip.is_unspecified())),
            "isLoopback" => Ok(Val::Bool(ip.is_loopback())),
            "isGlobalUnicast" => Ok(Val::Bool(!(ip.is_loopback() || ip.is_multicast() || ip.is_unspecified()))),
            _ => Err(overload(f, target.as_ref(), a)),
        },
        (Some(Val::Cidr(net, prefix)), f, rest) => match (f, rest) {
            ("containsIP", [Val::Ip(ip)]) => Ok(Val::Bool(cidr_contains(net, *prefix, ip))),
            ("containsIP", [Val::Str(x)]) => {
                let ip: IpAddr = x.parse().map_err(|_| format!("IP Address {x:?} parse error"))?;
                Ok(Val::Bool(cidr_contains(net, *prefix, &ip)))
            }
            ("containsCIDR", [Val::Cidr(other, p)]) => {
                Ok(Val::Bool(*p >= *prefix && cidr_contains(net, *prefix, other)))
            }
            ("containsCIDR", [Val::Str(x)]) => {
                let (other, p) = parse_cidr(x).ok_or_else(|| format!("network address {x:?} parse error"))?;
                Ok(Val::Bool(p >= *prefix && cidr_contains(net, *prefix, &other)))
            }
            ("ip", []) => Ok(Val::Ip(*net)),
            ("prefixLength", []) => Ok(Val::Int(i64::from(*prefix))),
            _ => Err(overload(f, target.as_ref(), a)),
        },
        // ---- namespaced functions: optional.*, sets.*, base64.* ----
        (Some(Val::Type(ns)), f, rest) => namespaced(ns, f, rest),
        _ => Err(overload(func, target.as_ref(), a)),
    }
}

fn namespaced(ns: &str, f: &str, args: &[Val]) -> EvalResult {
    match (ns, f, args) {
        ("optional", "of", [v]) => Ok(Val::Optional(Some(Box::new(v.clone())))),
        ("optional", "none", []) => Ok(Val::Optional(None)),
        ("optional", "ofNonZeroValue", [v]) => {
            let zero = match v {
                Val::Null => true,
                Val::Bool(b) => !b,
                Val::Int(i) => *i == 0,
                Val::Uint(u) => *u == 0,
                Val::Double(d) => *d == 0.0,
                Val::Str(x) => x.is_empty(),
                Val::List(l) => l.is_empty(),
                Val::Map(m) => m.is_empty(),
                _ => false,
            };
            Ok(Val::Optional(if zero { None } else { Some(Box::new(v.clone())) }))
        }
        ("sets", "contains", [Val::List(a), Val::List(b)]) => {
            Ok(Val::Bool(b.iter().all(|x| a.iter().any(|y| equals(x, y)))))
        }
        ("sets", "equivalent", [Val::List(a), Val::List(b)]) => Ok(Val::Bool(
            b.iter().all(|x| a.iter().any(|y| equals(x, y))) && a.iter().all(|x| b.iter().any(|y| equals(x, y))),
        )),
        ("sets", "intersects", [Val::List(a), Val::List(b)]) => {
            Ok(Val::Bool(a.iter().any(|x| b.iter().any(|y| equals(x, y)))))
        }
        ("base64", "encode", [Val::Bytes(b)]) => {
            use base64::Engine;
            Ok(s(&base64::engine::general_purpose::STANDARD.encode(b)))
        }
        ("base64", "decode", [Val::Str(x)]) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(x.as_bytes())
                .map(|b| Val::Bytes(b.into()))
                .map_err(|e| e.to_string())
        }
        _ => Err(format!("found no matching overload for '{ns}.{f}'")),
    }
}
