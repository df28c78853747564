"""Thin ctypes wrappers over the syscalls Python's os module lacks (3.11)."""
