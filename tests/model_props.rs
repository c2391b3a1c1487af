//! Property: any typed experience event (unknown enum values, nulls, extra
//! fields included) serializes and parses back to itself.

use std::fmt::Debug;

use hookwire::model::experience::{
    Currency, DiscountApplicationMethod, DiscountApplicationType, DiscountType, EventAction,
    Experience, ExperienceAction, ExperienceActionKind, ExperienceCategory, ExperienceEvent,
    ExperienceStatus, ExperienceType, Offer, OfferTier, Organization, PriceChangeUnit, QueryParam,
    Redirect, RedirectFilter, RedirectType, TestTypes, UnitType, Variation,
};
use hookwire::model::journey::{Account, Consent, ConsentAction, JourneyPayload, PayloadProfile};
use hookwire::model::{rfc3339, Amount, Extra, RawJson, UnixMillis};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Number, Value};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,8}", "[a-z0-9-]{1,12}"]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    option::of(text())
}

/// A known variant, or an arbitrary string (normalised by `From<String>`, so
/// a string equal to a known value becomes that variant).
fn open<T: From<String> + Clone + Debug + 'static>(known: &'static [T]) -> BoxedStrategy<T> {
    prop_oneof![select(known), "[a-zA-Z/]{0,12}".prop_map(T::from)].boxed()
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        any::<i64>().prop_map(Amount::from),
        any::<u64>().prop_map(Amount::from),
        // Fractions with a short exact decimal form.
        (-100_000i32..100_000).prop_map(|n| Amount::from_f64(f64::from(n) / 8.0).unwrap()),
        // Any JSON number text within f64's range, kept as written.
        number_text().prop_filter_map("beyond f64", |t| t.parse().ok()),
    ]
}

/// JSON number text (RFC 8259's grammar): long integers, trailing zeros,
/// exponents of either case and sign, `-0`.
fn number_text() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"
}

fn millis() -> impl Strategy<Value = UnixMillis> {
    any::<i64>().prop_map(UnixMillis)
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1000i32..1000).prop_map(|n| Value::Number(Number::from_f64(f64::from(n) / 4.0).unwrap())),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON text of any shape whose numbers are any number text (see
/// [`number_text`]) and whose strings may hold escapes, with spaces after
/// separators sometimes.
fn raw_json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        number_text(),
        text().prop_map(|t| serde_json::to_string(&t).unwrap()),
        Just(r#""caf\u00e9 \/ \n""#.to_owned()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            (vec(inner.clone(), 0..4), select(vec![",", ", "]))
                .prop_map(|(items, sep)| format!("[{}]", items.join(sep))),
            (btree_map(text(), inner, 0..4), select(vec![",", ", "])).prop_map(|(m, sep)| {
                let entries: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                    .collect();
                format!("{{{}}}", entries.join(sep))
            }),
        ]
    })
}

fn raw_json() -> impl Strategy<Value = RawJson> {
    raw_json_text().prop_map(|t| RawJson::from_text(t).unwrap())
}

fn non_null_raw_json() -> impl Strategy<Value = RawJson> {
    raw_json().prop_filter("null reads back as None", |v| !v.is_null())
}

