"""Object layer: a small store contract over local folders, memory and fsspec URLs."""

from tablelog.objects.cas import digest_of, put_content
from tablelog.objects.open import open_store
from tablelog.objects.store import Store

__all__ = ["Store", "digest_of", "open_store", "put_content"]
