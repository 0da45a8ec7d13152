-- 0002 Base schema: the tables the v2 spec (0003) builds on (DESIGN section 3).
--
-- Every table has row level security. User-owned tables get owner policies for the
-- `authenticated` role, `user_id = (select auth.uid())` (the sub-select makes
-- PostgreSQL evaluate auth.uid() once per statement, not once per row); child
-- tables check ownership through their parent. `anon` has no policy, so it sees
-- nothing. The server's own work runs as a role that bypasses RLS.
-- Every foreign key has an index whose leading column is the key.

-- ---------------------------------------------------------------------------
-- updated_at maintenance
-- ---------------------------------------------------------------------------
CREATE FUNCTION public.set_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION public.set_updated_at() IS 'BEFORE UPDATE trigger: stamps updated_at';
-- Trigger functions need no EXECUTE privilege to fire.
REVOKE ALL ON FUNCTION public.set_updated_at() FROM PUBLIC, anon, authenticated;

-- ---------------------------------------------------------------------------
-- profiles
-- ---------------------------------------------------------------------------
CREATE TABLE public.profiles (
  id           uuid        PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
  email        text        NOT NULL UNIQUE,
  display_name text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.profiles IS 'One row per user, keyed by auth.users.id';

ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY profiles_select ON public.profiles FOR SELECT TO authenticated
  USING (id = (SELECT auth.uid()));
CREATE POLICY profiles_insert ON public.profiles FOR INSERT TO authenticated
  WITH CHECK (id = (SELECT auth.uid()));
CREATE POLICY profiles_update ON public.profiles FOR UPDATE TO authenticated
  USING (id = (SELECT auth.uid())) WITH CHECK (id = (SELECT auth.uid()));

-- ---------------------------------------------------------------------------
-- user_settings
-- ---------------------------------------------------------------------------
CREATE TABLE public.user_settings (
  user_id              uuid          PRIMARY KEY REFERENCES public.profiles(id) ON DELETE CASCADE,
  risk_percent         numeric(5,2)  NOT NULL DEFAULT 1.0 CHECK (risk_percent BETWEEN 0.1 AND 10),
  daily_loss_limit_pct numeric(5,2)  NOT NULL DEFAULT 5 CHECK (daily_loss_limit_pct > 0 AND daily_loss_limit_pct <= 100),
  account_currency     text          NOT NULL DEFAULT 'USD',
  max_lots             numeric(10,2) CHECK (max_lots IS NULL OR max_lots > 0),
  created_at           timestamptz   NOT NULL DEFAULT now(),
  updated_at           timestamptz   NOT NULL DEFAULT now()
);
COMMENT ON COLUMN public.user_settings.max_lots IS 'NULL = no cap on position size';

ALTER TABLE public.user_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_settings_select ON public.user_settings FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid()));
CREATE POLICY user_settings_insert ON public.user_settings FOR INSERT TO authenticated
  WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY user_settings_update ON public.user_settings FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));

-- ---------------------------------------------------------------------------
-- instrument_config (reference data, readable by everyone, written by the backend)
-- ---------------------------------------------------------------------------
CREATE TABLE public.instrument_config (
  pair            text          PRIMARY KEY,
  pip_size        numeric(12,6) NOT NULL CHECK (pip_size > 0),
  tick_value      numeric(12,6) NOT NULL CHECK (tick_value > 0),
  contract_size   numeric(14,2) NOT NULL CHECK (contract_size > 0),
  instrument_type text          NOT NULL CHECK (instrument_type IN ('forex', 'metals', 'indices')),
  display_name    text          NOT NULL
);

ALTER TABLE public.instrument_config ENABLE ROW LEVEL SECURITY;
CREATE POLICY instrument_config_read ON public.instrument_config FOR SELECT TO anon, authenticated
  USING (true);

