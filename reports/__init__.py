"""SHOW: comparisons, tables, HTML and exports, from stored records only (never measures)."""
