//! The item codec: domain records to DynamoDB items and back, for all four tables.
//!
//! Writers build whole items: the keys from [`super::keys`], a `kind` naming the record, and `shop`
//! on every record so `shop/redact` finds it. Readers never guess: a required attribute that is
//! missing, of the wrong type or out of range is a [`PortError::Corrupt`] naming the record's key
//! and the attribute, because a stored record that cannot be read back needs an operator, and a
//! default in its place would act on a value nobody wrote. The only leniency is for attributes
//! added after the first release (the ERP debt, Shopify states and settling fields of a stock
//! level, the fulfillment orders of an order line, the carried movements of a level) and for
//! optional ones; each such place says so. The order line record is in [`line`]; the order
//! flow's records (the order record `SALE#<shop>#<order>`, kind `sale`, its [`SalesRecord`]
//! kept whole as JSON in `record`; the shop's setting, kind `sales_settings`) are in [`sales`];
//! the two-way direction's (ERP records, feed cursors, ERP item aliases, storefront settings)
//! in [`two_way`].
//!
//! [`SalesRecord`]: stockbridge_domain::sales::SalesRecord

use stockbridge_core::ports::{CorrectionRecord, ParkedEvent, PortError, QuarantineEntry};
use stockbridge_domain::batch::{LedgerEntry, Outcome};
use stockbridge_domain::ids::{InventoryItemId, LocationId, ShopDomain, Timestamp, VariantId};
use stockbridge_domain::sales::SalesRecord;
use stockbridge_domain::skumap::{ItemMapping, LocationMapping, Master, UomFactor};
use stockbridge_domain::stock::{
    Inflight, ItemRecord, LineKey, MovementKey, MovementRecord, OrderKey, OrderLine, States,
    StockKey, StockLevel,
};

use super::keys::{self, Alias, MAP, PK, SK, STATE};

pub(super) mod attr;
mod line;
mod sales;
mod two_way;

use attr::{
    b, days_from, json, opt_bool, opt_n, opt_s, opt_version, req_bool, req_json, req_n, req_s,
    req_version,
};
pub(super) use attr::{corrupt, n, s, Item};
use line::read_line;
pub(super) use line::write_line;
pub(super) use sales::{read_sales_settings, write_sale, write_sales_settings};
pub(super) use two_way::{
    read_erp_item_alias, read_erp_record, read_feed_cursors, read_storefront_settings,
    write_erp_record, write_feed_cursors, write_storefront_settings,
};

/// How long an idempotency record outlives its event: longer than Shopify's 4 h of retries, an
/// SQS message's 14 days and an operator's replay of a parked event.
const IDEMPOTENCY_DAYS: i64 = 35;
/// Reconciliation reports are kept this long.
const REPORT_DAYS: i64 = 90;

/// The `kind` attribute of each record.
pub(super) mod kind {
    pub const LEVEL: &str = "level";
    pub const LINE: &str = "line";
    pub const ITEM: &str = "item";
    pub const MOVEMENT: &str = "movement";
    pub const SALE: &str = "sale";
    pub const LOG: &str = "log";
    pub const CORRECTION: &str = "correction";
    pub const ITEM_MAP: &str = "item_map";
    pub const ITEM_LISTING: &str = "item_listing";
    pub const ALIAS: &str = "alias";
    pub const LOCATION_MAP: &str = "location_map";
    pub const SALES_SETTINGS: &str = "sales_settings";
    pub const PARKED: &str = "parked";
    pub const REPORT: &str = "reconcile_report";
    pub const QUARANTINE: &str = "quarantine";
    pub const ERP_RECORD: &str = "erp_record";
    pub const FEED_CURSORS: &str = "feed_cursors";
    pub const ERP_ITEM_ALIAS: &str = "erp_item_alias";
    pub const STOREFRONT_SETTINGS: &str = "storefront_settings";
}

/// A record's keys, `kind` and `shop`; the writers add the rest.
fn record(pk: &str, sk: &str, kind: &str, shop: &ShopDomain) -> Item {
    let mut item = keys::key(pk, sk);
    item.insert("kind".into(), s(kind));
    item.insert("shop".into(), s(shop.as_str()));
    item
}

fn read_shop(item: &Item) -> Result<ShopDomain, PortError> {
    Ok(ShopDomain::new(&req_s(item, "shop")?))
}

/// The partition key a record was stored under.
pub(super) fn read_pk(item: &Item) -> Result<String, PortError> {
    req_s(item, PK)
}

/// The sort key a record was stored under.
pub(super) fn read_sk(item: &Item) -> Result<String, PortError> {
    req_s(item, SK)
}

/// The optimistic revision of a stock table record, with its partition key.
pub(super) fn read_revision(item: &Item) -> Result<(String, u64), PortError> {
    Ok((read_pk(item)?, req_n(item, "rev")?))
}

/// A record of the stock table's `STATE` rows, by its `kind`. Read one at a time and moved
/// into the book at once, so the size of a level (with its in-flight write) costs nothing.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub(super) enum StockRecord {
    Level(StockKey, StockLevel),
    Line(LineKey, OrderLine),
    Item((ShopDomain, InventoryItemId), ItemRecord),
    Movement(MovementKey, MovementRecord),
    Sale(OrderKey, SalesRecord),
}

