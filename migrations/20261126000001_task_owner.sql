-- migrate:up
-- Who owns a task: its creator's token `sub` in auth mode, NULL in open mode (and for
-- every task stored before this). Nullable without a default: no table rewrite.
ALTER TABLE tasks ADD COLUMN owner text;

-- migrate:down
ALTER TABLE tasks DROP COLUMN owner;
