"""A hospital information system (HIS) for development: schema, simulator, live sync."""