INSERT INTO public.instrument_config (pair, pip_size, tick_value, contract_size, instrument_type, display_name) VALUES
  ('EURUSD', 0.0001, 1,    100000, 'forex',  'EUR/USD'),
  ('GBPUSD', 0.0001, 1,    100000, 'forex',  'GBP/USD'),
  ('USDJPY', 0.01,   1,    100000, 'forex',  'USD/JPY'),
  ('USDCHF', 0.0001, 1,    100000, 'forex',  'USD/CHF'),
  ('AUDUSD', 0.0001, 1,    100000, 'forex',  'AUD/USD'),
  ('USDCAD', 0.0001, 1,    100000, 'forex',  'USD/CAD'),
  ('NZDUSD', 0.0001, 1,    100000, 'forex',  'NZD/USD'),
  ('XAUUSD', 0.01,   1,    100,    'metals', 'Gold')
ON CONFLICT (pair) DO NOTHING;

-- ---------------------------------------------------------------------------
-- broker_connections (no broker passwords here)
-- ---------------------------------------------------------------------------
CREATE TABLE public.broker_connections (
  id          uuid        PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
  user_id     uuid        NOT NULL REFERENCES public.profiles(id) ON DELETE CASCADE,
  broker_type text        NOT NULL CHECK (broker_type IN ('MT5_AGENT', 'PAPER')),
  name        text        NOT NULL,
  is_active   boolean     NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX broker_connections_user_id_idx ON public.broker_connections(user_id);

ALTER TABLE public.broker_connections ENABLE ROW LEVEL SECURITY;
CREATE POLICY broker_connections_select ON public.broker_connections FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid()));
CREATE POLICY broker_connections_insert ON public.broker_connections FOR INSERT TO authenticated
  WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY broker_connections_update ON public.broker_connections FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY broker_connections_delete ON public.broker_connections FOR DELETE TO authenticated
  USING (user_id = (SELECT auth.uid()));

-- ---------------------------------------------------------------------------
-- mt5_agents
-- ---------------------------------------------------------------------------
CREATE TABLE public.mt5_agents (
  id                   uuid        PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
  user_id              uuid        NOT NULL REFERENCES public.profiles(id) ON DELETE CASCADE,
  broker_connection_id uuid        REFERENCES public.broker_connections(id) ON DELETE SET NULL,
  agent_name           text        NOT NULL,
  terminal_server      text,
  login                text,
  password_encrypted   text,
  is_connected         boolean     NOT NULL DEFAULT false,
  last_heartbeat       timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mt5_agents_user_id_idx ON public.mt5_agents(user_id);
CREATE INDEX mt5_agents_broker_connection_id_idx ON public.mt5_agents(broker_connection_id);

ALTER TABLE public.mt5_agents ENABLE ROW LEVEL SECURITY;
CREATE POLICY mt5_agents_select ON public.mt5_agents FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid()));
CREATE POLICY mt5_agents_insert ON public.mt5_agents FOR INSERT TO authenticated
  WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY mt5_agents_update ON public.mt5_agents FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY mt5_agents_delete ON public.mt5_agents FOR DELETE TO authenticated
  USING (user_id = (SELECT auth.uid()));

-- ---------------------------------------------------------------------------
-- ea_projects
-- ---------------------------------------------------------------------------
CREATE TABLE public.ea_projects (
  id               uuid        PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
  user_id          uuid        NOT NULL REFERENCES public.profiles(id) ON DELETE CASCADE,
  name             text        NOT NULL,
  description      text,
  default_settings jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ea_projects_user_id_idx ON public.ea_projects(user_id);

ALTER TABLE public.ea_projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY ea_projects_select ON public.ea_projects FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid()));
CREATE POLICY ea_projects_insert ON public.ea_projects FOR INSERT TO authenticated
  WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY ea_projects_update ON public.ea_projects FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY ea_projects_delete ON public.ea_projects FOR DELETE TO authenticated
  USING (user_id = (SELECT auth.uid()));

