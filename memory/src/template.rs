//! Log lines and event messages normalised to templates: the parts that change from one occurrence of a
//! failure to the next (numbers, ids, hashes, UUIDs, addresses, timestamps, pod-name suffixes) are replaced
//! by placeholders, so the same failure on another pod, node or day reads the same.
//!
//! A hand-written scanner rather than a chain of regexes: it runs on every log line of every incident, in
//! one pass, writing into one output buffer.

/// Lines longer than this are cut before normalising (at a character boundary): the start of a log line
/// carries the message; the tail of a huge line carries payloads.
pub const MAX_LINE_BYTES: usize = 512;

/// Characters that separate tokens and are copied through unchanged.
fn is_delimiter(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '`' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | ',' | ';' | '=' | '|' | '/' | '\\' | '@'
    )
}

/// The alphabet Kubernetes draws generated name suffixes from (no vowels, no look-alike digits).
fn is_generated_name_char(c: char) -> bool {
    matches!(
        c.to_ascii_lowercase(),
        'b' | 'c'
            | 'd'
            | 'f'
            | 'g'
            | 'h'
            | 'j'
            | 'k'
            | 'l'
            | 'm'
            | 'n'
            | 'p'
            | 'q'
            | 'r'
            | 's'
            | 't'
            | 'v'
            | 'w'
            | 'x'
            | 'z'
            | '2'
            | '4'
            | '5'
            | '6'
            | '7'
            | '8'
            | '9'
    )
}

/// The normalised template of one line, lowercased, with runs of whitespace collapsed.
pub fn template(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(MAX_LINE_BYTES) + 8);
    template_into(line, &mut out);
    out
}

/// As [`template`], appending to `out`.
pub fn template_into(line: &str, out: &mut String) {
    let line = truncate(line.trim(), MAX_LINE_BYTES);
    let start = out.len();
    let mut token_start: Option<usize> = None;
    let mut pending_space = false;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() || is_delimiter(c) {
            if let Some(s) = token_start.take() {
                emit_spaced(&line[s..i], out, &mut pending_space, start);
            }
            if c.is_whitespace() {
                pending_space = true;
            } else {
                flush_space(out, &mut pending_space, start);
                out.push(c);
            }
        } else if token_start.is_none() {
            token_start = Some(i);
        }
    }
    if let Some(s) = token_start {
        emit_spaced(&line[s..], out, &mut pending_space, start);
    }
}

fn flush_space(out: &mut String, pending_space: &mut bool, start: usize) {
    if *pending_space && out.len() > start {
        out.push(' ');
    }
    *pending_space = false;
}

fn emit_spaced(token: &str, out: &mut String, pending_space: &mut bool, start: usize) {
    flush_space(out, pending_space, start);
    normalise_token(token, out);
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Writes the normalised form of one token (no whitespace, no delimiters).
fn normalise_token(token: &str, out: &mut String) {
    // Punctuation around a value (`10.0.0.5:6379:`, `code 137.`, `#42`) is not part of it.
    let body = token.trim_start_matches(['!', '?', '#', '*', '~', ',', ';']);
    out.push_str(&token[..token.len() - body.len()]);
    let trimmed = body.trim_end_matches(['.', ',', ':', ';', '!', '?', '*']);
    normalise_body(trimmed, out);
    out.push_str(&body[trimmed.len()..]);
}

fn normalise_body(token: &str, out: &mut String) {
    if token.is_empty() {
        return;
    }
    if let Some(placeholder) = classify_whole(token) {
        out.push_str(placeholder);
        return;
    }
    for separator in [':', '_', '-', '.'] {
        if token.contains(separator) {
            if separator == '-' {
                normalise_dashed(token, out);
            } else {
                join_normalised(token.split(separator), separator, out);
            }
            return;
        }
    }
    normalise_leaf(token, out);
}

fn join_normalised<'a>(parts: impl Iterator<Item = &'a str>, separator: char, out: &mut String) {
    for (n, part) in parts.enumerate() {
        if n > 0 {
            out.push(separator);
        }
        normalise_token(part, out);
    }
}