/// Extra fields; the `x` + capital prefix never collides with a known field.
fn extra() -> impl Strategy<Value = Extra> {
    btree_map("x[A-Z][a-zA-Z]{0,6}", raw_json(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn test_types() -> impl Strategy<Value = TestTypes> {
    (any::<[bool; 11]>(), extra()).prop_map(|(f, extra)| TestTypes {
        has_test_pricing: f[0],
        has_test_shipping: f[1],
        has_test_campaign: f[2],
        has_test_content: f[3],
        has_test_content_url: f[4],
        has_test_content_advanced: f[5],
        has_test_content_onsite: f[6],
        has_test_content_template: f[7],
        has_test_content_theme: f[8],
        has_test_onsite_injections: f[9],
        has_test_checkout_blocks: f[10],
        extra,
    })
}

fn experience_action() -> impl Strategy<Value = ExperienceAction> {
    (
        text(),
        text(),
        open(ExperienceActionKind::KNOWN),
        millis(),
        extra(),
    )
        .prop_map(
            |(id, experience_id, action, action_ts, extra)| ExperienceAction {
                id,
                experience_id,
                action,
                action_ts,
                extra,
            },
        )
}

fn offer_tier() -> impl Strategy<Value = OfferTier> {
    (
        (
            text(),
            any::<u32>(),
            any::<u32>(),
            amount(),
            text(),
            opt_text(),
        ),
        (
            any::<[bool; 3]>(),
            opt_text(),
            opt_text(),
            opt_text(),
            extra(),
        ),
    )
        .prop_map(
            |(
                (id, min, max, discount, title, gift_title),
                (flags, product, variant, handle, extra),
            )| {
                OfferTier {
                    id,
                    minimum_units: min,
                    maximum_units: max,
                    unit_discount: discount,
                    discount_title: title,
                    gift_with_purchase_title: gift_title,
                    is_free_shipping: flags[0],
                    is_gift_with_purchase: flags[1],
                    gift_with_purchase_product_id: product,
                    gift_with_purchase_variant_id: variant,
                    auto_add_gift_with_purchase: flags[2],
                    gift_with_purchase_handle: handle,
                    extra,
                }
            },
        )
}

fn offer() -> impl Strategy<Value = Offer> {
    (
        (
            text(),
            text(),
            text(),
            open(UnitType::KNOWN),
            open(DiscountType::KNOWN),
        ),
        (vec(offer_tier(), 0..3), option::of(amount())),
        (
            open(DiscountApplicationType::KNOWN),
            open(DiscountApplicationMethod::KNOWN),
            any::<[bool; 7]>(),
            option::of(non_null_raw_json()),
            extra(),
        ),
    )
        .prop_map(
            |(
                (id, variation_id, name, unit_type, discount_type),
                (tiers, max),
                (app_type, app_method, f, shipping, extra),
            )| {
                Offer {
                    id,
                    variation_id,
                    enabled: f[0],
                    is_test: f[1],
                    is_archived: f[2],
                    name,
                    unit_type,
                    discount_type,
                    tiers,
                    maximum_dollar_discount: max,
                    discount_application_type: app_type,
                    discount_application_method: app_method,
                    combines_with_intelligems: f[3],
                    combines_with_shopify: f[4],
                    should_reject_codes: f[5],
                    shipping_discount: shipping,
                    require_same_item: f[6],
                    extra,
                }
            },
        )
}

fn query_param() -> impl Strategy<Value = QueryParam> {
    (text(), text(), extra()).prop_map(|(key, value, extra)| QueryParam { key, value, extra })
}

fn redirect() -> impl Strategy<Value = Redirect> {
    (
        (
            text(),
            any::<u32>(),
            text(),
            text(),
            text(),
            vec(query_param(), 0..3),
        ),
        (
            any::<[bool; 4]>(),
            opt_text(),
            vec(raw_json(), 0..2),
            opt_text(),
        ),
        (
            open(RedirectFilter::KNOWN),
            open(RedirectType::KNOWN),
            extra(),
        ),
    )
        .prop_map(
            |(
                (id, group, variation_id, origin, destination, query_params),
                (f, template_type, suffixes, find),
                (filter, redirect_type, extra),
            )| {
                Redirect {
                    id,
                    group,
                    variation_id,
                    origin_url: origin,
                    destination_url: destination,
                    query_params,
                    skip: f[0],
                    is_theme_test: f[1],
                    is_template_test: f[2],
                    template_type,
                    template_suffixes: suffixes,
                    redirect_once: f[3],
                    filter,
                    find,
                    redirect_type,
                    extra,
                }
            },
        )
}

fn variation() -> impl Strategy<Value = Variation> {
    (
        (
            text(),
            text(),
            text(),
            amount(),
            any::<u32>(),
            option::of(amount()),
        ),
        (
            open(PriceChangeUnit::KNOWN),
            opt_text(),
            option::of(amount()),
        ),
        (
            vec(raw_json(), 0..2),
            option::of(non_null_raw_json()),
            option::of(offer()),
            vec(raw_json(), 0..2),
        ),
        (any::<[bool; 4]>(), opt_text(), vec(redirect(), 0..2)),
        (vec(raw_json(), 0..2), vec(raw_json(), 0..2), extra()),
    )
        .prop_map(
            |(
                (id, experience_id, name, percentage, order, price_change),
                (unit, rounding_type, rounding_amount),
                (onsite_edits, onsite_injections, offer, shipping_rate_groups),
                (f, test_experience_id, redirects),
                (user_interfaces, checkout_blocks, extra),
            )| Variation {
                id,
                experience_id,
                name,
                percentage,
                is_control: f[0],
                order,
                price_change,
                price_change_unit: unit,
                price_rounding_type: rounding_type,
                price_rounding_amount: rounding_amount,
                onsite_edits,
                onsite_injections,
                offer,
                shipping_rate_groups,
                exclude_products: f[1],
                include_products: f[2],
                test_experience_id,
                function_sync_error: f[3],
                redirects,
                user_interfaces,
                checkout_blocks,
                extra,
            },
        )
}

fn experience() -> impl Strategy<Value = Experience> {
    (
        (text(), text(), any::<bool>(), text(), text()),
        (
            open(ExperienceType::KNOWN),
            open(ExperienceCategory::KNOWN),
            open(ExperienceStatus::KNOWN),
            test_types(),
        ),
        (
            vec(experience_action(), 0..3),
            option::of(
                (text(), text(), extra()).prop_map(|(code, symbol, extra)| Currency {
                    code,
                    symbol,
                    extra,
                }),
            ),
            vec(variation(), 0..3),
        ),
        (
            millis(),
            any::<bool>(),
            millis(),
            any::<u32>(),
            opt_text(),
            opt_text(),
            extra(),
        ),
    )
        .prop_map(
            |(
                (id, name, is_preview, description, organization_id),
                (experience_type, category, status, test_types),
                (experience_actions, currency, variations),
                (created, is_deleted, updated, count, source_id, source_action, extra),
            )| Experience {
                id,
                name,
                is_preview,
                description,
                organization_id,
                experience_type,
                category,
                status,
                test_types,
                experience_actions,
                currency,
                variations,
                created_at_ts: created,
                is_deleted,
                last_update_ts: updated,
                product_variant_count: count,
                source_experience_id: source_id,
                source_action,
                extra,
            },
        )
}

fn event() -> impl Strategy<Value = ExperienceEvent> {
    (
        open(EventAction::KNOWN),
        millis(),
        experience(),
        (text(), text(), text(), extra()).prop_map(|(id, name, shop_id, extra)| Organization {
            id,
            name,
            shop_id,
            extra,
        }),
        extra(),
    )
        .prop_map(
            |(action, timestamp, experience, organization, extra)| ExperienceEvent {
                action,
                timestamp,
                experience,
                organization,
                extra,
            },
        )
}

fn journey_payload() -> impl Strategy<Value = JourneyPayload> {
    (
        text(),
        // Whole seconds and milliseconds within 0000..=9999.
        (-62_000_000_000i64..253_000_000_000, 0u32..1000),
        (opt_text(), opt_text(), opt_text(), opt_text(), extra()),
        option::of((text(), opt_text(), opt_text(), extra())),
        option::of((text(), open(ConsentAction::KNOWN), extra())),
        extra(),
    )
        .prop_map(|(title, (secs, ms), profile, account, consent, extra)| {
            let at = hookwire::model::UnixMillis(secs * 1000 + i64::from(ms))
                .to_system_time()
                .unwrap();
            JourneyPayload {
                event_title: title,
                timestamp: at.into(),
                profile: PayloadProfile {
                    profile_id: profile.0,
                    email: profile.1,
                    first_name: profile.2,
                    plan: profile.3,
                    extra: profile.4,
                },
                account: account.map(|(account_id, previous_plan, current_plan, extra)| Account {
                    account_id,
                    previous_plan,
                    current_plan,
                    extra,
                }),
                consent: consent.map(|(category, action, extra)| Consent {
                    category,
                    action,
                    extra,
                }),
                extra,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn experience_events_round_trip(event in event()) {
        let bytes = serde_json::to_vec(&event).unwrap();
        let back = ExperienceEvent::from_json(&bytes).unwrap();
        prop_assert_eq!(&back, &event);
        // And the JSON itself is stable.
        prop_assert_eq!(serde_json::to_vec(&back).unwrap(), bytes);
    }

    #[test]
    fn journey_payloads_round_trip(payload in journey_payload()) {
        let bytes = serde_json::to_vec(&payload).unwrap();
        let back = JourneyPayload::from_json(&bytes).unwrap();
        prop_assert_eq!(back, payload);
    }

    #[test]
    fn amounts_keep_any_number_text(text in number_text()) {
        let Ok(amount) = text.parse::<Amount>() else {
            // Only numbers beyond f64's range are refused.
            prop_assert!(!text.parse::<f64>().unwrap().is_finite(), "{}", text);
            return Ok(());
        };
        prop_assert_eq!(amount.as_str(), text.as_str());
        prop_assert_eq!(amount.as_f64(), text.parse::<f64>().unwrap());
        let json = format!(r#"{{"id":"t","minimumUnits":1,"maximumUnits":2,"unitDiscount":{text},"discountTitle":"","giftWithPurchaseTitle":null,"isFreeShipping":false,"isGiftWithPurchase":false,"giftWithPurchaseProductId":null,"giftWithPurchaseVariantId":null,"autoAddGiftWithPurchase":false,"giftWithPurchaseHandle":null}}"#);
        let tier: OfferTier = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&tier.unit_discount, &amount);
        prop_assert_eq!(serde_json::to_string(&tier).unwrap(), json);
    }

    #[test]
    fn journey_timestamps_keep_any_offset(
        secs in -62_000_000_000i64..253_000_000_000,
        ms in 0u64..1000,
        offset_min in -1439i64..=1439,
    ) {
        use std::time::Duration;
        let at = UnixMillis(secs * 1000 + ms as i64).to_system_time().unwrap();
        let shift = Duration::from_secs(offset_min.unsigned_abs() * 60);
        // The wall time at that offset, written with it instead of `Z`.
        let local = if offset_min >= 0 { at + shift } else { at - shift };
        let utc = rfc3339::format(local).unwrap();
        let sign = if offset_min >= 0 { '+' } else { '-' };
        let text = format!(
            "{}{sign}{:02}:{:02}",
            utc.strip_suffix('Z').unwrap(),
            offset_min.abs() / 60,
            offset_min.abs() % 60
        );
        let json = format!(r#"{{"eventTitle":"t","timestamp":"{text}","profile":{{}}}}"#);
        let payload = JourneyPayload::from_json(json.as_bytes()).unwrap();
        prop_assert_eq!(payload.timestamp.at(), at);
        prop_assert_eq!(serde_json::to_string(&payload).unwrap(), json);
    }

    #[test]
    fn unknown_fields_keep_any_json_text(text in raw_json_text()) {
        // Known fields first, then the unknown one: the order serialization
        // writes, so the output can match byte for byte.
        let json = format!(r#"{{"id":"o","name":"n","shopId":"s","xField":{text}}}"#);
        let org: Organization = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(org.extra.get("xField").map(RawJson::as_str), Some(text.as_str()));
        prop_assert_eq!(serde_json::to_string(&org).unwrap(), json);
        let payload = format!(r#"{{"eventTitle":"t","timestamp":"2026-01-26T11:02:19Z","profile":{{"xField":{text}}},"xField":{text}}}"#);
        let back = JourneyPayload::from_json(payload.as_bytes()).unwrap();
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), payload);
    }

    #[test]
    fn parsing_arbitrary_json_never_panics(doc in json()) {
        let text = doc.to_string();
        let _ = ExperienceEvent::from_json(text.as_bytes());
        let _ = JourneyPayload::from_json(text.as_bytes());
    }
}
