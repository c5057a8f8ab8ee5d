//! Importing accounts from a CSV file (SPEC §7), over HTTP or from the command line, with one set
//! of rules ([`crate::import`] reads the file):
//!
//! - a row that cannot be an account (a cell invalid, a role unknown or not the importer's to
//!   give, a guest where the import assigns an application) is **rejected**, with each problem's
//!   line, field, code and message;
//! - a row whose username or email an account holds already, or an earlier row of the file
//!   took, is **ignored**;
//! - every other row is **uploaded**: created as an `invited` account (no password), audited on
//!   its own, assigned to the import's application instances, and sent its invitation when asked.
//!
//! All of it is one transaction through the account writer: a seat limit the new active accounts
//! would pass refuses the whole import (409) and nothing is written; so does a failure part way,
//! or the process dying. A dry run does the same work and rolls it back, so it answers what the
//! import would do, the seat check included. The existence check runs in the transaction; an
//! account a concurrent request creates between it and the insert fails the insert, and the
//! import runs again from the start, finding it then.

use std::{collections::HashSet, io::Read, sync::Arc, time::Duration};

use serde_json::json;
use uuid::Uuid;

use super::{accounts::snapshot, assignments::check_instances, Credential, Services};
use crate::{
    account::Account,
    assignments::new_assignments,
    audit::{action, Actor, AuditEvent, Origin},
    import::{Row, Rows},
    outbox::MessageKind,
    ports::Tx,
    roles::{Permission, ADMIN, GUEST},
    settings::Settings,
    Error, FieldError, Result,
};

/// Rows validated, checked and inserted at a time; a large file's audit events are written after
/// each chunk rather than held to the end.
const CHUNK: usize = 5_000;
/// How long an import over HTTP may take (a request's other steps get the database deadline, 3 s
/// by default): a file of the default size (100 KB) takes a fraction of a second, a raised limit
/// more. The command line has no bound.
const HTTP_IMPORT_ALLOWED: Duration = Duration::from_secs(120);
/// How long an import from the command line may take: no bound in practice (a million rows take
/// about a minute).
const CLI_IMPORT_ALLOWED: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often an import runs again when a concurrent request took a username or email it was
/// about to insert.
const ATTEMPTS: usize = 3;

