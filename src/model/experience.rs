//! Experience lifecycle events: `{"action", "timestamp", "experience", "organization"}`.
//!
//! Every struct keeps the fields it does not know in `extra` and writes them
//! back, and every closed set of strings is an open enum with an `Other`
//! fallback, so a payload from a newer sender round-trips without loss.
//! Nullable fields are `Option` and are written back as `null`; a nullable
//! field that is *missing* on input also reads as `None` (and is then written
//! as `null`). Arrays whose element shape no example shows (`onsiteEdits`,
//! `shippingRateGroups`, ...) stay raw JSON ([`RawJson`]), their text kept.
//!
//! Named enum variants are the values the example payloads show; any other
//! value lands in the enum's `Other` variant.

use std::time::SystemTime;

use serde::Serialize;

use super::map_struct::map_deserialize;
use super::open_enum::open_enum;
use super::{Amount, Event, Extra, PayloadError, RawJson, UnixMillis};

open_enum! {
    /// What happened to the experience: the envelope's `action`, and the event
    /// kind endpoints subscribe to.
    pub enum EventAction {
        /// A new experience was created.
        Create => "createExperience",
        /// The experience went live.
        Start => "startExperience",
        /// The experience was paused.
        Pause => "pauseExperience",
        /// The experience was stopped or completed.
        End => "endExperience",
        /// The experience's settings changed.
        Update => "updateExperience",
        /// The experience was deleted.
        Delete => "deleteExperience",
    }
}

open_enum! {
    /// The experience's state when the snapshot was taken (a start event can
    /// carry `paused`: it is not corrected).
    pub enum ExperienceStatus {
        /// Created, never started.
        Pending => "pending",
        /// Running.
        Started => "started",
        /// Paused.
        Paused => "paused",
    }
}

impl Default for ExperienceStatus {
    /// `pending`, the status of a newly created experience.
    fn default() -> Self {
        ExperienceStatus::Pending
    }
}

open_enum! {
    /// What the experience tests (`type`).
    pub enum ExperienceType {
        /// Price testing.
        Pricing => "pricing",
        /// A theme test.
        ContentTheme => "content/theme",
        /// An offer personalization.
        PersonalizationOffer => "personalization/offer",
    }
}

impl Default for ExperienceType {
    /// `pricing`, the type of the newly created experience in the examples.
    fn default() -> Self {
        ExperienceType::Pricing
    }
}

open_enum! {
    /// The experience's category.
    pub enum ExperienceCategory {
        /// An A/B experiment.
        Experiment => "experiment",
    }
}

impl Default for ExperienceCategory {
    /// `experiment`.
    fn default() -> Self {
        ExperienceCategory::Experiment
    }
}

open_enum! {
    /// The unit of a variation's `priceChange`.
    pub enum PriceChangeUnit {
        /// A percentage of the price.
        Percent => "percent",
    }
}

impl Default for PriceChangeUnit {
    /// `percent`, which every example variation carries.
    fn default() -> Self {
        PriceChangeUnit::Percent
    }
}

open_enum! {
    /// How an offer's tier discount is expressed.
    pub enum DiscountType {
        /// A fixed amount off.
        Dollar => "dollar",
        /// A percentage off.
        Percentage => "percentage",
    }
}

impl Default for DiscountType {
    /// `percentage`.
    fn default() -> Self {
        DiscountType::Percentage
    }
}

open_enum! {
    /// What an offer's tier thresholds count.
    pub enum UnitType {
        /// Units (items) in the cart.
        Unit => "unit",
    }
}

impl Default for UnitType {
    /// `unit`.
    fn default() -> Self {
        UnitType::Unit
    }
}

open_enum! {
    /// Where an offer's discount applies.
    pub enum DiscountApplicationType {
        /// On the whole cart.
        CartDiscount => "cartDiscount",
    }
}

impl Default for DiscountApplicationType {
    /// `cartDiscount`.
    fn default() -> Self {
        DiscountApplicationType::CartDiscount
    }
}

open_enum! {
    /// How often an offer's discount applies.
    pub enum DiscountApplicationMethod {
        /// Once per order.
        PerOrder => "perOrder",
    }
}

