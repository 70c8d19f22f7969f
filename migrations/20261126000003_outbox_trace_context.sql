-- migrate:up
-- The W3C traceparent of the span that wrote the row (docs/tracing.md), which the relay
-- continues; NULL while tracing is off or the span is not sampled. Nullable without a
-- default: no table rewrite.
ALTER TABLE outbox ADD COLUMN trace_context text;

-- migrate:down
ALTER TABLE outbox DROP COLUMN trace_context;
