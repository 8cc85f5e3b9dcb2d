//! Diesel table declarations for the CDP-owned tables (schema `cdp`). `public.users` has 81
//! columns and is read with `sql_query` instead (DESIGN §9).

diesel::table! {
    cdp.roles (name) {
        name -> Text,
        label -> Text,
        description -> Text,
        rank -> Int4,
    }
}

diesel::table! {
    cdp.permissions (name) {
        name -> Text,
        description -> Text,
    }
}

diesel::table! {
    cdp.role_permissions (role, permission) {
        role -> Text,
        permission -> Text,
    }
}

diesel::table! {
    cdp.platform_users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        role -> Text,
        status -> Text,
        password_hash -> Nullable<Text>,
        last_sign_in_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        disabled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    cdp.auth_tokens (id) {
        id -> Uuid,
        platform_user_id -> Uuid,
        kind -> Text,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    cdp.service_credentials (id) {
        id -> Uuid,
        name -> Text,
        scopes -> Array<Text>,
        key_prefix -> Text,
        secret_hash -> Bytea,
        previous_secret_hash -> Nullable<Bytea>,
        previous_secret_expires_at -> Nullable<Timestamptz>,
        status -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        rotated_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    cdp.audit_log (id) {
        id -> Int8,
        actor_id -> Nullable<Uuid>,
        actor_email -> Nullable<Text>,
        actor_kind -> Text,
        action -> Text,
        resource_type -> Text,
        resource_id -> Text,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        request_id -> Nullable<Text>,
        client_address -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    cdp.jobs (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(role_permissions -> roles (role));
diesel::joinable!(role_permissions -> permissions (permission));
diesel::allow_tables_to_appear_in_same_query!(roles, permissions, role_permissions, platform_users);

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
