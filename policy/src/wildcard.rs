//! Kyverno's wildcard matching (github.com/IGLOU-EU/go-wildcard v1.0.3): `*` matches any sequence of
//! characters, `/` included, `?` exactly one character; the whole text must match; no escapes.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    if pattern.is_empty() {
        return text.is_empty();
    }
    if pattern == "*" {
        return true;
    }
    if !contains_wildcard(pattern) {
        return pattern == text;
    }
    let (pb, tb) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < tb.len() {
        if p < pb.len() {
            let pc = next_char(pattern, p);
            if pc == '*' {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            let tc = next_char(text, t);
            if pc == '?' || pc == tc {
                p += pc.len_utf8();
                t += tc.len_utf8();
                continue;
            }
        }
        match star {
            Some((sp, st)) => {
                let advanced = st + next_char(text, st).len_utf8();
                star = Some((sp, advanced));
                p = sp;
                t = advanced;
            }
            None => return false,
        }
    }
    while p < pb.len() && pb[p] == b'*' {
        p += 1;
    }
    p == pb.len()
}

fn next_char(s: &str, at: usize) -> char {
    s[at..].chars().next().unwrap_or('\0')
}

/// Whether `s` contains a wildcard character.
pub fn contains_wildcard(s: &str) -> bool {
    s.bytes().any(|b| b == b'*' || b == b'?')
}

#[cfg(test)]
mod tests {
    use super::matches;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases = [
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "a/b/c", true),
            ("a*", "a", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbb", false),
            ("?", "", false),
            ("?", "é", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*.io/*", "ghcr.io/x/y", true),
            ("nginx", "nginx", true),
            ("nginx", "nginx:1", false),
            ("*:latest", "nginx:latest", true),
            ("**", "x", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(matches(p, t), want, "{p:?} vs {t:?}");
        }
    }

    proptest! {
        #[test]
        fn literal_patterns_match_only_themselves(s in "[a-z/.:-]{0,12}", t in "[a-z/.:-]{0,12}") {
            prop_assert_eq!(matches(&s, &t), s == t);
        }

        #[test]
        fn star_prefix_and_suffix_match_contained_text(a in "[a-z]{0,5}", b in "[a-z]{0,5}", c in "[a-z]{0,5}") {
            let text = format!("{a}{b}{c}");
            let pattern = format!("*{b}*");
            prop_assert!(matches(&pattern, &text));
        }

        #[test]
        fn question_marks_match_exactly_that_many_chars(s in "[a-zé]{0,8}") {
            let pattern: String = "?".repeat(s.chars().count());
            prop_assert!(matches(&pattern, &s));
            let longer = format!("{pattern}?");
            prop_assert!(!matches(&longer, &s));
        }
    }
}