pub(super) fn read_stock_record(item: &Item) -> Result<StockRecord, PortError> {
    match opt_s(item, "kind")?.as_deref() {
        Some(kind::LEVEL) => read_level(item).map(|(k, l)| StockRecord::Level(k, l)),
        Some(kind::LINE) => read_line(item).map(|(k, l)| StockRecord::Line(k, l)),
        Some(kind::ITEM) => read_item_record(item).map(|(k, r)| StockRecord::Item(k, r)),
        Some(kind::MOVEMENT) => read_movement(item).map(|(k, m)| StockRecord::Movement(k, m)),
        Some(kind::SALE) => sales::read_sale(item).map(|(k, r)| StockRecord::Sale(k, r)),
        other => Err(corrupt(
            item,
            format!("attribute kind = {other:?} is not a stock record"),
        )),
    }
}

fn read_stock_key(item: &Item) -> Result<StockKey, PortError> {
    Ok(StockKey {
        shop: read_shop(item)?,
        item: InventoryItemId(req_n(item, "item")?),
        location: LocationId(req_n(item, "location")?),
    })
}

pub(super) fn read_level(item: &Item) -> Result<(StockKey, StockLevel), PortError> {
    let mut level = StockLevel {
        available: req_n(item, "available")?,
        committed: req_n(item, "committed")?,
        tracked: req_bool(item, "tracked")?,
        connected: req_bool(item, "connected")?,
        // Absent until the first level fact (update, connect, disconnect) is applied.
        level_version: opt_version(item, "level_version")?,
        // The ERP debt attributes came after the first release: a record written before has
        // none of them, which means nothing owed, nothing in flight, no write acknowledged.
        erp_owed: opt_n(item, "erp_owed")?.unwrap_or(0),
        erp_owed_since: opt_n(item, "erp_owed_since")?.map(Timestamp),
        erp_inflight: read_inflight(item)?,
        erp_seq: opt_n(item, "erp_seq")?.unwrap_or(0),
        states: read_states(item)?,
        // Absent until the first read of the level's quantities.
        states_version: opt_version(item, "states_version")?,
        settled: 0,
        // Settling came later too: a record written before has noted nothing since it settled,
        // is not waiting for a read and knows no fact version.
        moved: opt_n(item, "moved")?.unwrap_or(0),
        unsettled_since: opt_n(item, "unsettled_since")?.map(Timestamp),
        fact_version: opt_version(item, "fact_version")?,
        // The movements carried by ERP sales orders came with the order flow: a record written
        // before has none, and one written since stores `carried` only when not 0. A present
        // attribute that is not a number in range is corrupt like any other.
        carried: opt_n(item, "carried")?.unwrap_or(0),
        // Units an ERP transfer booked ahead of Shopify's receipt: absent means none (records
        // written before the two-way direction, and every record without a credit).
        erp_ahead: opt_n(item, "erp_ahead")?.unwrap_or(0),
    };
    // `on_hand` is derived by the domain, which does not expect the sum to overflow.
    let on_hand = stored_on_hand(item, &level)?;
    // A record from before settling was always settled: its last explained figure is the
    // `on_hand` it holds (`available + committed`, it had no states).
    level.settled = opt_n(item, "settled")?.unwrap_or(on_hand);
    Ok((read_stock_key(item)?, level))
}

/// Shopify's unavailable states and `incoming`, each stored only when not 0 (and absent from
/// records written before they were kept): absent is 0.
fn read_states(item: &Item) -> Result<States, PortError> {
    let state = |name| opt_n(item, name).map(Option::unwrap_or_default);
    Ok(States {
        reserved: state("reserved")?,
        damaged: state("damaged")?,
        safety_stock: state("safety_stock")?,
        quality_control: state("quality_control")?,
        incoming: state("incoming")?,
    })
}

/// The level's `on_hand` from its stored quantities; a sum beyond 64 bits is corrupt (the
/// domain bounds every quantity far below).
fn stored_on_hand(item: &Item, level: &StockLevel) -> Result<i64, PortError> {
    let s = &level.states;
    [
        level.committed,
        s.reserved,
        s.damaged,
        s.safety_stock,
        s.quality_control,
    ]
    .into_iter()
    .try_fold(level.available, i64::checked_add)
    .ok_or_else(|| {
        corrupt(
            item,
            "attributes available + committed + states overflow on_hand",
        )
    })
}

/// The in-flight ERP write of a level; absent when nothing is on its way. The write is sent again
/// exactly as stored, so its change and target must be decimals the ERP line can carry. Fields
/// added later (lease, holder, refusals, parked) are absent from older records and read as
/// unheld, never refused, not parked.
fn read_inflight(item: &Item) -> Result<Option<Inflight>, PortError> {
    if !item.contains_key("erp_inflight") {
        return Ok(None);
    }
    // `change` and `target` are decimals: one that does not parse fails the JSON decode.
    req_json(item, "erp_inflight").map(Some)
}

