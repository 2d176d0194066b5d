//! The generic HTTP ERP's sales orders: [`HttpErp`] implements [`ErpSales`] over the
//! `/sales-orders/{reference}` paths of `docs/erp-http-api.yaml`.
//!
//! - `PUT /sales-orders/{reference}` places the order, confirmed (`Idempotency-Key` = the
//!   body's `reference`); 201 created, 200 already held (unchanged). Both carry the
//!   `SalesOrderView`, which must be for the asked reference.
//! - `PUT /sales-orders/{reference}/lines` sets its lines; `POST .../cancel` cancels it. Both state
//!   an end state, so they are idempotent without a key (a key per order would make an
//!   idempotency cache swallow every revision after the first).
//! - `POST .../shipments` and `POST .../returns` move goods under the order, once per the body's
//!   `key` (= `Idempotency-Key`); 200 `{"status":"duplicate"}` is success.
//! - `GET /sales-orders/{reference}` reads it.
//!
//! On these paths 409 is the ERP refusing a change it no longer allows (goods shipped, order
//! cancelled): [`Change::Refused`] with the server's message, for an operator. 404 with
//! `"code": "unknown_sales_order"` means the ERP holds no such order (`find` is `None`, `cancel`
//! is `Made`, the other changes are refused); any other 404 is [`ErpError::Rejected`], as it
//! points at a wrong base URL. Everything else maps as for `/inventory`.
//!
//! Bodies hold the order's number, Shopify line ids, ERP item codes and quantities (decimal
//! strings) only: no personal data.

use reqwest::header::HeaderValue;
use reqwest::{RequestBuilder, StatusCode, Url};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use stockbridge_core::ports::{
    Change, ErpError, ErpSales, SalesLine, SalesMovement, SalesOrder, SalesOrderState,
    SalesOrderView,
};

use super::{body_text, server_message, status_error, transport_error, HttpErp};

/// The `code` of the 404 that says the ERP holds no sales order under the reference.
pub const UNKNOWN_SALES_ORDER: &str = "unknown_sales_order";

/// One line of a request body.
#[derive(Serialize)]
struct LineBody<'a> {
    line: &'a str,
    item: &'a str,
    quantity: String,
}

fn lines_body(lines: &[SalesLine]) -> Vec<LineBody<'_>> {
    lines
        .iter()
        .map(|l| LineBody {
            line: &l.line,
            item: &l.item,
            quantity: l.quantity.to_string(),
        })
        .collect()
}

/// The body of `PUT /sales-orders/{reference}`.
#[derive(Serialize)]
struct PlaceBody<'a> {
    reference: &'a str,
    number: &'a str,
    warehouse: &'a str,
    lines: Vec<LineBody<'a>>,
}

/// The body of `PUT /sales-orders/{reference}/lines`.
#[derive(Serialize)]
struct ReviseBody<'a> {
    reference: &'a str,
    lines: Vec<LineBody<'a>>,
}

/// The body of `POST /sales-orders/{reference}/cancel`.
#[derive(Serialize)]
struct CancelBody<'a> {
    reference: &'a str,
}

/// The body of `POST /sales-orders/{reference}/shipments` and `.../returns`.
#[derive(Serialize)]
struct MovementBody<'a> {
    key: &'a str,
    order: &'a str,
    warehouse: &'a str,
    lines: Vec<LineBody<'a>>,
}

/// A `SalesOrderView` as it comes over the wire (decimals as strings, checked here).
#[derive(Deserialize)]
struct ViewWire {
    reference: String,
    erp_number: Option<String>,
    state: SalesOrderState,
    lines: Vec<LineWire>,
    #[serde(default)]
    shipped: Vec<LineWire>,
    #[serde(default)]
    returned: Vec<LineWire>,
}

#[derive(Deserialize)]
struct LineWire {
    line: String,
    item: String,
    quantity: String,
}

#[derive(Deserialize)]
struct MovementAnswer {
    #[serde(default)]
    status: Option<String>,
}

/// An error body with the optional machine-readable `code` of the sales-order paths.
#[derive(Deserialize)]
struct CodedError {
    #[serde(default)]
    code: Option<String>,
}

