DROP TABLE sign_in_challenges;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE required_actions;
ALTER TABLE users DROP COLUMN locked_until;
ALTER TABLE users DROP COLUMN failed_logins;