pub(super) fn write_level(key: &StockKey, level: &StockLevel, rev: u64, now: Timestamp) -> Item {
    let mut item = record(&keys::level_pk(key), STATE, kind::LEVEL, &key.shop);
    item.insert("item".into(), n(key.item));
    item.insert("location".into(), n(key.location));
    item.insert("available".into(), n(level.available));
    item.insert("committed".into(), n(level.committed));
    item.insert("on_hand".into(), n(level.on_hand()));
    item.insert("tracked".into(), b(level.tracked));
    item.insert("connected".into(), b(level.connected));
    if let Some(v) = level.level_version {
        item.insert("level_version".into(), s(&v.to_key()));
        item.insert("level_as_of".into(), s(&v.as_of.to_rfc3339()));
    }
    item.insert("erp_owed".into(), n(level.erp_owed));
    if let Some(since) = level.erp_owed_since {
        item.insert("erp_owed_since".into(), n(since.0));
    }
    if let Some(inflight) = &level.erp_inflight {
        item.insert("erp_inflight_key".into(), s(&inflight.key));
        item.insert("erp_inflight".into(), json(inflight));
    }
    item.insert("erp_seq".into(), n(level.erp_seq));
    let states = &level.states;
    for (name, q) in [
        ("reserved", states.reserved),
        ("damaged", states.damaged),
        ("safety_stock", states.safety_stock),
        ("quality_control", states.quality_control),
        ("incoming", states.incoming),
    ] {
        if q != 0 {
            item.insert(name.into(), n(q));
        }
    }
    if let Some(v) = level.states_version {
        item.insert("states_version".into(), s(&v.to_key()));
    }
    item.insert("settled".into(), n(level.settled));
    item.insert("moved".into(), n(level.moved));
    if let Some(since) = level.unsettled_since {
        item.insert("unsettled_since".into(), n(since.0));
    }
    if let Some(v) = level.fact_version {
        item.insert("fact_version".into(), s(&v.to_key()));
    }
    if level.erp_ahead != 0 {
        item.insert("erp_ahead".into(), n(level.erp_ahead));
    }
    if level.carried != 0 {
        item.insert("carried".into(), n(level.carried));
    }
    item.insert("rev".into(), n(rev));
    item.insert("updated_at".into(), s(&now.to_rfc3339()));
    item
}

type ItemId = (ShopDomain, InventoryItemId);

fn read_item_record(item: &Item) -> Result<(ItemId, ItemRecord), PortError> {
    let id = (read_shop(item)?, InventoryItemId(req_n(item, "item")?));
    let record = ItemRecord {
        // Both optional: Shopify need not have said either yet.
        sku: opt_s(item, "sku")?,
        tracked: opt_bool(item, "tracked")?,
        deleted: req_bool(item, "deleted")?,
        version: req_version(item, "version")?,
    };
    Ok((id, record))
}

pub(super) fn write_item_record(
    shop: &ShopDomain,
    id: InventoryItemId,
    r: &ItemRecord,
    rev: u64,
) -> Item {
    let mut item = record(&keys::item_pk(shop, id), STATE, kind::ITEM, shop);
    item.insert("item".into(), n(id));
    if let Some(sku) = &r.sku {
        item.insert("sku".into(), s(sku));
    }
    if let Some(t) = r.tracked {
        item.insert("tracked".into(), b(t));
    }
    item.insert("deleted".into(), b(r.deleted));
    item.insert("version".into(), s(&r.version.to_key()));
    item.insert("rev".into(), n(rev));
    item
}

fn read_movement(item: &Item) -> Result<(MovementKey, MovementRecord), PortError> {
    let key = MovementKey {
        shop: read_shop(item)?,
        id: req_s(item, "movement")?,
    };
    let record = MovementRecord {
        key: read_stock_key(item)?,
        erp_effect: req_n(item, "erp_effect")?,
        version: req_version(item, "version")?,
    };
    Ok((key, record))
}

pub(super) fn write_movement(key: &MovementKey, m: &MovementRecord, rev: u64) -> Item {
    let mut item = record(&keys::movement_pk(key), STATE, kind::MOVEMENT, &key.shop);
    item.insert("movement".into(), s(&key.id));
    item.insert("item".into(), n(m.key.item));
    item.insert("location".into(), n(m.key.location));
    item.insert("erp_effect".into(), n(m.erp_effect));
    item.insert("version".into(), s(&m.version.to_key()));
    item.insert("rev".into(), n(rev));
    item
}

/// The `n`th log entry of a batch committed at `now`, in its level's partition.
pub(super) fn write_log_entry(entry: &LedgerEntry, n_entry: usize, now: Timestamp) -> Item {
    let pk = keys::level_pk(&entry.key);
    let mut item = record(&pk, &keys::log_sk(now, n_entry), kind::LOG, &entry.key.shop);
    item.insert("at".into(), s(&now.to_rfc3339()));
    for (prefix, q) in [("before", entry.before), ("after", entry.after)] {
        item.insert(format!("{prefix}_available"), n(q.available));
        item.insert(format!("{prefix}_committed"), n(q.committed));
        item.insert(format!("{prefix}_on_hand"), n(q.on_hand));
        item.insert(format!("{prefix}_unavailable"), n(q.unavailable));
    }
    item.insert("causes".into(), json(&entry.causes));
    item
}

