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
    member_of TEXT COLLATE "C" NOT NULL,
    username_key TEXT COLLATE "C" NOT NULL REFERENCES users (username_key) ON UPDATE CASCADE ON DELETE CASCADE,
    sources INTEGER NOT NULL,
    PRIMARY KEY (member_of, username_key)
);
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

-- Adds one source of membership in each of `member_ofs` for the account `user_id`, in the order of
-- the key (as an update or delete by `member_of = ANY (…)` takes them), so that two writers never
-- wait on each other's rows in opposite orders.
CREATE FUNCTION user_memberships_add(member_ofs TEXT[], user_id TEXT) RETURNS void AS $$
    INSERT INTO user_memberships (member_of, username_key, sources)
    SELECT m, users.username_key, 1 FROM users, unnest(member_ofs) AS m WHERE users.id = user_id
    ORDER BY m COLLATE "C"
    ON CONFLICT (member_of, username_key) DO UPDATE SET sources = user_memberships.sources + 1;
$$ LANGUAGE sql;

-- Removes one, and the row with its last.
CREATE FUNCTION user_memberships_remove(member_ofs TEXT[], account TEXT) RETURNS void AS $$
DECLARE
    account_key TEXT;
BEGIN
    SELECT username_key INTO account_key FROM users WHERE id = account;
    UPDATE user_memberships SET sources = sources - 1
    WHERE member_of = ANY (member_ofs) AND username_key = account_key;
    DELETE FROM user_memberships
    WHERE member_of = ANY (member_ofs) AND username_key = account_key AND sources <= 0;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION group_members_joined() RETURNS trigger AS $$
BEGIN
    PERFORM user_memberships_add(ARRAY['g:' || NEW.group_id], NEW.user_id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER group_members_joined AFTER INSERT ON group_members
    FOR EACH ROW EXECUTE FUNCTION group_members_joined();

CREATE FUNCTION group_members_left() RETURNS trigger AS $$
BEGIN
    PERFORM user_memberships_remove(ARRAY['g:' || OLD.group_id], OLD.user_id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER group_members_left AFTER DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION group_members_left();

CREATE FUNCTION assignments_made() RETURNS trigger AS $$
BEGIN
    PERFORM user_memberships_add(ARRAY['i:' || NEW.instance_id, 'a:' || NEW.application_id], NEW.user_id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER assignments_made AFTER INSERT ON assignments
    FOR EACH ROW EXECUTE FUNCTION assignments_made();

CREATE FUNCTION assignments_ended() RETURNS trigger AS $$
BEGIN
    PERFORM user_memberships_remove(ARRAY['i:' || OLD.instance_id, 'a:' || OLD.application_id], OLD.user_id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER assignments_ended AFTER DELETE ON assignments
    FOR EACH ROW EXECUTE FUNCTION assignments_ended();

-- A grant and an instance of its application made (or ended) at once must each see the other: a
-- grant holds its application's row shared, creating or deleting an instance holds it exclusively
-- (neither blocks assignments, which only hold its key), and the statements after the lock see
-- what the other committed.
CREATE FUNCTION all_instance_grants_made() RETURNS trigger AS $$
BEGIN
    PERFORM 1 FROM applications WHERE id = NEW.application_id FOR SHARE;
    PERFORM user_memberships_add(
        ARRAY['a:' || NEW.application_id] || ARRAY(SELECT 'i:' || id FROM instances WHERE application_id = NEW.application_id),
        NEW.user_id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER all_instance_grants_made AFTER INSERT ON all_instance_grants
    FOR EACH ROW EXECUTE FUNCTION all_instance_grants_made();

CREATE FUNCTION all_instance_grants_ended() RETURNS trigger AS $$
BEGIN
    PERFORM 1 FROM applications WHERE id = OLD.application_id FOR SHARE;
    PERFORM user_memberships_remove(
        ARRAY['a:' || OLD.application_id] || ARRAY(SELECT 'i:' || id FROM instances WHERE application_id = OLD.application_id),
        OLD.user_id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER all_instance_grants_ended AFTER DELETE ON all_instance_grants
    FOR EACH ROW EXECUTE FUNCTION all_instance_grants_ended();

-- An instance created later is covered by every grant of its application.
CREATE FUNCTION instances_made() RETURNS trigger AS $$
BEGIN
    PERFORM 1 FROM applications WHERE id = NEW.application_id FOR NO KEY UPDATE;
    INSERT INTO user_memberships (member_of, username_key, sources)
    SELECT 'i:' || NEW.id, users.username_key, 1
    FROM all_instance_grants INNER JOIN users ON users.id = all_instance_grants.user_id
    WHERE all_instance_grants.application_id = NEW.application_id
    ON CONFLICT (member_of, username_key) DO UPDATE SET sources = user_memberships.sources + 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER instances_made AFTER INSERT ON instances
    FOR EACH ROW EXECUTE FUNCTION instances_made();

CREATE FUNCTION instances_ended() RETURNS trigger AS $$
BEGIN
    PERFORM 1 FROM applications WHERE id = OLD.application_id FOR NO KEY UPDATE;
    DELETE FROM user_memberships WHERE member_of = 'i:' || OLD.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER instances_ended AFTER DELETE ON instances
    FOR EACH ROW EXECUTE FUNCTION instances_ended();
