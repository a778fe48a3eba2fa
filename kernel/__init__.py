"""The kernel: what every layer shares (errors, clock, calendar, settings schema).

It imports nothing else of theodoi.
"""