/// The `n`th correction of a reconciliation run, in its level's partition.
pub(super) fn write_correction(r: &CorrectionRecord, n_entry: usize) -> Item {
    let key = StockKey {
        shop: r.shop.clone(),
        item: r.correction.item(),
        location: r.correction.location(),
    };
    let sk = keys::correction_sk(r.at, n_entry);
    let mut item = record(&keys::level_pk(&key), &sk, kind::CORRECTION, &r.shop);
    item.insert("at".into(), s(&r.at.to_rfc3339()));
    item.insert("run".into(), s(&r.run));
    item.insert("side".into(), s(r.correction.side()));
    item.insert("outcome".into(), s(&r.outcome));
    item.insert("reason".into(), s(&r.reason));
    item.insert("correction".into(), json(&r.correction));
    item
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Applied => "applied",
        Outcome::Parked => "parked",
        Outcome::AppliedAndParked => "applied_and_parked",
        Outcome::Duplicate => "duplicate",
    }
}

/// The idempotency record of an event done at `now`; it expires after [`IDEMPOTENCY_DAYS`].
pub(super) fn write_applied(event_key: &str, outcome: Outcome, now: Timestamp) -> Item {
    let mut item = keys::idempotency_key(event_key);
    item.insert("outcome".into(), s(outcome_name(outcome)));
    item.insert("at".into(), s(&now.to_rfc3339()));
    item.insert("expires_at".into(), days_from(now, IDEMPOTENCY_DAYS));
    item
}

pub(super) fn write_parked(event_key: &str, parked: &ParkedEvent) -> Item {
    let shop = &parked.event.shop;
    let mut item = record(&keys::parked_pk(shop), event_key, kind::PARKED, shop);
    item.insert("missing".into(), s(&parked.missing.join(", ")));
    item.insert("parked".into(), json(parked));
    item
}

pub(super) fn read_parked(item: &Item) -> Result<ParkedEvent, PortError> {
    req_json(item, "parked")
}

/// The five records of an item mapping: the mapping, its place in the listing (with the same
/// attributes, so the listing reads as mappings), and its variant, SKU and ERP item aliases.
pub(super) fn write_mapping(m: &ItemMapping) -> [Item; 5] {
    let mut item = record(
        &keys::item_pk(&m.shop, m.item),
        MAP,
        kind::ITEM_MAP,
        &m.shop,
    );
    item.insert("item".into(), n(m.item));
    item.insert("variant".into(), n(m.variant));
    item.insert("sku".into(), s(&m.sku));
    item.insert("erp_item".into(), s(&m.erp_item));
    item.insert("shopify_uom".into(), s(&m.uom.shopify_uom));
    item.insert("erp_uom".into(), s(&m.uom.erp_uom));
    let listing_pk = keys::items_listing_pk(&m.shop);
    let sk = keys::item_listing_sk(m.item);
    let mut listed = record(&listing_pk, &sk, kind::ITEM_LISTING, &m.shop);
    for (name, value) in &item {
        if name != PK && name != SK && name != "kind" {
            listed.insert(name.clone(), value.clone());
        }
    }
    let alias = |pk: String| {
        let mut a = record(&pk, MAP, kind::ALIAS, &m.shop);
        a.insert("item".into(), n(m.item));
        a
    };
    let by_variant = alias(keys::variant_alias_pk(&m.shop, m.variant));
    let by_sku = alias(keys::sku_alias_pk(&m.shop, &m.sku));
    let by_erp_item = two_way::write_erp_item_alias(m);
    [item, listed, by_variant, by_sku, by_erp_item]
}

/// An item mapping, from its own record or from the listing.
pub(super) fn read_mapping(i: &Item) -> Result<ItemMapping, PortError> {
    let (shopify_uom, erp_uom) = (req_s(i, "shopify_uom")?, req_s(i, "erp_uom")?);
    let uom = UomFactor::new(&shopify_uom, &erp_uom).ok_or_else(|| {
        corrupt(
            i,
            format!("attributes shopify_uom/erp_uom = {shopify_uom:?}/{erp_uom:?}: unknown unit"),
        )
    })?;
    Ok(ItemMapping {
        shop: read_shop(i)?,
        item: InventoryItemId(req_n(i, "item")?),
        variant: VariantId(req_n(i, "variant")?),
        sku: req_s(i, "sku")?,
        erp_item: req_s(i, "erp_item")?,
        uom,
    })
}

/// An alias record of `shop`: what it names and the inventory item it points at.
pub(super) fn read_alias(
    i: &Item,
    shop: &ShopDomain,
) -> Result<(Alias, InventoryItemId), PortError> {
    let pk = read_pk(i)?;
    let alias = keys::parse_alias_pk(shop, &pk)
        .ok_or_else(|| corrupt(i, format!("pk is not a variant or SKU alias of {shop}")))?;
    Ok((alias, InventoryItemId(req_n(i, "item")?)))
}

/// The inventory item an `item_map` record maps.
pub(super) fn read_mapped_item(i: &Item) -> Result<InventoryItemId, PortError> {
    req_n(i, "item").map(InventoryItemId)
}

fn master_name(m: Master) -> &'static str {
    match m {
        Master::Erp => "erp",
        Master::Shopify => "shopify",
    }
}

