"""The library: one module per stage, each a plain function of its inputs.

Nothing in here imports :mod:`sohoa.workers`; the workers call the pipeline.
"""
