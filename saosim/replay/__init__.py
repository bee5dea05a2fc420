"""The simulator: scenarios, the timeline of runs, arrivals and code changes, the replay engines
(plain and the compiled kernel), and the comparison of scenarios.
"""
