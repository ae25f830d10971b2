"""Getting data in: read any file, map its columns, check every cell, load atomically."""
