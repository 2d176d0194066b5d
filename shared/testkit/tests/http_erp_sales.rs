//! `HttpErp` as `ErpSales` against a small in-test ERP that checks the sales-order contract of
//! `docs/erp-http-api.yaml` (bearer token, `Idempotency-Key` equal to the body's key, decimals
//! as strings, required and only the documented fields; 422 otherwise), keeps sales orders and
//! on-hand in memory, applies each reference and movement key once, and refuses revising or
//! cancelling an order with shipped goods (409). Faults (429, 5xx, a timeout whose request still
//! lands) come from the fault proxy in front of it.

mod fault_proxy;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use fault_proxy::{Fault, FaultProxy};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use stockbridge_core::ports::{
    Change, ErpError, ErpSales, SalesLine, SalesMovement, SalesOrder, SalesOrderState,
};
use stockbridge_erp::http_erp::HttpErp;

const TOKEN: &str = "test-token-sales-51c2";
const WH: &str = "WH";
const TEE: &str = "TEE-BLK-M";
const CAP: &str = "CAP-RED";
const REF: &str = "shopify:shop.myshopify.com:450789469:WH";

// ---------------------------------------------------------------------------------------------
// The test ERP

struct Order {
    number: String,
    warehouse: String,
    erp_number: String,
    state: &'static str,
    /// (Shopify line, item, quantity), in order.
    lines: Vec<(String, String, Decimal)>,
    shipped: HashMap<String, Decimal>,
    returned: HashMap<String, Decimal>,
}

#[derive(Default)]
struct Books {
    orders: HashMap<String, Order>,
    /// Movement keys applied.
    moved: HashSet<String>,
    /// (warehouse, item) -> on hand.
    on_hand: HashMap<(String, String), Decimal>,
    created: usize,
    place_repeats: usize,
    movements: usize,
    movement_duplicates: usize,
    rejections: Vec<String>,
}

struct TestErp {
    url: String,
    books: Arc<Mutex<Books>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestErp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestErp {
    async fn start() -> TestErp {
        let mut books = Books::default();
        books.on_hand.insert((WH.into(), TEE.into()), d("100"));
        books.on_hand.insert((WH.into(), CAP.into()), d("5"));
        let books = Arc::new(Mutex::new(books));
        let app = Router::new()
            .route(
                "/api/v1/sales-orders/{reference}",
                put(place_order).get(get_order),
            )
            .route("/api/v1/sales-orders/{reference}/lines", put(revise_lines))
            .route(
                "/api/v1/sales-orders/{reference}/cancel",
                post(cancel_order),
            )
            .route("/api/v1/sales-orders/{reference}/shipments", post(ship))
            .route("/api/v1/sales-orders/{reference}/returns", post(take_back))
            .with_state(books.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/api/v1", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        TestErp { url, books, task }
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().expect("books")
    }

    /// (orders created, placements answered with an order already held).
    fn placements(&self) -> (usize, usize) {
        let b = self.books();
        (b.created, b.place_repeats)
    }

    /// (movements applied, repeats answered as duplicates).
    fn movements(&self) -> (usize, usize) {
        let b = self.books();
        (b.movements, b.movement_duplicates)
    }

    fn on_hand(&self, item: &str) -> Decimal {
        self.books().on_hand[&(WH.to_string(), item.to_string())]
    }
}

type Shared = State<Arc<Mutex<Books>>>;

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn unprocessable(books: &Mutex<Books>, message: String) -> Response {
    books
        .lock()
        .expect("books")
        .rejections
        .push(message.clone());
    answer(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "error": message }),
    )
}

fn refused(code: &str, message: String) -> Response {
    answer(
        StatusCode::CONFLICT,
        json!({ "error": message, "code": code }),
    )
}

fn unknown_order(reference: &str) -> Response {
    answer(
        StatusCode::NOT_FOUND,
        json!({ "error": format!("no sales order {reference}"), "code": "unknown_sales_order" }),
    )
}

