"""The planner: decisions with reasons and evidence, the per-node facts step, the rules (one ordered
tuple per profile), plan, state and its transition after a run. No files, clocks or databases.
"""
