"""The edge: the command line, the wiring from configuration to services, the runner.

The only package that imports ``web``.
"""
