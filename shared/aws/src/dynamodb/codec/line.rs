//! The order line record (`LINE#<shop>#<line>` / `STATE`): the line's newest `orders/*`
//! snapshot, the fulfillment orders holding it (`parts`), what it counts where (`counted`), and
//! the reading of lines stored before fulfillment orders were kept (one `location`).
//!
//! `parts` and `counted` are DynamoDB maps keyed by decimal ids, each left out when empty:
//! `parts` = fulfillment order id -> `{location (N), remaining (N), open (BOOL), version (S)}`,
//! `counted` = location id -> units (N). A line is held by a few fulfillment orders (one per
//! location Shopify split it to, and one per move), so a record stays far below DynamoDB's
//! 400 KB item limit: a part takes about 110 bytes.

use std::collections::BTreeMap;
use std::str::FromStr;

use stockbridge_core::ports::PortError;
use stockbridge_domain::commitment::{FoPart, OrderLine};
use stockbridge_domain::ids::{
    FulfillmentOrderId, InventoryItemId, LineItemId, LocationId, OrderId,
};
use stockbridge_domain::stock::LineKey;

use super::super::keys::{self, STATE};
use super::attr::{
    b, bool_at, corrupt, m, m_at, n, n_at, opt_bool, opt_m, opt_n, opt_version, req_n, req_version,
    required, s, version_at, Item,
};
use super::{kind, read_shop, record};

/// The attributes only a line of the current shape has; a record with the earlier `location`
/// and any of these was written by neither shape.
const CURRENT_ONLY: [&str; 4] = ["named", "parts", "counted", "recheck"];

pub(in super::super) fn read_line(item: &Item) -> Result<(LineKey, OrderLine), PortError> {
    let key = LineKey {
        shop: read_shop(item)?,
        line: LineItemId(req_n(item, "line")?),
    };
    let order = OrderId(req_n(item, "order")?);
    let line_item = InventoryItemId(req_n(item, "item")?);
    let open = req_n(item, "open")?;
    let line = match opt_n(item, "location")? {
        Some(location) => read_earlier_line(item, order, line_item, open, LocationId(location))?,
        None => OrderLine {
            order,
            item: line_item,
            open,
            // Absent while the line is known from fulfillment orders only.
            version: opt_version(item, "version")?,
            named: opt_n(item, "named")?.map(LocationId),
            parts: read_parts(item)?,
            counted: read_counted(item)?,
            recheck: required(item, "recheck", opt_bool(item, "recheck")?)?,
        },
    };
    Ok((key, line))
}

/// A line stored before fulfillment orders were kept: it counted its whole open quantity at
/// the one `location` it was attributed to, and always had an order snapshot. Nothing was read
/// of its fulfillment orders and no location named is known, so the next snapshot of the line
/// counts it as [`stockbridge_domain::commitment`] says.
fn read_earlier_line(
    item: &Item,
    order: OrderId,
    line_item: InventoryItemId,
    open: i64,
    location: LocationId,
) -> Result<OrderLine, PortError> {
    if let Some(name) = CURRENT_ONLY.iter().find(|name| item.contains_key(**name)) {
        return Err(corrupt(
            item,
            format!("attribute {name} is on a line of the earlier shape (with location)"),
        ));
    }
    let counted = if open > 0 {
        BTreeMap::from([(location, open)])
    } else {
        BTreeMap::new()
    };
    Ok(OrderLine {
        order,
        item: line_item,
        open,
        version: Some(req_version(item, "version")?),
        named: None,
        parts: BTreeMap::new(),
        counted,
        recheck: false,
    })
}

/// A map key that is a decimal id; anything else is corrupt.
fn id_key<T: FromStr>(item: &Item, map: &str, key: &str, what: &str) -> Result<T, PortError> {
    key.parse().map_err(|_| {
        corrupt(
            item,
            format!("attribute {map} has key {key:?}, not a {what} id"),
        )
    })
}

fn read_parts(item: &Item) -> Result<BTreeMap<FulfillmentOrderId, FoPart>, PortError> {
    let Some(parts) = opt_m(item, "parts")? else {
        return Ok(BTreeMap::new());
    };
    let mut read = BTreeMap::new();
    for (id, value) in parts {
        let fulfillment_order = FulfillmentOrderId(id_key(item, "parts", id, "fulfillment order")?);
        let path = format!("parts.{id}");
        let part = required(item, &path, m_at(item, Some(value), &path)?)?;
        let field = |name: &str| (part.get(name), format!("{path}.{name}"));
        let (value, name) = field("location");
        let location = LocationId(required(item, &name, n_at(item, value, &name)?)?);
        let (value, name) = field("remaining");
        let remaining = required(item, &name, n_at(item, value, &name)?)?;
        let (value, name) = field("open");
        let open = required(item, &name, bool_at(item, value, &name)?)?;
        let (value, name) = field("version");
        let version = required(item, &name, version_at(item, value, &name)?)?;
        read.insert(
            fulfillment_order,
            FoPart {
                location,
                remaining,
                open,
                version,
            },
        );
    }
    Ok(read)
}

