//! One module per resource; `configure` registers every handler through utoipa-actix-web, so the
//! OpenAPI document cannot miss a route.

mod account_json;
mod api_tokens;
mod applications;
mod assignments;
mod audit;
mod auth;
mod bulk;
mod groups;
mod health;
mod invitations;
mod me;
mod mfa;
mod outbox;
mod reports;
mod roles;
mod settings;
mod setup;
pub(crate) mod users;

use serde::{Deserialize, Deserializer};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::root)
        .service(health::healthz)
        .service(health::readyz)
        .service(crate::metrics::scrape)
        .service(
            scope::scope("/api/v1")
                .service(setup::get_setup)
                .service(setup::run_setup)
                .service(auth::login)
                .service(auth::complete_set_password)
                .service(auth::complete_mfa_challenge)
                .service(auth::start_challenge_enrollment)
                .service(auth::confirm_challenge_enrollment)
                .service(auth::refresh)
                .service(auth::logout)
                .service(auth::inspect_token)
                .service(auth::activate)
                .service(auth::reset_password)
                .service(auth::forgot_password)
                .service(me::get_me)
                .service(me::update_me)
                .service(me::change_my_password)
                .service(me::list_my_sessions)
                .service(me::revoke_my_sessions)
                .service(me::revoke_my_session)
                .service(mfa::start_totp_enrollment)
                .service(mfa::confirm_totp_enrollment)
                .service(mfa::remove_totp)
                .service(mfa::regenerate_recovery_codes)
                .service(users::list_users)
                .service(bulk::import_template)
                .service(bulk::import_users)
                .service(bulk::export_users)
                .service(bulk::bulk_update_users)
                .service(bulk::bulk_delete_users)
                .service(bulk::bulk_unlock_users)
                .service(bulk::bulk_reset_passwords)
                .service(users::count_users)
                .service(users::create_user)
                .service(invitations::invite_users)
                .service(users::get_user)
                .service(users::update_user)
                .service(users::delete_user)
                .service(users::reissue_activation)
                .service(users::revoke_activation)
                .service(users::reset_password)
                .service(users::revoke_password_reset)
                .service(users::unlock_user)
                .service(mfa::issue_mfa_one_time_password)
                .service(mfa::remove_user_mfa)
                .service(me::list_user_sessions)
                .service(me::revoke_user_sessions)
                .service(api_tokens::list_my_api_tokens)
                .service(api_tokens::create_my_api_token)
                .service(api_tokens::revoke_my_api_token)
                .service(api_tokens::list_user_api_tokens)
                .service(api_tokens::create_user_api_token)
                .service(api_tokens::revoke_user_api_token)
                .service(applications::list_applications)
                .service(applications::create_application)
                .service(applications::get_application)
                .service(applications::rename_application)
                .service(applications::delete_application)
                .service(applications::list_instances)
                .service(applications::create_instance)
                .service(applications::get_instance)
                .service(applications::rename_instance)
                .service(applications::delete_instance)
                .service(assignments::assign)
                .service(assignments::unassign)
                .service(assignments::enable_assignments)
                .service(assignments::disable_assignments)
                .service(assignments::list_user_assignments)
                .service(assignments::remove_user_assignment)
                .service(groups::list_groups)
                .service(groups::create_group)
                .service(groups::get_group)
                .service(groups::rename_group)
                .service(groups::delete_group)
                .service(groups::add_group_members)
                .service(groups::remove_group_members)
                .service(groups::list_group_members)
                .service(groups::list_user_groups)
                .service(audit::verify_audit_chain)
                .service(audit::list_audit_events)
                .service(reports::report_assignments)
                .service(reports::report_deletions)
                .service(reports::report_logins)
                .service(reports::report_users)
                .service(outbox::list_outbox)
                .service(outbox::retry_outbox_message)
                .service(roles::list_roles)
                .service(settings::get_settings)
                .service(settings::update_settings),
        );
}

/// For PATCH bodies: a field that is absent stays `None`; `null` becomes `Some(None)`.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
