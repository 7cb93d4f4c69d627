-- Changes 0.3.0 makes to objects of earlier versions' files (sql/api.sql): only in the upgrade
-- script (scripts/upgrade_0.3.0.sh); a fresh install has them from the files themselves.
ALTER FUNCTION eai.add_source(text, text, name, jsonb) SET log_min_error_statement = panic;
