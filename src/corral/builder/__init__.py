"""Dockerfile builds: the parser (`parser`), shell-word expansion (`shellwords`), instruction arguments
(`instructions`), `.dockerignore` matching (`ignore`) and the executor (`builder`)."""
