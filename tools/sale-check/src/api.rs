//! The public admin stats API against the ground truth: what an operator's dashboard shows.
//!
//! `GET /api/admin/stats/overview` (per event: tickets sold, seats, gross, refunds; only the 50
//! events with the newest sale openings are listed), `GET /api/admin/stats/events/{id}/sections`
//! (sold per section) and `GET /api/admin/stats/funnel?event_id=` (reservations held, paid,
//! expired, cancelled, refunded; reservations checked out; orders partially refunded).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::report::Offences;
use crate::stats::Figures;
use crate::{AdminAuth, ApiConfig};

/// An admin session on the public API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// Signs in when given an account rather than a token.
    pub async fn connect(config: &ApiConfig) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let base = config.base_url.trim_end_matches('/').to_owned();
        let token = match &config.admin {
            AdminAuth::Token(token) => token.clone(),
            AdminAuth::Login { email, password } => {
                let url = format!("{base}/api/auth/login");
                let res = http
                    .post(&url)
                    .json(&json!({"email": email, "password": password}))
                    .send()
                    .await
                    .with_context(|| format!("signing in at {url}"))?;
                let status = res.status();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                anyhow::ensure!(status.is_success(), "signing in at {url} answered {status}: {body}");
                body["access_token"].as_str().context("the sign-in answer has no access_token")?.to_owned()
            }
        };
        Ok(Client { http, base, token })
    }

    /// A GET answered 200 with JSON; `None` for 404 (the stats role knows no such event).
    async fn get(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let res = self.http.get(&url).bearer_auth(&self.token).send().await.with_context(|| format!("GET {url}"))?;
        let status = res.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body: Value = res.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "GET {url} answered {status}: {body}");
        Ok(Some(body))
    }
}

/// Figures compared so far, and the differences found.
struct Comparison<'a> {
    truth: &'a Figures,
    offences: &'a mut Offences,
    compared: usize,
}

impl Comparison<'_> {
    /// `shown` (what the API answered for `what`) against the truth's `figure` of `event`.
    fn check(&mut self, event: Uuid, what: &str, shown: Option<i64>, figure: &str) {
        let expected = self.truth.get(&(event, figure.to_owned())).copied().unwrap_or(0);
        self.compared += 1;
        match shown {
            Some(shown) if shown == expected => {}
            Some(shown) => self
                .offences
                .push(format!("event {event}: the API's {what} is {shown}, the ground truth is {expected}")),
            None => {
                self.offences.push(format!("event {event}: the API shows no {what} (the ground truth is {expected})"))
            }
        }
    }
}

/// Compares every endpoint's figures for `events` with `truth`, adding each difference to
/// `offences`; answers how many figures were compared.
pub async fn compare(
    client: &Client,
    truth: &Figures,
    events: &BTreeSet<Uuid>,
    offences: &mut Offences,
) -> anyhow::Result<usize> {
    let mut c = Comparison { truth, offences, compared: 0 };
    let overview = client.get("/api/admin/stats/overview").await?.context("the overview answered 404")?;
    let listed = overview["events"].as_array().cloned().unwrap_or_default();
    for &event in events {
        let id = event.to_string();
        if let Some(row) = listed.iter().find(|e| e["event_id"].as_str() == Some(id.as_str())) {
            c.check(event, "overview tickets_sold", row["tickets_sold"].as_i64(), "seats sold");
            c.check(event, "overview seats_total", row["seats_total"].as_i64(), "seats total");
            c.check(event, "overview gross", row["gross"].as_i64(), "gross");
            if !row["refunds"].is_null() {
                c.check(event, "overview refunds", row["refunds"].as_i64(), "refunds");
            }
        }

        let Some(sections) = client.get(&format!("/api/admin/stats/events/{event}/sections")).await? else {
            c.offences.push(format!("event {event}: the API knows no stats for it (404)"));
            continue;
        };
        let sections = sections["sections"].as_array().cloned().unwrap_or_default();
        let in_truth: Vec<String> = truth
            .keys()
            .filter(|(e, _)| *e == event)
            .filter_map(|(_, figure)| figure.strip_prefix("seats sold in section ").map(str::to_owned))
            .collect();
        for section in in_truth {
            let shown =
                sections.iter().find(|s| s["id"].as_str() == Some(section.as_str())).and_then(|s| s["sold"].as_i64());
            c.check(event, &format!("sold in section {section}"), shown, &format!("seats sold in section {section}"));
        }

        let funnel = client.get(&format!("/api/admin/stats/funnel?event_id={event}")).await?;
        let steps = funnel.as_ref().and_then(|f| f["steps"].as_array().cloned()).unwrap_or_default();
        let step =
            |name: &str| steps.iter().find(|s| s["step"].as_str() == Some(name)).and_then(|s| s["count"].as_i64());
        for (name, figure) in [
            ("held", "reservations"),
            ("checkout", "reservations checked out"),
            ("paid", "reservations paid"),
            ("expired", "reservations expired"),
            ("cancelled", "reservations cancelled"),
            ("refunded", "reservations refunded"),
            ("partially_refunded", "orders partially_refunded"),
        ] {
            c.check(event, &format!("funnel {name}"), step(name), figure);
        }
    }
    Ok(c.compared)
}
