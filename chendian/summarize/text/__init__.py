"""Text: segmentation, sentence embeddings, analyzers and question similarity (knows nothing of threads or Q&A)."""