/// What to do besides creating the accounts.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Do everything, then roll it back.
    pub dry_run: bool,
    /// Queue each new account's invitation email (through the outbox).
    pub send_invitations: bool,
    /// Assign every new account to these instances of this application.
    pub application: Option<Uuid>,
    pub instances: Vec<Uuid>,
    /// Keep each uploaded row in the report (the command line keeps only the problems).
    pub list_uploaded: bool,
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// Created (or, in a dry run, would be; then without an id).
    Uploaded {
        id: Option<Uuid>,
        username: String,
    },
    /// Its username or email exists: `username_taken`, `email_taken`, or `duplicate_in_file`
    /// when an earlier row of the file has it.
    Ignored {
        field: &'static str,
        code: &'static str,
    },
    Rejected(Vec<FieldError>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRow {
    pub line: u64,
    pub outcome: RowOutcome,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub uploaded: u64,
    pub ignored: u64,
    pub rejected: u64,
    /// Every ignored and rejected row, and the uploaded ones when asked.
    pub rows: Vec<ImportedRow>,
    /// Header columns Roster does not know, skipped.
    pub ignored_columns: Vec<String>,
    pub dry_run: bool,
}

/// Where an import's file comes from: opened again from its start if the import runs again.
pub type ImportSource = Box<dyn FnMut() -> Result<(Vec<u8>, Box<dyn Read>)> + Send>;

/// Told how many rows have been read, as the import goes.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Who imports: an admin's request, or the command line (the system, with every right).
struct Importer {
    actor: Actor,
    id: Option<Uuid>,
    admin: bool,
}

impl Services {
    /// An import by `credential`'s caller, who needs `users:write`. `bytes`: the whole file.
    pub async fn import_accounts(
        &self,
        credential: Credential,
        bytes: Vec<u8>,
        options: ImportOptions,
        origin: Origin,
    ) -> Result<ImportReport> {
        let bytes = Arc::new(bytes);
        self.long_database(HTTP_IMPORT_ALLOWED, move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersWrite)?;
            let importer = Importer {
                actor: Actor::caller(&caller),
                id: Some(caller.id),
                admin: caller.is_admin(),
            };
            let source: ImportSource = Box::new(move || {
                let first = crate::import::first_line(&bytes).to_vec();
                Ok((
                    first,
                    Box::new(SharedBytes(bytes.clone(), 0)) as Box<dyn Read>,
                ))
            });
            s.import_with(&importer, source, &options, &origin, None)
        })
        .await
    }

    /// An import from the command line: the system imports, as any admin could.
    pub async fn import_accounts_as_system(
        &self,
        source: ImportSource,
        options: ImportOptions,
        origin: Origin,
        progress: Progress,
    ) -> Result<ImportReport> {
        self.long_database(CLI_IMPORT_ALLOWED, move |s| {
            let importer = Importer {
                actor: Actor::system(),
                id: None,
                admin: true,
            };
            s.import_with(&importer, source, &options, &origin, Some(progress))
        })
        .await
    }

    fn import_with(
        &self,
        importer: &Importer,
        mut source: ImportSource,
        options: &ImportOptions,
        origin: &Origin,
        progress: Option<Progress>,
    ) -> Result<ImportReport> {
        if options.application.is_none() && !options.instances.is_empty() {
            return Err(Error::invalid(
                "application",
                "required",
                "instances are of an application: name it too",
            ));
        }
        if options.application.is_some() && options.instances.is_empty() {
            return Err(Error::invalid(
                "instances",
                "required",
                "name the application's instances to assign the new accounts to",
            ));
        }
        // Whole-file problems (the header) answer before any transaction.
        let (first, input) = source()?;
        Rows::new(&first, input)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut work = |tx: &mut dyn Tx| {
                let (first, input) = source()?;
                let mut rows = Rows::new(&first, input)?;
                self.import_rows(tx, importer, &mut rows, options, origin, progress.as_ref())
            };
            let done = if options.dry_run {
                self.store.rehearse(&mut work)
            } else {
                self.store.write(&mut work)
            };
            match done {
                Err(Error::UsernameTaken | Error::EmailTaken) if attempt < ATTEMPTS => continue,
                other => return other,
            }
        }
    }

    fn import_rows(
        &self,
        tx: &mut dyn Tx,
        importer: &Importer,
        rows: &mut Rows<Box<dyn Read>>,
        options: &ImportOptions,
        origin: &Origin,
        progress: Option<&Progress>,
    ) -> Result<ImportReport> {
        let settings = tx.load_settings()?;
        if let Some(application) = options.application {
            check_instances(tx, application, &options.instances, "instances")?;
        }
        let mut report = ImportReport {
            ignored_columns: rows.ignored_columns().to_vec(),
            dry_run: options.dry_run,
            ..ImportReport::default()
        };
        let mut seen = Seen::default();
        let mut read = 0;
        loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            while chunk.len() < CHUNK {
                match rows.next_row()? {
                    Some(row) => chunk.push(row),
                    None => break,
                }
            }
            if chunk.is_empty() {
                break;
            }
            read += chunk.len() as u64;
            let accounts = self.check_rows(importer, &settings, options, chunk, &mut report);
            let accounts = seen.keep_new(tx, accounts, &mut report)?;
            self.create(tx, importer, options, origin, &accounts, &mut report)?;
            // A large file's events are written as it goes, not all held to the commit.
            tx.flush_effects()?;
            if let Some(progress) = progress {
                progress(read);
            }
        }
        if !options.dry_run {
            tx.effects().audit(
                AuditEvent::new(importer.actor.clone(), action::USERS_IMPORTED, origin).details(
                    json!({
                        "uploaded": report.uploaded,
                        "ignored": report.ignored,
                        "rejected": report.rejected,
                        "application_id": options.application,
                        "instance_ids": options.instances,
                        "invitations_sent": options.send_invitations,
                    }),
                ),
            );
        }
        report.rows.sort_by_key(|r| r.line);
        Ok(report)
    }

    /// The rows that can be accounts, each with its line; the others recorded as rejected.
    fn check_rows(
        &self,
        importer: &Importer,
        settings: &Settings,
        options: &ImportOptions,
        chunk: Vec<Row>,
        report: &mut ImportReport,
    ) -> Vec<(u64, Account)> {
        let mut valid = Vec::with_capacity(chunk.len());
        for row in chunk {
            let checked = row.account.and_then(|mut input| {
                if let Some(roles) = &mut input.roles {
                    // Catalog names in any case: `Billing` names `billing`.
                    for role in roles.iter_mut() {
                        if let Some(known) = self.catalog.get_ignoring_case(role) {
                            *role = known.name.clone();
                        }
                    }
                }
                let (mut account, _) =
                    self.parse_new(input, settings, "import")
                        .map_err(|e| match e {
                            Error::Validation(errors) => errors,
                            other => vec![FieldError::new("row", "invalid", other.to_string())],
                        })?;
                if account.roles.iter().any(|r| r == ADMIN) && !importer.admin {
                    return Err(vec![FieldError::new(
                        "role",
                        "admin_role_required",
                        "only an admin may give the admin role",
                    )]);
                }
                if options.application.is_some() && account.roles.iter().any(|r| r == GUEST) {
                    return Err(vec![FieldError::new(
                        "role",
                        "guest_not_assignable",
                        "a guest cannot be assigned to an application; import guests separately",
                    )]);
                }
                account.created_by = importer.id;
                account.updated_by = importer.id;
                Ok(account)
            });
            match checked {
                Ok(account) => valid.push((row.line, account)),
                Err(errors) => {
                    report.rejected += 1;
                    let errors = errors
                        .into_iter()
                        .map(|e| match e.field.as_str() {
                            // The file's column is `role`, the API's field `roles`.
                            "roles" => FieldError {
                                field: "role".into(),
                                ..e
                            },
                            _ => e,
                        })
                        .collect();
                    report.rows.push(ImportedRow {
                        line: row.line,
                        outcome: RowOutcome::Rejected(errors),
                    });
                }
            }
        }
        valid
    }

    /// Inserts the new accounts (the writer checks seats), records each, assigns them and queues
    /// their invitations.
    fn create(
        &self,
        tx: &mut dyn Tx,
        importer: &Importer,
        options: &ImportOptions,
        origin: &Origin,
        accounts: &[(u64, Account)],
        report: &mut ImportReport,
    ) -> Result<()> {
        if accounts.is_empty() {
            return Ok(());
        }
        let new: Vec<Account> = accounts.iter().map(|(_, a)| a.clone()).collect();
        for account in &new {
            tx.effects().audit(
                AuditEvent::new(importer.actor.clone(), action::USER_CREATED, origin)
                    .on_account(account)
                    .details(snapshot(account)),
            );
        }
        tx.insert_accounts(&new)?;
        if let Some(application) = options.application {
            let users: Vec<Uuid> = new.iter().map(|a| a.id).collect();
            let now = crate::now();
            for &instance in &options.instances {
                tx.lock_instance(instance)?;
                let current = tx.instance_assignments(instance)?;
                let added = new_assignments(&current, application, instance, &users, now);
                tx.insert_assignments(&added)?;
                for assignment in added {
                    let label = new
                        .iter()
                        .find(|a| a.id == assignment.user_id)
                        .map(|a| a.username.as_str().to_owned());
                    tx.effects().audit(
                        AuditEvent::new(
                            importer.actor.clone(),
                            action::ASSIGNMENT_ASSIGNED,
                            origin,
                        )
                        .on("user", Some(assignment.user_id), label)
                        .details(json!({
                            "application_id": application,
                            "instance_id": instance,
                            "instance_role": assignment.role.as_str(),
                        })),
                    );
                }
            }
        }
        for account in &new {
            if options.send_invitations {
                // A new account's links are of generation 0.
                self.email_link(tx, account, MessageKind::Invitation, 0);
            }
        }
        report.uploaded += new.len() as u64;
        if options.list_uploaded {
            report
                .rows
                .extend(accounts.iter().map(|(line, account)| ImportedRow {
                    line: *line,
                    outcome: RowOutcome::Uploaded {
                        id: (!options.dry_run).then_some(account.id),
                        username: account.username.as_str().to_owned(),
                    },
                }));
        }
        Ok(())
    }
}

