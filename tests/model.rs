//! Behaviour of the typed model: the seed fixtures parse and round-trip,
//! rebuild from typed values, survive unknown fields and enum values, and bad
//! input is reported by field.

#[path = "../examples/quickstart/seed_data.rs"]
mod seed_data;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwire::model::experience::{
    DiscountApplicationMethod, DiscountApplicationType, DiscountType, EventAction,
    ExperienceActionKind, ExperienceCategory, ExperienceEvent, ExperienceStatus, ExperienceType,
    Organization, PriceChangeUnit, RedirectFilter, RedirectType, UnitType,
};
use hookwire::model::journey::template::TemplateError;
use hookwire::model::journey::{
    Account, Auth, Consent, ConsentAction, ConsentState, JourneyError, JourneyPayload, JourneyStep,
    Profile, SkipReason,
};
use hookwire::model::{
    rfc3339, Amount, ConnectionTest, Event, ExperienceWebhook, Extra, RawJson, TimestampError,
    UnixMillis,
};
use serde_json::{json, Value};

const EXPERIENCE: [&str; 3] = ["createExperience", "startExperience", "endExperience"];
const JOURNEY: [&str; 3] = [
    "post-signup-completed",
    "put-plan-upgraded",
    "delete-consent-revoked",
];

fn fixture(kind: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/{kind}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_value(kind: &str, name: &str) -> Value {
    serde_json::from_slice(&fixture(kind, name)).unwrap()
}

fn set(doc: &mut Value, pointer: &str, key: &str, value: Value) {
    let target = doc
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}"));
    target
        .as_object_mut()
        .unwrap_or_else(|| panic!("{pointer} is not an object"))
        .insert(key.to_owned(), value);
}

fn remove(doc: &mut Value, pointer: &str, key: &str) {
    doc.pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove(key))
        .unwrap_or_else(|| panic!("no {pointer}/{key}"));
}

// ---------------------------------------------------------------------------
// Fixtures: parse, round-trip, rebuild.

#[test]
fn experience_fixtures_round_trip_exactly() {
    for name in EXPERIENCE {
        let event = ExperienceEvent::from_json(&fixture("experience", name)).unwrap();
        assert_eq!(event.kind(), name);
        assert!(event.action.is_known());
        let back = serde_json::to_value(&event).unwrap();
        assert_eq!(back, fixture_value("experience", name), "{name}");
    }
}

#[test]
fn journey_fixtures_round_trip_exactly() {
    for name in JOURNEY {
        let payload = JourneyPayload::from_json(&fixture("journey", name)).unwrap();
        let back = serde_json::to_value(&payload).unwrap();
        assert_eq!(back, fixture_value("journey", name), "{name}");
    }
}

#[test]
fn experience_fixtures_parse_into_the_expected_values() {
    let start = ExperienceEvent::from_json(&fixture("experience", "startExperience")).unwrap();
    // The snapshot's status is kept as sent, even on a start event.
    assert_eq!(start.action, EventAction::Start);
    assert_eq!(start.experience.status, ExperienceStatus::Paused);
    assert_eq!(
        start.experience.experience_type,
        ExperienceType::ContentTheme
    );
    assert_eq!(start.experience.experience_actions.len(), 6);
    assert_eq!(
        start.experience.experience_actions[0].action,
        ExperienceActionKind::Pause
    );
    assert_eq!(start.experience.currency, None);
    let redirect = &start.experience.variations[0].redirects[0];
    assert_eq!(redirect.query_params[0].value, "133068324949");
    assert_eq!(redirect.redirect_type, RedirectType::FullReplacement);
    assert_eq!(start.timestamp, UnixMillis(1_771_515_680_494));

    let end = ExperienceEvent::from_json(&fixture("experience", "endExperience")).unwrap();
    let offer = end.experience.variations[1].offer.as_ref().unwrap();
    assert_eq!(offer.discount_type, DiscountType::Percentage);
    assert_eq!(offer.tiers[0].unit_discount.as_i64(), Some(10));
    assert_eq!(end.experience.variations[0].percentage.to_string(), "50");
}

#[test]
fn experience_fixtures_rebuild_from_typed_values() {
    for (name, event) in seed_data::experience_events() {
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            fixture_value("experience", name),
            "{name}"
        );
        let parsed = ExperienceEvent::from_json(&fixture("experience", name)).unwrap();
        assert_eq!(parsed, event, "{name}");
    }
}

#[test]
fn journey_fixtures_rebuild_from_typed_values() {
    for (name, payload) in seed_data::journey_payloads() {
        assert_eq!(
            serde_json::to_value(&payload).unwrap(),
            fixture_value("journey", name),
            "{name}"
        );
        let parsed = JourneyPayload::from_json(&fixture("journey", name)).unwrap();
        assert_eq!(parsed, payload, "{name}");
    }
}

// ---------------------------------------------------------------------------
// Forward compatibility.

#[test]
fn unknown_fields_at_every_experience_level_round_trip() {
    let extra = || json!({"nested": [1, 2.5, "three", null], "flag": true});
    let mut start = fixture_value("experience", "startExperience");
    for pointer in [
        "",
        "/experience",
        "/experience/testTypes",
        "/experience/experienceActions/0",
        "/experience/variations/0",
        "/experience/variations/0/redirects/0",
        "/experience/variations/0/redirects/0/queryParams/0",
        "/organization",
    ] {
        set(&mut start, pointer, "futureField", extra());
    }
    let mut end = fixture_value("experience", "endExperience");
    for pointer in [
        "/experience/variations/1/offer",
        "/experience/variations/1/offer/tiers/0",
    ] {
        set(&mut end, pointer, "futureField", extra());
    }
    let mut create = fixture_value("experience", "createExperience");
    set(&mut create, "/experience/currency", "futureField", extra());

    for doc in [start, end, create] {
        let event = ExperienceEvent::from_json(doc.to_string().as_bytes()).unwrap();
        assert_eq!(
            event
                .extra
                .get("futureField")
                .map(|v| v.to_value().unwrap()),
            doc.get("futureField").cloned()
        );
        assert_eq!(serde_json::to_value(&event).unwrap(), doc);
    }
}

