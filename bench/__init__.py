"""harmonic-bench: datasets × synthesizers × seeds, scored and stored, rendered as leaderboards."""

__version__ = "0.1.0"
