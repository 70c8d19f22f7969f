"""The pipeline beside the Python task queues a user would pick instead (Celery, Dramatiq),
measured in one run on one machine: `just bench-peers`.

Each system is one module with the same small shape (`start(base)`: its servers and
workers on fresh ports; `Deployment.connect(clients)`: a client that submits a batch and
awaits its results), every worker converting with the same `binconv` kernel.
`workloads` measures them alike, `cpu` reads what every process of a system spent,
`runner` runs them one after another, and `report` renders the saved result.
"""
