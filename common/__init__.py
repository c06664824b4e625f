"""Framework-free helpers every layer may use: paths, clock, units, statistics (imports nothing of the project)."""
