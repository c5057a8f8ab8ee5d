DROP TABLE mfa_one_time_passwords;
