-- Per-namespace topic limit (issue 21 §5). NULL: the broker's
-- limits.max_topics_per_namespace applies.
ALTER TABLE namespaces ADD COLUMN max_topics INTEGER;
