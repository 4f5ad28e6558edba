"""Guidance about the other channels graduates are sent to (学信网, 川教通)."""
