DROP TABLE instance_state;
DROP TABLE setup_claim;
DROP TABLE settings;
DROP TABLE audit_events;
DROP TABLE api_tokens;
DROP TABLE user_roles;
DROP TABLE users;