/// The 401 to answer when the bearer token is missing or wrong.
fn auth_failure(headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {TOKEN}");
    match headers.get("authorization").map(|v| v.to_str()) {
        Some(Ok(v)) if v == expected => None,
        _ => Some(answer(
            StatusCode::UNAUTHORIZED,
            json!({ "error": "missing or invalid bearer token" }),
        )),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(format!("{name}: must be a non-empty string")),
        None => Err(format!("{name}: required")),
    }
}

fn only(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown field {k}")),
        None => Ok(()),
    }
}

/// The JSON object body of a write, after the content type is checked.
fn object(
    headers: &HeaderMap,
    body: &[u8],
    allowed: &[&str],
) -> Result<Map<String, Value>, String> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return Err(format!(
            "content-type {content_type:?}: must be application/json"
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    let Value::Object(obj) = value else {
        return Err("body: must be an object".into());
    };
    only(&obj, allowed, "body")?;
    Ok(obj)
}

/// `name` of the body, which must equal the path's reference.
fn same_reference(obj: &Map<String, Value>, name: &str, path: &str) -> Result<(), String> {
    if string(obj, name)? != path {
        return Err(format!("{name}: differs from the path's reference"));
    }
    Ok(())
}

/// The `Idempotency-Key` header, which must equal `key`.
fn same_key(headers: &HeaderMap, key: &str, field: &str) -> Result<(), String> {
    let header = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .ok_or("Idempotency-Key header: required")?;
    if header != key {
        return Err(format!("Idempotency-Key header differs from {field}"));
    }
    Ok(())
}

/// `lines`: a non-empty array of `{line, item, quantity}` with decimal-string quantities above
/// zero, each line once, each item one the ERP knows.
fn sales_lines(
    obj: &Map<String, Value>,
    books: &Books,
    warehouse: &str,
) -> Result<Vec<(String, String, Decimal)>, String> {
    let rows = match obj.get("lines") {
        Some(Value::Array(rows)) if !rows.is_empty() => rows,
        _ => return Err("lines: required non-empty array".into()),
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let row = row
            .as_object()
            .ok_or(format!("lines[{i}]: must be an object"))?;
        let at = |e: String| format!("lines[{i}].{e}");
        only(row, &["line", "item", "quantity"], &format!("lines[{i}]"))?;
        let line = string(row, "line").map_err(at)?;
        let item = string(row, "item").map_err(at)?;
        let quantity =
            string(row, "quantity").map_err(|e| at(format!("{e} (decimals are strings)")))?;
        let quantity: Decimal = quantity
            .parse()
            .map_err(|_| at(format!("quantity: {quantity:?} is not a decimal")))?;
        if quantity <= Decimal::ZERO {
            return Err(at("quantity: must be above zero".into()));
        }
        if !seen.insert(line.to_string()) {
            return Err(at(format!("line: {line} is listed twice")));
        }
        if !books
            .on_hand
            .contains_key(&(warehouse.to_string(), item.to_string()))
        {
            return Err(format!("unknown item {item} at {warehouse}"));
        }
        out.push((line.to_string(), item.to_string(), quantity));
    }
    Ok(out)
}

fn line_json(rows: impl Iterator<Item = (String, String, Decimal)>) -> Vec<Value> {
    rows.map(|(line, item, q)| json!({ "line": line, "item": item, "quantity": q.to_string() }))
        .collect()
}

fn view(reference: &str, order: &Order) -> Value {
    let per_line = |moved: &HashMap<String, Decimal>| {
        line_json(order.lines.iter().filter_map(|(line, item, _)| {
            moved.get(line).map(|q| (line.clone(), item.clone(), *q))
        }))
    };
    json!({
        "reference": reference,
        "erp_number": order.erp_number,
        "state": order.state,
        "lines": line_json(order.lines.iter().cloned()),
        "shipped": per_line(&order.shipped),
        "returned": per_line(&order.returned),
    })
}

async fn place_order(
    State(books): Shared,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = auth_failure(&headers) {
        return denied;
    }
    let mut b = books.lock().expect("books");
    let parsed = (|| {
        let obj = object(
            &headers,
            &body,
            &["reference", "number", "warehouse", "lines"],
        )?;
        same_reference(&obj, "reference", &reference)?;
        same_key(&headers, &reference, "reference")?;
        let number = string(&obj, "number")?.to_string();
        let warehouse = string(&obj, "warehouse")?.to_string();
        let lines = sales_lines(&obj, &b, &warehouse)?;
        Ok::<_, String>((number, warehouse, lines))
    })();
    let (number, warehouse, lines) = match parsed {
        Ok(p) => p,
        Err(message) => {
            drop(b);
            return unprocessable(&books, message);
        }
    };
    if let Some(held) = b.orders.get(&reference) {
        let body = view(&reference, held);
        b.place_repeats += 1;
        return answer(StatusCode::OK, body);
    }
    b.created += 1;
    let order = Order {
        number,
        warehouse,
        erp_number: format!("SO{:04}", b.created),
        state: "confirmed",
        lines,
        shipped: HashMap::new(),
        returned: HashMap::new(),
    };
    let body = view(&reference, &order);
    b.orders.insert(reference, order);
    answer(StatusCode::CREATED, body)
}

async fn get_order(
    State(books): Shared,
    Path(reference): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = auth_failure(&headers) {
        return denied;
    }
    let b = books.lock().expect("books");
    match b.orders.get(&reference) {
        Some(order) => answer(StatusCode::OK, view(&reference, order)),
        None => unknown_order(&reference),
    }
}

fn has_shipped(order: &Order) -> bool {
    order.shipped.values().any(|q| *q > Decimal::ZERO)
}

async fn revise_lines(
    State(books): Shared,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = auth_failure(&headers) {
        return denied;
    }
    let mut b = books.lock().expect("books");
    let Some(warehouse) = b.orders.get(&reference).map(|o| o.warehouse.clone()) else {
        return unknown_order(&reference);
    };
    let parsed = object(&headers, &body, &["reference", "lines"]).and_then(|obj| {
        same_reference(&obj, "reference", &reference)?;
        sales_lines(&obj, &b, &warehouse)
    });
    let lines = match parsed {
        Ok(lines) => lines,
        Err(message) => {
            drop(b);
            return unprocessable(&books, message);
        }
    };
    let order = b.orders.get_mut(&reference).expect("held, checked above");
    if order.state == "cancelled" {
        return refused("cancelled", format!("sales order {reference} is cancelled"));
    }
    if has_shipped(order) {
        return refused(
            "shipped",
            format!("sales order {reference} has shipped goods; its lines can no longer change"),
        );
    }
    order.lines = lines;
    answer(StatusCode::OK, view(&reference, order))
}

async fn cancel_order(
    State(books): Shared,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = auth_failure(&headers) {
        return denied;
    }
    if let Err(message) = object(&headers, &body, &["reference"])
        .and_then(|obj| same_reference(&obj, "reference", &reference))
    {
        return unprocessable(&books, message);
    }
    let mut b = books.lock().expect("books");
    let Some(order) = b.orders.get_mut(&reference) else {
        return unknown_order(&reference);
    };
    if order.state != "cancelled" {
        if has_shipped(order) {
            return refused(
                "shipped",
                format!("sales order {reference} has shipped goods; it can no longer be cancelled"),
            );
        }
        order.state = "cancelled";
    }
    answer(StatusCode::OK, view(&reference, order))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ship,
    Return,
}

async fn ship(
    State(books): Shared,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    movement(&books, Kind::Ship, &reference, &headers, &body)
}

async fn take_back(
    State(books): Shared,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    movement(&books, Kind::Return, &reference, &headers, &body)
}

fn movement(
    books: &Mutex<Books>,
    kind: Kind,
    reference: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if let Some(denied) = auth_failure(headers) {
        return denied;
    }
    let mut b = books.lock().expect("books");
    let parsed = (|| {
        let obj = object(headers, body, &["key", "order", "warehouse", "lines"])?;
        let key = string(&obj, "key")?.to_string();
        same_key(headers, &key, "key")?;
        same_reference(&obj, "order", reference)?;
        let warehouse = string(&obj, "warehouse")?.to_string();
        let lines = sales_lines(&obj, &b, &warehouse)?;
        Ok::<_, String>((key, warehouse, lines))
    })();
    let (key, warehouse, lines) = match parsed {
        Ok(p) => p,
        Err(message) => {
            drop(b);
            return unprocessable(books, message);
        }
    };
    let Some(order) = b.orders.get(reference) else {
        return unknown_order(reference);
    };
    if order.warehouse != warehouse {
        drop(b);
        return unprocessable(books, format!("warehouse: the order ships from {WH}"));
    }
    if b.moved.contains(&key) {
        b.movement_duplicates += 1;
        return answer(StatusCode::OK, json!({ "status": "duplicate" }));
    }
    if order.state == "cancelled" {
        return refused("cancelled", format!("sales order {reference} is cancelled"));
    }
    for (line, item, quantity) in &lines {
        let Some((_, ordered_item, ordered)) = order.lines.iter().find(|(l, _, _)| l == line)
        else {
            return refused("not_on_order", format!("line {line} is not on {reference}"));
        };
        if ordered_item != item {
            return refused(
                "not_on_order",
                format!("line {line} is {ordered_item}, not {item}"),
            );
        }
        let shipped = order.shipped.get(line).copied().unwrap_or_default();
        let returned = order.returned.get(line).copied().unwrap_or_default();
        let room = match kind {
            Kind::Ship => *ordered - shipped,
            Kind::Return => shipped - returned,
        };
        if *quantity > room {
            return refused(
                "exceeds_remaining",
                format!("line {line}: {quantity} to move but {room} remain"),
            );
        }
    }
    let b = &mut *b;
    let order = b.orders.get_mut(reference).expect("held, checked above");
    for (line, item, quantity) in &lines {
        let (moved, sign) = match kind {
            Kind::Ship => (&mut order.shipped, Decimal::NEGATIVE_ONE),
            Kind::Return => (&mut order.returned, Decimal::ONE),
        };
        *moved.entry(line.clone()).or_default() += *quantity;
        *b.on_hand
            .entry((warehouse.clone(), item.clone()))
            .or_default() += sign * *quantity;
    }
    let all_shipped = order
        .lines
        .iter()
        .all(|(line, _, q)| order.shipped.get(line).is_some_and(|s| s >= q));
    if kind == Kind::Ship && all_shipped {
        order.state = "done";
    }
    b.moved.insert(key);
    b.movements += 1;
    answer(
        StatusCode::CREATED,
        json!({ "status": "applied", "document_id": format!("CS{}", b.movements) }),
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

fn line(id: &str, item: &str, quantity: &str) -> SalesLine {
    SalesLine {
        line: id.into(),
        item: item.into(),
        quantity: d(quantity),
    }
}

fn order(lines: Vec<SalesLine>) -> SalesOrder {
    SalesOrder {
        reference: REF.into(),
        number: "#1001".into(),
        warehouse: WH.into(),
        lines,
    }
}

fn two_lines() -> SalesOrder {
    order(vec![line("1", TEE, "2"), line("2", CAP, "0.5")])
}

fn movement_of(key: &str, lines: Vec<SalesLine>) -> SalesMovement {
    SalesMovement {
        order: REF.into(),
        key: key.into(),
        warehouse: WH.into(),
        lines,
    }
}

fn client(url: &str) -> HttpErp {
    HttpErp::new(url, TOKEN).expect("valid configuration")
}

fn refused_with(change: Change, part: &str) -> bool {
    matches!(&change, Change::Refused(reason) if reason.contains(part))
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn placing_twice_makes_one_order_and_answers_what_is_held() {
    let erp = TestErp::start().await;
    let http = client(&erp.url);

    let view = http.place(&two_lines()).await.expect("placed");
    assert_eq!(view.reference, REF);
    assert_eq!(view.erp_number.as_deref(), Some("SO0001"));
    assert_eq!(view.state, SalesOrderState::Confirmed);
    assert_eq!(view.lines, two_lines().lines);
    assert!(view.shipped.is_empty() && view.returned.is_empty());

    // A second attempt (another topic, a redelivery) with other lines changes nothing.
    let again = http
        .place(&order(vec![line("1", TEE, "9")]))
        .await
        .expect("already held");
    assert_eq!(again, view);
    {
        let b = erp.books();
        assert_eq!((b.created, b.place_repeats), (1, 1));
        assert_eq!(b.orders[REF].number, "#1001");
    }

    assert_eq!(http.find(REF).await.expect("read"), Some(view));
    assert_eq!(
        http.find("shopify:shop.myshopify.com:1:WH")
            .await
            .expect("read"),
        None
    );
    assert_eq!(erp.on_hand(TEE), d("100"), "placing moves no stock");
}

#[tokio::test]
async fn lines_change_until_goods_ship_then_the_erp_refuses() {
    let erp = TestErp::start().await;
    let http = client(&erp.url);
    http.place(&two_lines()).await.expect("placed");

    let edited = order(vec![line("1", TEE, "3")]);
    assert_eq!(http.revise(&edited).await, Ok(Change::Made));
    assert_eq!(http.revise(&edited).await, Ok(Change::Made), "repeatable");
    let view = http.find(REF).await.expect("read").expect("held");
    assert_eq!(view.lines, edited.lines);

    let fulfilment = movement_of(
        "shopify:shop.myshopify.com:fulfillment:255858046",
        vec![line("1", TEE, "2")],
    );
    assert_eq!(http.ship(&fulfilment).await, Ok(Change::Made));
    assert_eq!(http.ship(&fulfilment).await, Ok(Change::Made), "a repeat");
    assert_eq!(erp.on_hand(TEE), d("98"), "shipped once");
    assert_eq!(erp.movements(), (1, 1));

    let change = http
        .revise(&order(vec![line("1", TEE, "1")]))
        .await
        .expect("answered");
    assert!(refused_with(change.clone(), "shipped goods"), "{change:?}");
    assert!(refused_with(change, "PUT /sales-orders/"));
    let change = http.cancel(REF).await.expect("answered");
    assert!(refused_with(change, "can no longer be cancelled"));
    let view = http.find(REF).await.expect("read").expect("held");
    assert_eq!(view.lines, edited.lines, "a refusal changes nothing");
    assert_eq!(view.state, SalesOrderState::Confirmed);
    assert_eq!(view.shipped, vec![line("1", TEE, "2")]);

    // More than remains is refused; the rest ships and the order is done.
    let too_much = movement_of("shopify:s:fulfillment:2", vec![line("1", TEE, "2")]);
    assert!(refused_with(
        http.ship(&too_much).await.expect("answered"),
        "remain"
    ));
    let rest = movement_of("shopify:s:fulfillment:3", vec![line("1", TEE, "1")]);
    assert_eq!(http.ship(&rest).await, Ok(Change::Made));
    let view = http.find(REF).await.expect("read").expect("held");
    assert_eq!(view.state, SalesOrderState::Done);
    assert_eq!(erp.on_hand(TEE), d("97"));

    // A restocked refund comes back once, never more than shipped.
    let refund = movement_of("shopify:s:refund:509562969", vec![line("1", TEE, "2")]);
    assert_eq!(http.take_back(&refund).await, Ok(Change::Made));
    assert_eq!(http.take_back(&refund).await, Ok(Change::Made));
    assert_eq!(erp.on_hand(TEE), d("99"));
    let more = movement_of("shopify:s:refund:2", vec![line("1", TEE, "2")]);
    assert!(refused_with(
        http.take_back(&more).await.expect("answered"),
        "remain"
    ));
    let view = http.find(REF).await.expect("read").expect("held");
    assert_eq!(view.returned, vec![line("1", TEE, "2")]);
    assert_eq!(erp.on_hand(TEE), d("99"));
}

#[tokio::test]
async fn cancelling_before_shipping() {
    let erp = TestErp::start().await;
    let http = client(&erp.url);
    assert_eq!(
        http.cancel(REF).await,
        Ok(Change::Made),
        "nothing held, nothing to cancel"
    );
    http.place(&two_lines()).await.expect("placed");
    assert_eq!(http.cancel(REF).await, Ok(Change::Made));
    assert_eq!(
        http.cancel(REF).await,
        Ok(Change::Made),
        "already cancelled"
    );
    let view = http.find(REF).await.expect("read").expect("held");
    assert_eq!(view.state, SalesOrderState::Cancelled);

    // Placing again answers the cancelled order; nothing ships under it.
    let again = http.place(&two_lines()).await.expect("held");
    assert_eq!(again.state, SalesOrderState::Cancelled);
    let fulfilment = movement_of("shopify:s:fulfillment:1", vec![line("1", TEE, "1")]);
    assert!(refused_with(
        http.ship(&fulfilment).await.expect("answered"),
        "cancelled"
    ));
    assert!(refused_with(
        http.revise(&two_lines()).await.expect("answered"),
        "cancelled"
    ));
    assert_eq!(erp.on_hand(TEE), d("100"));
    assert_eq!(erp.books().created, 1);
}

#[tokio::test]
async fn changes_to_an_order_the_erp_does_not_hold_are_refused() {
    let erp = TestErp::start().await;
    let http = client(&erp.url);
    let fulfilment = movement_of("shopify:s:fulfillment:1", vec![line("1", TEE, "1")]);
    assert!(refused_with(
        http.ship(&fulfilment).await.expect("answered"),
        "must be placed first"
    ));
    assert!(refused_with(
        http.revise(&two_lines()).await.expect("answered"),
        "must be placed first"
    ));
    // A 404 without the contract's code is a wrong base URL, not "no such order".
    let lost = client(&format!("{}/elsewhere", erp.url));
    let err = lost.find(REF).await.expect_err("uncoded 404");
    assert!(
        matches!(&err, ErpError::Rejected(m) if m.contains("404")),
        "{err:?}"
    );
    assert!(matches!(lost.cancel(REF).await, Err(ErpError::Rejected(_))));
}

#[tokio::test]
async fn contract_violations_and_refusals_are_rejected() {
    let erp = TestErp::start().await;
    let http = client(&erp.url);

    let unknown = order(vec![line("1", "NOT-IN-ERP", "1")]);
    let err = http.place(&unknown).await.expect_err("unknown item");
    assert!(
        matches!(&err, ErpError::Rejected(m) if m.contains("422") && m.contains("unknown item NOT-IN-ERP")),
        "{err:?}"
    );
    let twice = order(vec![line("1", TEE, "1"), line("1", CAP, "1")]);
    let err = http.place(&twice).await.expect_err("line twice");
    assert!(
        matches!(&err, ErpError::Rejected(m) if m.contains("listed twice")),
        "{err:?}"
    );
    let err = http
        .place(&order(vec![line("1", TEE, "0")]))
        .await
        .expect_err("zero");
    assert!(
        matches!(&err, ErpError::Rejected(m) if m.contains("above zero")),
        "{err:?}"
    );
    assert!(matches!(
        http.place(&order(vec![])).await,
        Err(ErpError::Rejected(_))
    ));

    let wrong_token = HttpErp::new(&erp.url, "not-the-token").expect("valid configuration");
    let err = wrong_token.place(&two_lines()).await.expect_err("401");
    assert!(
        matches!(&err, ErpError::Rejected(m) if m.contains("401") && m.contains("bearer token")),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(matches!(
        wrong_token.find(REF).await,
        Err(ErpError::Rejected(_))
    ));

    let b = erp.books();
    assert!(b.orders.is_empty(), "nothing was placed");
    assert_eq!(b.rejections.len(), 3, "{:?}", b.rejections);
}

/// The test ERP itself holds requests to the contract: what a careless client would send is
/// refused, so the tests above prove `HttpErp` sends what the contract says.
#[tokio::test]
async fn the_test_erp_enforces_the_contract() {
    let erp = TestErp::start().await;
    let raw = reqwest::Client::new();
    let url = format!("{}/sales-orders/{REF}", erp.url);
    let good = json!({ "reference": REF, "number": "#1001", "warehouse": WH,
        "lines": [{ "line": "1", "item": TEE, "quantity": "2" }] });
    let mut number = good.clone();
    number["lines"][0]["quantity"] = json!(2);
    let mut personal = good.clone();
    personal["customer"] = json!({ "email": "jane@example.com" });
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("number");
    let cases = [
        (number, REF, "decimals are strings"),
        (personal, REF, "unknown field customer"),
        (missing, REF, "number: required"),
        (
            good.clone(),
            "another-key",
            "Idempotency-Key header differs",
        ),
    ];
    for (body, key, expected) in cases {
        let response = raw
            .put(&url)
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 422);
        let text = response.text().await.expect("body");
        assert!(text.contains(expected), "{text}");
    }
    let response = raw
        .put(&url)
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", REF)
        .json(&good)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 201);
    assert_eq!(erp.books().created, 1);
}

#[tokio::test]
async fn a_timeout_whose_request_landed_then_a_retry_makes_one_order_and_one_shipment() {
    let erp = TestErp::start().await;
    let proxy = FaultProxy::start(&erp.url).await;
    let http = client(&proxy.url())
        .with_timeouts(Duration::from_millis(300), Duration::from_secs(2))
        .expect("client");

    // The ERP gets the order, but only after the client gave up.
    proxy.push(Fault::Delay(Duration::from_millis(800)));
    let err = http.place(&two_lines()).await.expect_err("times out");
    assert!(
        matches!(&err, ErpError::Unavailable(m) if m.contains("timed out")),
        "{err:?}"
    );
    assert!(err.is_transient());
    wait_until(|| erp.books().created == 1).await;
    let view = http.place(&two_lines()).await.expect("the retry finds it");
    assert_eq!(view.erp_number.as_deref(), Some("SO0001"));
    assert_eq!(erp.placements(), (1, 1));

    let fulfilment = movement_of("shopify:s:fulfillment:7", vec![line("1", TEE, "2")]);
    proxy.push(Fault::Delay(Duration::from_millis(800)));
    assert!(matches!(
        http.ship(&fulfilment).await,
        Err(ErpError::Unavailable(_))
    ));
    wait_until(|| erp.books().movements == 1).await;
    assert_eq!(http.ship(&fulfilment).await, Ok(Change::Made));
    assert_eq!(erp.on_hand(TEE), d("98"), "shipped once");
    assert_eq!(erp.books().movement_duplicates, 1);
}

async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..50 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the delayed request never reached the ERP");
}

#[tokio::test]
async fn throttling_and_server_errors_map_and_nothing_is_applied() {
    let erp = TestErp::start().await;
    let proxy = FaultProxy::start(&erp.url).await;
    let http = client(&proxy.url());

    proxy.push(Fault::Status {
        code: 429,
        retry_after: Some(2),
    });
    assert_eq!(
        http.place(&two_lines()).await,
        Err(ErpError::Throttled {
            retry_after_ms: 2000
        })
    );
    proxy.push(Fault::Status {
        code: 429,
        retry_after: None,
    });
    assert_eq!(
        http.cancel(REF).await,
        Err(ErpError::Throttled {
            retry_after_ms: 1000
        })
    );
    assert_eq!(proxy.requests(), 0);
    http.place(&two_lines()).await.expect("then placed");

    let fulfilment = movement_of("shopify:s:fulfillment:9", vec![line("2", CAP, "0.5")]);
    proxy.push(Fault::Status {
        code: 500,
        retry_after: None,
    });
    let err = http.ship(&fulfilment).await.expect_err("500");
    assert!(
        matches!(&err, ErpError::Unavailable(m) if m.contains("500") && m.contains("injected")),
        "{err:?}"
    );
    proxy.push(Fault::Status {
        code: 503,
        retry_after: None,
    });
    assert!(matches!(
        http.find(REF).await,
        Err(ErpError::Unavailable(_))
    ));
    proxy.push(Fault::Status {
        code: 502,
        retry_after: None,
    });
    assert!(matches!(
        http.revise(&two_lines()).await,
        Err(ErpError::Unavailable(_))
    ));
    assert_eq!(erp.on_hand(CAP), d("5"), "nothing shipped yet");

    assert_eq!(http.ship(&fulfilment).await, Ok(Change::Made));
    assert_eq!(erp.on_hand(CAP), d("4.5"));
    assert_eq!(erp.books().movements, 1);
}
