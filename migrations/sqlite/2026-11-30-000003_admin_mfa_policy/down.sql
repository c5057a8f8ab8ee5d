UPDATE settings SET document = json_remove(document, '$.mfa') WHERE id = 1;
