//! What a check finds: one [`Finding`] per [`Invariant`] (holds, violated with the offending ids,
//! not checked and why, or broken by an error), and the [`Report`] that prints them and decides
//! the exit code.

use std::fmt;

/// How many offenders a violated invariant lists; the total is always given.
pub const MAX_SHOWN: usize = 20;

/// The invariants, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Invariant {
    /// No seat sold twice or held by two; seat rows and reservations agree both ways.
    Seats,
    /// Every payment captured at Toss belongs to a confirmed reservation or was cancelled at Toss,
    /// and every confirmed reservation has money still captured at Toss.
    TossCaptures,
    /// No paid order lost: paid orders end confirmed or refunded, every Toss capture is known to
    /// the payment role, and every confirmed reservation has its paid order.
    PaidOrders,
    /// Admitted buyers never exceed an event's `max_active`.
    Admissions,
    /// Every webhook delivery is stored once and applied once.
    Webhooks,
    /// Every outbox event is published and reached every consumer that records it.
    Outbox,
    /// The stats role's projections (and the admin stats API) equal the ground truth.
    Stats,
}

impl Invariant {
    pub const ALL: [Invariant; 7] = [
        Invariant::Seats,
        Invariant::TossCaptures,
        Invariant::PaidOrders,
        Invariant::Admissions,
        Invariant::Webhooks,
        Invariant::Outbox,
        Invariant::Stats,
    ];

    /// The short name printed and matched on.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::Seats => "seats",
            Invariant::TossCaptures => "toss-captures",
            Invariant::PaidOrders => "paid-orders",
            Invariant::Admissions => "admissions",
            Invariant::Webhooks => "webhooks",
            Invariant::Outbox => "outbox",
            Invariant::Stats => "stats",
        }
    }

    /// What the invariant promises, in one line.
    pub fn promise(self) -> &'static str {
        match self {
            Invariant::Seats => "no seat sold twice or held by two; seats and reservations agree both ways",
            Invariant::TossCaptures => "every Toss capture pays a confirmed reservation or was cancelled at Toss",
            Invariant::PaidOrders => "no paid order lost; every Toss capture is known to the payment role",
            Invariant::Admissions => "admitted buyers never exceed max_active",
            Invariant::Webhooks => "every webhook delivery applied exactly once",
            Invariant::Outbox => "every outbox event published and recorded by every consumer",
            Invariant::Stats => "stats totals equal the ground truth",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Offending ids found while checking one invariant: the first [`MAX_SHOWN`] kept, all counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Offences {
    pub total: usize,
    pub shown: Vec<String>,
}

impl Offences {
    pub fn push(&mut self, offence: impl Into<String>) {
        self.total += 1;
        if self.shown.len() < MAX_SHOWN {
            self.shown.push(offence.into());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// The verdict on one invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Holds,
    Violated(Offences),
    /// An input it needs was not given (no Redis URL, no waiting-room event in scope…).
    NotChecked(String),
    /// A store could not be read: as loud as a violation, since nothing is known.
    Error(String),
}

/// One invariant's verdict, what was looked at, and what could not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub invariant: Invariant,
    pub outcome: Outcome,
    /// What was examined ("12 seats, 5 reservations") and the parts left out, with why.
    pub notes: Vec<String>,
}

impl Finding {
    /// The verdict from what a check collected: violated if anything offends, else holds.
    pub fn from_offences(invariant: Invariant, offences: Offences, notes: Vec<String>) -> Self {
        let outcome = if offences.is_empty() { Outcome::Holds } else { Outcome::Violated(offences) };
        Finding { invariant, outcome, notes }
    }

    pub fn not_checked(invariant: Invariant, reason: impl Into<String>) -> Self {
        Finding { invariant, outcome: Outcome::NotChecked(reason.into()), notes: Vec::new() }
    }

    pub fn error(invariant: Invariant, error: &anyhow::Error) -> Self {
        Finding { invariant, outcome: Outcome::Error(format!("{error:#}")), notes: Vec::new() }
    }

    pub fn holds(&self) -> bool {
        self.outcome == Outcome::Holds
    }

    pub fn violated(&self) -> bool {
        matches!(self.outcome, Outcome::Violated(_))
    }
}

/// Every finding of one run, over one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `event <id>` or `all events`.
    pub scope: String,
    /// What the scope covered and left out.
    pub notes: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn finding(&self, invariant: Invariant) -> Option<&Finding> {
        self.findings.iter().find(|f| f.invariant == invariant)
    }

    /// The invariants found violated.
    pub fn violated(&self) -> Vec<Invariant> {
        self.findings.iter().filter(|f| f.violated()).map(|f| f.invariant).collect()
    }

    /// The invariants that could not be read because of an error.
    pub fn errors(&self) -> Vec<Invariant> {
        self.findings.iter().filter(|f| matches!(f.outcome, Outcome::Error(_))).map(|f| f.invariant).collect()
    }

    /// The invariants not checked for want of an input.
    pub fn not_checked(&self) -> Vec<Invariant> {
        self.findings.iter().filter(|f| matches!(f.outcome, Outcome::NotChecked(_))).map(|f| f.invariant).collect()
    }

    /// Whether the run failed: something violated or unreadable.
    pub fn failed(&self) -> bool {
        !self.violated().is_empty() || !self.errors().is_empty()
    }

    /// The one-line summary, `RESULT sale-check: <scope>: …`.
    pub fn summary(&self) -> String {
        let names = |list: Vec<Invariant>| list.iter().map(|i| i.name()).collect::<Vec<_>>().join(", ");
        let holding = self.findings.iter().filter(|f| f.holds()).count();
        let (violated, errors, skipped) = (self.violated(), self.errors(), self.not_checked());
        let verdict = if self.failed() {
            let mut parts = Vec::new();
            if !violated.is_empty() {
                parts.push(format!("{} violated ({})", violated.len(), names(violated)));
            }
            if !errors.is_empty() {
                parts.push(format!("{} unreadable ({})", errors.len(), names(errors)));
            }
            parts.push(format!("{holding} hold"));
            format!("FAILED: {}", parts.join(", "))
        } else if skipped.is_empty() {
            format!("all {holding} invariants hold")
        } else {
            format!("all {holding} checked invariants hold; not checked: {}", names(skipped))
        };
        format!("RESULT sale-check: {}: {verdict}", self.scope)
    }
}

impl fmt::Display for Report {
    /// The scope's notes, every finding with its offenders and notes, then the summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for note in &self.notes {
            writeln!(f, "{:<11} {}: {note}", "SCOPE", self.scope)?;
        }
        for finding in &self.findings {
            let invariant = finding.invariant;
            match &finding.outcome {
                Outcome::Holds => writeln!(f, "{:<11} {invariant}: {}", "HOLDS", invariant.promise())?,
                Outcome::Violated(offences) => {
                    let count = plural(offences.total, "offence");
                    writeln!(f, "{:<11} {invariant}: {} ({count})", "VIOLATED", invariant.promise())?;
                    for offence in &offences.shown {
                        writeln!(f, "{:<11} - {offence}", "")?;
                    }
                    if offences.total > offences.shown.len() {
                        writeln!(f, "{:<11} … and {} more", "", offences.total - offences.shown.len())?;
                    }
                }
                Outcome::NotChecked(reason) => writeln!(f, "{:<11} {invariant}: {reason}", "NOT CHECKED")?,
                Outcome::Error(error) => writeln!(f, "{:<11} {invariant}: could not be checked: {error}", "ERROR")?,
            }
            for note in &finding.notes {
                writeln!(f, "{:<11} note: {note}", "")?;
            }
        }
        write!(f, "{}", self.summary())
    }
}

