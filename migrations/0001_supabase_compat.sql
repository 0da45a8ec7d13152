-- 0001 Supabase compatibility.
--
-- On Supabase every piece below already exists and this file changes nothing.
-- On plain PostgreSQL (tests, self-hosting) it creates what Supabase provides and
-- the rest of the schema relies on:
--   * roles anon, authenticated (NOLOGIN) and service_role (NOLOGIN, BYPASSRLS);
--   * schema auth, table auth.users(id, email), function auth.uid();
--   * extension uuid-ossp in schema `extensions` (as Supabase has it, not in public);
--   * the privileges Supabase gives these roles on schema public (usage, and by
--     default all privileges on new tables, sequences and functions; RLS and
--     explicit REVOKEs then decide what they can really do).
-- Roles are cluster-wide, so each is created only if missing. Everything else is
-- per database: the `auth.users` table being absent is what marks "not Supabase".

DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
END
$roles$;

CREATE SCHEMA IF NOT EXISTS extensions;

DO $ext$
DECLARE
  v_schema text;
BEGIN
  SELECT n.nspname INTO v_schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  WHERE e.extname = 'uuid-ossp';
  IF v_schema IS NULL THEN
    CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;
  ELSIF v_schema <> 'extensions' THEN
    RAISE EXCEPTION 'uuid-ossp is installed in schema %, the migrations call extensions.uuid_generate_v4()', v_schema
      USING HINT = 'Move it: ALTER EXTENSION "uuid-ossp" SET SCHEMA extensions;';
  END IF;
END
$ext$;

DO $auth$
BEGIN
  IF to_regclass('auth.users') IS NULL THEN
    CREATE SCHEMA IF NOT EXISTS auth;

    CREATE TABLE auth.users (
      id    uuid PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
      email text
    );

    -- What Supabase grants on a fresh project.
    GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
    GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
    GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
    GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated, service_role;
    GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated, service_role;
    GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
  END IF;

  IF to_regprocedure('auth.uid()') IS NULL THEN
    -- Supabase's definition: the legacy per-claim setting first, then the `sub` of
    -- the JSON claims. Unset or empty settings give NULL, never an error.
    CREATE FUNCTION auth.uid() RETURNS uuid
      LANGUAGE sql STABLE
      SET search_path = ''
    AS $fn$
      SELECT nullif(
        coalesce(
          nullif(current_setting('request.jwt.claim.sub', true), ''),
          nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
        ),
        ''
      )::uuid
    $fn$;
    COMMENT ON FUNCTION auth.uid() IS 'The user id (JWT sub) of the current request, NULL when no claims are set';
    GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
  END IF;
END
$auth$;
