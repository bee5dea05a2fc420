"""What a dbt project *is*, as pure values: the DAG and dbt selection, freshness configs and tiers,
code fingerprints.
"""
