-- Run once by the postgres image, when its data volume is new: one database
-- per service, each owned by the stack's user (POSTGRES_USER in
-- docker-compose.yml). A service creates its own tables when it starts.
CREATE DATABASE shippy_user;
CREATE DATABASE shippy_email;
CREATE DATABASE shippy_consignment;
CREATE DATABASE shippy_vessel;
