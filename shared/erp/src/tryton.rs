//! The ERP port ([`Erp`]) over Tryton 8.2's REST API (`/<db>/rest/model/...`, bearer API key).
//!
//! Owns everything that knows Tryton's models and JSON: ids by code (cached), the internal
//! shipments that carry our writes, on-hand reads and open purchase moves, and the mapping of
//! HTTP answers to [`ErpError`]. Request shapes are those verified in `infra/erp/README.md`.
//!
//! **Writes.** An [`ErpWrite`] becomes at most two `stock.shipment.internal` documents in the
//! warehouse: lines with a positive change go lost-and-found -> storage (reference
//! `"{key}:in"`), negative ones storage -> lost-and-found (`"{key}:out"`), moves nested in the
//! create call, then `wait`, `assign_try` (`assign_force` when stock is short, so stock may go
//! negative as it did in Shopify), `do`. The shipment `reference` is the idempotency key: before
//! creating, both references are searched; a `done` shipment means that direction is applied, a
//! shipment in another state is an earlier attempt that died mid-way and its workflow is
//! continued, so a retry never creates a second document. Tryton does not make `reference`
//! unique: two concurrent `apply` calls with one key could both create; callers serialise pushes
//! per key (the consumer's in-flight write does).
//!
//! **Quantities.** `stock.move.quantity` is a Float in 8.2 whose digits come from the move's
//! unit. Quantities are sent as Tryton Decimals (exact; normalised, since Tryton checks the
//! Decimal's exponent against the unit's digits) in the product's default unit. A change that
//! is not a multiple of that unit's `rounding` (e.g. 2.5 of unit "u") is **rejected** before
//! anything is written, naming the item: rounding it would lose or invent stock for good, and it
//! means the SKU map's unit factor does not fit the ERP unit.
//!
//! Every request carries `X-Tryton-Context` with the company (REST does not add it; without it
//! creates fail and quantities read 0). The API key is never logged nor printed by `Debug`.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use stockbridge_core::config::{required_env, ConfigError};
use stockbridge_core::ports::{Erp, ErpError};
use stockbridge_domain::erp::{ErpLine, ErpWrite, Incoming};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait suggested on a 429 without a usable `Retry-After`.
const DEFAULT_RETRY_AFTER_MS: u64 = 1000;
/// Workflow steps before giving up on a shipment that does not reach `done`.
const MAX_STEPS: usize = 8;

/// Tryton ids of a product, with its default unit (moves are written in it).
#[derive(Clone, Debug)]
struct Product {
    id: i64,
    uom: i64,
    /// The unit's rounding (e.g. 1 for "u", 0.01 for "kg").
    rounding: Decimal,
    /// The unit's digits (decimal places Tryton accepts).
    digits: u32,
}

/// Tryton ids of a warehouse's locations.
#[derive(Clone, Copy, Debug)]
struct Warehouse {
    id: i64,
    storage: i64,
    lost_found: i64,
}

#[derive(Default)]
struct Caches {
    products: HashMap<String, Product>,
    warehouses: HashMap<String, Warehouse>,
}

/// The ERP adapter for Tryton 8.2 over REST.
pub struct TrytonErp {
    client: reqwest::Client,
    /// Database URL, e.g. `http://127.0.0.1:8000/stockbridge` (no trailing slash).
    base: String,
    api_key: String,
    company: i64,
    caches: Mutex<Caches>,
}

impl std::fmt::Debug for TrytonErp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrytonErp")
            .field("base", &self.base)
            .field("api_key", &"<redacted>")
            .field("company", &self.company)
            .finish()
    }
}

/// Direction of one internal shipment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// lost-and-found -> storage (positive changes).
    In,
    /// storage -> lost-and-found (negative changes).
    Out,
}

