//! Invariants of the parsers: no input makes them panic, and text without placeholders stays as it is.
use medic_playbooks::parse_playbook;
use medic_playbooks::template::{Segment, Template};
use medic_playbooks::values::{is_quantity, parse_duration};
use proptest::prelude::*;

const OPEN: &str = "${";
const ESCAPED: &str = "$${";

proptest! {
    #[test]
    fn templates_parse_or_say_why(text in "\\PC{0,40}") {
        match Template::parse(&text) {
            Ok(t) => {
                if !text.contains('$') {
                    prop_assert_eq!(t.as_literal(), Some(text.as_str()));
                }
                // Literal segments never hold an unescaped placeholder.
                for s in &t.segments {
                    if let Segment::Literal(l) = s {
                        prop_assert!(!l.contains(OPEN) || text.contains(ESCAPED), "literal {:?} of {:?}", l, text);
                    }
                }
            }
            Err(e) => prop_assert!(text.contains(OPEN) && !e.is_empty(), "{:?}: {}", text, e),
        }
    }

    #[test]
    fn scalars_never_panic(text in "\\PC{0,20}") {
        let _ = parse_duration(&text);
        let _ = is_quantity(&text);
    }

    #[test]
    fn any_yaml_is_a_playbook_or_an_error_naming_the_file(text in "[a-z_:{}\\[\\], \\n$.0-9-]{0,200}") {
        match parse_playbook("p.yaml", &text) {
            Ok(p) => prop_assert!(!p.id.is_empty()),
            Err(e) => prop_assert!(e.to_string().contains("p.yaml"), "{}", e),
        }
    }
}
