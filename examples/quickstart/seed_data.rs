//! The seed payloads, built from typed values (no JSON): the three experience
//! events and the three journey steps with the payloads they send.
//!
//! Shared by the quickstart example and the model tests, which check that
//! each value serializes to exactly the fixture in `tests/fixtures/`.

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwire::model::experience::{
    Currency, DiscountApplicationMethod, DiscountApplicationType, DiscountType, EventAction,
    Experience, ExperienceAction, ExperienceActionKind, ExperienceCategory, ExperienceEvent,
    ExperienceStatus, ExperienceType, Offer, OfferTier, Organization, PriceChangeUnit, QueryParam,
    Redirect, RedirectFilter, RedirectType, TestTypes, UnitType, Variation,
};
use hookwire::model::journey::{
    Account, Auth, Consent, ConsentAction, ConsentState, JourneyPayload, JourneyStep, Profile,
};
use hookwire::model::UnixMillis;

const ORG_ID: &str = "1a111-1a1-aaa1-a111-a1aa1aa11111";

fn at_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn organization() -> Organization {
    Organization::new(ORG_ID, "example", "example.myshopify.com")
}

/// A 50% variation with every optional part empty, as most seed variations are.
fn variation(id: &str, experience_id: &str, name: &str, order: u32) -> Variation {
    Variation {
        id: id.into(),
        experience_id: experience_id.into(),
        name: name.into(),
        percentage: 50.into(),
        is_control: order == 0,
        order,
        price_change_unit: PriceChangeUnit::Percent,
        ..Variation::default()
    }
}

/// `createExperience`: a new pricing test, still pending.
pub fn create_experience() -> ExperienceEvent {
    let id = "be4b13da-26f7-4cbd-a642-9934fe26bab3";
    let experience = Experience {
        id: id.into(),
        name: "New Test".into(),
        is_preview: true,
        description: String::new(),
        organization_id: ORG_ID.into(),
        experience_type: ExperienceType::Pricing,
        category: ExperienceCategory::Experiment,
        status: ExperienceStatus::Pending,
        test_types: TestTypes {
            has_test_pricing: true,
            ..TestTypes::default()
        },
        currency: Some(Currency::new("USD", "$")),
        variations: vec![
            variation(
                "b682fdfe-a2f6-45eb-82cc-53d1989b43e9",
                id,
                "Control Group",
                0,
            ),
            variation("ac6bafaf-73de-4916-abdd-3fd2e708d511", id, "New Group 1", 1),
        ],
        created_at_ts: UnixMillis(1_771_514_995_763),
        last_update_ts: UnixMillis(1_771_514_995_763),
        ..Experience::default()
    };
    ExperienceEvent::new(
        EventAction::Create,
        experience,
        organization(),
        at_millis(1_771_515_006_494),
    )
}

/// A theme-test redirect adding `preview_theme_id`.
fn theme_redirect(id: &str, variation_id: &str, theme_id: &str) -> Redirect {
    Redirect {
        id: id.into(),
        group: 1,
        variation_id: variation_id.into(),
        query_params: vec![QueryParam::new("preview_theme_id", theme_id)],
        is_theme_test: true,
        filter: RedirectFilter::None,
        redirect_type: RedirectType::FullReplacement,
        ..Redirect::default()
    }
}

