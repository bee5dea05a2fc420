"""Reuse, cost and savings, staleness and SLA misses per scenario, tier, model and day, from
decision logs.
"""
