-- What each service's PostgreSQL role may do, and nothing more. Run by the database
-- owner (who ran the migrations, so owns every table) after each migration, in one
-- transaction (db-grants-job.yaml). The roles are CloudNativePG managed roles
-- (operators/postgres-cluster.yaml), which log in; this file only grants. Re-running
-- is safe: it takes everything away first. tests/deploy/test_database_roles.py runs each
-- service's own statements as its role, and another's to be refused.
--
--   binconv_task_service  creates, lists and gets tasks and records their results
--                         (SELECT, INSERT on tasks; UPDATE of the result columns only),
--                         writes their events to the outbox (INSERT), and reads outbox
--                         ids for its backlog estimate, never the payloads. It deletes
--                         nothing and cannot read or remove another service's rows.
--   binconv_relay         claims, publishes and deletes outbox rows (SELECT, DELETE;
--                         FOR UPDATE SKIP LOCKED takes UPDATE on one column: `created_at`,
--                         which only the backlog's age reads), LISTENs on `outbox`. No access to `tasks` at all: not the messages, not
--                         the codes. (It takes no advisory lock.)
--   both                  CONNECT, USAGE on the schema, and SELECT on dbmate's
--                         schema_migrations for their `wait-migrated` init container.
--   everyone else         nothing: no CONNECT, no TEMP, no CREATE in the schema.
-- The owner keeps the schema (the migration Job and this Job run as it).

DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format(
        'GRANT CONNECT ON DATABASE %I TO binconv_task_service, binconv_relay',
        current_database()
    );
END
$$;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO binconv_task_service, binconv_relay;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, binconv_task_service, binconv_relay;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, binconv_task_service, binconv_relay;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC, binconv_task_service, binconv_relay;

GRANT SELECT ON schema_migrations TO binconv_task_service, binconv_relay;

GRANT SELECT, INSERT ON tasks TO binconv_task_service;
GRANT UPDATE (binary_code, processed_at, updated_at) ON tasks TO binconv_task_service;
GRANT INSERT ON outbox TO binconv_task_service;
GRANT SELECT (id) ON outbox TO binconv_task_service;

GRANT SELECT, DELETE ON outbox TO binconv_relay;
GRANT UPDATE (created_at) ON outbox TO binconv_relay;