/// `1 offence`, `2 offences`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcomes: Vec<Outcome>) -> Report {
        let findings = Invariant::ALL
            .iter()
            .zip(outcomes)
            .map(|(&invariant, outcome)| Finding { invariant, outcome, notes: Vec::new() })
            .collect();
        Report { scope: "all events".into(), notes: Vec::new(), findings }
    }

    #[test]
    fn offences_keep_twenty_and_count_all() {
        let mut offences = Offences::default();
        for i in 0..25 {
            offences.push(format!("seat {i}"));
        }
        assert_eq!((offences.total, offences.shown.len()), (25, MAX_SHOWN));
    }

    #[test]
    fn the_summary_says_all_hold_only_when_every_invariant_was_checked_and_holds() {
        let all = report(vec![Outcome::Holds; 7]);
        assert_eq!(all.summary(), "RESULT sale-check: all events: all 7 invariants hold");
        assert!(!all.failed());

        let mut outcomes = vec![Outcome::Holds; 7];
        outcomes[3] = Outcome::NotChecked("no Redis URL".into());
        let partial = report(outcomes);
        assert_eq!(
            partial.summary(),
            "RESULT sale-check: all events: all 6 checked invariants hold; not checked: admissions"
        );
        assert!(!partial.failed());

        let mut outcomes = vec![Outcome::Holds; 7];
        outcomes[0] = Outcome::Violated(Offences { total: 1, shown: vec!["seat x".into()] });
        outcomes[6] = Outcome::Error("connection refused".into());
        let failed = report(outcomes);
        assert!(failed.failed());
        assert_eq!(
            failed.summary(),
            "RESULT sale-check: all events: FAILED: 1 violated (seats), 1 unreadable (stats), 5 hold"
        );
        assert!(failed.to_string().contains("VIOLATED    seats: "), "{failed}");
        assert!(failed.to_string().contains("            - seat x"), "{failed}");
    }
}
