UPDATE settings SET document = (document::jsonb - 'mfa')::text WHERE id = 1;
