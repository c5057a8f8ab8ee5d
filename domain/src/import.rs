//! The CSV files of SPEC §7: the columns an import reads and an export writes, how a header names
//! them, and how a row's cells become a [`NewAccount`]. Reading is the `csv` crate's (RFC 4180:
//! quoted fields, doubled quotes, line breaks inside quotes; CRLF or LF); a UTF-8 byte-order mark
//! is skipped. Spreadsheets set to a language that writes decimal commas (German, French Excel)
//! separate cells with `;`: a header line with a `;` and no `,` is read that way.
//!
//! A header names a column case-, space-, `_`- and `-`-insensitively (`First Name` =
//! `first_name` = `FIRST-NAME`), or by one of the names other products' exports use
//! ([`column_named`]). A column Roster does not know is skipped and reported; a known one twice,
//! or a file without `email`, `first_name` or `last_name`, refuses the whole file.
//!
//! Each cell is trimmed and read back with [`spreadsheet::restore`], so a cell an export
//! neutralised (`'=HYPERLINK(…)`) imports as it was. An empty optional cell means "not given":
//! the username defaults to the email, the role to the settings' default role, `active` to true,
//! the locale to the settings' locale. A row of empty cells (spreadsheets leave them at the end)
//! is skipped; a row with a non-empty cell past the header's columns is rejected, since it is
//! most often a name with an unquoted comma that shifted every cell after it.

use std::{borrow::Cow, io::Read};

use crate::{account::Account, services::NewAccount, spreadsheet, FieldError};

/// A column of the import and export files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    FirstName,
    LastName,
    Email,
    Role,
    Active,
    Username,
    Locale,
    Location,
    ErpId,
}

impl Column {
    /// The template's order, which is also the export's.
    pub const ALL: [Column; 9] = [
        Column::FirstName,
        Column::LastName,
        Column::Email,
        Column::Role,
        Column::Active,
        Column::Username,
        Column::Locale,
        Column::Location,
        Column::ErpId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::FirstName => "first_name",
            Column::LastName => "last_name",
            Column::Email => "email",
            Column::Role => "role",
            Column::Active => "active",
            Column::Username => "username",
            Column::Locale => "locale",
            Column::Location => "location",
            Column::ErpId => "erp_id",
        }
    }

    fn required(self) -> bool {
        matches!(self, Column::FirstName | Column::LastName | Column::Email)
    }
}

/// The column a header names: by its name folded (lower case, without spaces, `_`, `-` or `.`),
/// or by the names other products' exports and people's spreadsheets use for it.
pub fn column_named(header: &str) -> Option<Column> {
    let folded: String = header
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    Some(match folded.as_str() {
        "firstname" | "givenname" | "forename" | "first" => Column::FirstName,
        "lastname" | "surname" | "familyname" | "last" => Column::LastName,
        "email" | "emailaddress" | "mail" => Column::Email,
        "role" | "roles" | "portalrole" | "userrole" => Column::Role,
        "active" | "enabled" | "isactive" => Column::Active,
        "username" | "login" | "loginname" | "userlogin" => Column::Username,
        "locale" | "language" | "lang" => Column::Locale,
        "location" | "office" => Column::Location,
        "erpid" | "employeeid" | "employeenumber" | "personnelnumber" => Column::ErpId,
        _ => return None,
    })
}

/// The role names a `role` cell gives: names separated by `;` (an export writes an account's
/// roles so), `Administrator` for `admin` and `User` for `user` as other products write them;
/// matched against the catalog by the caller. Empty: none given.
pub fn role_names(cell: &str) -> Vec<String> {
    cell.split(';')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| match r.to_lowercase().as_str() {
            "administrator" => "admin".to_owned(),
            "user" => "user".to_owned(),
            _ => r.to_owned(),
        })
        .collect()
}