-- ---------------------------------------------------------------------------
-- ea_versions (owned through ea_projects)
-- ---------------------------------------------------------------------------
CREATE TABLE public.ea_versions (
  id                uuid        PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
  ea_project_id     uuid        NOT NULL REFERENCES public.ea_projects(id) ON DELETE CASCADE,
  version_number    integer     NOT NULL CHECK (version_number > 0),
  source_code       text        NOT NULL DEFAULT '',
  config            jsonb       NOT NULL DEFAULT '{}'::jsonb,
  status            text        NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'compiling', 'compiled', 'failed')),
  compilation_error text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (ea_project_id, version_number)  -- also the index for the foreign key
);

ALTER TABLE public.ea_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY ea_versions_select ON public.ea_versions FOR SELECT TO authenticated
  USING (EXISTS (SELECT 1 FROM public.ea_projects p
                 WHERE p.id = ea_project_id AND p.user_id = (SELECT auth.uid())));
CREATE POLICY ea_versions_insert ON public.ea_versions FOR INSERT TO authenticated
  WITH CHECK (EXISTS (SELECT 1 FROM public.ea_projects p
                      WHERE p.id = ea_project_id AND p.user_id = (SELECT auth.uid())));
CREATE POLICY ea_versions_update ON public.ea_versions FOR UPDATE TO authenticated
  USING (EXISTS (SELECT 1 FROM public.ea_projects p
                 WHERE p.id = ea_project_id AND p.user_id = (SELECT auth.uid())))
  WITH CHECK (EXISTS (SELECT 1 FROM public.ea_projects p
                      WHERE p.id = ea_project_id AND p.user_id = (SELECT auth.uid())));
CREATE POLICY ea_versions_delete ON public.ea_versions FOR DELETE TO authenticated
  USING (EXISTS (SELECT 1 FROM public.ea_projects p
                 WHERE p.id = ea_project_id AND p.user_id = (SELECT auth.uid())));

-- ---------------------------------------------------------------------------
-- ea_deployments (owned through ea_versions -> ea_projects; the agent must be the
-- user's too)
-- ---------------------------------------------------------------------------
CREATE TABLE public.ea_deployments (
  id             uuid        PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
  ea_version_id  uuid        NOT NULL REFERENCES public.ea_versions(id) ON DELETE CASCADE,
  mt5_agent_id   uuid        NOT NULL REFERENCES public.mt5_agents(id) ON DELETE CASCADE,
  status         text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'deploying', 'running', 'stopped', 'failed')),
  deployed_at    timestamptz,
  stopped_at     timestamptz,
  runtime_config jsonb       NOT NULL DEFAULT '{}'::jsonb,
  error_message  text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ea_deployments_ea_version_id_idx ON public.ea_deployments(ea_version_id);
CREATE INDEX ea_deployments_mt5_agent_id_idx ON public.ea_deployments(mt5_agent_id);

ALTER TABLE public.ea_deployments ENABLE ROW LEVEL SECURITY;
CREATE POLICY ea_deployments_select ON public.ea_deployments FOR SELECT TO authenticated
  USING (EXISTS (SELECT 1 FROM public.ea_versions v JOIN public.ea_projects p ON p.id = v.ea_project_id
                 WHERE v.id = ea_version_id AND p.user_id = (SELECT auth.uid())));
CREATE POLICY ea_deployments_insert ON public.ea_deployments FOR INSERT TO authenticated
  WITH CHECK (EXISTS (SELECT 1 FROM public.ea_versions v JOIN public.ea_projects p ON p.id = v.ea_project_id
                      WHERE v.id = ea_version_id AND p.user_id = (SELECT auth.uid()))
              AND EXISTS (SELECT 1 FROM public.mt5_agents a
                          WHERE a.id = mt5_agent_id AND a.user_id = (SELECT auth.uid())));
CREATE POLICY ea_deployments_update ON public.ea_deployments FOR UPDATE TO authenticated
  USING (EXISTS (SELECT 1 FROM public.ea_versions v JOIN public.ea_projects p ON p.id = v.ea_project_id
                 WHERE v.id = ea_version_id AND p.user_id = (SELECT auth.uid())))
  WITH CHECK (EXISTS (SELECT 1 FROM public.ea_versions v JOIN public.ea_projects p ON p.id = v.ea_project_id
                      WHERE v.id = ea_version_id AND p.user_id = (SELECT auth.uid()))
              AND EXISTS (SELECT 1 FROM public.mt5_agents a
                          WHERE a.id = mt5_agent_id AND a.user_id = (SELECT auth.uid())));
