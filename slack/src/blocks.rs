//! Block Kit messages within Slack's limits.
//!
//! Slack refuses a message that breaks a limit (`invalid_blocks`), so a [`MessageBuilder`] enforces them as
//! it goes: texts are cut at their limit with an ellipsis, lists are capped, and when there are more than 50
//! blocks the ones in the middle give way to a note saying how many were left out, so that the header and
//! the buttons always survive. [`Message::violations`] lists whatever breaks a limit, for tests and for the
//! sinks' last check.
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Elements in one actions block.
pub const MAX_ACTION_ELEMENTS: usize = 25;
/// Elements in one context block.
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
/// Fields in one section.
pub const MAX_SECTION_FIELDS: usize = 10;
/// Characters of a section's text (and of a context element).
pub const MAX_TEXT: usize = 3000;
/// Characters of one section field.
pub const MAX_FIELD_TEXT: usize = 2000;
/// Characters of a header.
pub const MAX_HEADER_TEXT: usize = 150;
/// Characters of a button's label.
pub const MAX_BUTTON_TEXT: usize = 75;
/// Characters of a button's value.
pub const MAX_BUTTON_VALUE: usize = 2000;
/// Characters of a `block_id` or an `action_id`.
pub const MAX_ID: usize = 255;
/// Characters of the top-level `text` (the notification and fallback text). Slack accepts 40,000 but
/// advises staying under 4,000.
pub const MAX_FALLBACK_TEXT: usize = 4000;

/// A message as `chat.postMessage` and incoming webhooks take it (without channel or thread, which the sink
/// adds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// What notifications and clients without Block Kit show.
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Header {
        text: Text,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        block_id: Option<String>,
    },
    Section {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<Text>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Text>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        block_id: Option<String>,
    },
    Divider {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        block_id: Option<String>,
    },
    Context {
        elements: Vec<Text>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        block_id: Option<String>,
    },
    Actions {
        elements: Vec<Element>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        block_id: Option<String>,
    },
}

impl Block {
    fn block_id(&self) -> Option<&str> {
        match self {
            Block::Header { block_id, .. }
            | Block::Section { block_id, .. }
            | Block::Divider { block_id }
            | Block::Context { block_id, .. }
            | Block::Actions { block_id, .. } => block_id.as_deref(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Block::Header { .. } => "header",
            Block::Section { .. } => "section",
            Block::Divider { .. } => "divider",
            Block::Context { .. } => "context",
            Block::Actions { .. } => "actions",
        }
    }
}

/// A text object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Text {
    PlainText {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emoji: Option<bool>,
    },
    Mrkdwn {
        text: String,
    },
}

impl Text {
    /// Plain text, `:emoji:` codes shown as emoji.
    pub fn plain(text: impl Into<String>) -> Self {
        Text::PlainText { text: text.into(), emoji: Some(true) }
    }
    /// Slack's markdown. Escape what came from outside with [`escape`].
    pub fn mrkdwn(text: impl Into<String>) -> Self {
        Text::Mrkdwn { text: text.into() }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Text::PlainText { text, .. } | Text::Mrkdwn { text } => text,
        }
    }
}

