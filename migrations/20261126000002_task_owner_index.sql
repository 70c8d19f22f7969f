-- migrate:up transaction:false
-- An owner's page, newest first, read in index order like `tasks_newest_first`. Partial:
-- tasks of open mode (owner NULL) cost no index entry, so open mode writes as before.
-- Built CONCURRENTLY (alone in its migration, outside a transaction) so that a large
-- table keeps taking tasks while it is built; a build that failed leaves an INVALID
-- index, which `DROP INDEX` then this migration again replaces.
CREATE INDEX CONCURRENTLY tasks_owner_newest_first
    ON tasks (owner, created_at DESC, seq DESC) WHERE owner IS NOT NULL;

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY IF EXISTS tasks_owner_newest_first;
