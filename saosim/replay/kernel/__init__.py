"""The compiled replay: a scenario's runs as flat arrays, one numba loop over them that calls the
core's rules, and the decision log built column-wise.
"""
