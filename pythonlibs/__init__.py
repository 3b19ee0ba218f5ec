"""Shared helpers of the course: see torch_lib1."""
