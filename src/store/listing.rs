//! Paged listings: a [`Cursor`] marks a place, an [`Order`] says which way
//! a listing runs; [`AttemptFilter`] and [`ListedAttempt`] list attempts
//! across deliveries.

use super::AttemptRecord;
use crate::id::{DeliveryId, EndpointId};

/// A place in a listing: every listed [`Delivery`](super::Delivery) and
/// [`ListedAttempt`] carries one, and a filter's `after` continues a listing
/// just past it.
///
/// A cursor is the row's position in the order the store created the rows
/// (deliveries and attempts each have their own), so listings are stable:
/// rows created while a listing is paged through come after every older
/// one, and a row removed meanwhile (pruned) neither shifts nor repeats the
/// others. A cursor is meaningful only to the store that handed it out.
///
/// # Examples
///
/// ```
/// use hookwire::store::Cursor;
///
/// let c = Cursor::new(41);
/// assert!(Cursor::new(40) < c);
/// assert_eq!(c.get(), 41);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cursor(u64);

impl Cursor {
    /// A cursor at position `position` (for store implementations, and for
    /// hosts that keep a cursor as a number).
    pub const fn new(position: u64) -> Self {
        Self(position)
    }

    /// The position.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// Which way a listing runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Order {
    /// Oldest first: in the order the rows were created (the default).
    #[default]
    OldestFirst,
    /// Newest first: what an operator looks at.
    NewestFirst,
}

impl Order {
    /// Whether a row at `cursor` comes after `after` in this order.
    pub fn is_after(self, cursor: Cursor, after: Cursor) -> bool {
        match self {
            Self::OldestFirst => cursor > after,
            Self::NewestFirst => cursor < after,
        }
    }
}

/// Which attempts [`Store::list_attempts`](super::Store::list_attempts)
/// lists, across deliveries, and from where.
///
/// # Examples
///
/// The last ten attempts to one endpoint, then the ten before them:
///
/// ```
/// use hookwire::id::EndpointId;
/// use hookwire::store::{AttemptFilter, InMemoryStore, Order, Store};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # futures::executor::block_on(async {
/// let store = InMemoryStore::new();
/// let filter = AttemptFilter::all(10)
///     .endpoint(EndpointId::new("ep_billing")?)
///     .order(Order::NewestFirst);
/// let page = store.list_attempts(&filter).await?;
/// if let Some(last) = page.last() {
///     let _next = store.list_attempts(&filter.clone().after(last.cursor)).await?;
/// }
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptFilter {
    /// Only attempts made for this delivery.
    pub delivery_id: Option<DeliveryId>,
    /// Only attempts made to this endpoint.
    pub endpoint_id: Option<EndpointId>,
    /// Only attempts past this cursor, in [`order`](Self::order).
    pub after: Option<Cursor>,
    /// Which way the listing runs.
    pub order: Order,
    /// At most this many.
    pub limit: usize,
}

impl AttemptFilter {
    /// Every attempt, oldest first, up to `limit`.
    pub fn all(limit: usize) -> Self {
        Self {
            delivery_id: None,
            endpoint_id: None,
            after: None,
            order: Order::OldestFirst,
            limit,
        }
    }

    /// Only attempts made for `delivery_id`.
    pub fn delivery(mut self, delivery_id: DeliveryId) -> Self {
        self.delivery_id = Some(delivery_id);
        self
    }

    /// Only attempts made to `endpoint_id`.
    pub fn endpoint(mut self, endpoint_id: EndpointId) -> Self {
        self.endpoint_id = Some(endpoint_id);
        self
    }

    /// Only attempts past `cursor` (the last one of the previous page).
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Listed in `order`.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }
}

/// One attempt in a listing, with what it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListedAttempt {
    /// Its place in listings.
    pub cursor: Cursor,
    /// The delivery it was made for.
    pub delivery_id: DeliveryId,
    /// The endpoint it was made to.
    pub endpoint_id: EndpointId,
    /// The attempt.
    pub record: AttemptRecord,
}

impl ListedAttempt {
    /// A listed attempt (for store implementations).
    pub fn new(
        cursor: Cursor,
        delivery_id: DeliveryId,
        endpoint_id: EndpointId,
        record: AttemptRecord,
    ) -> Self {
        Self {
            cursor,
            delivery_id,
            endpoint_id,
            record,
        }
    }
}