impl Default for DiscountApplicationMethod {
    /// `perOrder`.
    fn default() -> Self {
        DiscountApplicationMethod::PerOrder
    }
}

open_enum! {
    /// How a redirect rewrites the URL.
    pub enum RedirectType {
        /// The destination replaces the whole URL.
        FullReplacement => "fullReplacement",
    }
}

impl Default for RedirectType {
    /// `fullReplacement`.
    fn default() -> Self {
        RedirectType::FullReplacement
    }
}

open_enum! {
    /// Which URLs a redirect applies to.
    pub enum RedirectFilter {
        /// No filter.
        None => "none",
    }
}

impl Default for RedirectFilter {
    /// `none`.
    fn default() -> Self {
        RedirectFilter::None
    }
}

open_enum! {
    /// What an entry of the experience's history (`experienceActions`) did.
    pub enum ExperienceActionKind {
        /// The experience was started.
        Start => "start",
        /// The experience was paused.
        Pause => "pause",
    }
}

/// An experience lifecycle event, as sent to endpoints.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hookwire::model::Event;
/// use hookwire::model::experience::{
///     EventAction, Experience, ExperienceEvent, ExperienceStatus, Organization,
/// };
///
/// let experience = Experience {
///     id: "exp_1".into(),
///     name: "Price test".into(),
///     status: ExperienceStatus::Started,
///     ..Experience::default()
/// };
/// let organization = Organization::new("org_1", "example", "example.myshopify.com");
/// let at = UNIX_EPOCH + Duration::from_millis(1_771_515_680_494);
/// let event = ExperienceEvent::new(EventAction::Start, experience, organization, at);
/// assert_eq!(event.kind(), "startExperience");
///
/// let json = serde_json::to_vec(&event)?;
/// let back = ExperienceEvent::from_json(&json)?;
/// assert_eq!(back, event);
///
/// // Unknown actions are kept.
/// assert_eq!(EventAction::from("archiveExperience"), EventAction::Other("archiveExperience".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExperienceEvent {
    /// What happened (`action`).
    pub action: EventAction,
    /// When it happened (`timestamp`, Unix milliseconds).
    pub timestamp: UnixMillis,
    /// The experience as it was when the event was produced.
    pub experience: Experience,
    /// The organization that owns the experience.
    pub organization: Organization,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ExperienceEvent {
    /// An event that happened `at` (truncated to the millisecond; clamped for
    /// instants more than 292 million years from the epoch).
    pub fn new(
        action: EventAction,
        experience: Experience,
        organization: Organization,
        at: SystemTime,
    ) -> Self {
        ExperienceEvent {
            action,
            timestamp: UnixMillis::saturating_from(at),
            experience,
            organization,
            extra: Extra::new(),
        }
    }

    /// Parses an event, reporting the JSON path of the first bad field.
    ///
    /// # Errors
    ///
    /// [`PayloadError`] naming the path (`experience.variations[0].percentage`)
    /// and what is wrong there.
    pub fn from_json(bytes: &[u8]) -> Result<Self, PayloadError> {
        super::from_json(bytes)
    }
}

impl Event for ExperienceEvent {
    /// The action's wire string, for example `startExperience`.
    fn kind(&self) -> &str {
        self.action.as_str()
    }
}

