-- Search by a one- or two-character prefix (the broadest searches: thousands of matches at a
-- million accounts). For every distinct 1- and 2-character prefix of an account's four key
-- columns, one row (prefix, username_key): the primary key then yields an account list in
-- username order for `WHERE prefix = ?` without collecting and sorting every match.
-- Maintained by Roster on every write of those columns (prefixes are of the folded keys).
CREATE TABLE user_prefixes (
    prefix TEXT COLLATE "C" NOT NULL,
    username_key TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (prefix, username_key)
);

INSERT INTO user_prefixes (prefix, username_key)
SELECT p, username_key FROM (
    SELECT substr(username_key, 1, 1) AS p, username_key FROM users
    UNION SELECT substr(username_key, 1, 2), username_key FROM users
    UNION SELECT substr(email_key, 1, 1), username_key FROM users
    UNION SELECT substr(email_key, 1, 2), username_key FROM users
    UNION SELECT substr(first_name_key, 1, 1), username_key FROM users
    UNION SELECT substr(first_name_key, 1, 2), username_key FROM users
    UNION SELECT substr(last_name_key, 1, 1), username_key FROM users
    UNION SELECT substr(last_name_key, 1, 2), username_key FROM users
) AS prefixes WHERE p <> '';
