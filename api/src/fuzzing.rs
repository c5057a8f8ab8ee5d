//! Entry points of the fuzz targets in `fuzz/` (`cargo fuzz`): the parsers of what clients send.
//! Each runs a parser on any input and panics when one of its properties fails, which is what a
//! fuzzer reports. `tests/fuzz_seeds.rs` runs them over the seed inputs on every test run, so a
//! target cannot rot unseen. Not part of the API.

use actix_web::web;
use domain::{
    import::{first_line, Rows},
    paging::{Position, Sort, MAX_LIMIT},
    values::{Email, Locale, Username},
};
use uuid::Uuid;

use crate::routes::users::{decode_cursor, encode_position, parse_list, ListParams};

/// The CSV import reader on any bytes: a whole-file error, or rows numbered each after the one
/// before, each an account or its (non-empty) field errors.
pub fn csv_import(data: &[u8]) {
    let Ok(mut rows) = Rows::new(first_line(data), data) else {
        return;
    };
    let mut last = 1;
    while let Ok(Some(row)) = rows.next_row() {
        assert!(row.line > last, "line {} after {last}", row.line);
        last = row.line;
        if let Err(errors) = &row.account {
            assert!(!errors.is_empty());
        }
    }
}

/// A username on any text: a value or why not; a value parses again to itself (what Roster
/// stores reads back unchanged).
pub fn username(raw: &str) {
    if let Ok(value) = Username::parse(raw) {
        assert_eq!(Username::parse(value.as_str()).as_ref(), Ok(&value));
    }
}

/// An email address on any text, as [`username`].
pub fn email(raw: &str) {
    if let Ok(value) = Email::parse(raw) {
        assert_eq!(Email::parse(value.as_str()).as_ref(), Ok(&value));
    }
}

/// A locale on any text, as [`username`].
pub fn locale(raw: &str) {
    if let Ok(value) = Locale::parse(raw) {
        assert_eq!(Locale::parse(value.as_str()).as_ref(), Ok(&value));
    }
}

/// `GET /api/v1/users?<query>`: the query string read as the list reads it (limit, sort, cursor,
/// `q`, `status`, `role`, `group`, `application`, `instance`). Any input is a query or an error;
/// a query's limit is within bounds, its search is at most 254 characters, and its cursor encodes
/// to one that reads back the same.
pub fn user_list_query(query: &str) {
    let Ok(params) = web::Query::<ListParams>::from_query(query) else {
        return;
    };
    let Ok(query) = parse_list(params.into_inner()) else {
        return;
    };
    assert!((1..=MAX_LIMIT).contains(&query.limit), "{}", query.limit);
    if let Some(after) = &query.after {
        assert_eq!(
            decode_cursor(&encode_position(query.sort, after), query.sort).ok(),
            Some(after.clone())
        );
    }
    if let Some((search, _)) = query.filter.split_search() {
        assert!(search.chars().count() <= 254);
    }
}

/// A list cursor. `input`'s lines: a cursor as a client sends it, a sort key, an id (hex), a
/// sort. Any cursor decodes to a position or `invalid_cursor`; a position (any key, any id)
/// encodes to a cursor that decodes to it again under its sort, and to nothing under another.
pub fn list_cursor(input: &str) {
    let mut lines = input.splitn(4, '\n');
    let raw = lines.next().unwrap_or_default();
    let key = lines.next().unwrap_or_default();
    let id = lines.next().unwrap_or_default();
    let id = u128::from_str_radix(id, 16).unwrap_or(id.len() as u128);
    let sort = Sort::parse(lines.next().unwrap_or_default()).unwrap_or_default();
    if let Ok(position) = decode_cursor(raw, sort) {
        assert_eq!(
            decode_cursor(&encode_position(sort, &position), sort).ok(),
            Some(position)
        );
    }
    let position = Position {
        key: key.to_owned(),
        id: Uuid::from_u128(id),
    };
    let cursor = encode_position(sort, &position);
    assert_eq!(decode_cursor(&cursor, sort).ok(), Some(position));
    for other in ["username", "-username", "email", "-created_at"] {
        let other = Sort::parse(other).unwrap_or_default();
        if other != sort {
            assert!(decode_cursor(&cursor, other).is_err());
        }
    }
}
