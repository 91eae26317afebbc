"""tracehouse.dashboard"""
