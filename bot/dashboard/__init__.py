"""The director's and the auditor's dashboard: figures computed from the tables (figures.py), who
may see which (rules.py)."""
