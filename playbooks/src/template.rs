//! Templates: strings with `${...}` placeholders that a plan fills from the hypothesis, the incident and
//! its context.
//!
//! References: `target.kind`, `target.namespace`, `target.name`; `params.<name>` (a declared parameter);
//! `incident.uid`, `incident.short`; and values derived from the context (`context.unhealthy_pod`,
//! `context.container`, `context.node`, `context.previous_revision`, `context.selector`).
use std::fmt;

/// A value derived from the incident's context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextValue {
    /// The target pod, or the target workload's pod that is failing (most restarts, not ready).
    UnhealthyPod,
    /// The container that last terminated in the target's pods, or the workload's only container.
    Container,
    /// The target node, or the node of the unhealthy pod.
    Node,
    /// The revision before the target deployment's current one.
    PreviousRevision,
    /// The target workload's pod selector (a map; only where a map is expected).
    Selector,
}

impl ContextValue {
    pub const ALL: [ContextValue; 5] = [
        ContextValue::UnhealthyPod,
        ContextValue::Container,
        ContextValue::Node,
        ContextValue::PreviousRevision,
        ContextValue::Selector,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContextValue::UnhealthyPod => "unhealthy_pod",
            ContextValue::Container => "container",
            ContextValue::Node => "node",
            ContextValue::PreviousRevision => "previous_revision",
            ContextValue::Selector => "selector",
        }
    }

    pub fn is_map(self) -> bool {
        matches!(self, ContextValue::Selector)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    TargetKind,
    TargetNamespace,
    TargetName,
    Param(String),
    IncidentUid,
    IncidentShort,
    Context(ContextValue),
}

impl Reference {
    fn parse(text: &str) -> Result<Self, String> {
        let (scope, name) = text.split_once('.').ok_or_else(|| format!("unknown reference ${{{text}}}"))?;
        Ok(match (scope, name) {
            ("target", "kind") => Reference::TargetKind,
            ("target", "namespace") => Reference::TargetNamespace,
            ("target", "name") => Reference::TargetName,
            ("params", p) if is_identifier(p) => Reference::Param(p.to_string()),
            ("incident", "uid") => Reference::IncidentUid,
            ("incident", "short") => Reference::IncidentShort,
            ("context", c) => match ContextValue::ALL.into_iter().find(|v| v.as_str() == c) {
                Some(v) => Reference::Context(v),
                None => {
                    let known: Vec<_> = ContextValue::ALL.iter().map(|v| v.as_str()).collect();
                    return Err(format!("unknown context value {c:?} (known: {})", known.join(", ")));
                }
            },
            _ => {
                return Err(format!(
                    "unknown reference ${{{text}}} (use target.kind|namespace|name, params.<name>, \
                     incident.uid|short or context.<value>)"
                ));
            }
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::TargetKind => f.write_str("${target.kind}"),
            Reference::TargetNamespace => f.write_str("${target.namespace}"),
            Reference::TargetName => f.write_str("${target.name}"),
            Reference::Param(p) => write!(f, "${{params.{p}}}"),
            Reference::IncidentUid => f.write_str("${incident.uid}"),
            Reference::IncidentShort => f.write_str("${incident.short}"),
            Reference::Context(c) => write!(f, "${{context.{}}}", c.as_str()),
        }
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Ref(Reference),
}

/// A parsed template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub segments: Vec<Segment>,
}

impl Template {
    /// Parse `text`; `$$` writes a literal `$`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(stripped) = after.strip_prefix('$') {
                literal.push('$');
                rest = stripped;
            } else if let Some(body) = after.strip_prefix('{') {
                let end = body.find('}').ok_or_else(|| format!("unterminated placeholder in {text:?}"))?;
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Ref(Reference::parse(body[..end].trim())?));
                rest = &body[end + 1..];
            } else {
                literal.push('$');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self { segments })
    }

    pub fn literal(text: impl Into<String>) -> Self {
        Self { segments: vec![Segment::Literal(text.into())] }
    }

    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref(r) => Some(r),
            Segment::Literal(_) => None,
        })
    }

    /// The reference when the template is exactly one placeholder and nothing else.
    pub fn sole_reference(&self) -> Option<&Reference> {
        match self.segments.as_slice() {
            [Segment::Ref(r)] => Some(r),
            _ => None,
        }
    }

    /// The text when the template has no placeholder.
    pub fn as_literal(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [] => Some(""),
            [Segment::Literal(s)] => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_literals_split() {
        let t = Template::parse("medic-quarantine-${target.name}").unwrap();
        assert_eq!(t.segments, vec![Segment::Literal("medic-quarantine-".into()), Segment::Ref(Reference::TargetName)]);
        assert_eq!(
            Template::parse("${ params.memory_limit }").unwrap().sole_reference(),
            Some(&Reference::Param("memory_limit".into()))
        );
        assert_eq!(Template::parse("cost $$5 and $x").unwrap().as_literal(), Some("cost $5 and $x"));
        assert_eq!(Template::parse("").unwrap().as_literal(), Some(""));
    }

    #[test]
    fn bad_placeholders_are_named() {
        let cases = [
            ("${target.name", "unterminated placeholder"),
            ("${target.uid}", "unknown reference ${target.uid}"),
            ("${context.pods}", "unknown context value \"pods\""),
            ("${params.}", "unknown reference"),
            ("${name}", "unknown reference ${name}"),
        ];
        for (text, expected) in cases {
            let err = Template::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
