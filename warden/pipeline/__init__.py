"""The pipeline: the steps an incident goes through, composed once and run concurrently.

``stage``: what a stage is (one ``run`` method) and the lease it runs under;
``transitions``: the one table of (step, result) → next step; ``builder``: builds every
stage once, the only module that knows them all; ``runner``: claims due steps, keeps
their leases alive and runs many incidents at once, knowing no stage.

This package imports nothing of its own on purpose: stages import ``pipeline.stage`` and
the builder imports the stages.
"""
