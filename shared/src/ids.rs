//! UUIDv7 id newtypes: time-ordered (good B-tree locality), and one type per thing so a
//! `SeatId` can never be passed where an `EventId` is expected.

/// Declares an id newtype over a UUIDv7.
#[macro_export]
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// An event (one performance), owned by the ticket role.
    EventId
);
id_type!(
    /// One seat of one event.
    SeatId
);
id_type!(
    /// A hold on seats, later paid (confirmed) or released; owned by the ticket role.
    ReservationId
);
id_type!(
    /// A payment order; its text form is the Toss `orderId` (36 characters of `[0-9a-f-]`).
    OrderId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_ordered_by_creation() {
        let a = UserId::new();
        let b = UserId::new();
        assert_eq!(a.0.get_version_num(), 7);
        assert!(a < b);
        assert_eq!(a.to_string().parse::<UserId>().ok(), Some(a));
    }
}
