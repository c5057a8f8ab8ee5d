-- Lists filtered by group, application or instance (SPEC §10), in username order. For each account
-- and each group it is in, application it is assigned to (or granted), and instance it is assigned
-- to or covered by an "access to all" grant: one row (member_of, username_key), so that the
-- primary key yields the accounts of one of them in username order (persistence/src/stores/list.rs),
-- as user_prefixes does for a search. `member_of` is 'g:', 'a:' or 'i:' and the id; `sources`
-- counts what puts the account there (an assignment and a grant may both cover an instance).
-- Derived from group_members, assignments, all_instance_grants and instances by the triggers
-- below, so every write (cascades included) keeps it; a username change or an account's deletion
-- reaches it through the foreign key.
CREATE TABLE user_memberships (
    member_of TEXT NOT NULL,
    username_key TEXT NOT NULL REFERENCES users (username_key) ON UPDATE CASCADE ON DELETE CASCADE,
    sources INTEGER NOT NULL,
    PRIMARY KEY (member_of, username_key)
) WITHOUT ROWID;
CREATE INDEX user_memberships_by_username ON user_memberships (username_key);

INSERT INTO user_memberships (member_of, username_key, sources)
SELECT member_of, users.username_key, count(*) FROM (
    SELECT 'g:' || group_id AS member_of, user_id FROM group_members
    UNION ALL SELECT 'i:' || instance_id, user_id FROM assignments
    UNION ALL SELECT 'a:' || application_id, user_id FROM assignments
    UNION ALL SELECT 'a:' || application_id, user_id FROM all_instance_grants
    UNION ALL SELECT 'i:' || instances.id, all_instance_grants.user_id
        FROM all_instance_grants INNER JOIN instances ON instances.application_id = all_instance_grants.application_id
) AS m INNER JOIN users ON users.id = m.user_id
GROUP BY member_of, users.username_key;

CREATE TRIGGER group_members_joined AFTER INSERT ON group_members BEGIN
    INSERT INTO user_memberships (member_of, username_key, sources)
    SELECT 'g:' || NEW.group_id, username_key, 1 FROM users WHERE id = NEW.user_id
    ON CONFLICT (member_of, username_key) DO UPDATE SET sources = sources + 1;
END;

CREATE TRIGGER group_members_left AFTER DELETE ON group_members BEGIN
    UPDATE user_memberships SET sources = sources - 1
    WHERE member_of = 'g:' || OLD.group_id AND username_key = (SELECT username_key FROM users WHERE id = OLD.user_id);
    DELETE FROM user_memberships
    WHERE member_of = 'g:' || OLD.group_id AND username_key = (SELECT username_key FROM users WHERE id = OLD.user_id) AND sources <= 0;
END;

CREATE TRIGGER assignments_made AFTER INSERT ON assignments BEGIN
    INSERT INTO user_memberships (member_of, username_key, sources)
    SELECT m, username_key, 1 FROM users, (SELECT 'i:' || NEW.instance_id AS m UNION ALL SELECT 'a:' || NEW.application_id)
    WHERE id = NEW.user_id
    ON CONFLICT (member_of, username_key) DO UPDATE SET sources = sources + 1;
END;

CREATE TRIGGER assignments_ended AFTER DELETE ON assignments BEGIN
    UPDATE user_memberships SET sources = sources - 1
    WHERE member_of IN ('i:' || OLD.instance_id, 'a:' || OLD.application_id)
      AND username_key = (SELECT username_key FROM users WHERE id = OLD.user_id);
    DELETE FROM user_memberships
    WHERE member_of IN ('i:' || OLD.instance_id, 'a:' || OLD.application_id)
      AND username_key = (SELECT username_key FROM users WHERE id = OLD.user_id) AND sources <= 0;
END;

CREATE TRIGGER all_instance_grants_made AFTER INSERT ON all_instance_grants BEGIN
    INSERT INTO user_memberships (member_of, username_key, sources)
    SELECT m, username_key, 1 FROM users, (
        SELECT 'a:' || NEW.application_id AS m
        UNION ALL SELECT 'i:' || id FROM instances WHERE application_id = NEW.application_id
    )
    WHERE users.id = NEW.user_id
    ON CONFLICT (member_of, username_key) DO UPDATE SET sources = sources + 1;
END;

CREATE TRIGGER all_instance_grants_ended AFTER DELETE ON all_instance_grants BEGIN
    UPDATE user_memberships SET sources = sources - 1
    WHERE username_key = (SELECT username_key FROM users WHERE id = OLD.user_id)
      AND member_of IN (SELECT 'a:' || OLD.application_id UNION ALL SELECT 'i:' || id FROM instances WHERE application_id = OLD.application_id);
    DELETE FROM user_memberships
    WHERE username_key = (SELECT username_key FROM users WHERE id = OLD.user_id) AND sources <= 0
      AND member_of IN (SELECT 'a:' || OLD.application_id UNION ALL SELECT 'i:' || id FROM instances WHERE application_id = OLD.application_id);
END;

-- An instance created later is covered by every grant of its application.
CREATE TRIGGER instances_made AFTER INSERT ON instances BEGIN
    INSERT INTO user_memberships (member_of, username_key, sources)
    SELECT 'i:' || NEW.id, users.username_key, 1
    FROM all_instance_grants INNER JOIN users ON users.id = all_instance_grants.user_id
    WHERE all_instance_grants.application_id = NEW.application_id
    ON CONFLICT (member_of, username_key) DO UPDATE SET sources = sources + 1;
END;

CREATE TRIGGER instances_ended AFTER DELETE ON instances BEGIN
    DELETE FROM user_memberships WHERE member_of = 'i:' || OLD.id;
END;
