-- The broker connection (account) a journaled job is for, so a job recovered after
-- a restart goes back to the terminal of that account (several terminals per agent).
ALTER TABLE journal ADD COLUMN broker_connection_id TEXT;
