"""tracehouse.sdk"""
