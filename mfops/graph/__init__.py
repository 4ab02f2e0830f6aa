"""The inheritance graph of a revision: FROM kinds, order, effective configs and content digests."""
