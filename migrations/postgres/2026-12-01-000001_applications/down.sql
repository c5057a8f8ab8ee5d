DROP TABLE instances;
DROP TABLE applications;
