"""System design with numbers (module 5): estimates, latency, caching, queues, load balancing,
reliability, data stores and cloud cost.

Each submodule has one job:

- ``estimates``: back-of-the-envelope arithmetic (requests per second, peak, storage, bandwidth)
  with explicit units, plus a tolerance check for estimates.
- ``latency``: the pinned "latency numbers every programmer should know" table (with its source)
  and percentile helpers that name their method.
- ``cache``: an LRU cache simulator, hit-rate curves, Che's approximation and effective latency.
- ``queueing``: Little's law, M/M/1, M/M/c (Erlang C), M/G/1 closed forms and a seeded G/G/c
  queue simulator.
- ``loadbalance``: seeded simulation of round robin, random, least-connections and
  power-of-two-choices dispatch.
- ``reliability``: availability in series/parallel/k-of-n, the nines as downtime, SLIs, SLOs,
  error budgets and multi-window multi-burn-rate alerts.
- ``stores``: measuring access patterns on real engines (SQLite vs DuckDB, key-value lookups,
  JSON documents); ``kvstore`` starts the local Valkey/Redis server they use.
- ``cloudcost``: a pinned, dated, cited cloud price table and Orbit's monthly bill from it.
"""
