"""tracehouse.collector"""
