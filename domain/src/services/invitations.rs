//! Invitations (SPEC §5): many people invited at once by email, each an `invited` account with
//! the role given (or the default role), its username the email, its names taken from the email
//! until the person changes them; each gets its own result, and an invitation email with its link.

use super::{accounts::NewAccount, Credential, Services};
use crate::{
    account::Account,
    audit::Origin,
    error::{Error, Result},
    one_time::{OneTimeToken, Purpose, NONCE_BYTES},
    outbox::MessageKind,
    policy,
    roles::Permission,
    services::fields,
    values::{Email, PersonName},
    FieldError,
};

/// The most addresses one request may invite.
pub const MAX_INVITATIONS: usize = 500;
/// Invitations written per database step (each in its own transaction), so that a long list
/// stays within a step's deadline.
const PER_STEP: usize = 25;

/// What became of one address.
#[derive(Debug, Clone)]
pub enum Invitation {
    /// A new invited account, with its invitation link's token.
    Invited {
        account: Box<Account>,
        token: Option<OneTimeToken>,
    },
    /// An account with this email (or this username) exists already.
    AlreadyExists,
    /// Not an address, or one that cannot serve as a username; with why.
    InvalidEmail(String),
    /// The account would pass a seat's limit; the seat's name.
    SeatLimitReached(String),
}

/// The addresses of an invitation request: a list, or one string of addresses separated by
/// commas (or semicolons or line breaks, as mail programs copy them), blanks skipped.
pub fn split_addresses(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|entry| entry.split([',', ';', '\n', '\r']))
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

impl Services {
    /// Invites each of `addresses` with `role` (default: the settings' default role): each an
    /// account of its own, in a transaction of its own, so one address's failure is its result
    /// alone. `nonces`: one per address, to seal its link. The whole request fails only when the
    /// caller may not invite, or the role is unknown or theirs not to give.
    pub async fn invite(
        &self,
        credential: Credential,
        addresses: Vec<String>,
        role: Option<String>,
        origin: Origin,
        nonces: Vec<[u8; NONCE_BYTES]>,
    ) -> Result<Vec<(String, Invitation)>> {
        if addresses.is_empty() {
            return Err(Error::invalid(
                "emails",
                "required",
                "give at least one email address",
            ));
        }
        if addresses.len() > MAX_INVITATIONS {
            return Err(Error::invalid(
                "emails",
                "too_many",
                format!("invite at most {MAX_INVITATIONS} addresses at once"),
            ));
        }
        let mut results = Vec::with_capacity(addresses.len());
        let mut nonces = nonces.into_iter();
        for chunk in addresses.chunks(PER_STEP) {
            let chunk = chunk.to_vec();
            let role = role.clone();
            let credential = credential.clone();
            let origin = origin.clone();
            let seals: Vec<_> = nonces.by_ref().take(chunk.len()).collect();
            let done = self
                .database(move |s| {
                    let (caller, settings) = s.authenticate_with_settings(&credential)?;
                    caller.require(&s.catalog, Permission::UsersWrite)?;
                    let role = role.unwrap_or_else(|| settings.default_role.clone());
                    let roles =
                        fields::roles(&s.catalog, std::slice::from_ref(&role)).map_err(|e| {
                            Error::Validation(vec![FieldError {
                                field: "role".into(),
                                ..e
                            }])
                        })?;
                    policy::check_initial_roles(&caller, &roles)?;
                    let mut done = Vec::with_capacity(chunk.len());
                    for (address, nonce) in chunk.into_iter().zip(seals) {
                        let input = invitee(&address, &roles);
                        let mut account = match s.parse_new(input, &settings, "invitation") {
                            Ok((account, _)) => account,
                            Err(Error::Validation(errors)) => {
                                let why = errors
                                    .first()
                                    .map(|e| format!("{}: {}", e.field, e.message))
                                    .unwrap_or_default();
                                done.push((address, Invitation::InvalidEmail(why)));
                                continue;
                            }
                            Err(e) => return Err(e),
                        };
                        account.created_by = Some(caller.id);
                        account.updated_by = Some(caller.id);
                        let written = s.store.write(|tx| {
                            let created = s.insert_new(tx, &caller, account.clone(), &origin)?;
                            // A new account's links are of generation 0.
                            s.email_link(tx, &created, MessageKind::Invitation, 0);
                            Ok(created)
                        });
                        let result = match written {
                            Ok(created) => {
                                let token = s
                                    .seal_for(
                                        &created,
                                        Purpose::Invitation,
                                        0,
                                        (created.created_at, &settings.token_lifetimes),
                                        nonce,
                                    )
                                    .map(|(token, _)| token);
                                Invitation::Invited {
                                    account: Box::new(created),
                                    token,
                                }
                            }
                            Err(Error::UsernameTaken | Error::EmailTaken) => {
                                Invitation::AlreadyExists
                            }
                            Err(Error::SeatLimitReached { seat, .. }) => {
                                Invitation::SeatLimitReached(seat)
                            }
                            Err(e) => return Err(e),
                        };
                        done.push((address, result));
                    }
                    Ok(done)
                })
                .await?;
            results.extend(done);
        }
        Ok(results)
    }
}

/// The new account for an invited address: username the address (SPEC §1), names from it until
/// the person changes them (`PATCH /api/v1/me`): the first name its local part, the last name its
/// domain (each cut to the names' length).
fn invitee(address: &str, roles: &[String]) -> NewAccount {
    let normalised = Email::parse(address)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| address.to_owned());
    let (local, domain) = normalised.rsplit_once('@').unwrap_or((&normalised, ""));
    let name = |part: &str| {
        let cut: String = part.chars().take(PersonName::MAX_CHARS).collect();
        if cut.trim().is_empty() {
            "-".to_owned()
        } else {
            cut
        }
    };
    NewAccount {
        email: address.to_owned(),
        first_name: name(local),
        last_name: name(domain),
        origin: Some("invitation".into()),
        roles: Some(roles.to_vec()),
        ..NewAccount::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_as_a_list_or_separated_in_one_string() {
        let given = vec![
            "ana@example.org, bo@example.org;cy@example.org".to_owned(),
            "  ".to_owned(),
            "dee@example.org\r\neve@example.org,".to_owned(),
        ];
        assert_eq!(
            split_addresses(&given),
            [
                "ana@example.org",
                "bo@example.org",
                "cy@example.org",
                "dee@example.org",
                "eve@example.org"
            ]
        );
    }

    #[test]
    fn an_invitee_is_named_after_the_address() {
        let input = invitee("Ana.Lima@Example.ORG", &["user".into()]);
        assert_eq!(
            (input.first_name.as_str(), input.last_name.as_str()),
            ("Ana.Lima", "example.org")
        );
        assert_eq!(input.username, None);
        let odd = invitee("not an address", &[]);
        assert_eq!(
            (odd.first_name.as_str(), odd.last_name.as_str()),
            ("not an address", "-")
        );
    }
}
