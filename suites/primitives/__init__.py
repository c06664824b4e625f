"""The neutral layer primitives, grouped by family; import them from suites.layers."""
