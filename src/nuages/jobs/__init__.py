"""Background jobs: huey queue wiring; each job calls one service function."""