CREATE POLICY ea_deployments_delete ON public.ea_deployments FOR DELETE TO authenticated
  USING (EXISTS (SELECT 1 FROM public.ea_versions v JOIN public.ea_projects p ON p.id = v.ea_project_id
                 WHERE v.id = ea_version_id AND p.user_id = (SELECT auth.uid())));

-- ---------------------------------------------------------------------------
-- jobs
-- ---------------------------------------------------------------------------
CREATE TABLE public.jobs (
  id            uuid        PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
  user_id       uuid        NOT NULL REFERENCES public.profiles(id) ON DELETE CASCADE,
  -- A column constraint, so PostgreSQL names it jobs_job_type_check (0003 relies on it).
  job_type      text        NOT NULL CHECK (job_type IN ('compile', 'deploy', 'run', 'stop', 'test')),
  status        text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  entity_type   text,
  entity_id     uuid,
  input_data    jsonb       NOT NULL DEFAULT '{}'::jsonb,
  output_data   jsonb,
  error_message text,
  started_at    timestamptz,
  completed_at  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_user_id_idx ON public.jobs(user_id);

ALTER TABLE public.jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY jobs_select ON public.jobs FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid()));
CREATE POLICY jobs_insert ON public.jobs FOR INSERT TO authenticated
  WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY jobs_update ON public.jobs FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid())) WITH CHECK (user_id = (SELECT auth.uid()));
CREATE POLICY jobs_delete ON public.jobs FOR DELETE TO authenticated
  USING (user_id = (SELECT auth.uid()));

-- ---------------------------------------------------------------------------
-- trade_events (append-only trade history)
-- ---------------------------------------------------------------------------
CREATE TABLE public.trade_events (
  id                   uuid          PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
  user_id              uuid          NOT NULL REFERENCES public.profiles(id) ON DELETE CASCADE,
  broker_connection_id uuid          REFERENCES public.broker_connections(id) ON DELETE SET NULL,
  event_type           text          NOT NULL,
  pair                 text,
  direction            text          CHECK (direction IN ('buy', 'sell')),
  quantity             numeric(14,2),
  entry_price          numeric(12,5),
  exit_price           numeric(12,5),
  sl                   numeric(12,5),
  tp                   numeric(12,5),
  profit_loss          numeric(14,2),
  external_order_id    text,
  metadata             jsonb         NOT NULL DEFAULT '{}'::jsonb,
  created_at           timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX trade_events_user_id_idx ON public.trade_events(user_id, created_at DESC);
CREATE INDEX trade_events_broker_connection_id_idx ON public.trade_events(broker_connection_id);

ALTER TABLE public.trade_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY trade_events_select ON public.trade_events FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid()));
CREATE POLICY trade_events_insert ON public.trade_events FOR INSERT TO authenticated
  WITH CHECK (user_id = (SELECT auth.uid()));

-- ---------------------------------------------------------------------------
-- updated_at triggers
-- ---------------------------------------------------------------------------
CREATE TRIGGER profiles_set_updated_at BEFORE UPDATE ON public.profiles
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER user_settings_set_updated_at BEFORE UPDATE ON public.user_settings
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER broker_connections_set_updated_at BEFORE UPDATE ON public.broker_connections
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER mt5_agents_set_updated_at BEFORE UPDATE ON public.mt5_agents
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER ea_projects_set_updated_at BEFORE UPDATE ON public.ea_projects
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER ea_versions_set_updated_at BEFORE UPDATE ON public.ea_versions
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER ea_deployments_set_updated_at BEFORE UPDATE ON public.ea_deployments
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
CREATE TRIGGER jobs_set_updated_at BEFORE UPDATE ON public.jobs
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();
