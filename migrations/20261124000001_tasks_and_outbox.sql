-- migrate:up
CREATE TABLE tasks (
    id           uuid        PRIMARY KEY,
    -- Insertion order: the tasks of one request share created_at (one transaction),
    -- and "newest first" must still list them in the reverse of the order sent.
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    message      text        NOT NULL,
    binary_code  text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);

CREATE INDEX tasks_newest_first ON tasks (created_at DESC, seq DESC);

-- The transactional outbox. Each event has its own id (the original keyed it by task
-- id, so a task's "processed" event collided with its "created" one). The payload is
-- the exact message body the relay publishes.
CREATE TABLE outbox (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      text        NOT NULL CHECK (topic IN ('task.created', 'task.processed')),
    task_id    uuid        NOT NULL,
    payload    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Wake the relays once per inserting statement, not per row: they read in batches.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- migrate:down
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
DROP TABLE outbox;
DROP TABLE tasks;