/// `startExperience`: a theme test; its snapshot still says `paused`.
pub fn start_experience() -> ExperienceEvent {
    let id = "9d939485-5c41-45ea-861a-0c00b86d466b";
    let history = [
        (
            "89bb6f5b-fb92-4a74-ba2b-3cf732b30011",
            ExperienceActionKind::Pause,
            1_770_050_720_119,
        ),
        (
            "b952b435-76c5-4d7b-8183-74850524ab03",
            ExperienceActionKind::Start,
            1_770_050_707_402,
        ),
        (
            "bee36cb0-6828-46c1-b752-c1429ef46eb7",
            ExperienceActionKind::Pause,
            1_770_050_614_891,
        ),
        (
            "c43f24cb-bfb2-4766-b58d-3f15376df5ff",
            ExperienceActionKind::Start,
            1_770_050_602_503,
        ),
        (
            "1b24d283-09fb-4a0b-a97c-144bfe9f83e0",
            ExperienceActionKind::Pause,
            1_767_976_474_802,
        ),
        (
            "8603294c-813b-43ca-8d67-f8cf7d06c2b8",
            ExperienceActionKind::Start,
            1_767_976_456_167,
        ),
    ];
    let control = "57b1e27d-058d-458f-b4db-936e1cc3e5e9";
    let group = "4e6b74df-4816-4ba6-9261-cb5cfe5dc7b2";
    let experience = Experience {
        id: id.into(),
        name: "Theme Test".into(),
        is_preview: true,
        organization_id: ORG_ID.into(),
        experience_type: ExperienceType::ContentTheme,
        status: ExperienceStatus::Paused,
        test_types: TestTypes {
            has_test_content_theme: true,
            ..TestTypes::default()
        },
        experience_actions: history
            .into_iter()
            .map(|(entry, kind, ts)| ExperienceAction::new(entry, id, kind, UnixMillis(ts)))
            .collect(),
        variations: vec![
            Variation {
                redirects: vec![theme_redirect(
                    "ec5f497a-247e-4f44-a1b1-269eb256a8df",
                    control,
                    "133068324949",
                )],
                ..variation(control, id, "Control Group", 0)
            },
            Variation {
                redirects: vec![theme_redirect(
                    "696c3924-9ac7-4741-a3df-6ef6b14274f9",
                    group,
                    "133068292181",
                )],
                ..variation(group, id, "New Group 1", 1)
            },
        ],
        created_at_ts: UnixMillis(1_767_904_006_314),
        last_update_ts: UnixMillis(1_767_904_006_314),
        ..Experience::default()
    };
    ExperienceEvent::new(
        EventAction::Start,
        experience,
        organization(),
        at_millis(1_771_515_680_494),
    )
}

/// A disabled one-tier cart offer of 10 off.
fn offer(
    id: &str,
    variation_id: &str,
    discount: DiscountType,
    tier_id: &str,
    title: &str,
) -> Offer {
    Offer {
        id: id.into(),
        variation_id: variation_id.into(),
        name: "Discount".into(),
        unit_type: UnitType::Unit,
        discount_type: discount,
        tiers: vec![OfferTier {
            id: tier_id.into(),
            minimum_units: 0,
            maximum_units: 1,
            unit_discount: 10.into(),
            discount_title: title.into(),
            auto_add_gift_with_purchase: true,
            ..OfferTier::default()
        }],
        discount_application_type: DiscountApplicationType::CartDiscount,
        discount_application_method: DiscountApplicationMethod::PerOrder,
        combines_with_intelligems: true,
        combines_with_shopify: true,
        ..Offer::default()
    }
}

/// `endExperience`: a $-off vs %-off offer test; its snapshot says `started`.
pub fn end_experience() -> ExperienceEvent {
    let id = "93b908f2-0b5f-4a11-9318-3aa8bbbeaf60";
    let control = "3fb9ff5a-5c0b-43da-90b8-2274533d80e4";
    let group = "9735c942-a05e-4655-90a5-3660bc3ec904";
    let experience = Experience {
        id: id.into(),
        name: "$Off vs %Off".into(),
        is_preview: false,
        organization_id: ORG_ID.into(),
        experience_type: ExperienceType::PersonalizationOffer,
        status: ExperienceStatus::Started,
        test_types: TestTypes {
            has_test_campaign: true,
            ..TestTypes::default()
        },
        experience_actions: vec![ExperienceAction::new(
            "3a45c2f6-e21c-45a3-a15d-ff9937e7c285",
            id,
            ExperienceActionKind::Start,
            UnixMillis(1_768_924_166_952),
        )],
        variations: vec![
            Variation {
                offer: Some(offer(
                    "fc18d01f-a4d9-432f-bbea-def37af6aa55",
                    control,
                    DiscountType::Dollar,
                    "5244c63f-9eb4-4c86-997e-3b38b38a35cf",
                    "10DollarOff",
                )),
                ..variation(control, id, "Control", 0)
            },
            Variation {
                offer: Some(offer(
                    "c3bfa635-8f73-4d38-a5e8-f75df029328e",
                    group,
                    DiscountType::Percentage,
                    "a30fc3f0-1cd8-4b1f-8e01-645c3771736a",
                    "10PercentOff",
                )),
                ..variation(group, id, "Test Group 1", 1)
            },
        ],
        created_at_ts: UnixMillis(1_767_795_979_263),
        last_update_ts: UnixMillis(1_769_704_906_937),
        ..Experience::default()
    };
    ExperienceEvent::new(
        EventAction::End,
        experience,
        organization(),
        at_millis(1_771_515_803_205),
    )
}