fn read_counted(item: &Item) -> Result<BTreeMap<LocationId, i64>, PortError> {
    let Some(counted) = opt_m(item, "counted")? else {
        return Ok(BTreeMap::new());
    };
    let mut read = BTreeMap::new();
    for (location, value) in counted {
        let id = LocationId(id_key(item, "counted", location, "location")?);
        let path = format!("counted.{location}");
        read.insert(id, required(item, &path, n_at(item, Some(value), &path)?)?);
    }
    Ok(read)
}

pub(in super::super) fn write_line(key: &LineKey, line: &OrderLine, rev: u64) -> Item {
    let mut item = record(&keys::line_pk(key), STATE, kind::LINE, &key.shop);
    item.insert("line".into(), n(key.line));
    item.insert("order".into(), n(line.order));
    item.insert("item".into(), n(line.item));
    item.insert("open".into(), n(line.open));
    if let Some(v) = line.version {
        item.insert("version".into(), s(&v.to_key()));
    }
    if let Some(named) = line.named {
        item.insert("named".into(), n(named));
    }
    if !line.parts.is_empty() {
        let parts = line.parts.iter().map(|(id, part)| {
            let fields = Item::from([
                ("location".into(), n(part.location)),
                ("remaining".into(), n(part.remaining)),
                ("open".into(), b(part.open)),
                ("version".into(), s(&part.version.to_key())),
            ]);
            (id.to_string(), m(fields))
        });
        item.insert("parts".into(), m(parts.collect()));
    }
    if !line.counted.is_empty() {
        let counted = line.counted.iter().map(|(l, q)| (l.to_string(), n(q)));
        item.insert("counted".into(), m(counted.collect()));
    }
    item.insert("recheck".into(), b(line.recheck));
    item.insert("rev".into(), n(rev));
    item
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;
    use stockbridge_domain::ids::{Timestamp, Version};

    use super::super::tests::{assert_corrupt, shop, version};
    use super::*;

    const KEY: &str = "LINE#a.myshopify.com#11 / STATE";

    fn line_key() -> LineKey {
        LineKey {
            shop: shop(),
            line: LineItemId(11),
        }
    }

    fn part(location: u64, remaining: i64, open: bool, t: i64) -> FoPart {
        FoPart {
            location: LocationId(location),
            remaining,
            open,
            version: Version::new(Timestamp(t), Timestamp(t + 1)),
        }
    }

    /// A line held by two fulfillment orders (one closed), counted at two locations, re-read due.
    fn split_line() -> OrderLine {
        OrderLine {
            open: 5,
            version: Some(version()),
            named: Some(LocationId(9)),
            parts: BTreeMap::from([
                (FulfillmentOrderId(100), part(72, 3, true, 5)),
                (FulfillmentOrderId(101), part(73, 2, false, 6)),
            ]),
            counted: BTreeMap::from([(LocationId(72), 3), (LocationId(73), 2)]),
            recheck: true,
            ..OrderLine::new(OrderId(10), InventoryItemId(45))
        }
    }

    /// A line as stored before fulfillment orders were kept.
    fn earlier_line(open: i64) -> Item {
        Item::from([
            ("pk".into(), s("LINE#a.myshopify.com#11")),
            ("sk".into(), s("STATE")),
            ("kind".into(), s("line")),
            ("shop".into(), s("a.myshopify.com")),
            ("line".into(), n(11)),
            ("order".into(), n(10)),
            ("item".into(), n(45)),
            ("location".into(), n(72)),
            ("open".into(), n(open)),
            ("version".into(), s(&version().to_key())),
            ("rev".into(), n(3)),
        ])
    }

    #[test]
    fn a_line_with_parts_and_counts_reads_back_as_written() {
        let line = split_line();
        let item = write_line(&line_key(), &line, 2);
        assert_eq!(read_line(&item).ok(), Some((line_key(), line)));
        // Known from fulfillment orders only: no snapshot version, nothing named or counted.
        let bare = OrderLine {
            parts: BTreeMap::from([(FulfillmentOrderId(100), part(72, 0, false, 5))]),
            ..OrderLine::new(OrderId(10), InventoryItemId(45))
        };
        let item = write_line(&line_key(), &bare, 1);
        for name in ["version", "named", "counted", "location"] {
            assert!(!item.contains_key(name), "{name} is stored though empty");
        }
        assert_eq!(read_line(&item).ok(), Some((line_key(), bare)));
    }

    /// DynamoDB's item size: names and values in bytes, numbers at most 21, maps 3 plus their
    /// entries with 1 each (an upper bound of the documented sizes).
    fn size(item: &Item) -> usize {
        fn value(v: &AttributeValue) -> usize {
            match v {
                AttributeValue::S(s) => s.len(),
                AttributeValue::N(_) => 21,
                AttributeValue::Bool(_) => 1,
                AttributeValue::M(m) => {
                    3 + m.iter().map(|(k, v)| k.len() + value(v) + 1).sum::<usize>()
                }
                _ => unreachable!("the codec writes only S, N, BOOL and M"),
            }
        }
        item.iter().map(|(k, v)| k.len() + value(v)).sum()
    }

    #[test]
    fn a_line_split_and_moved_many_times_stays_far_below_the_item_limit() {
        let mut line = split_line();
        for fo in 0..200u64 {
            let id = FulfillmentOrderId(u64::MAX - fo);
            line.parts
                .insert(id, part(u64::MAX - fo, 99_999, fo % 2 == 0, i64::MIN));
            line.counted.insert(LocationId(u64::MAX - fo), 99_999);
        }
        let item = write_line(&line_key(), &line, u64::MAX);
        assert!(size(&item) < 64 * 1024, "{} bytes", size(&item));
        assert_eq!(read_line(&item).ok(), Some((line_key(), line)));
    }

    #[test]
    fn a_line_from_before_fulfillment_orders_counts_its_open_quantity_where_it_was() {
        let Ok((key, line)) = read_line(&earlier_line(2)) else {
            panic!("a line of the earlier shape is readable");
        };
        assert_eq!(key, line_key());
        let expected = OrderLine {
            open: 2,
            version: Some(version()),
            counted: BTreeMap::from([(LocationId(72), 2)]),
            ..OrderLine::new(OrderId(10), InventoryItemId(45))
        };
        assert_eq!(line, expected);
        let Ok((_, closed)) = read_line(&earlier_line(0)) else {
            panic!("a closed line of the earlier shape is readable");
        };
        assert_eq!((closed.open, closed.counted), (0, BTreeMap::new()));
        // Written again, it takes the current shape and reads back the same.
        let item = write_line(&line_key(), &line, 4);
        assert_eq!(read_line(&item).ok(), Some((line_key(), line)));
    }

    #[test]
    fn an_earlier_line_must_have_its_version_and_nothing_of_the_current_shape() {
        let mut item = earlier_line(2);
        item.remove("version");
        assert_corrupt(read_line(&item), KEY, "version");
        for name in CURRENT_ONLY {
            let mut item = earlier_line(2);
            item.insert(name.into(), AttributeValue::Bool(false));
            assert_corrupt(read_line(&item), KEY, name);
        }
    }

    #[test]
    fn an_unreadable_part_count_or_flag_is_corrupt() {
        let written = write_line(&line_key(), &split_line(), 2);
        let parts = || match written.get("parts") {
            Some(AttributeValue::M(m)) => m.clone(),
            other => panic!("parts stored as {other:?}"),
        };
        let with = |name: &str, value: AttributeValue| {
            let mut item = written.clone();
            item.insert(name.into(), value);
            read_line(&item)
        };
        let with_part_field = |field: &str, value: Option<AttributeValue>| {
            let mut all = parts();
            let Some(AttributeValue::M(mut one)) = all.remove("100") else {
                panic!("part 100 stored as a map");
            };
            match value {
                Some(v) => one.insert(field.into(), v),
                None => one.remove(field),
            };
            all.insert("100".into(), AttributeValue::M(one));
            with("parts", AttributeValue::M(all))
        };
        assert_corrupt(with("parts", s("{}")), KEY, "parts is not a map");
        assert_corrupt(with("counted", n(3)), KEY, "counted is not a map");
        let mut bad_key = parts();
        bad_key.insert("FO-1".into(), bad_key["100"].clone());
        assert_corrupt(with("parts", AttributeValue::M(bad_key)), KEY, "\"FO-1\"");
        let mut not_a_map = parts();
        not_a_map.insert("102".into(), n(1));
        let not_a_map = with("parts", AttributeValue::M(not_a_map));
        assert_corrupt(not_a_map, KEY, "parts.102 is not a map");
        for field in ["location", "remaining", "open", "version"] {
            let missing = with_part_field(field, None);
            assert_corrupt(missing, KEY, &format!("parts.100.{field} is missing"));
        }
        assert_corrupt(
            with_part_field("remaining", Some(s("3"))),
            KEY,
            "parts.100.remaining",
        );
        assert_corrupt(
            with_part_field("location", Some(n(-72))),
            KEY,
            "parts.100.location",
        );
        assert_corrupt(with_part_field("open", Some(n(1))), KEY, "parts.100.open");
        assert_corrupt(
            with_part_field("version", Some(s("new"))),
            KEY,
            "parts.100.version",
        );
        let counted =
            |k: &str, v: AttributeValue| AttributeValue::M(Item::from([(k.to_string(), v)]));
        assert_corrupt(with("counted", counted("x", n(1))), KEY, "\"x\"");
        assert_corrupt(with("counted", counted("72", s("1"))), KEY, "counted.72");
        assert_corrupt(with("named", s("72")), KEY, "named");
        assert_corrupt(with("recheck", s("no")), KEY, "recheck");
        assert_corrupt(with("version", s("v2")), KEY, "version");
        let mut item = written.clone();
        item.remove("recheck");
        assert_corrupt(read_line(&item), KEY, "recheck is missing");
    }
}
