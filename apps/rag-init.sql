-- PLACEHOLDER for the on-prem RAG system's init SQL (apps/rag.yaml: database.initSql).
--
-- The seed mounts ./config/postgres/init.sql into Postgres but does not show its content. Replace
-- this file with it. How berth runs it, unlike docker-entrypoint-initdb.d:
--   * as the app's own role (`rag`) in its own database, never as the superuser; the role already
--     exists and owns the database, so drop any CREATE USER / CREATE DATABASE / GRANT lines;
--   * whenever berth provisions the database again (e.g. a new Postgres container), not only on an
--     empty volume: every statement must be safe to run twice (CREATE TABLE IF NOT EXISTS, ...);
--   * extensions belong in apps/rag.yaml (database.extensions), which berth creates as superuser.
--
-- Until then it only says it ran.
DO $$
BEGIN
    RAISE NOTICE 'rag: init.sql placeholder ran as %', current_user;
END
$$;
