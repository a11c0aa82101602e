//! `semver_compare(version, range)` with blang/semver range syntax: `>=1.0.0 <2.0.0 || 3.x`, `!1.2.3`.
use super::{JpResult, runtime};
use semver::Version;
use std::cmp::Ordering;

fn parse_version(s: &str) -> Option<Version> {
    Version::parse(s).ok()
}

/// Expands `1`, `1.2`, `1.x`, `1.2.x` into bounds; returns (lower, upper-exclusive) for wildcards.
fn wildcard_bounds(v: &str) -> Option<(Version, Version)> {
    let parts: Vec<&str> = v.split('.').collect();
    let is_wild = |p: &str| p == "x" || p == "X" || p == "*";
    match parts.as_slice() {
        [major, minor, patch] if is_wild(patch) && !is_wild(minor) => {
            let (ma, mi): (u64, u64) = (major.parse().ok()?, minor.parse().ok()?);
            Some((Version::new(ma, mi, 0), Version::new(ma, mi + 1, 0)))
        }
        [major, minor] | [major, minor, _] if is_wild(minor) => {
            let ma: u64 = major.parse().ok()?;
            Some((Version::new(ma, 0, 0), Version::new(ma + 1, 0, 0)))
        }
        [major] if !is_wild(major) => {
            let ma: u64 = major.parse().ok()?;
            Some((Version::new(ma, 0, 0), Version::new(ma + 1, 0, 0)))
        }
        [major, minor] => {
            let (ma, mi): (u64, u64) = (major.parse().ok()?, minor.parse().ok()?);
            Some((Version::new(ma, mi, 0), Version::new(ma, mi + 1, 0)))
        }
        _ => None,
    }
}

fn comparator(term: &str, v: &Version) -> Option<bool> {
    let ops = [">=", "<=", "!=", "==", ">", "<", "!", "="];
    let (op, rest) = ops.iter().find_map(|op| term.strip_prefix(op).map(|r| (*op, r.trim()))).unwrap_or(("", term));
    if let Some(target) = parse_version(rest) {
        let ord = v.cmp_precedence(&target);
        return Some(match op {
            ">=" => ord != Ordering::Less,
            "<=" => ord != Ordering::Greater,
            ">" => ord == Ordering::Greater,
            "<" => ord == Ordering::Less,
            "!=" | "!" => ord != Ordering::Equal,
            _ => ord == Ordering::Equal,
        });
    }
    let (lo, hi) = wildcard_bounds(rest)?;
    let inside = v.cmp_precedence(&lo) != Ordering::Less && v.cmp_precedence(&hi) == Ordering::Less;
    Some(match op {
        "!=" | "!" => !inside,
        ">" => v.cmp_precedence(&hi) != Ordering::Less,
        ">=" => v.cmp_precedence(&lo) != Ordering::Less,
        "<" => v.cmp_precedence(&lo) == Ordering::Less,
        "<=" => v.cmp_precedence(&hi) == Ordering::Less,
        _ => inside,
    })
}

/// Whether `version` satisfies `range`.
pub fn matches(version: &str, range: &str) -> JpResult<bool> {
    let Some(v) = parse_version(version) else {
        return runtime(format!("semver_compare(): invalid version {version:?}"));
    };
    for alternative in range.split("||") {
        let mut all = true;
        let mut any_term = false;
        for term in alternative.split_whitespace() {
            any_term = true;
            match comparator(term, &v) {
                Some(true) => {}
                Some(false) => all = false,
                None => return runtime(format!("semver_compare(): invalid range {range:?}")),
            }
        }
        if !any_term {
            return runtime(format!("semver_compare(): invalid range {range:?}"));
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn ranges_table() {
        let cases = [
            ("1.2.3", ">=1.0.0 <2.0.0", true),
            ("2.0.0", ">=1.0.0 <2.0.0", false),
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "!1.2.3", false),
            ("1.2.3", "1.2.x", true),
            ("1.3.0", "1.2.x || >=1.3.0", true),
            ("0.9.0", "<1.0.0", true),
            ("1.2.3", ">1.2.3", false),
        ];
        for (v, r, want) in cases {
            assert_eq!(matches(v, r).unwrap(), want, "{v} {r}");
        }
        assert!(matches("x", ">1.0.0").is_err());
    }
}