/// The usernames and emails (by key) the file's rows have taken so far.
#[derive(Default)]
struct Seen {
    usernames: HashSet<String>,
    emails: HashSet<String>,
}

impl Seen {
    /// Of `accounts`, those whose username and email no account holds and no earlier row took;
    /// the others recorded as ignored.
    fn keep_new(
        &mut self,
        tx: &mut dyn Tx,
        accounts: Vec<(u64, Account)>,
        report: &mut ImportReport,
    ) -> Result<Vec<(u64, Account)>> {
        let usernames: Vec<String> = accounts.iter().map(|(_, a)| a.username.key()).collect();
        let emails: Vec<String> = accounts.iter().map(|(_, a)| a.email.key()).collect();
        let (taken_usernames, taken_emails) = tx.taken_logins(&usernames, &emails)?;
        let mut kept = Vec::with_capacity(accounts.len());
        for ((line, account), (username, email)) in
            accounts.into_iter().zip(usernames.into_iter().zip(emails))
        {
            // The email first: a username the file leaves out is the email. An earlier row
            // before the database, which holds the accounts of earlier chunks too.
            let ignored = if self.emails.contains(&email) {
                Some(("email", "duplicate_in_file"))
            } else if taken_emails.contains(&email) {
                Some(("email", "email_taken"))
            } else if self.usernames.contains(&username) {
                Some(("username", "duplicate_in_file"))
            } else if taken_usernames.contains(&username) {
                Some(("username", "username_taken"))
            } else {
                None
            };
            match ignored {
                Some((field, code)) => {
                    report.ignored += 1;
                    report.rows.push(ImportedRow {
                        line,
                        outcome: RowOutcome::Ignored { field, code },
                    });
                }
                None => {
                    self.usernames.insert(username);
                    self.emails.insert(email);
                    kept.push((line, account));
                }
            }
        }
        Ok(kept)
    }
}

/// The request's file, read again from its start by each run of the import.
struct SharedBytes(Arc<Vec<u8>>, usize);

impl Read for SharedBytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.0.get(self.1..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.1 += n;
        Ok(n)
    }
}
