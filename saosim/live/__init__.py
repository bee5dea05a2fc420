"""The real planner against a live dbt project.

- :mod:`saosim.live.metadata`: source data versions from the warehouse (SQL per dialect,
  built with sqlglot; executed on DuckDB).
- :mod:`saosim.live.dbt_runner`: ``dbt parse`` and ``dbt build --select …`` in-process.
- :mod:`saosim.live.store`: the DuckDB state store (state, plans, decisions, runs, source
  arrivals, build locks).
"""
