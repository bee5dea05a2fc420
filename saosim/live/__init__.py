"""The real planner against a live dbt project: warehouse metadata for source data versions,
dbt-core run programmatically, and (later) the state store."""
