"""The JSON API: one router per area, each the twin of a dashboard page."""
