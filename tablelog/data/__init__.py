"""Data layer: Parquet column groups — encode with pinned settings, upload
content-addressed, read back as frames — and the compaction core that rewrites them.
Used by ``writer`` (the run layer) and ``maintenance`` alike (shared/DESIGN.md)."""
