"""Pure collections domain: money, arrears, calendar arithmetic, policy, templates.

Nothing here does I/O or reads a clock, so workflows can import it and every rule
can be tested from a table.
"""
