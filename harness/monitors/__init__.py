"""Samplers that run beside a cell: host memory and NVIDIA GPU."""
