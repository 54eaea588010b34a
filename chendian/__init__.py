"""chendian (沉淀): turn workplace group chat into lasting, searchable knowledge."""

__version__ = "0.1.0"
