"""Shared test builders: prompt sets, run folders, a scripted judge server, gold files."""
