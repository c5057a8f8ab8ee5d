//! Invitations (SPEC §5): `POST /api/v1/invitations` invites many people at once by email.

use actix_web::{post, web, HttpResponse};
use domain::{
    one_time::Purpose,
    services::{split_addresses, Invitation},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::users::secret_response;
use crate::{
    app::AppState,
    auth::{Authorized, RequestOrigin, WriteUsers},
    error::ApiResult,
};

/// The addresses: a list, or one string of addresses separated by commas.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Addresses {
    List(Vec<String>),
    Text(String),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"emails": "ana.lima@example.org, bo.chen@example.org", "role": "user"}))]
pub struct InvitationRequest {
    /// Up to 500 addresses: a list (`["ana@example.org", …]`) or one string separated by commas
    /// (semicolons and line breaks work too, as mail programs copy addresses).
    pub emails: Addresses,
    /// The role each invited account gets; default: the settings' `default_role`. Only an admin
    /// invites admins.
    pub role: Option<String>,
}

/// What became of one address.
#[derive(Serialize, ToSchema)]
pub struct InvitationResult {
    /// The address as sent.
    pub email: String,
    /// `invited`, `already_exists` (an account has this email or username), `invalid_email`
    /// (not an address, or one that cannot serve as a username), `seat_limit_reached`.
    pub result: &'static str,
    /// `invited`: the new account (status `invited`, `last_active_at` null until it is accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    /// `invited`: the invitation link, to hand over when no mail server is configured (it is
    /// emailed when one is). Single use; 7 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_url: Option<String>,
    /// `seat_limit_reached`: the seat whose limit it would pass (`active_users`, a role, `guest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
    /// `invalid_email`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"results": [
    {"email": "ana.lima@example.org", "result": "invited", "user_id": "0193a5f2-7c1e-7b3a-9f00-2b6a1c9d4e01", "invitation_url": "https://console.example.org/invitation#token=rot_AQKTpfJ8HnszqfAAK2ocnU5f…"},
    {"email": "bo.chen@example.org", "result": "already_exists"},
    {"email": "not-an-address", "result": "invalid_email", "detail": "email: enter an email address like name@example.org"},
    {"email": "cy.diaz@example.org", "result": "seat_limit_reached", "seat": "active_users"}
]}))]
pub struct InvitationResponse {
    /// One per address, in the order sent.
    pub results: Vec<InvitationResult>,
}

/// Invite people by email
///
/// **Permission:** `users:write`; inviting with `role: admin` needs `admin`. Each address becomes
/// an `invited` account of its own (username: the address; names: its local part and domain,
/// until the person changes them), each in its own transaction, so every address gets its own
/// result: `invited`, `already_exists`, `invalid_email` or `seat_limit_reached` (seat limits apply
/// to each). Each invited account is emailed an invitation with a welcome and its link (when a
/// mail server is configured); the link is also in its result. The request as a whole fails only
/// for an unknown role (422), a role the caller may not give (403), no addresses or more than 500
/// (422).
#[utoipa::path(
    tag = "users", operation_id = "invite_users", request_body = InvitationRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "One result per address.", body = InvitationResponse),
        (status = 400, description = "`malformed_json`."),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden` (needs `users:write`), `admin_role_required` (inviting admins). `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 413, description = "`payload_too_large`."),
        (status = 415, description = "`unsupported_media_type`."),
        (status = 422, description = "`validation_failed`: `emails` empty (`required`) or over 500 (`too_many`); `role` unknown (`unknown_role`)."),
    )
)]
#[post("/invitations")]
pub async fn invite_users(
    state: web::Data<AppState>,
    auth: Authorized<WriteUsers>,
    origin: RequestOrigin,
    body: web::Json<InvitationRequest>,
) -> ApiResult<HttpResponse> {
    let InvitationRequest { emails, role } = body.into_inner();
    let addresses = split_addresses(&match emails {
        Addresses::List(list) => list,
        Addresses::Text(text) => vec![text],
    });
    let nonces = (0..addresses.len()).map(|_| rand::random()).collect();
    let outcomes = state
        .services
        .invite(auth.credential(), addresses, role, origin.0, nonces)
        .await?;
    let results = outcomes
        .into_iter()
        .map(|(email, outcome)| {
            let mut result = InvitationResult {
                email,
                result: "",
                user_id: None,
                invitation_url: None,
                seat: None,
                detail: None,
            };
            match outcome {
                Invitation::Invited { account, token } => {
                    result.result = "invited";
                    result.user_id = Some(account.id);
                    result.invitation_url = token.map(|t| state.links.url(Purpose::Invitation, &t));
                }
                Invitation::AlreadyExists => result.result = "already_exists",
                Invitation::InvalidEmail(why) => {
                    result.result = "invalid_email";
                    result.detail = Some(why);
                }
                Invitation::SeatLimitReached(seat) => {
                    result.result = "seat_limit_reached";
                    result.seat = Some(seat);
                }
            }
            result
        })
        .collect();
    Ok(secret_response(InvitationResponse { results }))
}
