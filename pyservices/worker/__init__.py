"""The processing worker: converts queued tasks and reports results to the task service."""