/// An `active` cell: `true/false`, `yes/no`, `1/0`, any case; empty: not given.
pub fn active(cell: &str) -> Result<Option<bool>, FieldError> {
    match cell.to_lowercase().as_str() {
        "" => Ok(None),
        "true" | "yes" | "1" => Ok(Some(true)),
        "false" | "no" | "0" => Ok(Some(false)),
        _ => Err(FieldError::new(
            "active",
            "invalid_boolean",
            format!("{cell:?} is not one of true, false, yes, no, 1, 0"),
        )),
    }
}

/// A row read: its line, numbered as a spreadsheet numbers its rows (the header is line 1, the
/// first row line 2; a cell with a line break inside quotes does not start another), and the
/// account it asks for, or why it cannot be one.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub account: Result<NewAccount, Vec<FieldError>>,
}

/// Reads an import file row by row; see the module's documentation for the rules.
pub struct Rows<R: Read> {
    reader: csv::Reader<R>,
    columns: Vec<Option<Column>>,
    ignored: Vec<String>,
    record: csv::StringRecord,
    /// The records read, the header included.
    read: u64,
}

/// A problem with the whole file, reported as `file` in a 422's `errors`.
fn file_error(code: &'static str, message: impl Into<String>) -> crate::Error {
    crate::Error::Validation(vec![FieldError::new("file", code, message)])
}

fn read_error(e: csv::Error) -> crate::Error {
    match e.kind() {
        csv::ErrorKind::Utf8 { pos, .. } => file_error(
            "not_utf8",
            format!(
                "row {} is not UTF-8 text; save the file as \"CSV UTF-8\"",
                pos.as_ref().map(|p| p.record() + 1).unwrap_or(1)
            ),
        ),
        _ => file_error("unreadable_csv", e.to_string()),
    }
}

