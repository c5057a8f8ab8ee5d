//! How accounts' timestamps are read: SQLite keeps them as text (`2026-11-23 01:30:29.123456`),
//! which diesel parses by trying chrono format strings in turn, ~2.5 % of a read's CPU and of a
//! list page's. [`Stamp`] reads that one form directly and leaves any other to diesel.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::{
    backend::Backend,
    deserialize::{self, FromSql, FromSqlRow},
    expression::AsExpression,
    pg::Pg,
    serialize::{self, Output, ToSql},
    sql_types::Timestamp,
    sqlite::Sqlite,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, AsExpression, FromSqlRow)]
#[diesel(sql_type = Timestamp)]
pub(crate) struct Stamp(pub NaiveDateTime);

impl From<DateTime<Utc>> for Stamp {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t.naive_utc())
    }
}

impl From<Stamp> for DateTime<Utc> {
    fn from(s: Stamp) -> Self {
        s.0.and_utc()
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional fraction of up to nine digits, as diesel writes
/// timestamps to SQLite; `None` for anything else.
fn parse(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20..b.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?.and_hms_nano_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
        nanos,
    )
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(diesel::sqlite::SqliteType::Text) {
            if let Some(t) = parse(value.read_text()) {
                return Ok(Self(t));
            }
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Self)
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
    }
}

impl ToSql<Timestamp, Sqlite> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Sqlite>>::to_sql(&self.0, out)
    }
}

impl ToSql<Timestamp, Pg> for Stamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_diesel_writes_and_nothing_else() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%F %T%.f").unwrap();
        for text in [
            "2026-11-23 01:30:29",
            "2026-11-23 01:30:29.5",
            "2026-11-23 01:30:29.123",
            "2026-11-23 01:30:29.123456",
            "1999-02-28 23:59:59.000000001",
        ] {
            assert_eq!(parse(text), Some(t(text)), "{text}");
        }
        for text in [
            "2026-11-23T01:30:29",
            "2026-11-23 01:30",
            "2026-11-23 01:30:29.",
            "2026-11-23 01:30:29.1234567890",
            "2026-02-30 01:30:29",
            "2026-11-23 24:30:29",
            "2026-11-23 01:30:29+01:00",
            "2460000.5",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