pub(super) fn write_location(l: &LocationMapping) -> Item {
    let pk = keys::locations_pk(&l.shop);
    let mut item = record(
        &pk,
        &keys::location_sk(l.location),
        kind::LOCATION_MAP,
        &l.shop,
    );
    item.insert("location".into(), n(l.location));
    item.insert("name".into(), s(&l.name));
    item.insert("erp_warehouse".into(), s(&l.erp_warehouse));
    item.insert("master".into(), s(master_name(l.master)));
    item.insert("default".into(), b(l.default));
    item
}

/// A location mapping of `shop` (the shop its partition names).
pub(super) fn read_location(i: &Item, shop: &ShopDomain) -> Result<LocationMapping, PortError> {
    let master = match req_s(i, "master")?.as_str() {
        "erp" => Master::Erp,
        "shopify" => Master::Shopify,
        other => {
            return Err(corrupt(
                i,
                format!("attribute master = {other:?} is neither erp nor shopify"),
            ))
        }
    };
    Ok(LocationMapping {
        shop: shop.clone(),
        location: LocationId(req_n(i, "location")?),
        name: req_s(i, "name")?,
        erp_warehouse: req_s(i, "erp_warehouse")?,
        master,
        default: req_bool(i, "default")?,
    })
}

/// A quarantined delivery, redacted or raw, expires `retention_days` after it was received
/// (`QUARANTINE_RETENTION_DAYS`, the quarantine bucket's expiry too). A body kept in the body
/// store is named by `body_key` (the entry holds its size and SHA-256).
pub(super) fn write_quarantine(entry: &QuarantineEntry, retention_days: i64) -> Item {
    let pk = keys::quarantine_pk(&entry.shop);
    let sk = keys::quarantine_sk(entry.received_at, &entry.webhook_id);
    let mut item = record(&pk, &sk, kind::QUARANTINE, &entry.shop);
    item.insert("code".into(), s(&entry.code));
    item.insert("topic".into(), s(&entry.topic));
    item.insert("entry".into(), json(entry));
    if let Some(at) = &entry.body_ref {
        item.insert("body_key".into(), s(&format!("{}/{}", at.bucket, at.key)));
    }
    item.insert(
        "expires_at".into(),
        days_from(entry.received_at, retention_days),
    );
    item
}

pub(super) fn read_quarantine(item: &Item) -> Result<QuarantineEntry, PortError> {
    req_json(item, "entry")
}

/// A reconciliation report stored at `now`; it expires after [`REPORT_DAYS`].
pub(super) fn write_report(shop: &ShopDomain, run: &str, report: &str, now: Timestamp) -> Item {
    let mut item = record(&keys::report_pk(shop), run, kind::REPORT, shop);
    item.insert("at".into(), s(&now.to_rfc3339()));
    item.insert("report".into(), s(report));
    item.insert("expires_at".into(), days_from(now, REPORT_DAYS));
    item
}

