//! What the services report as they work, for an operator's metrics (`GET /metrics`): how sign-ins
//! end and when an account locks. The domain only reports, after the unit of work committed (a
//! transaction run again on a collision reports once); the API counts.

/// The step of a sign-in an outcome belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignInStep {
    /// `POST /auth/login`: a login and a password.
    Password,
    /// `POST /auth/challenge/mfa`: a code from the second factor (or a recovery code).
    Mfa,
}

impl SignInStep {
    pub const ALL: [SignInStep; 2] = [SignInStep::Password, SignInStep::Mfa];

    pub fn as_str(self) -> &'static str {
        match self {
            SignInStep::Password => "password",
            SignInStep::Mfa => "mfa",
        }
    }
}

/// Receives the services' reports. Called on the database threads: an implementation only counts.
pub trait Telemetry: Send + Sync {
    /// A sign-in step ended. `outcome`: `succeeded` (a session), `challenged` (another step to
    /// meet), `error` (Roster could not decide: database or queue), or the reason it was refused
    /// as the audit trail records it (`wrong_password`, `unknown_login`, `locked`, …).
    fn sign_in(&self, step: SignInStep, outcome: &'static str);
    /// Failed sign-ins locked an account (SPEC §4).
    fn locked_out(&self);
}

/// Reports to nobody: services that nobody watches (the CLI, tests).
pub struct Unobserved;

impl Telemetry for Unobserved {
    fn sign_in(&self, _: SignInStep, _: &'static str) {}
    fn locked_out(&self) {}
}
