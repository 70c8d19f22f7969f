"""What a gRPC refusal carries beyond its status code; part of the wire contract
described in protos/task.proto, shared by the task service and its callers."""

from __future__ import annotations

# Trailing metadata of an UNAVAILABLE answer: which part behind the task service is down.
UNAVAILABLE_PART_KEY = "binconv-unavailable"
DATABASE_PART = "database"
# The system is up but behind: too many events wait to be published or processed.
BACKLOG_PART = "backlog"
