"""The campaigns REST API: segments, campaigns and their reports, the contact gate,
conversions and the sales pipeline."""
