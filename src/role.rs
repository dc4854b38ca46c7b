//! The roles a process can run. `tiketi up` runs all of them; Kubernetes runs one per Deployment.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Auth,
    Ticket,
    Realtime,
    Payment,
    Stats,
    Worker,
}

impl Role {
    pub const ALL: &'static [Role] =
        &[Role::Auth, Role::Ticket, Role::Realtime, Role::Payment, Role::Stats, Role::Worker];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auth => "auth",
            Role::Ticket => "ticket",
            Role::Realtime => "realtime",
            Role::Payment => "payment",
            Role::Stats => "stats",
            Role::Worker => "worker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Role::ALL.iter().copied().find(|r| r.as_str() == wanted).ok_or_else(|| {
            let valid: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown role {s:?}; valid roles: {}", valid.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_lists_the_valid_roles() {
        assert_eq!("Auth".parse::<Role>(), Ok(Role::Auth));
        let err = "atuh".parse::<Role>().expect_err("typo");
        assert!(err.contains("valid roles: auth, ticket, realtime, payment, stats, worker"), "{err}");
    }
}
