"""tracehouse.evals"""
