DROP TABLE recovery_codes;
DROP TABLE mfa_factors;
