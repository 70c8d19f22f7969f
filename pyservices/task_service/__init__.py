"""The Task Service: stores tasks and their results, and writes their events to the outbox."""
