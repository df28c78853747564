"""Shared repositories: the OCI distribution client (pull, push, auth) and its configuration.

Imported only by the verbs that talk to a registry (pull, push, login, and run/create/build when an image
is missing); httpx and everything else here stay off the run/exec/ps path.
"""
