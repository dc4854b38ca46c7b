//! The payment window the browser opens (`/v1/checkout`): a small page with the order and three
//! buttons standing for what a buyer can do in Toss's real window. Choosing one redirects back to
//! the merchant the way Toss's SDK does: `successUrl?paymentKey=&orderId=&amount=` or
//! `failUrl?code=&message=&orderId=`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use tracing::info;
use url::Url;

use crate::AppState;
use crate::error::TossError;
use crate::model::{METHOD_CARD, METHOD_VIRTUAL_ACCOUNT};
use crate::store::NewSession;

/// A virtual account stays open this many hours unless `validHours` says otherwise.
pub const DEFAULT_VALID_HOURS: u32 = 24;
/// The most `validHours` Toss allows (30 days).
pub const MAX_VALID_HOURS: u32 = 720;

/// The window's parameters, checked.
struct Checkout {
    order_id: String,
    order_name: String,
    amount: i64,
    success_url: Url,
    fail_url: Url,
    customer_name: String,
    valid_hours: u32,
}

fn parse_query(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// Toss's `orderId` rule: 6 to 64 characters of `A-Z a-z 0-9 - _`.
pub fn valid_order_id(order_id: &str) -> bool {
    (6..=64).contains(&order_id.len()) && order_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn http_url(params: &HashMap<String, String>, name: &str) -> Result<Url, TossError> {
    let raw = params.get(name).map(String::as_str).unwrap_or_default();
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(url),
        _ => Err(TossError::invalid_request(format!("{name} must be an absolute http(s) URL"))),
    }
}

impl Checkout {
    fn from_query(params: &HashMap<String, String>, client_key: &str) -> Result<Checkout, TossError> {
        let text = |name: &str| params.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        if text("clientKey") != client_key {
            return Err(TossError::unauthorized_key());
        }
        let order_id = text("orderId");
        if !valid_order_id(&order_id) {
            return Err(TossError::invalid_request("orderId must be 6 to 64 characters of A-Z, a-z, 0-9, - and _"));
        }
        let order_name = text("orderName");
        if order_name.is_empty() || order_name.chars().count() > 100 {
            return Err(TossError::invalid_request("orderName must be 1 to 100 characters"));
        }
        let amount = match text("amount").parse::<i64>() {
            Ok(amount) if amount > 0 => amount,
            _ => return Err(TossError::invalid_request("amount must be a positive whole number")),
        };
        let valid_hours = match text("validHours").as_str() {
            "" => DEFAULT_VALID_HOURS,
            raw => match raw.parse::<u32>() {
                Ok(hours) if (1..=MAX_VALID_HOURS).contains(&hours) => hours,
                Ok(hours) if hours > MAX_VALID_HOURS => {
                    return Err(TossError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "EXCEED_MAX_VALID_HOURS",
                        "가상 계좌의 최대 유효시간을 초과했습니다.",
                    ));
                }
                _ => return Err(TossError::invalid_request("validHours must be 1 to 720")),
            },
        };
        let customer_name = match text("customerName") {
            name if name.is_empty() => "구매자".to_owned(),
            name => name,
        };
        Ok(Checkout {
            order_id,
            order_name,
            amount,
            success_url: http_url(params, "successUrl")?,
            fail_url: http_url(params, "failUrl")?,
            customer_name,
            valid_hours,
        })
    }
}

/// `GET /v1/checkout?clientKey=&orderId=&orderName=&amount=&successUrl=&failUrl=…`: the window.
pub async fn page(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let params = parse_query(raw.as_deref());
    let checkout = match Checkout::from_query(&params, &app.keys.client_key) {
        Ok(checkout) => checkout,
        Err(error) => return error.into_response(),
    };
    let action = format!("/v1/checkout?{}", raw.unwrap_or_default());
    Html(render_page(&checkout, &action)).into_response()
}