/// `cart-7d9f8b6c4-x2x9z` → `cart-<pod>`; `fluentd-x2x9z` → `fluentd-<pod>`; other dashed words part by part.
fn normalise_dashed(token: &str, out: &mut String) {
    let mut end = token.len();
    let mut generated = false;
    if let Some(dash) = token[..end].rfind('-') {
        let last = &token[dash + 1..end];
        if dash > 0 && last.len() == 5 && last.chars().all(is_generated_name_char) {
            end = dash;
            generated = true;
            if let Some(dash) = token[..end].rfind('-') {
                let hash = &token[dash + 1..end];
                if dash > 0 && (6..=10).contains(&hash.len()) && hash.chars().all(is_generated_name_char) {
                    end = dash;
                }
            }
        }
    }
    join_normalised(token[..end].split('-'), '-', out);
    if generated {
        out.push_str("-<pod>");
    }
}

/// A token with no separator left.
fn normalise_leaf(token: &str, out: &mut String) {
    if is_random_id(token) {
        out.push_str("<id>");
    } else {
        out.extend(token.chars().flat_map(char::to_lowercase));
    }
}

/// Placeholders for tokens recognised as a whole.
fn classify_whole(token: &str) -> Option<&'static str> {
    if is_uuid(token) {
        Some("<uuid>")
    } else if is_ip_address(token) {
        Some("<ip>")
    } else if is_timestamp(token) {
        Some("<ts>")
    } else if is_number(token) {
        Some("<num>")
    } else if is_hex_hash(token) {
        Some("<hex>")
    } else if is_duration(token) {
        Some("<num>")
    } else {
        None
    }
}

fn is_uuid(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, &c)| if matches!(i, 8 | 13 | 18 | 23) { c == b'-' } else { c.is_ascii_hexdigit() })
}

/// IPv4 with an optional `:port` or `/prefix`, or IPv6 (optionally bracketed, with a port).
fn is_ip_address(t: &str) -> bool {
    is_ipv4_with_port(t) || is_ipv6(t)
}

fn is_ipv4_with_port(t: &str) -> bool {
    let (addr, port) = match t.rsplit_once(':') {
        Some((a, p)) => (a, Some(p)),
        None => (t, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    let mut octets = 0;
    for part in addr.split('.') {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
        octets += 1;
    }
    octets == 4
}

fn is_ipv6(t: &str) -> bool {
    let addr = t.strip_prefix('[').map_or(t, |rest| rest.split_once(']').map_or(rest, |(a, _)| a));
    let colons = addr.bytes().filter(|&c| c == b':').count();
    // At least two colons and only hex digits otherwise: `fe80::1`, `2001:db8::8a2e:370:7334`. A time such
    // as `12:30:45` is taken by the timestamp rule first.
    colons >= 2
        && addr.len() >= 3
        && addr.bytes().all(|c| c == b':' || c.is_ascii_hexdigit() || c == b'.')
        && addr.bytes().any(|c| c.is_ascii_hexdigit())
}

/// `2024-05-01T10:00:00.123Z`, `2024-05-01`, `10:00:00`, `10:00:00.123456`, `+00:00` offsets.
fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() < 8 || !b[0].is_ascii_digit() {
        return false;
    }
    let allowed = b.iter().all(|&c| c.is_ascii_digit() || matches!(c, b'-' | b':' | b'.' | b'T' | b'Z' | b'+' | b','));
    if !allowed {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let colons = b.iter().filter(|&&c| c == b':').count();
    let is_date = b.len() >= 10 && b[4] == b'-' && b[7] == b'-';
    digits >= 6 && (is_date || colons >= 2)
}

/// `137`, `-1`, `0.25`, `1e-3`, `512Mi`, `250m`, `1.5s`, `99%`.
fn is_number(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits_start {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == frac {
            return false;
        }
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < b.len() && matches!(b[j], b'+' | b'-') {
            j += 1;
        }
        let exp = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp {
            i = j;
        }
    }
    let unit = &b[i..];
    unit.len() <= 3 && unit.iter().all(|c| c.is_ascii_alphabetic() || *c == b'%')
}

/// `5m30s`, `1h2m3.5s`: digit groups each followed by a short unit.
fn is_duration(t: &str) -> bool {
    let b = t.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let d = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let u = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        if i == d || u == d || i - u > 2 || (i == u && i < b.len()) {
            return false;
        }
    }
    true
}

/// Commit ids, digests, trace ids: `0x1f`, `sha256:…` parts, `7d9f8b6c4`, `deadbeef00`.
fn is_hex_hash(t: &str) -> bool {
    if let Some(rest) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_hexdigit());
    }
    let b = t.as_bytes();
    if b.len() < 6 || !b.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    let has_digit = b.iter().any(u8::is_ascii_digit);
    let has_letter = b.iter().any(u8::is_ascii_alphabetic);
    (has_digit && (has_letter || b.len() >= 16)) || b.len() >= 24
}

