//! Pattern anchors: `(key)` conditional, `<(key)` global, `=(key)` equality, `^(key)` existence,
//! `X(key)` negation and `+(key)` add-if-not-present (a mutate anchor that validation treats as a plain key).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorKind {
    Condition,
    Global,
    Negation,
    AddIfNotPresent,
    Equality,
    Existence,
}

/// A parsed anchor key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor<'a> {
    pub kind: AnchorKind,
    pub key: &'a str,
}

/// Parses `key` as an anchor (`^([+<=X^])?\((.+)\)$`), or `None` for a plain key.
pub fn parse(key: &str) -> Option<Anchor<'_>> {
    let b = key.as_bytes();
    if b.len() < 3 || b[b.len() - 1] != b')' {
        return None;
    }
    let (kind, open) = match b[0] {
        b'(' => (AnchorKind::Condition, 0),
        b'<' => (AnchorKind::Global, 1),
        b'X' => (AnchorKind::Negation, 1),
        b'+' => (AnchorKind::AddIfNotPresent, 1),
        b'=' => (AnchorKind::Equality, 1),
        b'^' => (AnchorKind::Existence, 1),
        _ => return None,
    };
    if b[open] != b'(' || b.len() < open + 3 {
        return None;
    }
    Some(Anchor { kind, key: &key[open + 1..key.len() - 1] })
}

/// Rebuilds the anchor text for `kind` around `key`.
pub fn render(kind: AnchorKind, key: &str) -> String {
    let prefix = match kind {
        AnchorKind::Condition => "",
        AnchorKind::Global => "<",
        AnchorKind::Negation => "X",
        AnchorKind::AddIfNotPresent => "+",
        AnchorKind::Equality => "=",
        AnchorKind::Existence => "^",
    };
    format!("{prefix}({key})")
}

/// Whether `key` is one of the anchors processed before plain keys (condition, existence, equality, negation).
pub fn is_handled_first(key: &str) -> bool {
    matches!(
        parse(key).map(|a| a.kind),
        Some(AnchorKind::Condition | AnchorKind::Existence | AnchorKind::Equality | AnchorKind::Negation)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_anchor() {
        let cases = [
            ("(name)", Some((AnchorKind::Condition, "name"))),
            ("<(name)", Some((AnchorKind::Global, "name"))),
            ("X(hostPath)", Some((AnchorKind::Negation, "hostPath"))),
            ("+(x)", Some((AnchorKind::AddIfNotPresent, "x"))),
            ("=(image)", Some((AnchorKind::Equality, "image"))),
            ("^(containers)", Some((AnchorKind::Existence, "containers"))),
            ("(a.b/c)", Some((AnchorKind::Condition, "a.b/c"))),
            ("()", None),
            ("X()", None),
            ("name", None),
            ("(name", None),
            ("Y(name)", None),
            ("=name)", None),
        ];
        for (key, want) in cases {
            assert_eq!(parse(key).map(|a| (a.kind, a.key)), want, "{key}");
        }
        assert_eq!(render(AnchorKind::Equality, "x"), "=(x)");
    }
}