/// An experience (A/B test) snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Experience {
    /// The experience id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is in preview.
    pub is_preview: bool,
    /// Its description (often empty).
    pub description: String,
    /// The owning organization's id.
    pub organization_id: String,
    /// What it tests (`type`).
    #[serde(rename = "type")]
    pub experience_type: ExperienceType,
    /// Its category.
    pub category: ExperienceCategory,
    /// Its state when the snapshot was taken.
    pub status: ExperienceStatus,
    /// Which kinds of test it runs.
    pub test_types: TestTypes,
    /// Its history of starts and pauses (`experienceActions`), newest first in
    /// the examples.
    pub experience_actions: Vec<ExperienceAction>,
    /// Its currency, when it has one.
    pub currency: Option<Currency>,
    /// Its variations (groups).
    pub variations: Vec<Variation>,
    /// When it was created (`createdAtTs`).
    pub created_at_ts: UnixMillis,
    /// Whether it was deleted.
    pub is_deleted: bool,
    /// When it last changed (`lastUpdateTs`).
    pub last_update_ts: UnixMillis,
    /// How many product variants it covers.
    pub product_variant_count: u32,
    /// The experience it was copied from, if any.
    pub source_experience_id: Option<String>,
    /// How it was derived from its source, if any.
    pub source_action: Option<String>,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Which kinds of test an experience runs (`testTypes`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestTypes {
    /// `hasTestPricing`.
    pub has_test_pricing: bool,
    /// `hasTestShipping`.
    pub has_test_shipping: bool,
    /// `hasTestCampaign`.
    pub has_test_campaign: bool,
    /// `hasTestContent`.
    pub has_test_content: bool,
    /// `hasTestContentUrl`.
    pub has_test_content_url: bool,
    /// `hasTestContentAdvanced`.
    pub has_test_content_advanced: bool,
    /// `hasTestContentOnsite`.
    pub has_test_content_onsite: bool,
    /// `hasTestContentTemplate`.
    pub has_test_content_template: bool,
    /// `hasTestContentTheme`.
    pub has_test_content_theme: bool,
    /// `hasTestOnsiteInjections`.
    pub has_test_onsite_injections: bool,
    /// `hasTestCheckoutBlocks`.
    pub has_test_checkout_blocks: bool,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of an experience's history (`experienceActions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceAction {
    /// The entry id.
    pub id: String,
    /// The experience it belongs to.
    pub experience_id: String,
    /// What was done.
    pub action: ExperienceActionKind,
    /// When (`actionTs`).
    pub action_ts: UnixMillis,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ExperienceAction {
    /// An entry with no extra fields.
    pub fn new(
        id: impl Into<String>,
        experience_id: impl Into<String>,
        action: ExperienceActionKind,
        action_ts: UnixMillis,
    ) -> Self {
        ExperienceAction {
            id: id.into(),
            experience_id: experience_id.into(),
            action,
            action_ts,
            extra: Extra::new(),
        }
    }
}

/// An experience's currency.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Currency {
    /// ISO 4217 code (`USD`).
    pub code: String,
    /// Display symbol (`$`).
    pub symbol: String,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Currency {
    /// A currency with no extra fields.
    pub fn new(code: impl Into<String>, symbol: impl Into<String>) -> Self {
        Currency {
            code: code.into(),
            symbol: symbol.into(),
            extra: Extra::new(),
        }
    }
}

/// One variation (group) of an experience.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Variation {
    /// The variation id.
    pub id: String,
    /// The experience it belongs to.
    pub experience_id: String,
    /// Its name.
    pub name: String,
    /// Its share of traffic, in percent.
    pub percentage: Amount,
    /// Whether it is the control group.
    pub is_control: bool,
    /// Its position.
    pub order: u32,
    /// The price change it applies, in `price_change_unit`.
    pub price_change: Option<Amount>,
    /// The unit of `price_change`.
    pub price_change_unit: PriceChangeUnit,
    /// How prices are rounded, if they are.
    pub price_rounding_type: Option<String>,
    /// The rounding amount, if prices are rounded.
    pub price_rounding_amount: Option<Amount>,
    /// On-site edits (element shape not shown in any example).
    pub onsite_edits: Vec<RawJson>,
    /// On-site injections (`null` in every example).
    pub onsite_injections: Option<RawJson>,
    /// Its offer, if it has one.
    pub offer: Option<Offer>,
    /// Shipping rate groups (element shape not shown in any example).
    pub shipping_rate_groups: Vec<RawJson>,
    /// Whether some products are excluded.
    pub exclude_products: bool,
    /// Whether only some products are included.
    pub include_products: bool,
    /// The linked test experience, if any.
    pub test_experience_id: Option<String>,
    /// Whether syncing its function failed.
    pub function_sync_error: bool,
    /// Its redirects (theme and URL tests).
    pub redirects: Vec<Redirect>,
    /// User interfaces (element shape not shown in any example).
    pub user_interfaces: Vec<RawJson>,
    /// Checkout blocks (element shape not shown in any example).
    pub checkout_blocks: Vec<RawJson>,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A variation's offer (discount tiers).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    /// The offer id.
    pub id: String,
    /// The variation it belongs to.
    pub variation_id: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Whether it is a test offer.
    pub is_test: bool,
    /// Whether it is archived.
    pub is_archived: bool,
    /// Its name.
    pub name: String,
    /// What the tier thresholds count.
    pub unit_type: UnitType,
    /// How the discount is expressed.
    pub discount_type: DiscountType,
    /// Its tiers.
    pub tiers: Vec<OfferTier>,
    /// A cap on the discount, if any.
    pub maximum_dollar_discount: Option<Amount>,
    /// Where the discount applies.
    pub discount_application_type: DiscountApplicationType,
    /// How often the discount applies.
    pub discount_application_method: DiscountApplicationMethod,
    /// Whether it combines with other Intelligems discounts.
    pub combines_with_intelligems: bool,
    /// Whether it combines with Shopify discounts.
    pub combines_with_shopify: bool,
    /// Whether discount codes are rejected.
    pub should_reject_codes: bool,
    /// A shipping discount (`null` in every example; shape unknown).
    pub shipping_discount: Option<RawJson>,
    /// Whether the tier counts the same item only.
    pub require_same_item: bool,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One tier of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferTier {
    /// The tier id.
    pub id: String,
    /// The fewest units for the tier.
    pub minimum_units: u32,
    /// The most units for the tier.
    pub maximum_units: u32,
    /// The discount per unit, in the offer's discount type.
    pub unit_discount: Amount,
    /// The discount's title.
    pub discount_title: String,
    /// The gift's title, if the tier has a gift.
    pub gift_with_purchase_title: Option<String>,
    /// Whether shipping is free.
    pub is_free_shipping: bool,
    /// Whether the tier comes with a gift.
    pub is_gift_with_purchase: bool,
    /// The gift's product id, if any.
    pub gift_with_purchase_product_id: Option<String>,
    /// The gift's variant id, if any.
    pub gift_with_purchase_variant_id: Option<String>,
    /// Whether the gift is added to the cart automatically.
    pub auto_add_gift_with_purchase: bool,
    /// The gift's product handle, if any.
    pub gift_with_purchase_handle: Option<String>,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A variation's redirect (theme and URL tests).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redirect {
    /// The redirect id.
    pub id: String,
    /// Its group.
    pub group: u32,
    /// The variation it belongs to.
    pub variation_id: String,
    /// The URL redirected from (may be empty).
    pub origin_url: String,
    /// The URL redirected to (may be empty).
    pub destination_url: String,
    /// Query parameters added to the URL.
    pub query_params: Vec<QueryParam>,
    /// Whether it is skipped.
    pub skip: bool,
    /// Whether it serves a theme test.
    pub is_theme_test: bool,
    /// Whether it serves a template test.
    pub is_template_test: bool,
    /// The template type, for template tests.
    pub template_type: Option<String>,
    /// Template suffixes (element shape not shown in any example).
    pub template_suffixes: Vec<RawJson>,
    /// Whether it redirects only once per visitor.
    pub redirect_once: bool,
    /// Which URLs it applies to.
    pub filter: RedirectFilter,
    /// The text to find, for find-and-replace redirects.
    pub find: Option<String>,
    /// How it rewrites the URL.
    pub redirect_type: RedirectType,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A query parameter a redirect adds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryParam {
    /// The parameter name.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

impl QueryParam {
    /// A parameter with no extra fields.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        QueryParam {
            key: key.into(),
            value: value.into(),
            extra: Extra::new(),
        }
    }
}

/// The organization (shop) that owns an experience.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// The organization id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its Shopify shop domain (`shopId`).
    pub shop_id: String,
    /// Fields this version does not know, written back as they came.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Organization {
    /// An organization with no extra fields.
    pub fn new(id: impl Into<String>, name: impl Into<String>, shop_id: impl Into<String>) -> Self {
        Organization {
            id: id.into(),
            name: name.into(),
            shop_id: shop_id.into(),
            extra: Extra::new(),
        }
    }
}

// Every struct reads its map directly (see `map_struct`), so that numbers
// keep their text, in known and unknown fields alike.
map_deserialize!(ExperienceEvent {
    action => "action",
    timestamp => "timestamp",
    experience => "experience",
    organization => "organization",
});

map_deserialize!(Experience {
    id => "id",
    name => "name",
    is_preview => "isPreview",
    description => "description",
    organization_id => "organizationId",
    experience_type => "type",
    category => "category",
    status => "status",
    test_types => "testTypes",
    experience_actions => "experienceActions",
    currency => "currency",
    variations => "variations",
    created_at_ts => "createdAtTs",
    is_deleted => "isDeleted",
    last_update_ts => "lastUpdateTs",
    product_variant_count => "productVariantCount",
    source_experience_id => "sourceExperienceId",
    source_action => "sourceAction",
});

map_deserialize!(Variation {
    id => "id",
    experience_id => "experienceId",
    name => "name",
    percentage => "percentage",
    is_control => "isControl",
    order => "order",
    price_change => "priceChange",
    price_change_unit => "priceChangeUnit",
    price_rounding_type => "priceRoundingType",
    price_rounding_amount => "priceRoundingAmount",
    onsite_edits => "onsiteEdits",
    onsite_injections => "onsiteInjections",
    offer => "offer",
    shipping_rate_groups => "shippingRateGroups",
    exclude_products => "excludeProducts",
    include_products => "includeProducts",
    test_experience_id => "testExperienceId",
    function_sync_error => "functionSyncError",
    redirects => "redirects",
    user_interfaces => "userInterfaces",
    checkout_blocks => "checkoutBlocks",
});

map_deserialize!(Offer {
    id => "id",
    variation_id => "variationId",
    enabled => "enabled",
    is_test => "isTest",
    is_archived => "isArchived",
    name => "name",
    unit_type => "unitType",
    discount_type => "discountType",
    tiers => "tiers",
    maximum_dollar_discount => "maximumDollarDiscount",
    discount_application_type => "discountApplicationType",
    discount_application_method => "discountApplicationMethod",
    combines_with_intelligems => "combinesWithIntelligems",
    combines_with_shopify => "combinesWithShopify",
    should_reject_codes => "shouldRejectCodes",
    shipping_discount => "shippingDiscount",
    require_same_item => "requireSameItem",
});

map_deserialize!(OfferTier {
    id => "id",
    minimum_units => "minimumUnits",
    maximum_units => "maximumUnits",
    unit_discount => "unitDiscount",
    discount_title => "discountTitle",
    gift_with_purchase_title => "giftWithPurchaseTitle",
    is_free_shipping => "isFreeShipping",
    is_gift_with_purchase => "isGiftWithPurchase",
    gift_with_purchase_product_id => "giftWithPurchaseProductId",
    gift_with_purchase_variant_id => "giftWithPurchaseVariantId",
    auto_add_gift_with_purchase => "autoAddGiftWithPurchase",
    gift_with_purchase_handle => "giftWithPurchaseHandle",
});

map_deserialize!(TestTypes {
    has_test_pricing => "hasTestPricing",
    has_test_shipping => "hasTestShipping",
    has_test_campaign => "hasTestCampaign",
    has_test_content => "hasTestContent",
    has_test_content_url => "hasTestContentUrl",
    has_test_content_advanced => "hasTestContentAdvanced",
    has_test_content_onsite => "hasTestContentOnsite",
    has_test_content_template => "hasTestContentTemplate",
    has_test_content_theme => "hasTestContentTheme",
    has_test_onsite_injections => "hasTestOnsiteInjections",
    has_test_checkout_blocks => "hasTestCheckoutBlocks",
});

map_deserialize!(ExperienceAction {
    id => "id",
    experience_id => "experienceId",
    action => "action",
    action_ts => "actionTs",
});

map_deserialize!(Currency {
    code => "code",
    symbol => "symbol",
});

map_deserialize!(Redirect {
    id => "id",
    group => "group",
    variation_id => "variationId",
    origin_url => "originUrl",
    destination_url => "destinationUrl",
    query_params => "queryParams",
    skip => "skip",
    is_theme_test => "isThemeTest",
    is_template_test => "isTemplateTest",
    template_type => "templateType",
    template_suffixes => "templateSuffixes",
    redirect_once => "redirectOnce",
    filter => "filter",
    find => "find",
    redirect_type => "redirectType",
});

map_deserialize!(QueryParam {
    key => "key",
    value => "value",
});

map_deserialize!(Organization {
    id => "id",
    name => "name",
    shop_id => "shopId",
});
