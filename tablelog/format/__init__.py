"""Format layer: the bucket layout, the manifest model and codec, and the commit protocol."""
