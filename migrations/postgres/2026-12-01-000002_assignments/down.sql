DROP TABLE all_instance_grants;
DROP TABLE assignments;