/// `POST /v1/checkout?<same query>` with `outcome=approve|reject|virtual_account`: the buyer's
/// choice, answered with a 303 to the success or fail URL.
pub async fn choose(State(app): State<AppState>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let params = parse_query(raw.as_deref());
    let checkout = match Checkout::from_query(&params, &app.keys.client_key) {
        Ok(checkout) => checkout,
        Err(error) => return error.into_response(),
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let method = match form.get("outcome").map(String::as_str) {
        Some("approve") => Some(METHOD_CARD),
        Some("virtual_account") => Some(METHOD_VIRTUAL_ACCOUNT),
        Some("reject") => None,
        _ => return TossError::invalid_request("outcome must be approve, reject or virtual_account").into_response(),
    };

    let mut store = app.store();
    if store.order_taken(&checkout.order_id) {
        return fail_redirect(
            &checkout,
            "DUPLICATED_ORDER_ID",
            "이미 승인 및 취소가 진행된 중복된 주문번호 입니다. 다른 주문번호로 진행해주세요.",
        );
    }
    let Some(method) = method else {
        info!(order_id = %checkout.order_id, "window: card rejected");
        return fail_redirect(&checkout, "REJECT_CARD_COMPANY", "결제 승인이 거절되었습니다.");
    };
    let payment = store.open_session(
        NewSession {
            order_id: checkout.order_id.clone(),
            order_name: checkout.order_name.clone(),
            amount: checkout.amount,
            method,
            customer_name: checkout.customer_name.clone(),
            valid_hours: checkout.valid_hours,
        },
        Utc::now(),
    );
    drop(store);
    info!(order_id = %checkout.order_id, method, "window: payment authorised, session open");

    let mut target = checkout.success_url;
    target
        .query_pairs_mut()
        .append_pair("paymentKey", &payment.payment_key)
        .append_pair("orderId", &checkout.order_id)
        .append_pair("amount", &checkout.amount.to_string());
    Redirect::to(target.as_str()).into_response()
}

fn fail_redirect(checkout: &Checkout, code: &str, message: &str) -> Response {
    let mut target = checkout.fail_url.clone();
    target
        .query_pairs_mut()
        .append_pair("code", code)
        .append_pair("message", message)
        .append_pair("orderId", &checkout.order_id);
    Redirect::to(target.as_str()).into_response()
}

/// Escapes text for HTML content and quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `12,345`.
fn group_thousands(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if amount < 0 { format!("-{out}") } else { out }
}

fn render_page(checkout: &Checkout, action: &str) -> String {
    let action = escape_html(action);
    let button = |outcome: &str, label: &str| {
        format!(
            r#"<form method="post" action="{action}"><input type="hidden" name="outcome" value="{outcome}"><button type="submit">{label}</button></form>"#
        )
    };
    format!(
        r#"<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Toss Payments sandbox</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; color: #191f28; }}
.amount {{ font-size: 2rem; font-weight: 700; margin: .25rem 0 1.5rem; }}
form {{ margin: .5rem 0; }}
button {{ width: 100%; padding: .8rem; font-size: 1rem; border: 0; border-radius: .5rem; background: #3182f6; color: #fff; cursor: pointer; }}
form:nth-of-type(2) button {{ background: #f04452; }}
form:nth-of-type(3) button {{ background: #4e5968; }}
.note {{ color: #6b7684; font-size: .85rem; margin-top: 2rem; }}
</style>
</head>
<body>
<p>토스페이먼츠 샌드박스 · Toss Payments sandbox</p>
<h1>{order_name}</h1>
<p class="amount">{amount}원</p>
<p>주문번호 {order_id}</p>
{card}
{reject}
{virtual_account}
<p class="note">A local test stand-in: no money moves.</p>
</body>
</html>
"#,
        order_name = escape_html(&checkout.order_name),
        amount = group_thousands(checkout.amount),
        order_id = escape_html(&checkout.order_id),
        card = button("approve", "Pay by card"),
        reject = button("reject", "Card rejected"),
        virtual_account = button("virtual_account", "Virtual account"),
    )
}

/// `GET /sandbox/receipts/{paymentKey}`: what `Payment.receipt.url` points at.
pub fn render_receipt(payment: &crate::model::Payment) -> Response {
    let status = serde_json::to_value(payment.status).unwrap_or_default();
    let html = format!(
        r#"<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>영수증</title></head><body>
<h1>매출전표 (sandbox)</h1><p>{order_name}</p><p>{amount}원 · {method}</p><p>{status}</p><p>{order_id}</p></body></html>
"#,
        order_name = escape_html(&payment.order_name),
        amount = group_thousands(payment.total_amount),
        method = escape_html(payment.method.as_deref().unwrap_or_default()),
        status = escape_html(status.as_str().unwrap_or_default()),
        order_id = escape_html(&payment.order_id),
    );
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_follow_toss() {
        assert!(valid_order_id("order_1-AB"));
        assert!(!valid_order_id("short"));
        assert!(!valid_order_id(&"x".repeat(65)));
        assert!(!valid_order_id("has space"));
        assert!(!valid_order_id("주문번호123456"));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(1), "1");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(1234567), "1,234,567");
    }
}
