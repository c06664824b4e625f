"""Dataset loaders: real data offline by default, full datasets with checksums and a cache when online."""