/// What the ERP answered to one sales-order request, where it is not an [`ErpError`].
enum Answer {
    /// 2xx, with its body.
    Done(StatusCode, Vec<u8>),
    /// 404 `unknown_sales_order`, with the server's message.
    UnknownOrder(String),
    /// 409: the ERP does not allow it; the reason for an operator.
    Refused(String),
}

/// Which goods movement under an order.
#[derive(Clone, Copy)]
enum Movement {
    Shipment,
    Return,
}

impl Movement {
    fn path(self) -> &'static str {
        match self {
            Movement::Shipment => "shipments",
            Movement::Return => "returns",
        }
    }
}

impl HttpErp {
    /// `{base}/sales-orders/{reference}[/{action}]`, the reference percent-encoded as one
    /// path segment.
    fn sales_order_url(&self, reference: &str, action: Option<&str>) -> Result<Url, ErpError> {
        if reference.trim().is_empty() {
            return Err(ErpError::Rejected(
                "a sales order needs a non-empty reference".into(),
            ));
        }
        let mut url = self.endpoint("sales-orders");
        {
            let mut segments = url.path_segments_mut().map_err(|()| {
                ErpError::Rejected(
                    "ERP_HTTP_URL cannot take a path; check the configuration".into(),
                )
            })?;
            segments.push(reference);
            if let Some(action) = action {
                segments.push(action);
            }
        }
        Ok(url)
    }

    /// Sends `request` and sorts the answer; a failure to get one, and any status other than
    /// 2xx, 409 and a coded 404, is the error.
    async fn sales_answer(&self, request: RequestBuilder, what: &str) -> Result<Answer, ErpError> {
        let response = self.send(request, what).await?;
        let status = response.status();
        if status.is_success() {
            let body = response
                .bytes()
                .await
                .map_err(|e| transport_error(what, e))?;
            return Ok(Answer::Done(status, body.to_vec()));
        }
        let headers = response.headers().clone();
        let body = body_text(response).await;
        let message = server_message(&body);
        if status == StatusCode::CONFLICT {
            let reason = if message.is_empty() {
                format!("{what}: HTTP 409 without a reason")
            } else {
                format!("{what}: {message}")
            };
            return Ok(Answer::Refused(reason));
        }
        let code = serde_json::from_str::<CodedError>(&body)
            .ok()
            .and_then(|e| e.code);
        if status == StatusCode::NOT_FOUND && code.as_deref() == Some(UNKNOWN_SALES_ORDER) {
            return Ok(Answer::UnknownOrder(format!("{what}: {message}")));
        }
        Err(status_error(what, status, &headers, &body))
    }

    /// `POST .../shipments` or `.../returns`, once per `movement.key`.
    async fn move_goods(
        &self,
        movement: &SalesMovement,
        kind: Movement,
    ) -> Result<Change, ErpError> {
        let what = format!("POST /sales-orders/{}/{}", movement.order, kind.path());
        if movement.lines.is_empty() {
            tracing::debug!(key = %movement.key, order = %movement.order, "{what}: no lines; nothing to send");
            return Ok(Change::Made);
        }
        let url = self.sales_order_url(&movement.order, Some(kind.path()))?;
        let request = self
            .client
            .post(url)
            .header("Idempotency-Key", key_header(&movement.key)?)
            .json(&MovementBody {
                key: &movement.key,
                order: &movement.order,
                warehouse: &movement.warehouse,
                lines: lines_body(&movement.lines),
            });
        match self.sales_answer(request, &what).await? {
            Answer::Done(status, body) => {
                // The body is informative only: a 2xx is success whatever it says.
                let duplicate = serde_json::from_slice::<MovementAnswer>(&body)
                    .ok()
                    .and_then(|a| a.status)
                    .is_some_and(|s| s == "duplicate");
                if duplicate {
                    tracing::info!(key = %movement.key, order = %movement.order, "ERP already has this movement");
                } else {
                    tracing::debug!(key = %movement.key, order = %movement.order, %status, "ERP movement applied");
                }
                Ok(Change::Made)
            }
            Answer::Refused(reason) => Ok(Change::Refused(reason)),
            Answer::UnknownOrder(message) => Ok(Change::Refused(format!(
                "{message} (the ERP holds no sales order {}; it must be placed first)",
                movement.order
            ))),
        }
    }
}