/// An interactive element of an actions block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Element {
    Button {
        action_id: String,
        text: Text,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        style: Option<ButtonStyle>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ButtonStyle {
    Primary,
    Danger,
}

impl Element {
    pub fn button(action_id: &str, label: &str, value: &str, style: Option<ButtonStyle>) -> Self {
        let label = if label.trim().is_empty() { "…" } else { label };
        Element::Button {
            action_id: truncate(action_id, MAX_ID),
            text: Text::PlainText { text: truncate(label, MAX_BUTTON_TEXT), emoji: Some(true) },
            value: Some(truncate(value, MAX_BUTTON_VALUE)),
            style,
        }
    }
}

/// The length Slack's limits count. Slack does not say whether it counts code points or UTF-16 units;
/// UTF-16 units are never fewer, so a text within the limit by this count is within it either way.
pub fn length(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s` cut to at most `max` units of [`length`], ending in `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if length(s) <= max {
        return s.to_string();
    }
    let budget = max.saturating_sub(1);
    let mut used = 0;
    let mut out = String::with_capacity(s.len().min(max * 2));
    for c in s.chars() {
        used += c.len_utf16();
        if used > budget {
            break;
        }
        out.push(c);
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// Escapes the three characters Slack's markdown gives a meaning to (`&`, `<`, `>`), so text from an alert
/// or a log line cannot mention `@channel` or forge a link.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds a message block by block, enforcing Slack's limits. Blocks marked as kept (the header and the
/// buttons) survive when the message has too many blocks; the others give way from the end.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    text: String,
    blocks: Vec<(Block, bool)>,
}

impl MessageBuilder {
    /// `text` is the notification text (also what clients without Block Kit show). Slack reads it as
    /// markdown, so it is escaped here.
    pub fn new(text: impl AsRef<str>) -> Self {
        Self { text: truncate(&escape(text.as_ref()), MAX_FALLBACK_TEXT), blocks: Vec::new() }
    }

    fn push(mut self, block: Block, keep: bool) -> Self {
        self.blocks.push((block, keep));
        self
    }

    /// A header (plain text, kept).
    pub fn header(self, text: &str) -> Self {
        if text.trim().is_empty() {
            return self;
        }
        let text = Text::plain(truncate(text.trim(), MAX_HEADER_TEXT));
        self.push(Block::Header { text, block_id: None }, true)
    }

    /// A section of markdown text (empty text is skipped: Slack refuses it).
    pub fn section(self, mrkdwn: &str) -> Self {
        if mrkdwn.trim().is_empty() {
            return self;
        }
        let text = Some(Text::mrkdwn(truncate(mrkdwn, MAX_TEXT)));
        self.push(Block::Section { text, fields: Vec::new(), block_id: None }, false)
    }

    /// A section of `*label*\nvalue` fields, at most ten (the rest are dropped); empty values are skipped.
    pub fn fields<'a>(self, fields: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        let fields: Vec<Text> = fields
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .take(MAX_SECTION_FIELDS)
            .map(|(label, value)| Text::mrkdwn(truncate(&format!("*{label}*\n{value}"), MAX_FIELD_TEXT)))
            .collect();
        if fields.is_empty() {
            return self;
        }
        self.push(Block::Section { text: None, fields, block_id: None }, true)
    }

    /// A context line of markdown elements, at most ten.
    pub fn context(self, elements: impl IntoIterator<Item = String>) -> Self {
        let elements: Vec<Text> = elements
            .into_iter()
            .filter(|e| !e.trim().is_empty())
            .take(MAX_CONTEXT_ELEMENTS)
            .map(|e| Text::mrkdwn(truncate(&e, MAX_TEXT)))
            .collect();
        if elements.is_empty() {
            return self;
        }
        self.push(Block::Context { elements, block_id: None }, false)
    }

    /// A context line that survives when blocks must give way (the incident's identity).
    pub fn context_kept(self, elements: impl IntoIterator<Item = String>) -> Self {
        let before = self.blocks.len();
        let mut this = self.context(elements);
        if this.blocks.len() > before
            && let Some(last) = this.blocks.last_mut()
        {
            last.1 = true;
        }
        this
    }

    pub fn divider(self) -> Self {
        self.push(Block::Divider { block_id: None }, false)
    }

    /// An actions block (kept) with at most 25 elements; `block_id` is cut to 255 characters.
    pub fn actions(self, block_id: &str, elements: Vec<Element>) -> Self {
        let elements: Vec<Element> = elements.into_iter().take(MAX_ACTION_ELEMENTS).collect();
        if elements.is_empty() {
            return self;
        }
        let block_id = Some(truncate(block_id, MAX_ID)).filter(|id| !id.is_empty());
        self.push(Block::Actions { elements, block_id }, true)
    }

    /// The message: at most 50 blocks (the blocks that give way are replaced by a note saying how many),
    /// block ids unique.
    pub fn build(self) -> Message {
        let mut blocks = self.blocks;
        if blocks.len() > MAX_BLOCKS {
            // Room for the note, then drop the last blocks that may go until the rest fits.
            let mut excess = blocks.len() - (MAX_BLOCKS - 1);
            let mut dropped = 0usize;
            let mut note_at = None;
            for i in (0..blocks.len()).rev() {
                if excess == 0 {
                    break;
                }
                if !blocks[i].1 {
                    blocks.remove(i);
                    excess -= 1;
                    dropped += 1;
                    note_at = Some(i);
                }
            }
            // When everything is kept (never, with the renderer's shapes), keep the first blocks.
            if excess > 0 {
                dropped += excess;
                blocks.truncate(MAX_BLOCKS - 1);
            }
            let note = Block::Context {
                elements: vec![Text::mrkdwn(format!("_{dropped} more blocks not shown: see the incident in medic_"))],
                block_id: None,
            };
            let at = note_at.unwrap_or(blocks.len()).min(blocks.len());
            blocks.insert(at, (note, true));
        }
        let mut seen = HashSet::new();
        let blocks = blocks
            .into_iter()
            .map(|(mut block, _)| {
                if let Some(id) = block.block_id().map(str::to_string)
                    && !seen.insert(id.clone())
                {
                    set_block_id(&mut block, None);
                }
                block
            })
            .collect();
        Message { text: self.text, blocks }
    }
}

fn set_block_id(block: &mut Block, id: Option<String>) {
    match block {
        Block::Header { block_id, .. }
        | Block::Section { block_id, .. }
        | Block::Divider { block_id }
        | Block::Context { block_id, .. }
        | Block::Actions { block_id, .. } => *block_id = id,
    }
}

impl Message {
    /// A message of text alone: what a sink falls back to when Slack refuses the blocks.
    pub fn text_only(&self) -> Message {
        Message { text: self.text.clone(), blocks: Vec::new() }
    }

    /// Every way this message breaks one of Slack's limits (empty when Slack would take it).
    pub fn violations(&self) -> Vec<String> {
        let mut found = Vec::new();
        fn over(found: &mut Vec<String>, what: String, len: usize, max: usize) {
            if len > max {
                found.push(format!("{what}: {len} > {max}"));
            }
        }
        over(&mut found, "text".into(), length(&self.text), MAX_FALLBACK_TEXT);
        over(&mut found, "blocks".into(), self.blocks.len(), MAX_BLOCKS);
        let mut ids = HashSet::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let at = format!("blocks[{i}] ({})", block.kind());
            if let Some(id) = block.block_id() {
                over(&mut found, format!("{at}.block_id"), length(id), MAX_ID);
                if !ids.insert(id) {
                    found.push(format!("{at}.block_id: {id:?} is not unique"));
                }
            }
            match block {
                Block::Header { text, .. } => {
                    if !matches!(text, Text::PlainText { .. }) {
                        found.push(format!("{at}.text: a header takes plain_text"));
                    }
                    over(&mut found, format!("{at}.text"), length(text.as_str()), MAX_HEADER_TEXT);
                    if text.as_str().trim().is_empty() {
                        found.push(format!("{at}.text: empty"));
                    }
                }
                Block::Section { text, fields, .. } => {
                    if text.is_none() && fields.is_empty() {
                        found.push(format!("{at}: a section needs text or fields"));
                    }
                    if let Some(text) = text {
                        over(&mut found, format!("{at}.text"), length(text.as_str()), MAX_TEXT);
                        if text.as_str().is_empty() {
                            found.push(format!("{at}.text: empty"));
                        }
                    }
                    over(&mut found, format!("{at}.fields"), fields.len(), MAX_SECTION_FIELDS);
                    for (j, field) in fields.iter().enumerate() {
                        over(&mut found, format!("{at}.fields[{j}]"), length(field.as_str()), MAX_FIELD_TEXT);
                    }
                }
                Block::Divider { .. } => {}
                Block::Context { elements, .. } => {
                    if elements.is_empty() {
                        found.push(format!("{at}.elements: empty"));
                    }
                    over(&mut found, format!("{at}.elements"), elements.len(), MAX_CONTEXT_ELEMENTS);
                    for (j, e) in elements.iter().enumerate() {
                        over(&mut found, format!("{at}.elements[{j}]"), length(e.as_str()), MAX_TEXT);
                    }
                }
                Block::Actions { elements, .. } => {
                    if elements.is_empty() {
                        found.push(format!("{at}.elements: empty"));
                    }
                    over(&mut found, format!("{at}.elements"), elements.len(), MAX_ACTION_ELEMENTS);
                    for (j, Element::Button { action_id, text, value, .. }) in elements.iter().enumerate() {
                        over(&mut found, format!("{at}.elements[{j}].action_id"), length(action_id), MAX_ID);
                        over(&mut found, format!("{at}.elements[{j}].text"), length(text.as_str()), MAX_BUTTON_TEXT);
                        if text.as_str().is_empty() || action_id.is_empty() {
                            found.push(format!("{at}.elements[{j}]: empty text or action_id"));
                        }
                        if let Some(value) = value {
                            over(&mut found, format!("{at}.elements[{j}].value"), length(value), MAX_BUTTON_VALUE);
                        }
                    }
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn truncation_respects_the_limit_and_char_boundaries() {
        let cases: &[(&str, usize, &str)] = &[
            ("short", 10, "short"),
            ("exactly10!", 10, "exactly10!"),
            ("eleven char", 10, "eleven ch…"),
            ("ééééé", 3, "éé…"),
            // An emoji is two UTF-16 units: it does not fit in the one unit left before the ellipsis.
            ("a😀b", 2, "a…"),
            ("abc", 0, ""),
        ];
        for (input, max, expected) in cases {
            let cut = truncate(input, *max);
            assert_eq!(cut, *expected, "truncate({input:?}, {max})");
            assert!(length(&cut) <= *max);
        }
    }

    #[test]
    fn escaping_defuses_mentions_and_links() {
        assert_eq!(escape("<!channel> & <http://x|y>"), "&lt;!channel&gt; &amp; &lt;http://x|y&gt;");
    }

    #[test]
    fn too_many_blocks_keep_the_header_and_the_buttons() {
        let mut builder = MessageBuilder::new("t").header("Header");
        for i in 0..120 {
            builder = builder.section(&format!("section {i}"));
        }
        let buttons = vec![Element::button("approve", "Approve", "plan", Some(ButtonStyle::Primary))];
        let message = builder.actions("incident", buttons).build();
        assert_eq!(message.blocks.len(), MAX_BLOCKS);
        assert!(message.violations().is_empty(), "{:?}", message.violations());
        assert!(matches!(message.blocks[0], Block::Header { .. }));
        assert!(matches!(message.blocks.last(), Some(Block::Actions { .. })));
        let note = message.blocks.iter().find_map(|b| match b {
            Block::Context { elements, .. } => Some(elements[0].as_str().to_string()),
            _ => None,
        });
        assert_eq!(note.as_deref(), Some("_73 more blocks not shown: see the incident in medic_"));
        // The first sections are the ones that stay.
        assert!(matches!(&message.blocks[1], Block::Section { text: Some(t), .. } if t.as_str() == "section 0"));
    }

    #[test]
    fn duplicate_block_ids_are_dropped_and_violations_are_reported() {
        let button = || vec![Element::button("approve", "Approve", "p", None)];
        let message = MessageBuilder::new("t").actions("same", button()).actions("same", button()).build();
        assert!(message.violations().is_empty(), "{:?}", message.violations());

        let broken = Message {
            text: "x".repeat(5000),
            blocks: vec![
                Block::Header { text: Text::mrkdwn("h".repeat(200)), block_id: Some("i".repeat(300)) },
                Block::Section { text: None, fields: Vec::new(), block_id: None },
                Block::Actions { elements: Vec::new(), block_id: None },
            ],
        };
        let found = broken.violations();
        for expected in [
            "text: 5000 > 4000",
            "blocks[0] (header).block_id: 300 > 255",
            "blocks[0] (header).text: a header takes plain_text",
            "blocks[0] (header).text: 200 > 150",
            "blocks[1] (section): a section needs text or fields",
            "blocks[2] (actions).elements: empty",
        ] {
            assert!(found.iter().any(|f| f == expected), "{expected} not in {found:#?}");
        }
    }

    #[test]
    fn the_wire_shape_is_slacks() {
        let message = MessageBuilder::new("fallback")
            .header("KubePodCrashLooping")
            .fields([("Namespace:", "default".to_string())])
            .actions(
                "uid",
                vec![
                    Element::button("approve", "Approve", "plan", Some(ButtonStyle::Primary)),
                    Element::button("reject", "Reject", "plan", Some(ButtonStyle::Danger)),
                ],
            )
            .build();
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"text": "fallback", "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "KubePodCrashLooping", "emoji": true}},
                {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Namespace:*\ndefault"}]},
                {"type": "actions", "block_id": "uid", "elements": [
                    {"type": "button", "action_id": "approve", "style": "primary",
                     "text": {"type": "plain_text", "text": "Approve", "emoji": true}, "value": "plan"},
                    {"type": "button", "action_id": "reject", "style": "danger",
                     "text": {"type": "plain_text", "text": "Reject", "emoji": true}, "value": "plan"}]}]})
        );
        let back: Message = serde_json::from_value(json).unwrap();
        assert_eq!(back, message);
    }

    proptest! {
        #[test]
        fn any_text_is_cut_within_its_limit(s in "\\PC{0,400}", max in 0usize..300) {
            let cut = truncate(&s, max);
            prop_assert!(length(&cut) <= max);
            if length(&s) <= max {
                prop_assert_eq!(&cut, &s);
            } else {
                prop_assert!(s.starts_with(cut.trim_end_matches('…')));
            }
        }

        #[test]
        fn any_build_is_within_the_limits(
            sections in proptest::collection::vec("\\PC{0,4000}", 0..80),
            fields in proptest::collection::vec(("\\PC{0,20}", "\\PC{0,2500}"), 0..15),
            header in "\\PC{0,300}",
            block_id in "\\PC{0,400}",
        ) {
            let mut b = MessageBuilder::new(&header).header(&header);
            b = b.fields(fields.iter().map(|(l, v)| (l.as_str(), v.clone())));
            for s in &sections {
                b = b.section(s).context([s.clone()]);
            }
            let message = b.actions(&block_id, vec![Element::button("approve", &header, &block_id, None)]).build();
            prop_assert!(message.violations().is_empty(), "{:?}", message.violations());
        }
    }
}
