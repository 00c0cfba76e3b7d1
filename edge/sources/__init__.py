"""Activity sources: ActivityWatch, replayed traces, the gym's simulated user."""