impl Direction {
    fn suffix(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// A shipment found by reference: its id and state.
#[derive(Clone, Debug)]
struct Found {
    id: i64,
    state: String,
}

impl TrytonErp {
    /// `base` is the database URL (`http://host:port/<db>`), `api_key` a `res.user.application`
    /// key for application `rest`, `company` the Tryton company id.
    /// The base must be https, or plain http on loopback; the client has timeouts and follows
    /// no redirect.
    pub fn new(
        base: impl Into<String>,
        api_key: impl Into<String>,
        company: i64,
    ) -> Result<Self, ConfigError> {
        let base = base.into();
        stockbridge_http::base_url("TRYTON_URL", &base)?;
        let client =
            stockbridge_http::client(CONNECT_TIMEOUT, REQUEST_TIMEOUT).map_err(|detail| {
                ConfigError::Invalid {
                    name: "TRYTON_URL",
                    detail,
                }
            })?;
        Ok(TrytonErp {
            client,
            base: base.trim_end_matches('/').to_string(),
            api_key: api_key.into(),
            company,
            caches: Mutex::new(Caches::default()),
        })
    }

    /// The same adapter with other timeouts (tests that inject slow answers).
    pub fn with_timeouts(
        mut self,
        request: std::time::Duration,
        connect: std::time::Duration,
    ) -> Result<Self, ConfigError> {
        self.client =
            stockbridge_http::client(connect, request).map_err(|detail| ConfigError::Invalid {
                name: "TRYTON_URL",
                detail,
            })?;
        Ok(self)
    }

    /// From `TRYTON_URL`, `TRYTON_API_KEY` and `TRYTON_COMPANY_ID` (default 1).
    pub fn from_env() -> Result<Self, ConfigError> {
        let base = required_env("TRYTON_URL")?;
        let key = required_env("TRYTON_API_KEY")?;
        let company = stockbridge_core::config::env_or("TRYTON_COMPANY_ID", 1)?;
        TrytonErp::new(base, key, company)
    }

    /// The database URL this adapter talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The company id sent in every context.
    pub fn company(&self) -> i64 {
        self.company
    }

    // ---- HTTP -----------------------------------------------------------------------------

    fn context(&self, extra: Option<(&str, Value)>) -> String {
        let mut ctx = serde_json::Map::new();
        ctx.insert("company".into(), json!(self.company));
        if let Some((k, v)) = extra {
            ctx.insert(k.into(), v);
        }
        b64(&Value::Object(ctx))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/rest/model/{}", self.base, path)
    }

    /// `search_read`: `domain` as JSON, `fields` the `f` parameters.
    async fn search(
        &self,
        model: &str,
        domain: &Value,
        fields: &[&str],
        extra_ctx: Option<(&str, Value)>,
    ) -> Result<Vec<Value>, ErpError> {
        let mut query: Vec<(&str, String)> = vec![("d", b64(domain))];
        query.extend(fields.iter().map(|f| ("f", (*f).to_string())));
        let req = self
            .client
            .get(self.url(model))
            .query(&query)
            .header("X-Tryton-Context", self.context(extra_ctx));
        match self.send(req, model).await? {
            Value::Array(rows) => Ok(rows),
            other => Err(ErpError::Unavailable(format!(
                "Tryton answered a search on {model} with {} instead of a list",
                short(&other.to_string())
            ))),
        }
    }

    /// POST to `path` (a create or a button call) with `body`, reading back `fields`.
    async fn post(&self, path: &str, body: &Value, fields: &[&str]) -> Result<Value, ErpError> {
        let query: Vec<(&str, &str)> = fields.iter().map(|f| ("f", *f)).collect();
        let req = self
            .client
            .post(self.url(path))
            .query(&query)
            .header("X-Tryton-Context", self.context(None))
            .json(body);
        self.send(req, path).await
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value, ErpError> {
        let started = std::time::Instant::now();
        let resp = req
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(|e| transport_error(&self.base, &e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .text()
            .await
            .map_err(|e| transport_error(&self.base, &e))?;
        tracing::debug!(
            target: "stockbridge::tryton",
            call = what,
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "tryton call"
        );
        if status.is_success() {
            if body.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&body).map_err(|e| {
                ErpError::Unavailable(format!(
                    "Tryton answered {what} with a body that is not JSON ({e}): {}",
                    short(&body)
                ))
            });
        }
        Err(status_error(
            status.as_u16(),
            retry_after.as_deref(),
            &body,
            what,
        ))
    }

    // ---- look-ups -------------------------------------------------------------------------

    async fn warehouse(&self, code: &str) -> Result<Warehouse, ErpError> {
        if let Some(w) = self.lock().warehouses.get(code) {
            return Ok(*w);
        }
        let rows = self
            .search(
                "stock.location",
                &json!([["type", "=", "warehouse"], ["code", "=", code]]),
                &["code", "storage_location", "lost_found_location"],
                None,
            )
            .await?;
        let row = match rows.as_slice() {
            [] => {
                return Err(ErpError::Rejected(format!(
                "Tryton has no warehouse with code {code:?} (stock.location of type warehouse); \
                 fix the location mapping or create the warehouse"
            )))
            }
            [row] => row,
            _ => {
                return Err(ErpError::Rejected(format!(
                    "Tryton has {} warehouses with code {code:?}; make the code unique",
                    rows.len()
                )))
            }
        };
        let id = id_of(row.get("id"));
        let storage = id_of(row.get("storage_location"));
        let lost_found = id_of(row.get("lost_found_location"));
        let (Some(id), Some(storage), Some(lost_found)) = (id, storage, lost_found) else {
            return Err(ErpError::Rejected(format!(
                "Tryton warehouse {code:?} lacks a storage or lost-and-found location; \
                 set both on the warehouse"
            )));
        };
        let w = Warehouse {
            id,
            storage,
            lost_found,
        };
        self.lock().warehouses.insert(code.to_string(), w);
        Ok(w)
    }

    /// Products by code; codes unknown to Tryton are absent from the result.
    async fn products(&self, codes: &[&str]) -> Result<HashMap<String, Product>, ErpError> {
        let mut out = HashMap::new();
        let mut missing: Vec<&str> = Vec::new();
        {
            let caches = self.lock();
            for code in codes {
                match caches.products.get(*code) {
                    Some(p) => {
                        out.insert((*code).to_string(), p.clone());
                    }
                    None if !missing.contains(code) => missing.push(code),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let rows = self
            .search(
                "product.product",
                &json!([["code", "in", missing]]),
                &[
                    "code",
                    "default_uom",
                    "default_uom.rounding",
                    "default_uom.digits",
                ],
                None,
            )
            .await?;
        let mut fetched = Vec::new();
        for row in &rows {
            let Some(code) = row.get("code").and_then(Value::as_str) else {
                continue;
            };
            let uom = row.get("default_uom");
            let parsed = (|| {
                let id = id_of(row.get("id"))?;
                let uom_id = id_of(uom)?;
                let rounding = decimal_of(uom?.get("rounding")?)?;
                let digits = uom?.get("digits")?.as_u64()?;
                Some(Product {
                    id,
                    uom: uom_id,
                    rounding,
                    digits: u32::try_from(digits).ok()?,
                })
            })();
            match parsed {
                Some(p) => fetched.push((code.to_string(), p)),
                None => {
                    return Err(ErpError::Unavailable(format!(
                        "Tryton answered product {code:?} without id or unit: {}",
                        short(&row.to_string())
                    )))
                }
            }
        }
        let mut caches = self.lock();
        for (code, p) in fetched {
            caches.products.insert(code.clone(), p.clone());
            out.insert(code, p);
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Caches> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.caches.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- writes ---------------------------------------------------------------------------

    /// Shipments already carrying these references.
    async fn find_shipments(&self, refs: &[String]) -> Result<HashMap<String, Found>, ErpError> {
        let rows = self
            .search(
                "stock.shipment.internal",
                &json!([["reference", "in", refs]]),
                &["reference", "state"],
                None,
            )
            .await?;
        let mut found: HashMap<String, Found> = HashMap::new();
        for row in rows {
            let (Some(reference), Some(id), Some(state)) = (
                row.get("reference").and_then(Value::as_str),
                id_of(row.get("id")),
                row.get("state").and_then(Value::as_str),
            ) else {
                continue;
            };
            let candidate = Found {
                id,
                state: state.to_string(),
            };
            // Should there be several (someone copied one), prefer done, then not cancelled.
            let better = match found.get(reference) {
                None => true,
                Some(old) => rank(&candidate.state) > rank(&old.state),
            };
            if better {
                found.insert(reference.to_string(), candidate);
            }
        }
        Ok(found)
    }

    async fn create_shipment(
        &self,
        reference: &str,
        wh: Warehouse,
        dir: Direction,
        lines: &[(&ErpLine, &Product)],
    ) -> Result<Found, ErpError> {
        let (from, to) = match dir {
            Direction::In => (wh.lost_found, wh.storage),
            Direction::Out => (wh.storage, wh.lost_found),
        };
        let moves: Vec<Value> = lines
            .iter()
            .map(|(line, p)| {
                json!({
                    "product": p.id,
                    "unit": p.uom,
                    "quantity": tryton_decimal(line.change.abs()),
                    "from_location": from,
                    "to_location": to,
                })
            })
            .collect();
        let body = json!({
            "reference": reference,
            "from_location": from,
            "to_location": to,
            "moves": [["create", moves]],
        });
        let created = self
            .post("stock.shipment.internal", &body, &["state"])
            .await?;
        let id = id_of(created.get("id")).ok_or_else(|| {
            ErpError::Unavailable(format!(
                "Tryton created shipment {reference} but answered without its id: {}",
                short(&created.to_string())
            ))
        })?;
        let state = created
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("draft")
            .to_string();
        Ok(Found { id, state })
    }

    /// Runs the internal shipment's workflow from its state to `done`.
    async fn finish(&self, reference: &str, mut shipment: Found) -> Result<(), ErpError> {
        for _ in 0..MAX_STEPS {
            let button = match shipment.state.as_str() {
                "done" => return Ok(()),
                "cancelled" => {
                    return Err(ErpError::Rejected(format!(
                        "Tryton internal shipment {} ({reference}) was cancelled in the ERP; \
                         decide whether the change is still owed, then reset it to draft in \
                         Tryton or drop the write",
                        shipment.id
                    )))
                }
                "request" => "draft",
                "draft" => "wait",
                "waiting" => "assign_try",
                "assigned" => "do",
                "packed" => "ship",
                "shipped" => "do",
                other => {
                    return Err(ErpError::Rejected(format!(
                        "Tryton internal shipment {} ({reference}) is in state {other:?}, \
                         which this adapter does not know how to finish",
                        shipment.id
                    )))
                }
            };
            let mut next = self.button(shipment.id, button).await?;
            if button == "assign_try" && next == "waiting" {
                // Not enough stock: force it, as Shopify already sold or lost it.
                next = self.button(shipment.id, "assign_force").await?;
            }
            if next == shipment.state && button != "assign_try" {
                return Err(ErpError::Rejected(format!(
                    "Tryton internal shipment {} ({reference}) stays {next:?} after {button}; \
                     finish it in Tryton",
                    shipment.id
                )));
            }
            shipment.state = next;
        }
        Err(ErpError::Rejected(format!(
            "Tryton internal shipment {} ({reference}) did not reach done in {MAX_STEPS} steps \
             (state {:?}); finish it in Tryton",
            shipment.id, shipment.state
        )))
    }

    async fn button(&self, id: i64, button: &str) -> Result<String, ErpError> {
        let path = format!("stock.shipment.internal/{id}/{button}");
        let answer = self.post(&path, &json!({}), &["state"]).await?;
        answer
            .get("state")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ErpError::Unavailable(format!(
                    "Tryton answered {path} without the shipment state: {}",
                    short(&answer.to_string())
                ))
            })
    }
}

impl Erp for TrytonErp {
    async fn apply(&self, write: &ErpWrite) -> Result<(), ErpError> {
        let started = std::time::Instant::now();
        let mut by_dir: Vec<(Direction, Vec<&ErpLine>)> = vec![
            (
                Direction::In,
                write
                    .lines
                    .iter()
                    .filter(|l| l.change > Decimal::ZERO)
                    .collect(),
            ),
            (
                Direction::Out,
                write
                    .lines
                    .iter()
                    .filter(|l| l.change < Decimal::ZERO)
                    .collect(),
            ),
        ];
        by_dir.retain(|(_, lines)| !lines.is_empty());
        if by_dir.is_empty() {
            return Ok(());
        }
        let reference = |d: Direction| format!("{}:{}", write.key, d.suffix());
        let refs: Vec<String> = by_dir.iter().map(|(d, _)| reference(*d)).collect();
        let found = self.find_shipments(&refs).await?;

        // Everything that must be created is resolved and checked before anything is written,
        // so an unknown item or an unfit quantity changes nothing.
        let to_create: Vec<&(Direction, Vec<&ErpLine>)> = by_dir
            .iter()
            .filter(|(d, _)| !found.contains_key(&reference(*d)))
            .collect();
        let mut resolved: Vec<(Direction, Vec<(&ErpLine, Product)>)> = Vec::new();
        let mut wh = None;
        if !to_create.is_empty() {
            let w = self.warehouse(&write.warehouse).await?;
            wh = Some(w);
            let codes: Vec<&str> = to_create
                .iter()
                .flat_map(|(_, lines)| lines.iter().map(|l| l.item.as_str()))
                .collect();
            let products = self.products(&codes).await?;
            let mut unknown: Vec<&str> = codes
                .iter()
                .copied()
                .filter(|c| !products.contains_key(*c))
                .collect();
            unknown.sort_unstable();
            unknown.dedup();
            if !unknown.is_empty() {
                return Err(ErpError::Rejected(format!(
                    "Tryton knows no product with code {} (product.product.code) for write {} at \
                     warehouse {}; fix the SKU map or create the products",
                    unknown.join(", "),
                    write.key,
                    write.warehouse
                )));
            }
            for (dir, lines) in &to_create {
                let mut out = Vec::new();
                for line in lines {
                    let p = &products[line.item.as_str()];
                    check_quantity(line, p)?;
                    out.push((*line, p.clone()));
                }
                resolved.push((*dir, out));
            }
        }

        for (dir, _) in &by_dir {
            let r = reference(*dir);
            let shipment = match found.get(&r) {
                Some(f) if f.state == "done" => {
                    tracing::info!(
                        target: "stockbridge::tryton",
                        reference = %r, shipment = f.id,
                        "ERP write already applied; nothing to do"
                    );
                    continue;
                }
                Some(f) => {
                    tracing::warn!(
                        target: "stockbridge::tryton",
                        reference = %r, shipment = f.id, state = %f.state,
                        "continuing an ERP write an earlier attempt left unfinished"
                    );
                    f.clone()
                }
                None => {
                    let lines: Vec<(&ErpLine, &Product)> = resolved
                        .iter()
                        .find(|(d, _)| d == dir)
                        .map(|(_, ls)| ls.iter().map(|(l, p)| (*l, p)).collect())
                        .unwrap_or_default();
                    let Some(w) = wh else {
                        continue;
                    };
                    self.create_shipment(&r, w, *dir, &lines).await?
                }
            };
            self.finish(&r, shipment).await?;
        }
        tracing::info!(
            target: "stockbridge::tryton",
            key = %write.key, warehouse = %write.warehouse, lines = write.lines.len(),
            ms = started.elapsed().as_millis() as u64,
            "ERP write applied"
        );
        Ok(())
    }

    async fn levels(
        &self,
        warehouse: &str,
        items: &[String],
    ) -> Result<HashMap<String, Decimal>, ErpError> {
        if items.is_empty() {
            return Ok(HashMap::new());
        }
        let wh = self.warehouse(warehouse).await?;
        let rows = self
            .search(
                "product.product",
                &json!([["code", "in", items]]),
                &["code", "quantity"],
                Some(("locations", json!([wh.storage]))),
            )
            .await?;
        let mut out = HashMap::new();
        for row in rows {
            let (Some(code), Some(q)) = (
                row.get("code").and_then(Value::as_str),
                row.get("quantity").and_then(decimal_of),
            ) else {
                continue;
            };
            out.insert(code.to_string(), q);
        }
        Ok(out)
    }

    async fn incoming(&self, warehouse: &str, items: &[String]) -> Result<Vec<Incoming>, ErpError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let wh = self.warehouse(warehouse).await?;
        // A confirmed purchase creates draft moves supplier -> the warehouse's input location,
        // hence child_of the warehouse. `internal_quantity` is in the product's default unit.
        let rows = self
            .search(
                "stock.move",
                &json!([
                    ["from_location.type", "=", "supplier"],
                    ["to_location", "child_of", [wh.id], "parent"],
                    ["state", "=", "draft"],
                    ["product.code", "in", items],
                ]),
                &["product.code", "internal_quantity", "planned_date"],
                None,
            )
            .await?;
        let mut sums: BTreeMap<(String, Option<String>), Decimal> = BTreeMap::new();
        for row in rows {
            let code = row
                .get("product")
                .and_then(|p| p.get("code"))
                .and_then(Value::as_str);
            let qty = row.get("internal_quantity").and_then(decimal_of);
            let (Some(code), Some(qty)) = (code, qty) else {
                continue;
            };
            if qty <= Decimal::ZERO {
                continue;
            }
            let date = row.get("planned_date").and_then(date_of);
            *sums.entry((code.to_string(), date)).or_default() += qty;
        }
        Ok(sums
            .into_iter()
            .map(|((item, expected), quantity)| Incoming {
                item,
                quantity,
                expected,
            })
            .collect())
    }
}

// ---- helpers ------------------------------------------------------------------------------

/// Order of preference among shipments found under one reference.
fn rank(state: &str) -> u8 {
    match state {
        "done" => 3,
        "cancelled" => 0,
        _ => 2,
    }
}

/// The quantity must be a whole number of the unit's rounding and fit its digits.
fn check_quantity(line: &ErpLine, p: &Product) -> Result<(), ErpError> {
    let q = line.change.abs();
    let fits_rounding = p.rounding.is_zero() || (q % p.rounding).is_zero();
    let fits_digits = q.normalize().scale() <= p.digits;
    if fits_rounding && fits_digits {
        return Ok(());
    }
    Err(ErpError::Rejected(format!(
        "change {} of {} is not a multiple of its Tryton unit's rounding {} ({} decimals); \
         the SKU map's unit factor does not fit the ERP unit: fix the factor or the product's \
         unit, then replay",
        line.change,
        line.item,
        p.rounding.normalize(),
        p.digits
    )))
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

fn tryton_decimal(d: Decimal) -> Value {
    json!({"__class__": "Decimal", "decimal": d.normalize().to_string()})
}

/// An id from a Many2One answered either as a plain id or as a nested record.
fn id_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::Object(o) => o.get("id")?.as_i64(),
        _ => None,
    }
}

/// A Tryton number (float, int, or `{"__class__":"Decimal"}`) as an exact decimal of its
/// shortest representation.
fn decimal_of(v: &Value) -> Option<Decimal> {
    let s = match v {
        Value::Number(n) => n.to_string(),
        Value::Object(o) if o.get("__class__")?.as_str()? == "Decimal" => {
            o.get("decimal")?.as_str()?.to_string()
        }
        _ => return None,
    };
    Decimal::from_str(&s)
        .or_else(|_| Decimal::from_scientific(&s))
        .ok()
        .map(|d| d.normalize())
}

/// A Tryton date `{"__class__":"date","year":..}` as `YYYY-MM-DD`.
fn date_of(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    if o.get("__class__")?.as_str()? != "date" {
        return None;
    }
    let y = o.get("year")?.as_i64()?;
    let m = o.get("month")?.as_i64()?;
    let d = o.get("day")?.as_i64()?;
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

fn short(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn transport_error(base: &str, e: &reqwest::Error) -> ErpError {
    stockbridge_http::no_answer(&format!("Tryton at {base}"), e).into()
}

/// Maps a non-2xx answer to what the caller should do (through the one HTTP mapping; a refused
/// key gets a hint of what the key needs).
fn status_error(status: u16, retry_after: Option<&str>, body: &str, what: &str) -> ErpError {
    if matches!(status, 401 | 403) {
        return ErpError::Rejected(format!(
            "ERP refused the API key (HTTP {status} on {what}): check TRYTON_API_KEY is a \
             validated res.user.application key for \"rest\" whose user has the Stock, Stock \
             Force Assignment and Product Administration groups"
        ));
    }
    let detail = if status >= 500 {
        format!(
            "Tryton failed on {what} (HTTP {status}): {}",
            tryton_message(body)
        )
    } else {
        format!(
            "Tryton answered {what} with HTTP {status}: {}",
            tryton_message(body)
        )
    };
    stockbridge_http::failure(status, retry_after, detail, DEFAULT_RETRY_AFTER_MS).into()
}

/// Tryton's JSON `message` (and `description`), else the start of the body.
fn tryton_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return match v.get("description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => format!("{m} ({d})"),
                _ => m.to_string(),
            };
        }
    }
    // HTML error pages: keep the text of the first <p>, which names the cause.
    if let (Some(a), Some(b)) = (body.find("<p>"), body.find("</p>")) {
        if a + 3 <= b {
            return short(&body[a + 3..b].replace("&#39;", "'"));
        }
    }
    short(body.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_waits_what_tryton_asks_or_a_default() {
        assert_eq!(
            status_error(429, Some("soon"), "", "x"),
            ErpError::Throttled {
                retry_after_ms: 1000
            }
        );
        assert_eq!(
            status_error(429, Some("2"), "", "x"),
            ErpError::Throttled {
                retry_after_ms: 2000
            }
        );
    }

    #[test]
    fn statuses_map_to_what_to_do() {
        assert!(
            matches!(status_error(401, None, "", "x"), ErpError::Rejected(m) if m.contains("API key"))
        );
        assert!(matches!(
            status_error(503, None, "", "x"),
            ErpError::Unavailable(_)
        ));
        let body = r#"{"status":400,"message":"Bad thing","description":""}"#;
        assert!(
            matches!(status_error(400, None, body, "x"), ErpError::Rejected(m) if m.ends_with("Bad thing"))
        );
        assert!(
            matches!(status_error(500, None, "<html><p>&#39;nosuch&#39;</p>", "x"), ErpError::Unavailable(m) if m.ends_with("'nosuch'"))
        );
    }

    #[test]
    fn numbers_and_dates() {
        assert_eq!(decimal_of(&json!(2.0)), Some(Decimal::from(2)));
        assert_eq!(decimal_of(&json!(0.1)), Decimal::from_str("0.1").ok());
        assert_eq!(decimal_of(&json!(-3)), Some(Decimal::from(-3)));
        assert_eq!(
            decimal_of(&json!({"__class__":"Decimal","decimal":"8.50"})),
            Decimal::from_str("8.5").ok()
        );
        assert_eq!(
            date_of(&json!({"__class__":"date","year":2026,"month":1,"day":5})).as_deref(),
            Some("2026-01-05")
        );
        assert_eq!(
            tryton_decimal(Decimal::from_str("2.50").unwrap_or_default()),
            json!({"__class__":"Decimal","decimal":"2.5"})
        );
    }

    #[test]
    fn quantities_must_fit_the_unit() {
        let unit = Product {
            id: 1,
            uom: 1,
            rounding: Decimal::ONE,
            digits: 0,
        };
        let kg = Product {
            rounding: Decimal::from_str("0.01").unwrap_or_default(),
            digits: 2,
            ..unit.clone()
        };
        let line = |c: &str| ErpLine {
            item: "X".into(),
            change: Decimal::from_str(c).unwrap_or_default(),
            target: None,
        };
        assert!(check_quantity(&line("-3.000"), &unit).is_ok());
        assert!(check_quantity(&line("2.5"), &unit).is_err());
        assert!(check_quantity(&line("2.25"), &kg).is_ok());
        assert!(check_quantity(&line("2.255"), &kg).is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let erp = TrytonErp::new("http://127.0.0.1:1/db/", "secret-key", 1).expect("loopback");
        let shown = format!("{erp:?}");
        assert!(!shown.contains("secret-key") && shown.contains("redacted"));
        assert_eq!(erp.base(), "http://127.0.0.1:1/db");
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        assert!(TrytonErp::new("http://erp.example.com/db", "k", 1).is_err());
        assert!(TrytonErp::new("https://erp.example.com/db", "k", 1).is_ok());
    }
}
