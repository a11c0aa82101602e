//! The message medic posts when the watchtower suspends every write (the reasoning backend answers too
//! slowly or keeps failing) and when writes resume. It is about medic, not about one incident, so it names
//! no incident and opens no thread.
use jiff::{SignedDuration, Timestamp};

use super::RenderOptions;
use crate::blocks::{Message, MessageBuilder, escape};

/// A change of whether medic may write to the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WritesChange {
    /// Every write is suspended since `since`; medic is monitor-only.
    Suspended { reason: String, since: Timestamp },
    /// Writes resume at `at`; they were suspended since `suspended_since`, when known.
    Resumed { reason: String, suspended_since: Option<Timestamp>, at: Timestamp },
}

/// The message for a suspension or resumption of writes.
pub fn render_writes(change: &WritesChange, options: &RenderOptions) -> Message {
    let (builder, when) = match change {
        WritesChange::Suspended { reason, since } => (
            MessageBuilder::new(format!(
                "medic: writes suspended, monitor-only until the reasoning backend recovers ({reason})"
            ))
            .header(":octagonal_sign: Writes suspended: medic is monitor-only")
            .section(&format!("*Why:* {}", escape(reason)))
            .section(
                "medic keeps diagnosing and reporting incidents but applies no fix: each plan is escalated to a \
                     human until the reasoning backend answers promptly again.",
            ),
            format!("since {}", utc(*since)),
        ),
        WritesChange::Resumed { reason, suspended_since, at } => {
            let mut why = escape(reason);
            if let Some(since) = suspended_since {
                why.push_str(&format!("\nWrites were suspended for {} (since {}).", span(*since, *at), utc(*since)));
            }
            (
                MessageBuilder::new(format!("medic: writes resume, the reasoning backend recovered ({reason})"))
                    .header(":large_green_circle: Writes resume: the reasoning backend recovered")
                    .section(&why)
                    .section("Plans are applied again, within each namespace's mode."),
                format!("at {}", utc(*at)),
            )
        }
    };
    let mut context = vec![format!("medic · watchtower · {when}")];
    if let Some(base) = &options.base_url {
        context.push(format!("<{}/v1/health|health>", base.trim_end_matches('/')));
    }
    builder.context_kept(context).build()
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `from` to `to` for people: `45 s`, `3 min 20 s`, `2 h 5 min`.
fn span(from: Timestamp, to: Timestamp) -> String {
    let secs = to.duration_since(from).max(SignedDuration::ZERO).as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::Block;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn all_text(message: &Message) -> String {
        let mut all = vec![message.text.clone()];
        for block in &message.blocks {
            match block {
                Block::Header { text, .. } => all.push(text.as_str().to_string()),
                Block::Section { text, .. } => all.extend(text.iter().map(|t| t.as_str().to_string())),
                Block::Context { elements, .. } => all.extend(elements.iter().map(|t| t.as_str().to_string())),
                Block::Divider { .. } | Block::Actions { .. } => {}
            }
        }
        all.join("\n")
    }

    #[test]
    fn suspension_and_resumption_say_what_happened_and_why() {
        let options = RenderOptions { base_url: Some("https://medic.example.com/".into()), ..Default::default() };
        let suspended = WritesChange::Suspended {
            reason: "llama3.1:8b answered in 72.4 s, slower than the 60 s threshold".into(),
            since: at("2026-11-22T19:04:12Z"),
        };
        let resumed = WritesChange::Resumed {
            reason: "llama3.1:8b answered in 0.8 s, 2 prompt answers in a row".into(),
            suspended_since: Some(at("2026-11-22T19:04:12Z")),
            at: at("2026-11-22T19:07:32Z"),
        };
        // (change, text starts with, expected in the blocks)
        let cases: [(&WritesChange, &str, &[&str]); 2] = [
            (
                &suspended,
                "medic: writes suspended",
                &[
                    ":octagonal_sign: Writes suspended: medic is monitor-only",
                    "*Why:* llama3.1:8b answered in 72.4 s, slower than the 60 s threshold",
                    "keeps diagnosing and reporting",
                    "medic · watchtower · since 2026-11-22 19:04:12 UTC",
                    "<https://medic.example.com/v1/health|health>",
                ],
            ),
            (
                &resumed,
                "medic: writes resume",
                &[
                    ":large_green_circle: Writes resume: the reasoning backend recovered",
                    "2 prompt answers in a row",
                    "suspended for 3 min 20 s (since 2026-11-22 19:04:12 UTC)",
                    "medic · watchtower · at 2026-11-22 19:07:32 UTC",
                ],
            ),
        ];
        for (change, starts, expected) in cases {
            let message = render_writes(change, &options);
            assert!(message.text.starts_with(starts), "{}", message.text);
            assert!(message.violations().is_empty(), "{:?}", message.violations());
            assert!(matches!(message.blocks.first(), Some(Block::Header { .. })), "{:?}", message.blocks);
            let text = all_text(&message);
            for want in expected {
                assert!(text.contains(want), "{want:?} missing from:\n{text}");
            }
            assert!(!text.contains("inc-"), "names no incident:\n{text}");
        }
    }

    #[test]
    fn a_huge_or_hostile_reason_stays_within_slacks_limits_and_is_escaped() {
        let reason = format!("<!channel> {}", "connection refused & reset ".repeat(2_000));
        let changes = [
            WritesChange::Suspended { reason: reason.clone(), since: at("2026-11-22T19:04:12Z") },
            WritesChange::Resumed { reason, suspended_since: None, at: at("2026-11-22T21:10:00Z") },
        ];
        for change in &changes {
            let message = render_writes(change, &RenderOptions::default());
            assert!(message.violations().is_empty(), "{:?}", message.violations());
            let text = all_text(&message);
            assert!(!text.contains("<!channel>"), "a mention in the reason is escaped");
            assert!(text.contains("&lt;!channel&gt;"));
        }
    }

    #[test]
    fn durations_read_naturally() {
        let from = at("2026-11-22T19:00:00Z");
        let cases = [(45, "45 s"), (200, "3 min 20 s"), (7_500, "2 h 5 min")];
        for (secs, want) in cases {
            assert_eq!(span(from, from + SignedDuration::from_secs(secs)), want);
        }
        assert_eq!(span(from, from - SignedDuration::from_secs(5)), "0 s");
    }
}
