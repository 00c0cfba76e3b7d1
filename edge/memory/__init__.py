"""The memory stream (Generative Agents): records in SQLite, a FAISS index, retrieval, reflection.

Start at `edge.memory.stream.MemoryStream` / `open_memory`. Nothing heavy is
imported here (the store's migration imports `edge.memory.schema`).
"""
