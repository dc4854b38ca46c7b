//! `stats`: the stats role's projections equal the ground truth.
//!
//! The ground truth is the owners' tables (`ticket.seats`, `ticket.reservations`,
//! `payment.orders`, `payment.refunds`); the projections are `stats.*`, built only from events.
//! Both sides are reduced to the same named figures per event (seats sold, gross, …) and compared
//! figure by figure, a missing figure counting as 0. With an API URL the admin stats endpoints
//! are compared with the same truth ([`crate::api`]).

use std::collections::{BTreeMap, BTreeSet};

use sqlx::PgPool;
use uuid::Uuid;

use crate::Context;
use crate::api;
use crate::report::{Finding, Invariant, Offences, Outcome, plural};

/// Named figures per event: `(event, figure) → value`.
pub type Figures = BTreeMap<(Uuid, String), i64>;

/// The figures from the owners' tables; `$1` = the events in scope.
const TRUTH: &str = "
SELECT event_id, 'seats total', count(*) FROM ticket.seats WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'seats sold', count(*) FILTER (WHERE status = 'sold')
  FROM ticket.seats WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'seats sold in section ' || section_id, count(*) FILTER (WHERE status = 'sold')
  FROM ticket.seats WHERE event_id = ANY($1) GROUP BY 1, 2
UNION ALL SELECT event_id, 'reservations', count(*) FROM ticket.reservations WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'reservations ' || status, count(*)
  FROM ticket.reservations WHERE event_id = ANY($1) GROUP BY 1, 2
UNION ALL SELECT event_id, 'reservations paid', count(*) FILTER (WHERE status IN ('confirmed', 'refunded'))
  FROM ticket.reservations WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'orders', count(*) FROM payment.orders WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'orders ' || status, count(*) FROM payment.orders WHERE event_id = ANY($1) GROUP BY 1, 2
UNION ALL SELECT event_id, 'reservations checked out', count(DISTINCT reservation_id)
  FROM payment.orders WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'gross', coalesce(sum(amount) FILTER (WHERE approved_at IS NOT NULL), 0)::bigint
  FROM payment.orders WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT o.event_id, 'refunds', sum(f.amount)::bigint
  FROM payment.refunds f JOIN payment.orders o ON o.id = f.order_id
  WHERE f.status = 'done' AND o.event_id = ANY($1) GROUP BY 1";

/// The same figures from the stats role's projections.
const PROJECTED: &str = "
SELECT event_id, 'seats total', sum(seat_count)::bigint FROM stats.sections WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'seats sold', count(*) FILTER (WHERE sold_at IS NOT NULL)
  FROM stats.seats WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'seats sold in section ' || coalesce(section_id::text, 'unknown'), count(*)
  FROM stats.seats WHERE sold_at IS NOT NULL AND event_id = ANY($1) GROUP BY 1, 2
UNION ALL SELECT event_id, 'reservations', count(*) FROM stats.reservations WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'reservations ' || status, count(*)
  FROM stats.reservations WHERE event_id = ANY($1) GROUP BY 1, 2
UNION ALL SELECT event_id, 'reservations paid', count(*) FILTER (WHERE confirmed_at IS NOT NULL)
  FROM stats.reservations WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'orders', count(*) FROM stats.orders WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'orders ' || status, count(*) FROM stats.orders WHERE event_id = ANY($1) GROUP BY 1, 2
UNION ALL SELECT event_id, 'reservations checked out', count(DISTINCT reservation_id)
  FROM stats.orders WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'gross', coalesce(sum(amount) FILTER (WHERE approved_at IS NOT NULL), 0)::bigint
  FROM stats.orders WHERE event_id = ANY($1) GROUP BY 1
UNION ALL SELECT event_id, 'refunds', sum(amount)::bigint FROM stats.refunds WHERE event_id = ANY($1) GROUP BY 1";

async fn figures(pool: &PgPool, sql: &str, events: &[Uuid]) -> sqlx::Result<Figures> {
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(sql).bind(events).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(event, figure, value)| ((event, figure), value)).collect())
}

/// Every figure either side names that differs (a missing one counts as 0).
pub fn differences(truth: &Figures, other: &Figures) -> Vec<(Uuid, String, i64, i64)> {
    let keys: BTreeSet<&(Uuid, String)> = truth.keys().chain(other.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (t, o) = (truth.get(key).copied().unwrap_or(0), other.get(key).copied().unwrap_or(0));
            (t != o).then(|| (key.0, key.1.clone(), o, t))
        })
        .collect()
}

pub async fn check(ctx: &Context<'_>) -> anyhow::Result<Finding> {
    let invariant = Invariant::Stats;
    let deployed: bool =
        sqlx::query_scalar("SELECT to_regclass('stats.seats') IS NOT NULL").fetch_one(&ctx.pool).await?;
    if !deployed {
        return Ok(Finding::not_checked(invariant, "there is no stats schema in this database"));
    }
    let truth = figures(&ctx.pool, TRUTH, &ctx.events).await?;
    let projected = figures(&ctx.pool, PROJECTED, &ctx.events).await?;
    let mut offences = Offences::default();
    for (event, figure, stats, truth) in differences(&truth, &projected) {
        offences
            .push(format!("event {event}: {figure}: the stats projections say {stats}, the ground truth is {truth}"));
    }
    let events: BTreeSet<Uuid> = truth.keys().map(|(event, _)| *event).collect();
    let mut notes = vec![format!("{} compared over {}", plural(truth.len(), "figure"), plural(events.len(), "event"))];
    notes.push("waiting-room counts (joined, admitted) are not compared: their truth lives in Redis and moves".into());
    let Some(config) = &ctx.config.api else {
        notes.push("public API not compared: no API URL given (--api-url)".into());
        return Ok(Finding::from_offences(invariant, offences, notes));
    };
    let projections = offences.clone();
    let compared = match api::Client::connect(config).await {
        Ok(client) => api::compare(&client, &truth, &events, &mut offences).await,
        Err(e) => Err(e),
    };
    match compared {
        Ok(compared) => {
            notes.push(format!("public API: {} compared", plural(compared, "figure")));
            Ok(Finding::from_offences(invariant, offences, notes))
        }
        Err(e) => {
            // The API could not be read; what the projections showed is still worth saying.
            let shown = if projections.is_empty() {
                "the projections equal the ground truth".to_owned()
            } else {
                format!("the projections differ: {}", projections.shown.join("; "))
            };
            notes.push(shown);
            Ok(Finding { invariant, outcome: Outcome::Error(format!("reading the public API: {e:#}")), notes })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_one_side_lacks_counts_as_zero() {
        let event = Uuid::nil();
        let truth: Figures = [((event, "gross".into()), 100), ((event, "refunds".into()), 0)].into();
        let other: Figures = [((event, "gross".into()), 101), ((event, "orders".into()), 2)].into();
        assert_eq!(
            differences(&truth, &other),
            [(event, "gross".to_owned(), 101, 100), (event, "orders".to_owned(), 2, 0)]
        );
    }
}
