-- PLACEHOLDER for the on-prem RAG system's init SQL (apps/rag.yaml: database.initSql).
--
-- The seed mounts ./config/postgres/init.sql into Postgres but does not show its content. Replace
-- this file with it. How berth runs it, unlike docker-entrypoint-initdb.d:
--   * logged in as the app's own role (`rag`) to its own database, never as the superuser; the role
--     and database already exist, so drop any CREATE USER / CREATE DATABASE / GRANT lines;
--   * as one transaction of plain SQL: psql's backslash commands (\connect, \i, ...) are not read;
--   * whenever berth provisions the database again (e.g. a new Postgres container), not only on an
--     empty volume: every statement must be safe to run twice (CREATE TABLE IF NOT EXISTS, ...);
--   * extensions belong in apps/rag.yaml (database.extensions): berth creates them (docs/trust.md).
--
-- Until then it only says it ran.
DO $$
BEGIN
    RAISE NOTICE 'rag: init.sql placeholder ran as %', current_user;
END
$$;
