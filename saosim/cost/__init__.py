"""What builds cost: rates and billing models, runtime fits from the history, the history's own
bill.
"""
