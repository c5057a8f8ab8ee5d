// The tables of migrations/{sqlite,postgres}; both backends share this one schema.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        username_key -> Text,
        email -> Text,
        email_key -> Text,
        first_name -> Text,
        first_name_key -> Text,
        last_name -> Text,
        last_name_key -> Text,
        origin -> Text,
        location -> Nullable<Text>,
        erp_id -> Nullable<Text>,
        external_key -> Nullable<Text>,
        locale -> Text,
        active -> Bool,
        mfa_required -> Bool,
        mfa_enabled -> Bool,
        expires_at -> Nullable<Timestamp>,
        email_notifications -> Bool,
        password_hash -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        created_by -> Nullable<Text>,
        updated_by -> Nullable<Text>,
        activated_at -> Nullable<Timestamp>,
        last_active_at -> Nullable<Timestamp>,
        locked_at -> Nullable<Timestamp>,
        version -> BigInt,
        roles -> Text,
        username_skeleton -> Nullable<Text>,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    user_prefixes (prefix, username_key) {
        prefix -> Text,
        username_key -> Text,
    }
}

diesel::table! {
    user_memberships (member_of, username_key) {
        member_of -> Text,
        username_key -> Text,
        sources -> Integer,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        display_prefix -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    required_actions (user_id, action) {
        user_id -> Text,
        action -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    token_generations (user_id, purpose) {
        user_id -> Text,
        purpose -> Text,
        generation -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
        idle_expires_at -> Timestamp,
        idle_seconds -> BigInt,
        address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        issued_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sign_in_challenges (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        kind -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    seat_usage (seat) {
        seat -> Text,
        seat_limit -> Nullable<BigInt>,
        debt -> BigInt,
    }
}

diesel::table! {
    seat_counts (seat, shard) {
        seat -> Text,
        shard -> Integer,
        free -> BigInt,
    }
}

diesel::table! {
    guest_seats (email_key) {
        email_key -> Text,
        taken_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        actor_username -> Nullable<Text>,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<Text>,
        target_label -> Nullable<Text>,
        address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Text,
        category -> Text,
    }
}

diesel::table! {
    audit_links (seq) {
        seq -> BigInt,
        event_id -> Text,
        prev_hash -> Text,
        hash -> Text,
        salt -> Nullable<Text>,
        digest -> Text,
    }
}

diesel::table! {
    idempotency_keys (scope, method, path, key) {
        scope -> Text,
        method -> Text,
        path -> Text,
        key -> Text,
        fingerprint -> Text,
        created_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        status -> Nullable<Integer>,
        content_type -> Nullable<Text>,
        location -> Nullable<Text>,
        sealed_body -> Nullable<Binary>,
    }
}

diesel::table! {
    audit_chain (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
        checkpoint_seq -> BigInt,
        checkpoint_hash -> Text,
        mark -> Text,
    }
}

diesel::table! {
    settings (id) {
        id -> Integer,
        document -> Text,
        seat_limits -> Text,
    }
}

diesel::table! {
    setup_claim (id) {
        id -> Integer,
        claimed_at -> Timestamp,
    }
}

diesel::table! {
    instance_state (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        recipient -> Text,
        locale -> Text,
        generation -> Nullable<BigInt>,
        details -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    mfa_factors (user_id) {
        user_id -> Text,
        sealed_secret -> Text,
        confirmed_at -> Nullable<Timestamp>,
        last_used_step -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    mfa_one_time_passwords (user_id) {
        user_id -> Text,
        code_hash -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Text,
    }
}

diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(sign_in_challenges -> users (user_id));
diesel::joinable!(token_generations -> users (user_id));

diesel::table! {
    applications (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    instances (id) {
        id -> Text,
        application_id -> Text,
        name -> Text,
        name_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    assignments (instance_id, user_id) {
        instance_id -> Text,
        user_id -> Text,
        application_id -> Text,
        enabled -> Bool,
        instance_role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    all_instance_grants (application_id, user_id) {
        application_id -> Text,
        user_id -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(group_members -> users (user_id));
diesel::joinable!(instances -> applications (application_id));
diesel::joinable!(assignments -> instances (instance_id));
diesel::joinable!(all_instance_grants -> applications (application_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    user_roles,
    user_prefixes,
    user_memberships,
    api_tokens,
    required_actions,
    sessions,
    refresh_tokens,
    sign_in_challenges,
    settings,
    token_generations,
    outbox,
    mfa_factors,
    recovery_codes,
    mfa_one_time_passwords,
    applications,
    instances,
    assignments,
    all_instance_grants,
    groups,
    group_members
);

diesel::allow_tables_to_appear_in_same_query!(audit_events, audit_links);
