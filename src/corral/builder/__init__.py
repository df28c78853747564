"""Dockerfile builds: the parser (`dockerfile`), `.dockerignore` matching (`ignore`) and the executor (`builder`)."""
