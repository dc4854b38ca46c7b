//! Money in Korean won. KRW has no minor unit, so an amount is a whole number of won.

use std::fmt;
use std::iter::Sum;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount of KRW. Never negative; arithmetic is checked.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, sqlx::Type, ToSchema,
)]
#[serde(try_from = "i64", into = "i64")]
#[sqlx(transparent)]
#[schema(value_type = i64)]
pub struct Money(i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("amount must not be negative")]
    Negative,
    #[error("amount is too large")]
    Overflow,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn won(amount: i64) -> Result<Self, MoneyError> {
        if amount < 0 { Err(MoneyError::Negative) } else { Ok(Self(amount)) }
    }

    pub fn as_won(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.0.checked_add(other.0).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        Money::won(self.0 - other.0)
    }

    pub fn checked_mul(self, count: u32) -> Result<Money, MoneyError> {
        self.0.checked_mul(i64::from(count)).map(Money).ok_or(MoneyError::Overflow)
    }
}

impl TryFrom<i64> for Money {
    type Error = MoneyError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Money::won(value)
    }
}

impl From<Money> for i64 {
    fn from(value: Money) -> Self {
        value.0
    }
}

impl<'a> Sum<&'a Money> for Result<Money, MoneyError> {
    fn sum<I: Iterator<Item = &'a Money>>(mut iter: I) -> Self {
        iter.try_fold(Money::ZERO, |acc, m| acc.checked_add(*m))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "₩{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_never_negative_and_never_overflows() {
        assert_eq!(Money::won(-1), Err(MoneyError::Negative));
        assert_eq!(Money::won(5).and_then(|m| m.checked_sub(Money::won(6)?)), Err(MoneyError::Negative));
        assert_eq!(Money::won(i64::MAX).and_then(|m| m.checked_add(Money::won(1)?)), Err(MoneyError::Overflow));
        assert!(serde_json::from_str::<Money>("-5").is_err());
        let total: Result<Money, _> = [Money::won(1000).unwrap(), Money::won(2500).unwrap()].iter().sum();
        assert_eq!(total.map(Money::as_won), Ok(3500));
    }
}
