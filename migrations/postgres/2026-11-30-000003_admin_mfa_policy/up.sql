-- `mfa.required_for_admins` (default true) holds every admin without a second factor until it
-- enrols, API tokens included. A deployment set up before the setting existed (it has accounts)
-- keeps working as it did: the setting is recorded off, for its admins to turn on once they have
-- enrolled. A new deployment gets the default.
UPDATE settings
SET document = jsonb_set(document::jsonb, '{mfa}', '{"required_for_admins": false}')::text
WHERE id = 1 AND EXISTS (SELECT 1 FROM users);
