//! Any bytes as a Slack interaction callback: the signature check on the raw body and the `block_actions`
//! parser may refuse it, never panic. The input's first line is the timestamp header, the second the
//! signature header, the rest the body; the body is also tried correctly signed, so the parser sees
//! everything the fuzzer makes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medic_slack::{Interaction, Verifier, interaction};

const NOW: i64 = 1_531_420_618;

fuzz_target!(|data: &[u8]| {
    let verifier = Verifier::new(b"8f742231b10e8888abcd99yyyzzz85a5", 300);
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let timestamp = parts.next().and_then(|t| std::str::from_utf8(t).ok());
    let signature = parts.next().and_then(|s| std::str::from_utf8(s).ok());
    let body = parts.next().unwrap_or_default();
    let _ = verifier.verify(timestamp, signature, body, NOW);

    let signed = verifier.sign(&NOW.to_string(), body);
    assert_eq!(verifier.verify(Some(&NOW.to_string()), Some(&signed), body, NOW), Ok(()));
    if let Ok(Interaction::BlockActions(actions)) = interaction::parse(body) {
        let by = actions.by();
        assert!(by.starts_with("slack:") && by[6..].bytes().all(|b| b.is_ascii_alphanumeric()), "{by}");
        let _ = actions.plan_clicks();
    }
});