/// Request ids, tokens, base62 names: long, and mixing letters and digits.
fn is_random_id(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() < 10 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.len() - digits;
    digits >= 2 && letters >= 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn variable_parts_become_placeholders() {
        let cases = [
            (
                "2024-05-01T10:00:00.123Z ERROR dial tcp 10.0.0.5:6379: connect: connection refused",
                "<ts> error dial tcp <ip>: connect: connection refused",
            ),
            (
                "Back-off restarting failed container app in pod cart-7d9f8b6c4-x2x9z_shop(0d1f3c2e-5b6a-4c7d-8e9f-0a1b2c3d4e5f)",
                "back-off restarting failed container app in pod cart-<pod>_shop(<uuid>)",
            ),
            ("java.lang.OutOfMemoryError: Java heap space", "java.lang.outofmemoryerror: java heap space"),
            (
                "Container app exceeded its memory limit of 256Mi after 1.5s",
                "container app exceeded its memory limit of <num> after <num>",
            ),
            ("request_id=req_8f3a9c2b1d7e latency=5m30s status=503", "request_id=req_<hex> latency=<num> status=<num>"),
            (
                "Successfully pulled image \"registry.example.com/shop/cart:v1.4.2@sha256:9f86d081884c7d659a2feaa0c55ad015\"",
                "successfully pulled image \"registry.example.com/shop/cart:v1.<num>.<num>@sha256:<hex>\"",
            ),
            ("connection from [fe80::1]:8080 reset", "connection from [<ip>]:<num> reset"),
            ("node ip-10-0-1-23.ec2.internal NotReady", "node ip-<num>-<num>-<num>-<num>.ec2.internal notready"),
            ("fluentd-x2x9z   evicted", "fluentd-<pod> evicted"),
            ("  ", ""),
        ];
        for (line, want) in cases {
            assert_eq!(template(line), want, "line: {line}");
        }
    }

    #[test]
    fn the_same_failure_on_other_pods_and_days_reads_the_same() {
        let a = "2024-05-01 10:00:00 cart-7d9f8b6c4-x2x9z panic: redis 10.0.0.5:6379 timeout after 3000ms (attempt 3)";
        let b =
            "2025-11-30 23:59:59 cart-5c6b7f8d9-q8w4z panic: redis 10.244.1.17:6379 timeout after 2998ms (attempt 1)";
        assert_eq!(template(a), template(b));
    }

    #[test]
    fn words_are_kept() {
        for word in ["cafe", "added", "https", "kubelet", "OOMKilled", "v2", "mysql"] {
            assert_eq!(template(word), word.to_lowercase());
        }
    }

    #[test]
    fn long_lines_are_cut_at_a_char_boundary() {
        let line = "é".repeat(MAX_LINE_BYTES);
        assert!(template(&line).len() <= MAX_LINE_BYTES);
    }

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(line in "[ -~éß\t]{0,200}") {
            let once = template(&line);
            prop_assert_eq!(template(&once), once.clone());
        }

        #[test]
        fn numbers_never_survive(prefix in "[a-z]{1,8}", n in 0u64..u64::MAX, suffix in "[a-z]{1,8}") {
            let t = template(&format!("{prefix} {n} {suffix}"));
            prop_assert_eq!(t, format!("{prefix} <num> {suffix}"));
        }
    }
}
