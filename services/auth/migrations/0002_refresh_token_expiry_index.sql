-- The clean-up task deletes expired refresh tokens in batches, oldest first; without this index
-- each batch would scan the whole table.
CREATE INDEX refresh_tokens_expires_at ON auth.refresh_tokens (expires_at);