#[test]
fn unknown_enum_values_land_in_other_and_round_trip() {
    let mut doc = fixture_value("experience", "endExperience");
    doc["action"] = json!("archiveExperience");
    doc["experience"]["status"] = json!("archived");
    doc["experience"]["type"] = json!("shipping/rates");
    doc["experience"]["category"] = json!("personalization");
    doc["experience"]["experienceActions"][0]["action"] = json!("end");
    let variation = &mut doc["experience"]["variations"][0];
    variation["priceChangeUnit"] = json!("dollar");
    variation["priceChange"] = json!(-2.5);
    let offer = &mut variation["offer"];
    offer["discountType"] = json!("freeGift");
    offer["unitType"] = json!("dollar");
    offer["discountApplicationType"] = json!("productDiscount");
    offer["discountApplicationMethod"] = json!("perItem");
    let start = fixture_value("experience", "startExperience");
    let mut redirect = start["experience"]["variations"][0]["redirects"][0].clone();
    redirect["filter"] = json!("regex");
    redirect["redirectType"] = json!("findReplace");
    doc["experience"]["variations"][0]["redirects"] = json!([redirect]);

    let event = ExperienceEvent::from_json(doc.to_string().as_bytes()).unwrap();
    let other = |s: &str| s.to_owned();
    assert_eq!(event.action, EventAction::Other(other("archiveExperience")));
    assert_eq!(event.kind(), "archiveExperience");
    let experience = &event.experience;
    assert_eq!(
        experience.status,
        ExperienceStatus::Other(other("archived"))
    );
    assert_eq!(
        experience.experience_type,
        ExperienceType::Other(other("shipping/rates"))
    );
    assert_eq!(
        experience.category,
        ExperienceCategory::Other(other("personalization"))
    );
    assert_eq!(
        experience.experience_actions[0].action,
        ExperienceActionKind::Other(other("end"))
    );
    let variation = &experience.variations[0];
    assert_eq!(
        variation.price_change_unit,
        PriceChangeUnit::Other(other("dollar"))
    );
    assert_eq!(variation.price_change.as_ref().unwrap().as_f64(), -2.5);
    let offer = variation.offer.as_ref().unwrap();
    assert_eq!(offer.discount_type, DiscountType::Other(other("freeGift")));
    assert_eq!(offer.unit_type, UnitType::Other(other("dollar")));
    assert_eq!(
        offer.discount_application_type,
        DiscountApplicationType::Other(other("productDiscount"))
    );
    assert_eq!(
        offer.discount_application_method,
        DiscountApplicationMethod::Other(other("perItem"))
    );
    assert_eq!(
        variation.redirects[0].filter,
        RedirectFilter::Other(other("regex"))
    );
    assert_eq!(
        variation.redirects[0].redirect_type,
        RedirectType::Other(other("findReplace"))
    );
    assert_eq!(serde_json::to_value(&event).unwrap(), doc);
}

