-- Runs once, committed: the extension for the other files, which each run in begin; … rollback;.
SET client_min_messages = warning;
CREATE EXTENSION eai CASCADE;
RESET client_min_messages;
SELECT extname, extversion FROM pg_extension WHERE extname IN ('eai', 'vector', 'file_fdw', 'postgres_fdw') ORDER BY 1;
