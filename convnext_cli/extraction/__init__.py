"""The pieces of ``extract_features``: ``images`` (finding, probing, decoding, batching)
and ``outputs`` (atomic feature files, settings, the manifest)."""
