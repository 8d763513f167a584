"""Apps a user would otherwise write, served side by side with clerk-sync by ``bench.compare``."""