/// `key` as an `Idempotency-Key` value (printable ASCII), or why not.
fn key_header(key: &str) -> Result<HeaderValue, ErpError> {
    HeaderValue::from_str(key).map_err(|_| {
        ErpError::Rejected(format!(
            "idempotency key {key:?} is not a valid header value"
        ))
    })
}

/// The `SalesOrderView` in a 2xx body, which must be for `reference`.
fn view_of(
    what: &str,
    reference: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<SalesOrderView, ErpError> {
    let off_contract = |detail: String| {
        ErpError::Unavailable(format!(
            "{what}: HTTP {status} with a body that does not match the contract: {detail}"
        ))
    };
    let wire: ViewWire = serde_json::from_slice(body).map_err(|e| off_contract(e.to_string()))?;
    if wire.reference != reference {
        return Err(off_contract(format!(
            "it describes sales order {:?}",
            wire.reference
        )));
    }
    let lines = |rows: Vec<LineWire>, field: &str| -> Result<Vec<SalesLine>, ErpError> {
        rows.into_iter()
            .enumerate()
            .map(|(i, row)| {
                let quantity = row.quantity.parse::<Decimal>().map_err(|_| {
                    off_contract(format!(
                        "{field}[{i}].quantity {:?} is not a decimal",
                        row.quantity
                    ))
                })?;
                Ok(SalesLine {
                    line: row.line,
                    item: row.item,
                    quantity,
                })
            })
            .collect()
    };
    Ok(SalesOrderView {
        reference: wire.reference,
        erp_number: wire.erp_number,
        state: wire.state,
        lines: lines(wire.lines, "lines")?,
        shipped: lines(wire.shipped, "shipped")?,
        returned: lines(wire.returned, "returned")?,
    })
}

impl ErpSales for HttpErp {
    async fn place(&self, order: &SalesOrder) -> Result<SalesOrderView, ErpError> {
        let what = format!("PUT /sales-orders/{}", order.reference);
        if order.lines.is_empty() {
            return Err(ErpError::Rejected(format!(
                "{what}: the order has no lines; an order without goods is not placed"
            )));
        }
        let url = self.sales_order_url(&order.reference, None)?;
        let request = self
            .client
            .put(url)
            .header("Idempotency-Key", key_header(&order.reference)?)
            .json(&PlaceBody {
                reference: &order.reference,
                number: &order.number,
                warehouse: &order.warehouse,
                lines: lines_body(&order.lines),
            });
        match self.sales_answer(request, &what).await? {
            Answer::Done(status, body) => {
                let view = view_of(&what, &order.reference, status, &body)?;
                if status == StatusCode::CREATED {
                    tracing::debug!(reference = %order.reference, erp_number = ?view.erp_number, "ERP sales order placed");
                } else {
                    tracing::info!(reference = %order.reference, state = ?view.state, "ERP already holds this sales order");
                }
                Ok(view)
            }
            // The contract has neither for a placement: the server is off it.
            Answer::Refused(reason) => Err(ErpError::Rejected(reason)),
            Answer::UnknownOrder(message) => Err(ErpError::Rejected(message)),
        }
    }

    async fn revise(&self, order: &SalesOrder) -> Result<Change, ErpError> {
        let what = format!("PUT /sales-orders/{}/lines", order.reference);
        if order.lines.is_empty() {
            return Err(ErpError::Rejected(format!(
                "{what}: no lines left; an order without goods is cancelled, not revised"
            )));
        }
        let url = self.sales_order_url(&order.reference, Some("lines"))?;
        let request = self.client.put(url).json(&ReviseBody {
            reference: &order.reference,
            lines: lines_body(&order.lines),
        });
        match self.sales_answer(request, &what).await? {
            Answer::Done(..) => Ok(Change::Made),
            Answer::Refused(reason) => Ok(Change::Refused(reason)),
            Answer::UnknownOrder(message) => Ok(Change::Refused(format!(
                "{message} (the ERP holds no sales order {}; it must be placed first)",
                order.reference
            ))),
        }
    }

    async fn cancel(&self, reference: &str) -> Result<Change, ErpError> {
        let what = format!("POST /sales-orders/{reference}/cancel");
        let url = self.sales_order_url(reference, Some("cancel"))?;
        let request = self.client.post(url).json(&CancelBody { reference });
        match self.sales_answer(request, &what).await? {
            Answer::Done(..) => Ok(Change::Made),
            Answer::UnknownOrder(_) => {
                tracing::info!(
                    reference,
                    "ERP holds no such sales order; nothing to cancel"
                );
                Ok(Change::Made)
            }
            Answer::Refused(reason) => Ok(Change::Refused(reason)),
        }
    }

    async fn ship(&self, movement: &SalesMovement) -> Result<Change, ErpError> {
        self.move_goods(movement, Movement::Shipment).await
    }

    async fn take_back(&self, movement: &SalesMovement) -> Result<Change, ErpError> {
        self.move_goods(movement, Movement::Return).await
    }

    async fn find(&self, reference: &str) -> Result<Option<SalesOrderView>, ErpError> {
        let what = format!("GET /sales-orders/{reference}");
        let url = self.sales_order_url(reference, None)?;
        match self.sales_answer(self.client.get(url), &what).await? {
            Answer::Done(status, body) => view_of(&what, reference, status, &body).map(Some),
            Answer::UnknownOrder(_) => Ok(None),
            Answer::Refused(reason) => Err(ErpError::Rejected(reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().expect("test literal")
    }

    #[test]
    fn references_are_one_encoded_path_segment() {
        let erp = HttpErp::new("https://erp.example.com/api/v1/", "t").expect("valid");
        let url = erp
            .sales_order_url("shopify:shop.myshopify.com:450789469:WH", Some("cancel"))
            .expect("url");
        assert_eq!(
            url.as_str(),
            "https://erp.example.com/api/v1/sales-orders/shopify:shop.myshopify.com:450789469:WH/cancel"
        );
        let odd = erp.sales_order_url("a/b?c#d", None).expect("url");
        assert_eq!(
            odd.as_str(),
            "https://erp.example.com/api/v1/sales-orders/a%2Fb%3Fc%23d"
        );
        assert!(matches!(
            erp.sales_order_url(" ", None),
            Err(ErpError::Rejected(_))
        ));
    }

    #[test]
    fn bodies_carry_decimals_as_strings() {
        let order = SalesOrder {
            reference: "r".into(),
            number: "#1001".into(),
            warehouse: "WH".into(),
            lines: vec![SalesLine {
                line: "866550311766439020".into(),
                item: "TEE".into(),
                quantity: dec("2.50"),
            }],
        };
        let json = serde_json::to_value(PlaceBody {
            reference: &order.reference,
            number: &order.number,
            warehouse: &order.warehouse,
            lines: lines_body(&order.lines),
        })
        .expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({"reference": "r", "number": "#1001", "warehouse": "WH",
                "lines": [{"line": "866550311766439020", "item": "TEE", "quantity": "2.50"}]})
        );
    }

    #[test]
    fn views_off_the_contract_are_unavailable() {
        let ok = br#"{"reference":"r","erp_number":"SO1","state":"confirmed",
            "lines":[{"line":"1","item":"TEE","quantity":"2"}]}"#;
        let view = view_of("x", "r", StatusCode::OK, ok).expect("view");
        assert_eq!(view.state, SalesOrderState::Confirmed);
        assert_eq!(view.lines[0].quantity, dec("2"));
        assert!(view.shipped.is_empty() && view.returned.is_empty());

        let number = br#"{"reference":"r","erp_number":null,"state":"confirmed",
            "lines":[{"line":"1","item":"TEE","quantity":2}]}"#;
        let other = br#"{"reference":"q","erp_number":null,"state":"confirmed","lines":[]}"#;
        let state = br#"{"reference":"r","erp_number":null,"state":"shipped","lines":[]}"#;
        let bad = br#"{"reference":"r","erp_number":null,"state":"done","lines":[],
            "shipped":[{"line":"1","item":"TEE","quantity":"two"}]}"#;
        for body in [&number[..], other, state, bad] {
            assert!(
                matches!(
                    view_of("x", "r", StatusCode::OK, body),
                    Err(ErpError::Unavailable(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
