"""The bottom layer: value validation, files on disk and the runtime (seeds, devices, batching).

Nothing here imports anything else of aecompare but :mod:`aecompare.errors`.
"""