#[test]
fn unknown_journey_fields_and_values_round_trip() {
    let mut upgraded = fixture_value("journey", "put-plan-upgraded");
    set(&mut upgraded, "", "journeyId", json!("upgrade"));
    set(&mut upgraded, "/profile", "seats", json!(12));
    set(&mut upgraded, "/account", "billingCycle", json!("annual"));
    let payload = JourneyPayload::from_json(upgraded.to_string().as_bytes()).unwrap();
    assert_eq!(
        payload.extra.get("journeyId").map(RawJson::as_str),
        Some(r#""upgrade""#)
    );
    assert_eq!(
        payload.profile.extra.get("seats").map(RawJson::as_str),
        Some("12")
    );
    let account = payload.account.as_ref().unwrap();
    assert_eq!(account.attribute("billingCycle").as_deref(), Some("annual"));
    assert_eq!(serde_json::to_value(&payload).unwrap(), upgraded);

    let mut revoked = fixture_value("journey", "delete-consent-revoked");
    revoked["consent"]["action"] = json!("withdraw");
    set(
        &mut revoked,
        "/consent",
        "source",
        json!("preference-center"),
    );
    let payload = JourneyPayload::from_json(revoked.to_string().as_bytes()).unwrap();
    let consent = payload.consent.as_ref().unwrap();
    assert_eq!(consent.action, ConsentAction::Other("withdraw".into()));
    assert_eq!(serde_json::to_value(&payload).unwrap(), revoked);
}

#[test]
fn numbers_keep_their_json_form() {
    let mut doc = fixture_value("experience", "createExperience");
    doc["experience"]["variations"][0]["percentage"] = json!(33.5);
    doc["experience"]["variations"][1]["percentage"] = json!(66.0);
    doc["experience"]["variations"][1]["priceChange"] = json!(-10);
    let event = ExperienceEvent::from_json(doc.to_string().as_bytes()).unwrap();
    let text = serde_json::to_string(&event).unwrap();
    assert!(text.contains(r#""percentage":33.5"#), "{text}");
    assert!(text.contains(r#""percentage":66.0"#), "{text}");
    assert!(text.contains(r#""priceChange":-10,"#), "{text}");
    assert_eq!(serde_json::to_value(&event).unwrap(), doc);
}

/// Numbers serde_json's `Value` would rewrite (`12.5`, `100.0`, `0`,
/// `1.2345678901234568e+29`, `-1e-7`), nested in objects and arrays, a string
/// with escapes, and the spacing inside kept as written.
const LOSSY: &str = r#"{"price": 12.50, "exp": 1E2, "neg": -0, "big": 123456789012345678901234567890, "deep": [[{"x": 0.10}], -1.0e-7, "caf\u00e9"]}"#;
const LOSSY_NUMBERS: [&str; 6] = [
    "12.50",
    "1E2",
    "-0",
    "123456789012345678901234567890",
    "0.10",
    "-1.0e-7",
];
const MARK: &str = "\"__lossy__\"";

/// `doc` as text with every `"__lossy__"` string replaced by [`LOSSY`].
fn with_lossy(doc: &Value) -> String {
    doc.to_string().replace(MARK, LOSSY)
}

/// Asserts `LOSSY` appears verbatim `times` times in `out`.
fn assert_lossy_kept(out: &str, times: usize) {
    assert_eq!(out.matches(LOSSY).count(), times, "{out}");
    for number in LOSSY_NUMBERS {
        assert!(out.contains(number), "{number} lost: {out}");
    }
}

#[test]
fn unknown_fields_and_raw_fields_keep_their_text_at_every_level() {
    let mark = || json!("__lossy__");
    let mut start = fixture_value("experience", "startExperience");
    let start_pointers = [
        "",
        "/experience",
        "/experience/testTypes",
        "/experience/experienceActions/0",
        "/experience/variations/0",
        "/experience/variations/0/redirects/0",
        "/experience/variations/0/redirects/0/queryParams/0",
        "/organization",
    ];
    for pointer in start_pointers {
        set(&mut start, pointer, "futureField", mark());
    }
    // The fields whose shape no example shows are raw JSON too.
    let variation = &mut start["experience"]["variations"][0];
    variation["onsiteEdits"] = json!([mark(), [mark()]]);
    variation["onsiteInjections"] = mark();
    variation["shippingRateGroups"] = json!([mark()]);
    variation["userInterfaces"] = json!([mark()]);
    variation["checkoutBlocks"] = json!([mark()]);
    variation["redirects"][0]["templateSuffixes"] = json!([mark()]);
    let start_marks = start_pointers.len() + 7;

    let mut end = fixture_value("experience", "endExperience");
    for pointer in [
        "/experience/variations/1/offer",
        "/experience/variations/1/offer/tiers/0",
    ] {
        set(&mut end, pointer, "futureField", mark());
    }
    end["experience"]["variations"][1]["offer"]["shippingDiscount"] = mark();
    let mut create = fixture_value("experience", "createExperience");
    set(&mut create, "/experience/currency", "futureField", mark());

    for (doc, marks) in [(start, start_marks), (end, 3), (create, 1)] {
        let text = with_lossy(&doc);
        let from_json = ExperienceEvent::from_json(text.as_bytes()).unwrap();
        let from_str: ExperienceEvent = serde_json::from_str(&text).unwrap();
        let from_reader: ExperienceEvent = serde_json::from_reader(text.as_bytes()).unwrap();
        assert_eq!(from_str, from_json);
        assert_eq!(from_reader, from_json);
        let out = serde_json::to_string(&from_json).unwrap();
        assert_lossy_kept(&out, marks);
        // Written back, it reads as the same value (key order aside).
        let input: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), input);
        // And parses back to the same event, text and all.
        assert_eq!(
            ExperienceEvent::from_json(out.as_bytes()).unwrap(),
            from_json
        );
    }
}

#[test]
fn from_a_value_unknown_fields_keep_what_the_value_kept() {
    // A `Value` has already turned `12.50` into `12.5` and the 30-digit
    // integer into an `f64` (and sorted the keys); parsing from it keeps that,
    // and no more.
    let mut doc = fixture_value("experience", "startExperience");
    set(&mut doc, "/organization", "futureField", json!("__lossy__"));
    let value: Value = serde_json::from_str(&with_lossy(&doc)).unwrap();
    let event: ExperienceEvent = serde_json::from_value(value.clone()).unwrap();
    let kept = event.organization.extra.get("futureField").unwrap();
    assert_eq!(
        kept.as_str(),
        value["organization"]["futureField"].to_string()
    );
    assert!(kept.as_str().contains(r#""price":12.5}"#), "{kept:?}");
    assert!(kept.as_str().contains("1.2345678901234568e+29"), "{kept:?}");
    assert_eq!(serde_json::to_value(&event).unwrap(), value);
}

#[test]
fn unknown_fields_round_trip_byte_for_byte_where_key_order_allows() {
    // Known fields are written first in their declared order, then unknown
    // ones by key: input in that order comes back byte for byte.
    let org = format!(r#"{{"id":"o","name":"n","shopId":"s","aField":{LOSSY},"zField":-0}}"#);
    let parsed: Organization = serde_json::from_str(&org).unwrap();
    assert_eq!(parsed.extra.len(), 2);
    assert_eq!(parsed.extra.get("zField").map(RawJson::as_str), Some("-0"));
    assert_eq!(serde_json::to_string(&parsed).unwrap(), org);

    let test = format!(r#"{{"action":"testWebhook","timestamp":1,"note":{LOSSY}}}"#);
    let parsed = ConnectionTest::from_json(test.as_bytes()).unwrap();
    assert_eq!(serde_json::to_string(&parsed).unwrap(), test);
    let ExperienceWebhook::ConnectionTest(through) =
        ExperienceWebhook::from_json(test.as_bytes()).unwrap()
    else {
        panic!("not a connection test")
    };
    assert_eq!(through, parsed);

    // Unknown fields out of key order are sorted; their text is kept.
    let org = r#"{"zField":1.50,"id":"o","aField":1E2,"name":"n","shopId":"s"}"#;
    let parsed: Organization = serde_json::from_str(org).unwrap();
    assert_eq!(
        serde_json::to_string(&parsed).unwrap(),
        r#"{"id":"o","name":"n","shopId":"s","aField":1E2,"zField":1.50}"#
    );
}

#[test]
fn unknown_journey_fields_keep_their_text_at_every_level() {
    let mut doc = fixture_value("journey", "put-plan-upgraded");
    for pointer in ["", "/profile", "/account"] {
        set(&mut doc, pointer, "futureField", json!("__lossy__"));
    }
    let mut revoked = fixture_value("journey", "delete-consent-revoked");
    set(&mut revoked, "/consent", "futureField", json!("__lossy__"));
    for (doc, marks) in [(doc, 3), (revoked, 1)] {
        let text = with_lossy(&doc);
        let from_json = JourneyPayload::from_json(text.as_bytes()).unwrap();
        let from_str: JourneyPayload = serde_json::from_str(&text).unwrap();
        assert_eq!(from_str, from_json);
        let out = serde_json::to_string(&from_json).unwrap();
        assert_lossy_kept(&out, marks);
        assert_eq!(
            JourneyPayload::from_json(out.as_bytes()).unwrap(),
            from_json
        );
    }

    // A number in an account's unknown field feeds URL templates as written.
    let account: Account =
        serde_json::from_str(r#"{"accountId":"a","seats":12.50,"code":"x\u00e9"}"#).unwrap();
    assert_eq!(account.attribute("seats").as_deref(), Some("12.50"));
    assert_eq!(account.attribute("code").as_deref(), Some("xé"));
}

#[test]
fn extra_fields_are_built_in_code() {
    let mut org = Organization::new("o", "n", "s");
    assert!(org.extra.is_empty());
    org.extra.insert("seats", 12).unwrap();
    org.extra
        .insert_raw("price", RawJson::from_text("12.50").unwrap());
    assert!(org.extra.insert("bad", BadKeys).is_err());
    assert_eq!(org.extra.len(), 2);
    assert_eq!(
        serde_json::to_string(&org).unwrap(),
        r#"{"id":"o","name":"n","shopId":"s","price":12.50,"seats":12}"#
    );
    assert_eq!(
        org.extra.remove("seats").map(|v| v.to_string()),
        Some("12".into())
    );
    let keys: Vec<&String> = org.extra.keys().collect();
    assert_eq!(keys, ["price"]);
    assert_eq!(format!("{:?}", org.extra), r#"{"price": RawJson(12.50)}"#);
    let from_map = Extra::from(json!({"a": 1.5}).as_object().unwrap().clone());
    assert_eq!(from_map.get("a").map(RawJson::as_str), Some("1.5"));
    assert_eq!(from_map.to_map().unwrap()["a"], json!(1.5));
}

#[test]
fn deeply_nested_unknown_fields_neither_overflow_nor_panic() {
    // Captured text is skipped over without recursion (serde_json's raw
    // capture keeps its own stack), so depth is bounded by the body's size
    // only; reading it as a `Value` meets serde_json's depth limit as an
    // error.
    let depth = 100_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let org = format!(r#"{{"id":"o","name":"n","shopId":"s","deep":{deep}}}"#);
    let parsed: Organization = serde_json::from_str(&org).unwrap();
    let kept = parsed.extra.get("deep").unwrap();
    assert_eq!(kept.as_str(), deep);
    assert!(kept.to_value().is_err());
    assert_eq!(serde_json::to_string(&parsed).unwrap(), org);
    let unbalanced = format!(
        r#"{{"id":"o","name":"n","shopId":"s","deep":{}}}"#,
        "[".repeat(depth)
    );
    assert!(serde_json::from_str::<Organization>(&unbalanced).is_err());
}

/// A map whose keys are not strings, which JSON cannot write.
struct BadKeys;

impl serde::Serialize for BadKeys {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&[1u8], &1u8)?;
        map.end()
    }
}

// ---------------------------------------------------------------------------
// Bad input names the field.

#[test]
fn a_wrong_type_names_its_path() {
    let mut doc = fixture_value("experience", "createExperience");
    doc["experience"]["variations"][0]["percentage"] = json!("fifty");
    let err = ExperienceEvent::from_json(doc.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.path(), "experience.variations[0].percentage");
    let msg = err.to_string();
    assert!(
        msg.contains("experience.variations[0].percentage") && msg.contains("fifty"),
        "{msg}"
    );
}

#[test]
fn a_missing_field_is_named() {
    let mut doc = fixture_value("experience", "startExperience");
    remove(
        &mut doc,
        "/experience/variations/1/redirects/0",
        "redirectType",
    );
    let err = ExperienceEvent::from_json(doc.to_string().as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("missing field `redirectType`"),
        "{err}"
    );
    assert_eq!(err.path(), "experience.variations[1].redirects[0]");

    // serde_json's own message names the field too.
    let mut doc = fixture_value("experience", "createExperience");
    remove(&mut doc, "/organization", "shopId");
    let err = serde_json::from_value::<ExperienceEvent>(doc).unwrap_err();
    assert!(err.to_string().contains("missing field `shopId`"), "{err}");

    let err = JourneyPayload::from_json(br#"{"timestamp": "2026-01-26T10:12:45Z", "profile": {}}"#)
        .unwrap_err();
    assert!(
        err.to_string().contains("missing field `eventTitle`"),
        "{err}"
    );
}

#[test]
fn a_non_integer_timestamp_is_refused_by_name() {
    for bad in [json!(1.5), json!("abc"), json!(null)] {
        let mut doc = fixture_value("experience", "createExperience");
        doc["timestamp"] = bad.clone();
        let err = ExperienceEvent::from_json(doc.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.path(), "timestamp", "{bad}: {err}");
    }
    let mut doc = fixture_value("experience", "startExperience");
    doc["experience"]["experienceActions"][2]["actionTs"] = json!(1.5);
    let err = ExperienceEvent::from_json(doc.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.path(), "experience.experienceActions[2].actionTs");

    let mut doc = fixture_value("journey", "post-signup-completed");
    doc["timestamp"] = json!("26/01/2026");
    let err = JourneyPayload::from_json(doc.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.path(), "timestamp");
    assert!(err.to_string().contains("RFC 3339"), "{err}");
}

#[test]
fn trailing_garbage_is_refused() {
    let mut bytes = fixture("journey", "post-signup-completed");
    bytes.extend_from_slice(b" {}");
    assert!(JourneyPayload::from_json(&bytes).is_err());
    assert!(ExperienceEvent::from_json(b"").is_err());
}

// ---------------------------------------------------------------------------
// Timestamps.

#[test]
fn unix_millis_convert_losslessly_to_system_time() {
    for ms in [0, 1, -1, 1_771_515_006_494, -86_400_000_123] {
        let at = SystemTime::try_from(UnixMillis(ms)).unwrap();
        assert_eq!(UnixMillis::try_from(at), Ok(UnixMillis(ms)));
    }
    // Below the millisecond, towards the past.
    let after = UNIX_EPOCH + Duration::from_micros(1_500);
    assert_eq!(UnixMillis::try_from(after), Ok(UnixMillis(1)));
    let before = UNIX_EPOCH - Duration::from_micros(1_500);
    assert_eq!(UnixMillis::try_from(before), Ok(UnixMillis(-2)));
    assert_eq!(UnixMillis::saturating_from(UNIX_EPOCH), UnixMillis::EPOCH);
}

#[test]
fn rfc3339_is_utc_with_fraction_only_when_needed() {
    let at = UNIX_EPOCH + Duration::from_secs(1_769_422_365);
    assert_eq!(rfc3339::format(at).unwrap(), "2026-01-26T10:12:45Z");
    let frac = at + Duration::from_millis(250);
    assert_eq!(rfc3339::format(frac).unwrap(), "2026-01-26T10:12:45.25Z");
    assert_eq!(rfc3339::parse("2026-01-26T10:12:45.25Z").unwrap(), frac);
    assert_eq!(rfc3339::parse("2026-01-26T05:12:45-05:00").unwrap(), at);
    assert_eq!(
        rfc3339::parse("1969-12-31T23:59:59Z").unwrap(),
        UNIX_EPOCH - Duration::from_secs(1)
    );
    assert!(matches!(
        rfc3339::parse("2026-01-26 10:12"),
        Err(TimestampError::Invalid { .. })
    ));

    let payload = JourneyPayload::from_json(
        br#"{"eventTitle": "T", "timestamp": "2026-01-26T12:12:45+02:00", "profile": {}}"#,
    )
    .unwrap();
    assert_eq!(payload.timestamp.at(), at);
    // Read text is written back with its offset; a built instant in UTC.
    assert_eq!(
        serde_json::to_value(&payload).unwrap()["timestamp"],
        "2026-01-26T12:12:45+02:00"
    );
    let built = JourneyPayload::new("T", at, payload.profile.clone());
    assert_eq!(
        serde_json::to_value(&built).unwrap()["timestamp"],
        "2026-01-26T10:12:45Z"
    );
    assert_ne!(built, payload);
}

// ---------------------------------------------------------------------------
// Journey steps.

fn resolved(email: &str) -> Profile {
    Profile {
        email: Some(email.into()),
        identity_resolved: true,
        ..Profile::default()
    }
}

#[test]
fn journey_methods_other_than_post_put_delete_are_refused_by_name() {
    for method in ["PATCH", "GET", "HEAD", "OPTIONS", "FOO"] {
        let err = JourneyStep::builder("j", "s", "T", method, "https://x.example/")
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            JourneyError::UnsupportedMethod {
                method: method.into()
            }
        );
        assert!(err.to_string().contains(method), "{err}");
    }
    for (given, expected) in [
        ("POST", http::Method::POST),
        ("put", http::Method::PUT),
        ("DELETE", http::Method::DELETE),
    ] {
        let step = JourneyStep::builder("j", "s", "T", given, "https://x.example/")
            .build()
            .unwrap();
        assert_eq!(step.method(), expected);
    }
    let step = JourneyStep::builder("j", "s", "T", http::Method::PUT, "https://x.example/")
        .build()
        .unwrap();
    assert_eq!(step.method(), http::Method::PUT);
    assert!(
        JourneyStep::builder("j", "s", "T", &http::Method::PATCH, "https://x.example/")
            .build()
            .is_err()
    );
}

#[test]
fn journey_step_build_checks_everything() {
    let build = |url: &str| JourneyStep::builder("j", "s", "T", "POST", url).build();
    let err = build("https://x.example/{accountId").unwrap_err();
    let JourneyError::Template(inner) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(inner, &TemplateError::Unclosed { position: 18 });
    assert!(std::error::Error::source(&err).is_some());
    assert!(matches!(
        build("ftp://x.example/{a}"),
        Err(JourneyError::Template(
            TemplateError::UnsupportedScheme { .. }
        ))
    ));
    assert_eq!(
        JourneyStep::builder("", "s", "T", "POST", "https://x.example/")
            .build()
            .unwrap_err(),
        JourneyError::Empty {
            field: "journey id"
        }
    );
    let err = JourneyStep::builder("j", "s", "T", "POST", "https://x.example/")
        .header("bad header", "v")
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        JourneyError::InvalidHeaderName {
            name: "bad header".into()
        }
    );
    let err = JourneyStep::builder("j", "s", "T", "POST", "https://x.example/")
        .auth(Auth::api_key("X-Key", "line\nbreak-secret"))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        JourneyError::InvalidHeaderValue {
            name: "x-key".into()
        }
    );
    assert!(!err.to_string().contains("break-secret"));
    assert!(
        JourneyStep::builder("j", "s", "T", "POST", "https://x.example/")
            .auth(Auth::api_key("X Key", "k"))
            .build()
            .is_err()
    );
    assert_eq!(
        Auth::basic("a:b", "p").header().unwrap_err(),
        JourneyError::InvalidBasicUsername
    );
}

#[test]
fn journey_step_exposes_its_configuration() {
    let step = seed_data::signup_step();
    assert_eq!(step.journey_id(), "onboarding");
    assert_eq!(step.step_id(), "crm-lead");
    assert_eq!(step.event_title(), "Signup Completed");
    assert_eq!(step.required_consent(), Some("marketing"));
    assert_eq!(
        step.url_template().as_str(),
        "https://api.crm.example.com/leads"
    );
    assert!(matches!(step.auth(), Auth::ApiKey { .. }));
    let step = JourneyStep::builder("j", "s", "T", "POST", "https://x.example/")
        .header("X-Team", "growth")
        .header("x-team", "billing")
        .build()
        .unwrap();
    let teams: Vec<_> = step.headers().get_all("x-team").iter().collect();
    assert_eq!(teams, ["growth", "billing"]);
}

#[test]
fn a_step_needs_a_resolved_identity_and_its_consent() {
    let marketing = seed_data::signup_step();
    let revoke = seed_data::revoke_step();

    let mut profile = resolved("user@example.com");
    profile.identity_resolved = false;
    assert_eq!(
        marketing.check(&profile),
        Err(SkipReason::IdentityUnresolved)
    );
    assert_eq!(revoke.check(&profile), Err(SkipReason::IdentityUnresolved));
    // Resolved but nothing to key on.
    let nobody = Profile {
        identity_resolved: true,
        ..Profile::default()
    };
    assert_eq!(revoke.check(&nobody), Err(SkipReason::IdentityUnresolved));

    let profile = resolved("user@example.com");
    let reason = SkipReason::ConsentNotGranted {
        category: "marketing".into(),
    };
    let not_granted = Err(reason.clone());
    assert_eq!(marketing.check(&profile), not_granted);
    let mut declined = profile.clone();
    declined
        .consents
        .insert("marketing".into(), ConsentState::Declined);
    assert_eq!(marketing.check(&declined), not_granted);
    // A revocation step requires no consent.
    assert_eq!(revoke.check(&declined), Ok(()));
    let mut granted = profile;
    granted
        .consents
        .insert("marketing".into(), ConsentState::Granted);
    assert_eq!(marketing.check(&granted), Ok(()));

    assert_eq!(
        SkipReason::IdentityUnresolved.to_string(),
        "identity is not resolved"
    );
    assert_eq!(reason.to_string(), "consent `marketing` is not granted");
}

#[test]
fn identity_key_prefers_the_profile_id() {
    let mut profile = resolved("user@example.com");
    assert_eq!(profile.identity_key(), Some("user@example.com"));
    profile.profile_id = Some("usr_1".into());
    assert_eq!(profile.identity_key(), Some("usr_1"));
    profile.profile_id = Some(String::new());
    assert_eq!(profile.identity_key(), Some("user@example.com"));
    assert_eq!(Profile::default().identity_key(), None);
}

#[test]
fn urls_render_from_account_then_profile() {
    let step = JourneyStep::builder(
        "j",
        "s",
        "T",
        "PUT",
        "https://x.example/accounts/{accountId}/people/{email}?plan={currentPlan}&seats={seats}",
    )
    .build()
    .unwrap();
    let mut profile = resolved("a/b@example.com");
    profile.attributes.insert("seats".into(), json!(12));
    profile
        .attributes
        .insert("currentPlan".into(), json!("ignored"));
    let account = Account::new("acc 1").current_plan("pro");
    assert_eq!(
        step.render_url(&profile, Some(&account)).unwrap(),
        "https://x.example/accounts/acc%201/people/a%2Fb%40example.com?plan=pro&seats=12"
    );
    // Without the account, `accountId` is missing: an error naming it.
    let err = step.render_url(&profile, None).unwrap_err();
    assert_eq!(
        err,
        TemplateError::MissingAttribute {
            name: "accountId".into()
        }
    );
    assert!(err.to_string().contains("accountId"));
}

#[test]
fn profile_attributes_resolve_by_camel_case_name() {
    let mut profile = seed_data::profile();
    profile.attributes.insert("vip".into(), json!(true));
    profile.attributes.insert("score".into(), json!(1.5));
    profile.attributes.insert("tags".into(), json!(["a"]));
    profile.attributes.insert("nothing".into(), Value::Null);
    assert_eq!(
        profile.attribute("profileId").as_deref(),
        Some("usr_12ab45c99d77")
    );
    assert_eq!(profile.attribute("firstName").as_deref(), Some("Alex"));
    assert_eq!(profile.attribute("plan").as_deref(), Some("free"));
    assert_eq!(profile.attribute("vip").as_deref(), Some("true"));
    assert_eq!(profile.attribute("score").as_deref(), Some("1.5"));
    assert_eq!(profile.attribute("tags"), None);
    assert_eq!(profile.attribute("nothing"), None);
    assert_eq!(profile.attribute("first_name"), None);
}

#[test]
fn payloads_carry_profile_attributes_and_the_step_title() {
    let mut profile = seed_data::profile();
    profile.attributes.insert("seats".into(), json!(12));
    let at = UNIX_EPOCH + Duration::from_secs(1_769_422_365);
    let consent = Consent::new("marketing", ConsentAction::Grant);
    let payload = seed_data::signup_step().payload(&profile, None, Some(&consent), at);
    assert_eq!(payload.kind(), "Signup Completed");
    assert_eq!(
        serde_json::to_value(&payload).unwrap(),
        json!({
            "eventTitle": "Signup Completed",
            "timestamp": "2026-01-26T10:12:45Z",
            "profile": {
                "profileId": "usr_12ab45c99d77",
                "email": "user@example.com",
                "firstName": "Alex",
                "plan": "free",
                "seats": 12
            },
            "consent": {"category": "marketing", "action": "grant"}
        })
    );
}

// ---------------------------------------------------------------------------
// Auth.

#[test]
fn each_auth_kind_makes_its_header() {
    let header = |auth: Auth| {
        let (name, value) = auth.header().unwrap().unwrap();
        assert!(value.is_sensitive());
        (name.as_str().to_owned(), value.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header(Auth::basic("Aladdin", "open sesame")),
        (
            "authorization".into(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into()
        )
    );
    assert_eq!(
        header(Auth::bearer("t0k3n")),
        ("authorization".into(), "Bearer t0k3n".into())
    );
    assert_eq!(
        header(Auth::api_key("X-Api-Key", "k_123")),
        ("x-api-key".into(), "k_123".into())
    );
    assert!(Auth::None.header().unwrap().is_none());
}

#[test]
fn debug_never_shows_secrets() {
    let secrets = ["pa55word", "t0k3n-value", "k3y-value"];
    let auths = [
        Auth::basic("alice", secrets[0]),
        Auth::bearer(secrets[1]),
        Auth::api_key("X-Api-Key", secrets[2]),
    ];
    for auth in auths {
        let builder =
            JourneyStep::builder("j", "s", "T", "POST", "https://x.example/").auth(auth.clone());
        let builder_debug = format!("{builder:?}");
        let step = builder.build().unwrap();
        let (_, value) = auth.header().unwrap().unwrap();
        for text in [
            format!("{auth:?}"),
            format!("{auth:#?}"),
            format!("{step:?}"),
            format!("{step:#?}"),
            format!("{value:?}"),
            builder_debug.clone(),
        ] {
            for secret in secrets {
                assert!(!text.contains(secret), "{text}");
            }
        }
    }
    // The user name is not a secret.
    assert!(format!("{:?}", Auth::basic("alice", "x")).contains("alice"));
}

#[test]
fn consent_actions_map_to_consent_states() {
    assert_eq!(
        ConsentState::from(&ConsentAction::Grant),
        ConsentState::Granted
    );
    assert_eq!(
        ConsentState::from(&ConsentAction::Decline),
        ConsentState::Declined
    );
    assert_eq!(
        ConsentState::from(&ConsentAction::from("withdraw")),
        ConsentState::Unknown
    );
    assert_eq!(ConsentAction::from("grant"), ConsentAction::Grant);
    assert_eq!(ConsentAction::Decline.to_string(), "decline");
    assert_eq!("decline".parse(), Ok(ConsentAction::Decline));
}

// ---------------------------------------------------------------------------
// The envelope: every body an experience endpoint receives.

#[test]
fn the_envelope_reads_every_lifecycle_fixture_as_its_event() {
    for name in EXPERIENCE {
        let bytes = fixture("experience", name);
        let webhook = ExperienceWebhook::from_json(&bytes).unwrap();
        assert_eq!(webhook.action(), name);
        assert_eq!(webhook.kind(), name);
        let ExperienceWebhook::Event(event) = &webhook else {
            panic!("{name}: {webhook:?}");
        };
        assert_eq!(**event, ExperienceEvent::from_json(&bytes).unwrap());
        // The serde path (what a generic extractor uses) agrees.
        let via_serde: ExperienceWebhook = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(via_serde, webhook);
        assert_eq!(
            serde_json::to_value(&webhook).unwrap(),
            fixture_value("experience", name)
        );
    }
}

#[test]
fn every_named_action_is_an_event_and_no_other() {
    let doc = fixture_value("experience", "startExperience");
    for action in EventAction::KNOWN {
        let mut doc = doc.clone();
        doc["action"] = json!(action.as_str());
        let webhook = ExperienceWebhook::from_json(doc.to_string().as_bytes()).unwrap();
        assert!(
            matches!(&webhook, ExperienceWebhook::Event(e) if e.action == *action),
            "{action}: {webhook:?}"
        );
    }
}

#[test]
fn the_connection_test_is_typed_on_both_sides() {
    let body = br#"{"action":"testWebhook","timestamp":1771515006494}"#;
    let webhook = ExperienceWebhook::from_json(body).unwrap();
    let expected = ConnectionTest::new(UNIX_EPOCH + Duration::from_millis(1_771_515_006_494));
    assert_eq!(webhook, ExperienceWebhook::ConnectionTest(expected.clone()));
    assert_eq!(webhook.action(), "testWebhook");
    assert_eq!(serde_json::to_vec(&expected).unwrap(), body);
    assert_eq!(serde_json::to_vec(&webhook).unwrap(), body);
    assert_eq!(ConnectionTest::from_json(body).unwrap(), expected);
    // Later fields are kept; a missing timestamp is named.
    let newer = br#"{"action":"testWebhook","timestamp":1,"note":"hi"}"#;
    let ExperienceWebhook::ConnectionTest(test) = ExperienceWebhook::from_json(newer).unwrap()
    else {
        panic!()
    };
    assert_eq!(test.extra.get("note").map(RawJson::as_str), Some(r#""hi""#));
    assert_eq!(serde_json::to_vec(&test).unwrap(), newer);
    let err = ExperienceWebhook::from_json(br#"{"action":"testWebhook"}"#).unwrap_err();
    assert!(err.message().contains("missing field `timestamp`"), "{err}");
    let err =
        ConnectionTest::from_json(br#"{"action":"startExperience","timestamp":1}"#).unwrap_err();
    assert!(err.message().contains("startExperience"), "{err}");
}

#[test]
fn an_unknown_action_is_kept_byte_for_byte() {
    let body = br#"{ "timestamp": 1771515006494, "action": "archiveExperience",
        "experience": {"percentage": 12.50, "big": 123456789012345678901234567890, "z": -0, "e": 1E2} }"#;
    let webhook = ExperienceWebhook::from_json(body).unwrap();
    assert_eq!(webhook.action(), "archiveExperience");
    let ExperienceWebhook::Unknown(unknown) = &webhook else {
        panic!("{webhook:?}")
    };
    assert_eq!(unknown.json().as_bytes(), body);
    assert_eq!(unknown.to_value().unwrap()["experience"]["e"], 100.0);
    assert_eq!(serde_json::to_vec(&webhook).unwrap(), body);
    let via_serde: ExperienceWebhook = serde_json::from_slice(body).unwrap();
    assert_eq!(via_serde, webhook);
    // Nested inside another document, it is still written back verbatim.
    let wrapped: Value = serde_json::from_str(&format!(
        r#"{{"hook":{}}}"#,
        serde_json::to_string(&webhook).unwrap()
    ))
    .unwrap();
    assert_eq!(wrapped["hook"]["action"], "archiveExperience");
}

#[test]
fn an_envelope_without_a_string_action_or_with_bad_fields_is_refused_by_name() {
    let err = ExperienceWebhook::from_json(br#"{"timestamp":1}"#).unwrap_err();
    assert!(err.message().contains("missing field `action`"), "{err}");
    let err = ExperienceWebhook::from_json(br#"{"action":7,"timestamp":1}"#).unwrap_err();
    assert_eq!(err.path(), "action");
    let err = ExperienceWebhook::from_json(br#"["startExperience", 1]"#).unwrap_err();
    assert!(err.message().contains("expected a JSON object"), "{err}");
    assert!(ExperienceWebhook::from_json(b"{\"action\":\"x\"} trailing").is_err());

    let mut doc = fixture_value("experience", "createExperience");
    doc["experience"]["variations"][0]["percentage"] = json!("fifty");
    let err = ExperienceWebhook::from_json(doc.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.path(), "experience.variations[0].percentage");
    // Through serde, the path is in the message.
    let err = serde_json::from_slice::<ExperienceWebhook>(doc.to_string().as_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .contains("experience.variations[0].percentage"),
        "{err}"
    );
}

#[test]
fn the_envelope_reads_from_a_value_and_from_buffered_serde_content() {
    let doc = fixture_value("experience", "endExperience");
    let webhook: ExperienceWebhook = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(webhook.action(), "endExperience");
    // Inside an untagged enum serde buffers the input; the envelope still parses.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Either {
        Hook(ExperienceWebhook),
    }
    let Either::Hook(buffered) = serde_json::from_value(doc).unwrap();
    assert_eq!(buffered, webhook);
}

// ---------------------------------------------------------------------------
// Lossless means lossless: numbers and timestamps keep their text.

/// `text` with the `n`th (from 0) occurrence of `from` replaced by `to`.
fn replace_nth(text: &str, from: &str, to: &str, n: usize) -> String {
    let (at, _) = text
        .match_indices(from)
        .nth(n)
        .unwrap_or_else(|| panic!("no {from} #{n}"));
    format!("{}{to}{}", &text[..at], &text[at + from.len()..])
}

/// The seed's end event as hookwire writes it (its own field order), with
/// amounts written as no f64 round trip would write them.
fn awkward_amounts() -> String {
    let event = ExperienceEvent::from_json(&fixture("experience", "endExperience")).unwrap();
    let mut text = serde_json::to_string(&event).unwrap();
    for (from, to, n) in [
        (r#""percentage":50"#, r#""percentage":12.50"#, 0),
        // The first is gone: this is the second variation's.
        (r#""percentage":50"#, r#""percentage":-0"#, 0),
        (r#""unitDiscount":10"#, r#""unitDiscount":1E2"#, 0),
        (
            r#""maximumDollarDiscount":null"#,
            r#""maximumDollarDiscount":123456789012345678901234567890"#,
            0,
        ),
        (r#""priceChange":null"#, r#""priceChange":-1.250e-3"#, 0),
        (
            r#""priceRoundingAmount":null"#,
            r#""priceRoundingAmount":0.10"#,
            0,
        ),
    ] {
        text = replace_nth(&text, from, to, n);
    }
    text
}

#[test]
fn amounts_round_trip_byte_for_byte() {
    let text = awkward_amounts();
    let event = ExperienceEvent::from_json(text.as_bytes()).unwrap();
    assert_eq!(serde_json::to_string(&event).unwrap(), text);
    let v = &event.experience.variations;
    assert_eq!(v[0].percentage.as_str(), "12.50");
    assert_eq!(v[0].percentage.as_f64(), 12.5);
    assert_eq!(v[1].percentage.as_str(), "-0");
    assert_eq!(v[0].price_change.as_ref().unwrap().as_str(), "-1.250e-3");
    let offer = v.iter().find_map(|v| v.offer.as_ref()).unwrap();
    assert_eq!(offer.tiers[0].unit_discount.as_str(), "1E2");
    assert_eq!(offer.tiers[0].unit_discount.as_f64(), 100.0);
    assert_eq!(offer.tiers[0].unit_discount.as_i64(), None);
    assert_eq!(
        offer.maximum_dollar_discount.as_ref().unwrap().to_string(),
        "123456789012345678901234567890"
    );
    // Through the envelope, serde_json::from_slice and a Value, too.
    let webhook = ExperienceWebhook::from_json(text.as_bytes()).unwrap();
    assert_eq!(serde_json::to_string(&webhook).unwrap(), text);
    let via_serde: ExperienceEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(via_serde, event);
    let value: Value = serde_json::from_str(&text).unwrap();
    let from_value: ExperienceEvent = serde_json::from_value(value).unwrap();
    assert_eq!(
        from_value.experience.variations[0].price_change,
        Some(Amount::from_f64(-0.00125).unwrap())
    );
}

#[test]
fn amounts_built_in_code_write_as_serde_json_does() {
    assert_eq!(serde_json::to_string(&Amount::from(50)).unwrap(), "50");
    assert_eq!(
        serde_json::to_string(&Amount::from_f64(50.0).unwrap()).unwrap(),
        "50.0"
    );
    assert_eq!(Amount::from(u64::MAX).as_str(), "18446744073709551615");
    let parsed: Amount = "12.50".parse().unwrap();
    assert_eq!(parsed.as_str(), "12.50");
    assert_ne!(
        parsed,
        Amount::from_f64(12.5).unwrap(),
        "equality is by text"
    );
    assert_eq!(
        parsed.to_number(),
        serde_json::Number::from_f64(12.5).unwrap()
    );
    for bad in ["", "12.", "1e400", " 1", "0x1", "\"1\""] {
        assert!(bad.parse::<Amount>().is_err(), "{bad:?}");
    }
}

#[test]
fn an_amount_that_is_not_a_number_is_refused_by_path() {
    let text = awkward_amounts();
    for (bad, shown) in [
        (r#""fifty""#, r#"string "fifty""#),
        ("1e400", "number out of range"),
        ("true", "boolean"),
        ("[]", "sequence"),
    ] {
        let doc = replace_nth(&text, "12.50", bad, 0);
        let err = ExperienceEvent::from_json(doc.as_bytes()).unwrap_err();
        assert_eq!(err.path(), "experience.variations[0].percentage", "{bad}");
        assert!(err.message().contains(shown), "{bad}: {err}");
    }
    let null = replace_nth(&text, "12.50", "null", 0);
    assert!(ExperienceEvent::from_json(null.as_bytes()).is_err());
    // A repeated field is refused, as serde's derive refuses it.
    let twice = replace_nth(&text, r#""isControl""#, r#""order":1,"isControl""#, 0);
    let err = ExperienceEvent::from_json(twice.as_bytes()).unwrap_err();
    assert!(err.message().contains("duplicate field `order`"), "{err}");
}

#[test]
fn inside_serde_buffering_events_still_parse() {
    // A type of the host's with an untagged enum around the event: serde
    // buffers the input, so numbers come through as serde kept them.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Mine {
        Event(Box<ExperienceEvent>),
    }
    let Mine::Event(event) = serde_json::from_str(&awkward_amounts()).unwrap();
    assert_eq!(event.experience.variations[0].percentage.as_f64(), 12.5);
}

#[test]
fn journey_timestamps_keep_their_offset_byte_for_byte() {
    for ts in [
        "2026-01-26T23:12:45+14:00",
        "2026-01-26T23:12:45.120+14:00",
        "2026-01-25T21:12:45-12:00",
        "2026-01-26T09:12:45Z",
    ] {
        let text = format!(
            r#"{{"eventTitle":"Plan Upgraded","timestamp":"{ts}","profile":{{"email":"a@example.com"}}}}"#
        );
        let payload = JourneyPayload::from_json(text.as_bytes()).unwrap();
        assert_eq!(serde_json::to_string(&payload).unwrap(), text, "{ts}");
        assert_eq!(payload.timestamp.text(), Some(ts));
        let whole = UNIX_EPOCH + Duration::from_secs(1_769_418_765);
        let at = payload.timestamp.at();
        assert!(
            at == whole || at == whole + Duration::from_millis(120),
            "{ts}: {at:?}"
        );
    }
}
