"""Questions and answers: extraction, FAQ clustering and curation, contributors, digests."""
