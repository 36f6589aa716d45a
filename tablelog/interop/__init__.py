"""Hand tablelog tables to other table formats and engines (Apache Iceberg)."""

from tablelog.interop.iceberg import IcebergExport, to_iceberg

__all__ = ["IcebergExport", "to_iceberg"]
