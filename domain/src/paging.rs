//! Listing accounts (SPEC §10): keyset paging over a sort key and the id, so every account is
//! returned exactly once across pages even while accounts are added. Which accounts: a
//! [`Filter`].

use uuid::Uuid;

use crate::filter::Filter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Username,
    Email,
    LastName,
    /// Creation order; ids are UUID v7, so this is the id order.
    CreatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

impl Sort {
    /// `username|email|last_name|created_at`, with a leading `-` for descending order.
    pub fn parse(s: &str) -> Option<Self> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let field = match name {
            "username" => SortField::Username,
            "email" => SortField::Email,
            "last_name" => SortField::LastName,
            "created_at" => SortField::CreatedAt,
            _ => return None,
        };
        Some(Self { field, descending })
    }

    pub fn name(self) -> String {
        let field = match self.field {
            SortField::Username => "username",
            SortField::Email => "email",
            SortField::LastName => "last_name",
            SortField::CreatedAt => "created_at",
        };
        if self.descending {
            format!("-{field}")
        } else {
            field.to_owned()
        }
    }
}

impl Default for Sort {
    fn default() -> Self {
        Self {
            field: SortField::Username,
            descending: false,
        }
    }
}

/// The position after which the next page starts: the last row's sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub key: String,
    pub id: Uuid,
}

/// A validated list request: which accounts, in which order, from where, how many.
#[derive(Debug, Clone)]
pub struct UserQuery {
    pub filter: Filter,
    pub sort: Sort,
    pub after: Option<Position>,
    pub limit: u32,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