pub(super) fn read_report(item: &Item) -> Result<String, PortError> {
    req_s(item, "report")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use rust_decimal::Decimal;
    use stockbridge_domain::ids::{LineItemId, OrderId, Version};

    pub(super) fn shop() -> ShopDomain {
        ShopDomain::new("a.myshopify.com")
    }

    pub(super) fn version() -> Version {
        Version::new(Timestamp(1_700_000_000_000_000_000), Timestamp(1))
    }

    fn location_record() -> Item {
        HashMap::from([
            ("pk".into(), s("LOCATIONS#a.myshopify.com")),
            ("sk".into(), s("72")),
            ("kind".into(), s("location_map")),
            ("shop".into(), s("a.myshopify.com")),
            ("location".into(), n(72)),
            ("name".into(), s("Warehouse")),
            ("erp_warehouse".into(), s("WH")),
            ("master".into(), s("erp")),
            ("default".into(), AttributeValue::Bool(true)),
        ])
    }

    fn mapping_record() -> Item {
        HashMap::from([
            ("pk".into(), s("ITEM#a.myshopify.com#45")),
            ("sk".into(), s("MAP")),
            ("kind".into(), s("item_map")),
            ("shop".into(), s("a.myshopify.com")),
            ("item".into(), n(45)),
            ("variant".into(), n(46)),
            ("sku".into(), s("MUG")),
            ("erp_item".into(), s("MUG-1")),
            ("shopify_uom".into(), s("each")),
            ("erp_uom".into(), s("each")),
        ])
    }

    fn level_record(inflight: Option<&str>) -> Item {
        let mut item = HashMap::from([
            ("pk".into(), s("LEVEL#a.myshopify.com#45#72")),
            ("sk".into(), s("STATE")),
            ("kind".into(), s("level")),
            ("shop".into(), s("a.myshopify.com")),
            ("item".into(), n(45)),
            ("location".into(), n(72)),
            ("available".into(), n(3)),
            ("committed".into(), n(1)),
            ("tracked".into(), AttributeValue::Bool(true)),
            ("connected".into(), AttributeValue::Bool(true)),
            ("rev".into(), n(4)),
        ]);
        if let Some(json) = inflight {
            item.insert("erp_inflight".into(), s(json));
        }
        item
    }

    fn inflight_json(change: &str, target: Option<&str>) -> String {
        serde_json::json!({
            "key": "sb-1", "warehouse": "WH", "erp_item": "MUG-1", "quantity": 2,
            "change": change, "target": target, "since": null,
        })
        .to_string()
    }

    /// The error is `Corrupt`, names the record (`pk / sk`) and mentions `field`.
    pub(super) fn assert_corrupt<T: std::fmt::Debug>(
        result: Result<T, PortError>,
        key: &str,
        field: &str,
    ) {
        match result {
            Err(PortError::Corrupt { key: k, detail }) => {
                assert_eq!(k, key);
                assert!(detail.contains(field), "{detail:?} does not name {field}");
            }
            other => panic!("expected a corrupt record, got {other:?}"),
        }
    }

    #[test]
    fn a_location_with_an_unknown_master_is_corrupt() {
        let mut item = location_record();
        item.insert("master".into(), s("Shopify "));
        let err = read_location(&item, &shop());
        assert_corrupt(err, "LOCATIONS#a.myshopify.com / 72", "master");
        item.remove("master");
        let err = read_location(&item, &shop());
        assert_corrupt(err, "LOCATIONS#a.myshopify.com / 72", "master");
    }

    #[test]
    fn a_location_without_an_erp_warehouse_is_corrupt() {
        let mut item = location_record();
        item.remove("erp_warehouse");
        let err = read_location(&item, &shop());
        assert_corrupt(err, "LOCATIONS#a.myshopify.com / 72", "erp_warehouse");
    }

    #[test]
    fn a_mapping_without_an_erp_item_is_corrupt() {
        let mut item = mapping_record();
        item.remove("erp_item");
        assert_corrupt(
            read_mapping(&item),
            "ITEM#a.myshopify.com#45 / MAP",
            "erp_item",
        );
        let mut item = mapping_record();
        item.insert("erp_item".into(), n(7));
        assert_corrupt(
            read_mapping(&item),
            "ITEM#a.myshopify.com#45 / MAP",
            "erp_item",
        );
    }

    #[test]
    fn a_mapping_with_an_unknown_unit_is_corrupt() {
        let mut item = mapping_record();
        item.insert("erp_uom".into(), s("crate"));
        assert_corrupt(
            read_mapping(&item),
            "ITEM#a.myshopify.com#45 / MAP",
            "erp_uom",
        );
    }

    #[test]
    fn an_unparsable_inflight_change_is_corrupt() {
        let item = level_record(Some(&inflight_json("two", None)));
        let err = read_stock_record(&item);
        assert_corrupt(
            err,
            "LEVEL#a.myshopify.com#45#72 / STATE",
            "erp_inflight is not readable JSON: invalid value: string \"two\"",
        );
    }

    #[test]
    fn an_unparsable_inflight_target_or_body_is_corrupt() {
        let key = "LEVEL#a.myshopify.com#45#72 / STATE";
        let item = level_record(Some(&inflight_json("2", Some("lots"))));
        assert_corrupt(
            read_stock_record(&item),
            key,
            "erp_inflight is not readable JSON: invalid value: string \"lots\"",
        );
        let item = level_record(Some("{\"key\": \"sb-1\""));
        assert_corrupt(read_stock_record(&item), key, "erp_inflight");
        let item = level_record(Some(""));
        assert_corrupt(read_stock_record(&item), key, "erp_inflight");
    }

    #[test]
    fn an_inflight_write_from_before_holders_and_refusals_reads_as_unheld_and_never_refused() {
        let item = level_record(Some(&inflight_json("2", None)));
        let Ok(StockRecord::Level(_, level)) = read_stock_record(&item) else {
            panic!("an in-flight write of the earlier shape is readable");
        };
        let inflight = level.erp_inflight.expect("in flight");
        assert_eq!(
            (
                inflight.lease_until,
                inflight.holder,
                inflight.refusals,
                inflight.refused,
                inflight.parked_at
            ),
            (None, None, 0, None, None)
        );
    }

    #[test]
    fn a_level_from_before_erp_debt_reads_as_nothing_owed() {
        let item = level_record(None);
        let Ok(StockRecord::Level(key, level)) = read_stock_record(&item) else {
            panic!("level expected");
        };
        assert_eq!(key.location, LocationId(72));
        assert_eq!((level.erp_owed, level.erp_seq), (0, 0));
        assert_eq!((level.erp_owed_since, level.erp_inflight), (None, None));
        let pk = "LEVEL#a.myshopify.com#45#72".to_string();
        assert_eq!(read_revision(&item).ok(), Some((pk, 4)));
    }

    #[test]
    fn a_level_from_before_states_and_settling_reads_as_settled_at_its_on_hand() {
        let item = level_record(None);
        let Ok((_, level)) = read_level(&item) else {
            panic!("a level of the earlier shape is readable");
        };
        // Stored available 3 + committed 1: it was settled at that on_hand, nothing moved since.
        assert_eq!((level.settled, level.moved), (4, 0));
        assert!(level.is_settled());
        assert_eq!(level.states, States::default());
        assert_eq!((level.states_version, level.fact_version), (None, None));
        assert_eq!(level.unsettled_since, None);
    }

    fn settling_level() -> StockLevel {
        StockLevel {
            available: 5,
            committed: 2,
            level_version: Some(version()),
            states: States {
                reserved: 1,
                damaged: 2,
                safety_stock: 3,
                quality_control: 4,
                incoming: 6,
            },
            states_version: Some(Version::new(Timestamp(20), Timestamp(21))),
            settled: 9,
            moved: -3,
            unsettled_since: Some(Timestamp(22)),
            fact_version: Some(Version::new(Timestamp(23), Timestamp(-1))),
            ..StockLevel::default()
        }
    }

    #[test]
    fn a_level_with_states_and_settling_reads_back_as_written() {
        let key = StockKey {
            shop: shop(),
            item: InventoryItemId(45),
            location: LocationId(72),
        };
        let level = settling_level();
        let item = write_level(&key, &level, 3, Timestamp(10));
        assert_eq!(
            item.get("on_hand"),
            Some(&n(17)),
            "on_hand counts the states"
        );
        assert_eq!(read_level(&item).ok(), Some((key.clone(), level.clone())));
        // Zero states are left out and read back as zero; settled 0 is not "absent".
        let plain = StockLevel {
            states: States {
                damaged: 2,
                ..States::default()
            },
            settled: 0,
            moved: 0,
            ..level
        };
        let item = write_level(&key, &plain, 3, Timestamp(10));
        for name in ["reserved", "safety_stock", "quality_control", "incoming"] {
            assert!(!item.contains_key(name), "{name} is stored though zero");
        }
        assert_eq!(read_level(&item).ok(), Some((key, plain)));
    }

    #[test]
    fn carried_movements_read_back_as_written_and_zero_is_left_out() {
        let key = StockKey {
            shop: shop(),
            item: InventoryItemId(45),
            location: LocationId(72),
        };
        for carried in [-3, 4] {
            let level = StockLevel {
                carried,
                ..settling_level()
            };
            let item = write_level(&key, &level, 3, Timestamp(10));
            assert_eq!(item.get("carried"), Some(&n(carried)));
            assert_eq!(read_level(&item).ok(), Some((key.clone(), level)));
        }
        let item = write_level(&key, &settling_level(), 3, Timestamp(10));
        assert!(
            !item.contains_key("carried"),
            "carried is stored though zero"
        );
        assert_eq!(read_level(&item).ok().map(|(_, l)| l.carried), Some(0));
        // A record from before the order flow has none: nothing carried.
        assert_eq!(
            read_level(&level_record(None)).ok().map(|(_, l)| l.carried),
            Some(0)
        );
        let at = "LEVEL#a.myshopify.com#45#72 / STATE";
        for bad in [s("-3"), n("1.5"), n("x"), AttributeValue::Bool(true)] {
            let mut item = write_level(&key, &settling_level(), 3, Timestamp(10));
            item.insert("carried".into(), bad);
            assert_corrupt(read_level(&item), at, "carried");
        }
    }

    #[test]
    fn an_unreadable_state_or_settling_attribute_is_corrupt() {
        let key = "LEVEL#a.myshopify.com#45#72 / STATE";
        let stock_key = StockKey {
            shop: shop(),
            item: InventoryItemId(45),
            location: LocationId(72),
        };
        let written = write_level(&stock_key, &settling_level(), 3, Timestamp(10));
        for (name, bad) in [
            ("reserved", s("1")),
            ("damaged", n("1.5")),
            ("safety_stock", AttributeValue::Bool(true)),
            ("quality_control", n("many")),
            ("incoming", n("99999999999999999999")),
            ("states_version", s("yesterday")),
            ("states_version", n(1)),
            ("settled", s("9")),
            ("settled", n("x")),
            ("moved", n("")),
            ("unsettled_since", s("2026-01-01T00:00:00Z")),
            ("fact_version", s("1.2.3")),
        ] {
            let mut item = written.clone();
            item.insert(name.into(), bad.clone());
            assert_corrupt(read_level(&item), key, name);
            // Not even a record of the earlier shape defaults a present but unreadable one.
            let mut item = level_record(None);
            item.insert(name.into(), bad);
            assert_corrupt(read_level(&item), key, name);
        }
        let mut item = level_record(None);
        item.insert("available".into(), n(i64::MAX));
        item.insert("reserved".into(), n(1));
        assert_corrupt(read_level(&item), key, "overflow on_hand");
    }

    #[test]
    fn an_alias_under_another_key_is_corrupt() {
        let mut item = keys::key("VARIANT#a.myshopify.com#v46", MAP);
        item.insert("item".into(), n(45));
        let err = read_alias(&item, &shop());
        assert_corrupt(err, "VARIANT#a.myshopify.com#v46 / MAP", "pk");
    }

    #[test]
    fn a_number_out_of_range_or_of_the_wrong_type_is_corrupt() {
        let key = "LEVEL#a.myshopify.com#45#72 / STATE";
        let mut item = level_record(None);
        item.insert("erp_seq".into(), n(-1));
        assert_corrupt(read_stock_record(&item), key, "erp_seq");
        let mut item = level_record(None);
        item.insert("available".into(), s("3"));
        assert_corrupt(read_stock_record(&item), key, "available");
        let mut item = level_record(None);
        item.insert("level_version".into(), s("yesterday"));
        assert_corrupt(read_stock_record(&item), key, "level_version");
        let mut item = level_record(None);
        item.insert("kind".into(), s("lvl"));
        assert_corrupt(read_stock_record(&item), key, "kind");
    }

    #[test]
    fn stock_records_read_back_as_written() {
        let key = StockKey {
            shop: shop(),
            item: InventoryItemId(45),
            location: LocationId(72),
        };
        let level = StockLevel {
            available: 5,
            committed: 2,
            level_version: Some(version()),
            erp_owed: -3,
            erp_owed_since: Some(Timestamp(9)),
            erp_inflight: Some(Inflight {
                key: "sb-1".into(),
                warehouse: "WH".into(),
                erp_item: "MUG-1".into(),
                quantity: -3,
                change: Decimal::new(-25, 2),
                target: Some(Decimal::from(12)),
                since: Some(Timestamp(8)),
                lease_until: Some(Timestamp(11)),
                holder: Some("consumer-1".into()),
                refusals: 2,
                refused: Some("unknown item".into()),
                parked_at: Some(Timestamp(12)),
            }),
            erp_seq: 7,
            ..StockLevel::default()
        };
        let item = write_level(&key, &level, 3, Timestamp(10));
        assert_eq!(
            read_stock_record(&item).ok(),
            Some(StockRecord::Level(key.clone(), level))
        );

        let line_key = LineKey {
            shop: shop(),
            line: LineItemId(11),
        };
        let line = OrderLine {
            open: 2,
            version: Some(version()),
            named: Some(key.location),
            counted: BTreeMap::from([(key.location, 2)]),
            ..OrderLine::new(OrderId(10), key.item)
        };
        let item = write_line(&line_key, &line, 1);
        assert_eq!(
            read_stock_record(&item).ok(),
            Some(StockRecord::Line(line_key, line))
        );

        let record = ItemRecord {
            sku: None,
            tracked: Some(false),
            deleted: true,
            version: version(),
        };
        let item = write_item_record(&shop(), key.item, &record, 1);
        assert_eq!(
            read_stock_record(&item).ok(),
            Some(StockRecord::Item((shop(), key.item), record))
        );

        let m_key = MovementKey {
            shop: shop(),
            id: "fulfillment:1:11".into(),
        };
        let m = MovementRecord {
            key,
            erp_effect: -1,
            version: version(),
        };
        let item = write_movement(&m_key, &m, 2);
        assert_eq!(
            read_stock_record(&item).ok(),
            Some(StockRecord::Movement(m_key, m))
        );
    }

    #[test]
    fn mappings_read_back_as_written() {
        let read = |i: &Item| read_mapping(i).ok();
        let Some(m) = read(&mapping_record()) else {
            panic!("mapping expected");
        };
        let [item, listed, by_variant, by_sku, by_erp_item] = write_mapping(&m);
        assert_eq!(read_erp_item_alias(&by_erp_item).ok(), Some(m.item));
        assert_eq!(item, mapping_record());
        assert_eq!(read(&listed), Some(m.clone()));
        assert_eq!(
            read_alias(&by_variant, &shop()).ok(),
            Some((Alias::Variant(VariantId(46)), InventoryItemId(45)))
        );
        assert_eq!(
            read_alias(&by_sku, &shop()).ok(),
            Some((Alias::Sku("MUG".into()), InventoryItemId(45)))
        );
        let Ok(l) = read_location(&location_record(), &shop()) else {
            panic!("location expected");
        };
        assert_eq!(write_location(&l), location_record());
    }

    #[test]
    fn every_quarantined_entry_expires_with_the_retention_and_names_its_kept_body() {
        let at = Timestamp::parse("2026-11-27T10:00:00Z").unwrap();
        let mut entry = QuarantineEntry {
            shop: shop(),
            topic: "orders/create".into(),
            webhook_id: "w".into(),
            event_id: None,
            api_version: None,
            triggered_at: None,
            received_at: at,
            code: "negative_quantity".into(),
            reason: "r".into(),
            body: r#"{"id":1}"#.into(),
            redacted: true,
            body_ref: None,
        };
        let item = write_quarantine(&entry, 30);
        assert_eq!(
            item.get("expires_at"),
            Some(&n(at.as_secs() + 30 * 86_400)),
            "a redacted entry expires too"
        );
        assert_eq!(read_quarantine(&item).ok(), Some(entry.clone()));
        entry.body = String::new();
        entry.body_ref = Some(stockbridge_core::ports::BodyRef {
            bucket: "b".into(),
            key: "a.myshopify.com/abc".into(),
            size: 3,
            sha256: "abc".into(),
        });
        let item = write_quarantine(&entry, 7);
        assert_eq!(item.get("expires_at"), Some(&n(at.as_secs() + 7 * 86_400)));
        assert_eq!(item.get("body_key"), Some(&s("b/a.myshopify.com/abc")));
        assert_eq!(read_quarantine(&item).ok(), Some(entry));
    }

    #[test]
    fn an_inbox_record_without_its_body_names_the_attribute() {
        let item = keys::key("REPORT#a.myshopify.com", "rc-1");
        assert_corrupt(
            read_report(&item),
            "REPORT#a.myshopify.com / rc-1",
            "report",
        );
        let item = keys::key("PARKED#a.myshopify.com", "k");
        assert_corrupt(read_parked(&item), "PARKED#a.myshopify.com / k", "parked");
        let mut item = keys::key("QUARANTINE#a.myshopify.com", "q");
        item.insert("entry".into(), s("{}"));
        assert_corrupt(
            read_quarantine(&item),
            "QUARANTINE#a.myshopify.com / q",
            "entry",
        );
    }
}