impl<R: Read> Rows<R> {
    /// Reads the header (after `first_line`, the file's first bytes, which decide the delimiter)
    /// and checks its columns.
    pub fn new(first_line: &[u8], input: R) -> crate::Result<Self> {
        let semicolons = first_line.iter().filter(|&&b| b == b';').count();
        let commas = first_line.iter().filter(|&&b| b == b',').count();
        let delimiter = if semicolons > 0 && commas == 0 {
            b';'
        } else {
            b','
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut header = csv::StringRecord::new();
        if !reader.read_record(&mut header).map_err(read_error)? {
            return Err(file_error(
                "empty_file",
                "the file is empty; it needs a header line (GET /api/v1/users/import/template)",
            ));
        }
        let columns: Vec<Option<Column>> = header.iter().map(column_named).collect();
        let ignored = header
            .iter()
            .zip(&columns)
            .filter(|(name, c)| c.is_none() && !name.trim().is_empty())
            .map(|(name, _)| name.trim_start_matches('\u{feff}').trim().to_owned())
            .collect();
        for column in Column::ALL {
            let n = columns.iter().filter(|c| **c == Some(column)).count();
            if n > 1 {
                return Err(file_error(
                    "duplicate_column",
                    format!("the header names the column {} twice", column.name()),
                ));
            }
        }
        let missing: Vec<&str> = Column::ALL
            .iter()
            .filter(|c| c.required() && !columns.contains(&Some(**c)))
            .map(|c| c.name())
            .collect();
        if !missing.is_empty() {
            return Err(file_error(
                "missing_columns",
                format!(
                    "the header lacks the column(s) {}; it has {}",
                    missing.join(", "),
                    header
                        .iter()
                        .map(|h| format!("{:?}", h.trim_start_matches('\u{feff}')))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Ok(Self {
            reader,
            columns,
            ignored,
            record: csv::StringRecord::new(),
            read: 1,
        })
    }

    /// The header's columns that Roster does not know, as written; skipped.
    pub fn ignored_columns(&self) -> &[String] {
        &self.ignored
    }

    /// The next row that is not empty; `None` at the end of the file.
    pub fn next_row(&mut self) -> crate::Result<Option<Row>> {
        loop {
            if !self
                .reader
                .read_record(&mut self.record)
                .map_err(read_error)?
            {
                return Ok(None);
            }
            self.read += 1;
            if self.record.iter().all(|cell| cell.trim().is_empty()) {
                continue;
            }
            // Not the csv crate's line count: it counts a CRLF file's lines from the first record's
            // terminator, and leaves out lines it skipped as empty.
            return Ok(Some(Row {
                line: self.read,
                account: self.account(),
            }));
        }
    }

    fn account(&self) -> Result<NewAccount, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self
            .record
            .iter()
            .skip(self.columns.len())
            .any(|cell| !cell.trim().is_empty())
        {
            errors.push(FieldError::new(
                "row",
                "too_many_cells",
                format!(
                    "the row has more cells than the header's {} columns; quote a cell that holds a comma",
                    self.columns.len()
                ),
            ));
        }
        let mut input = NewAccount {
            origin: Some("import".into()),
            ..NewAccount::default()
        };
        for (cell, column) in self.record.iter().zip(&self.columns) {
            let Some(column) = column else { continue };
            let cell = spreadsheet::restore(cell.trim());
            let given = (!cell.is_empty()).then(|| cell.to_owned());
            match column {
                Column::FirstName => input.first_name = cell.to_owned(),
                Column::LastName => input.last_name = cell.to_owned(),
                Column::Email => input.email = cell.to_owned(),
                Column::Role => {
                    let names = role_names(cell);
                    input.roles = (!names.is_empty()).then_some(names);
                }
                Column::Active => match active(cell) {
                    Ok(v) => input.active = v,
                    Err(e) => errors.push(e),
                },
                Column::Username => input.username = given,
                Column::Locale => input.locale = given,
                Column::Location => input.location = given,
                Column::ErpId => input.erp_id = given,
            }
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }
}

/// The first line of `bytes` (at most its first 4 KB), for [`Rows::new`].
pub fn first_line(bytes: &[u8]) -> &[u8] {
    let head = &bytes[..bytes.len().min(4096)];
    match head.iter().position(|&b| b == b'\n') {
        Some(end) => &head[..end],
        None => head,
    }
}

/// The header line of the template and of an export.
pub fn header() -> [&'static str; 9] {
    Column::ALL.map(Column::name)
}

/// An account's row in an export, in [`Column::ALL`]'s order: what an import reads back as the
/// same account (roles separated by `;`).
pub fn cells(account: &Account) -> [Cow<'_, str>; 9] {
    Column::ALL.map(|column| match column {
        Column::FirstName => Cow::Borrowed(account.first_name.as_str()),
        Column::LastName => Cow::Borrowed(account.last_name.as_str()),
        Column::Email => Cow::Borrowed(account.email.as_str()),
        Column::Role => Cow::Owned(account.roles.join(";")),
        Column::Active => Cow::Borrowed(if account.active { "true" } else { "false" }),
        Column::Username => Cow::Borrowed(account.username.as_str()),
        Column::Locale => Cow::Borrowed(account.locale.as_str()),
        Column::Location => Cow::Borrowed(account.location.as_deref().unwrap_or_default()),
        Column::ErpId => Cow::Borrowed(account.erp_id.as_deref().unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> crate::Result<(Vec<Row>, Vec<String>)> {
        let bytes = text.as_bytes();
        let mut rows = Rows::new(first_line(bytes), bytes)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next_row()? {
            out.push(row);
        }
        Ok((out, rows.ignored_columns().to_vec()))
    }

    fn file_code(e: crate::Error) -> &'static str {
        match e {
            crate::Error::Validation(errors) => errors[0].code,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn headers_are_matched_loosely_and_by_other_products_names() {
        assert_eq!(column_named("First Name"), Some(Column::FirstName));
        assert_eq!(column_named("\u{feff}first_name"), Some(Column::FirstName));
        assert_eq!(column_named(" E-Mail "), Some(Column::Email));
        assert_eq!(column_named("Portal Role"), Some(Column::Role));
        assert_eq!(column_named("ERP ID"), Some(Column::ErpId));
        assert_eq!(column_named("Notes"), None);
        for column in Column::ALL {
            assert_eq!(column_named(column.name()), Some(column));
        }
    }

    #[test]
    fn an_excel_file_reads_with_its_bom_crlf_and_quotes() {
        let text = "\u{feff}First Name,Last Name,Email,Portal Role,Active,Notes\r\n\
                    \"Lima, Ana\",\"O\"\"Neil\",ana@example.org,Administrator,TRUE,x\r\n\
                    Bo,Berg,bo@example.org,,no,\r\n\
                    ,,,,,\r\n\
                    \"Multi\r\nLine\",Cy,cy@example.org,User,maybe,\r\n";
        let (rows, ignored) = rows(text).expect("reads");
        assert_eq!(ignored, ["Notes"]);
        assert_eq!(rows.len(), 3, "the empty row is skipped");
        let ana = rows[0].account.as_ref().expect("valid");
        assert_eq!(rows[0].line, 2);
        assert_eq!(
            (ana.first_name.as_str(), ana.last_name.as_str()),
            ("Lima, Ana", "O\"Neil")
        );
        assert_eq!(ana.roles.as_deref(), Some(&["admin".to_owned()][..]));
        assert_eq!(ana.active, Some(true));
        let bo = rows[1].account.as_ref().expect("valid");
        assert_eq!((bo.roles.clone(), bo.active), (None, Some(false)));
        assert_eq!(rows[2].line, 5);
        let errors = rows[2].account.as_ref().expect_err("bad boolean");
        assert_eq!(
            (errors[0].field.as_str(), errors[0].code),
            ("active", "invalid_boolean")
        );
    }

    #[test]
    fn semicolons_separate_cells_when_the_header_has_no_comma() {
        let (rows, _) = rows_ok(
            "first_name;last_name;email;role\nAna;Lima, da;ana@example.org;\"admin; user\"\n",
        );
        let ana = rows[0].account.as_ref().expect("valid");
        assert_eq!(
            (ana.last_name.as_str(), ana.email.as_str()),
            ("Lima, da", "ana@example.org")
        );
        // In a semicolon file a cell of several roles is quoted.
        assert_eq!(
            ana.roles.as_deref(),
            Some(&["admin".to_owned(), "user".to_owned()][..])
        );
    }

    fn rows_ok(text: &str) -> (Vec<Row>, Vec<String>) {
        rows(text).expect("reads")
    }

    #[test]
    fn whole_file_problems_refuse_it() {
        assert_eq!(file_code(rows("").expect_err("empty")), "empty_file");
        assert_eq!(
            file_code(rows("email,first_name\n").expect_err("no last name")),
            "missing_columns"
        );
        assert_eq!(
            file_code(rows("email,first_name,last_name,E-mail\n").expect_err("twice")),
            "duplicate_column"
        );
        let latin1 = b"email,first_name,last_name\nj@example.org,J\xe9r\xf4me,X\n";
        let mut rows = Rows::new(first_line(latin1), &latin1[..]).expect("header reads");
        assert_eq!(
            file_code(rows.next_row().expect_err("not UTF-8")),
            "not_utf8"
        );
    }

    #[test]
    fn cells_are_trimmed_restored_and_extra_cells_rejected() {
        let (rows, _) = rows_ok(
            "email,first_name,last_name,username\n\
             x@example.org,'=HYPERLINK(\"http://example.com\"),  Lima ,\n\
             y@example.org,Ana,Lima,ana,surplus\n",
        );
        let x = rows[0].account.as_ref().expect("valid");
        assert_eq!(x.first_name, "=HYPERLINK(\"http://example.com\")");
        assert_eq!((x.last_name.as_str(), &x.username), ("Lima", &None));
        let errors = rows[1].account.as_ref().expect_err("shifted");
        assert_eq!(errors[0].code, "too_many_cells");
    }

    #[test]
    fn roles_and_booleans_read_as_people_write_them() {
        assert_eq!(role_names("Administrator"), ["admin"]);
        assert_eq!(role_names(" User ; billing "), ["user", "billing"]);
        assert!(role_names(" ").is_empty());
        assert_eq!(active("YES"), Ok(Some(true)));
        assert_eq!(active("0"), Ok(Some(false)));
        assert_eq!(active(""), Ok(None));
        assert!(active("y").is_err());
    }
}
