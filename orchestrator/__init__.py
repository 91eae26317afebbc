"""tracehouse.orchestrator"""
