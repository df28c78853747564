"""The `corral` command: Docker's verbs and flags over corral.api."""
