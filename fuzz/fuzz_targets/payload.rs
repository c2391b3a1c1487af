//! Arbitrary bytes into the typed payload parsers: nothing may panic, and
//! whatever parses must serialize and parse back to the same typed value.
#![no_main]

use hookwire::model::experience::ExperienceEvent;
use hookwire::model::journey::JourneyPayload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = ExperienceEvent::from_json(data) {
        let bytes = serde_json::to_vec(&event).expect("a parsed experience event serializes");
        let again = ExperienceEvent::from_json(&bytes).expect("what hookwire writes, it parses");
        assert_eq!(again, event, "experience event round trip");
    }
    if let Ok(payload) = JourneyPayload::from_json(data) {
        let bytes = serde_json::to_vec(&payload).expect("a parsed journey payload serializes");
        let again = JourneyPayload::from_json(&bytes).expect("what hookwire writes, it parses");
        assert_eq!(again, payload, "journey payload round trip");
    }
});
