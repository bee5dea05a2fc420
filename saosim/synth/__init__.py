"""Synthetic estates of realistic shape: a DAG, its SQL, jobs, runs, arrivals and code changes, from
scratch or from a real manifest.
"""
