"""The 3D file storage service: model formats, analysis, sample models and blob storage.

The modules here do no network I/O: ``formats`` sniffs a file's format from its first bytes,
``analysis`` measures a mesh with trimesh (CPU-bound: run it in a worker), ``samples`` makes
models with trimesh's primitives for tests and demos, ``storage`` streams uploads to disk.
"""
