DROP TABLE user_prefixes;