/// The three experience events, named after their fixture files.
pub fn experience_events() -> Vec<(&'static str, ExperienceEvent)> {
    vec![
        ("createExperience", create_experience()),
        ("startExperience", start_experience()),
        ("endExperience", end_experience()),
    ]
}

/// The person the journey examples are about.
pub fn profile() -> Profile {
    let mut profile = Profile {
        profile_id: Some("usr_12ab45c99d77".into()),
        email: Some("user@example.com".into()),
        first_name: Some("Alex".into()),
        plan: Some("free".into()),
        identity_resolved: true,
        ..Profile::default()
    };
    profile
        .consents
        .insert("marketing".into(), ConsentState::Granted);
    profile
}

/// POST a CRM lead when signup completes (requires marketing consent).
pub fn signup_step() -> JourneyStep {
    JourneyStep::builder(
        "onboarding",
        "crm-lead",
        "Signup Completed",
        "POST",
        "https://api.crm.example.com/leads",
    )
    .auth(Auth::api_key("X-Api-Key", "crm-demo-key"))
    .required_consent("marketing")
    .build()
    .expect("the signup step is valid")
}

/// PUT the new plan to billing when the plan is upgraded.
pub fn upgrade_step() -> JourneyStep {
    JourneyStep::builder(
        "upgrade",
        "sync-billing",
        "Plan Upgraded",
        "PUT",
        "https://billing.example.com/accounts/{accountId}",
    )
    .auth(Auth::bearer("billing-demo-token"))
    .build()
    .expect("the upgrade step is valid")
}

/// DELETE the subscriber when marketing consent is revoked (requires no
/// consent: that is the point).
pub fn revoke_step() -> JourneyStep {
    JourneyStep::builder(
        "consent",
        "unsubscribe",
        "Consent Revoked",
        "DELETE",
        "https://email.example.com/subscribers/{email}",
    )
    .auth(Auth::basic("hookwire", "email-demo-password"))
    .build()
    .expect("the revoke step is valid")
}

/// The upgraded account.
pub fn account() -> Account {
    Account::new("acc_a9213fbb892")
        .previous_plan("starter")
        .current_plan("pro")
}

/// `Signup Completed`: the whole profile.
pub fn signup_completed() -> JourneyPayload {
    signup_step().payload(&profile(), None, None, at_millis(1_769_422_365_000))
}

/// `Plan Upgraded`: the account, and the profile's id and email only.
pub fn plan_upgraded() -> JourneyPayload {
    let profile = Profile {
        first_name: None,
        plan: None,
        ..profile()
    };
    upgrade_step().payload(
        &profile,
        Some(&account()),
        None,
        at_millis(1_769_425_339_000),
    )
}

/// `Consent Revoked`: the email only, and the declined consent.
pub fn consent_revoked() -> JourneyPayload {
    let mut profile = Profile {
        email: Some("user@example.com".into()),
        identity_resolved: true,
        ..Profile::default()
    };
    profile
        .consents
        .insert("marketing".into(), ConsentState::Declined);
    let consent = Consent::new("marketing", ConsentAction::Decline);
    revoke_step().payload(&profile, None, Some(&consent), at_millis(1_769_427_910_000))
}

/// The three journey payloads, named after their fixture files.
pub fn journey_payloads() -> Vec<(&'static str, JourneyPayload)> {
    vec![
        ("post-signup-completed", signup_completed()),
        ("put-plan-upgraded", plan_upgraded()),
        ("delete-consent-revoked", consent_revoked()),
    ]
}
