-- 0006: a user may only point their rows at parents they own.
--
-- 0002 checks `user_id = auth.uid()` on jobs and mt5_agents, but a user could still
-- insert a job whose `agent_id` is another user's agent (never delivered — claims are
-- scoped to the agent's owner — but it is a foothold and an information leak by
-- error), or an agent row attached to another user's broker connection. These
-- policies add the ownership check on the referenced parent. Safe to re-run: each
-- policy is dropped and recreated with the same (strict) definition.

DROP POLICY IF EXISTS jobs_insert ON public.jobs;
CREATE POLICY jobs_insert ON public.jobs FOR INSERT TO authenticated
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (agent_id IS NULL OR EXISTS (
      SELECT 1 FROM public.mt5_agents a
      WHERE a.id = agent_id AND a.user_id = (SELECT auth.uid())))
  );

DROP POLICY IF EXISTS jobs_update ON public.jobs;
CREATE POLICY jobs_update ON public.jobs FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid()))
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (agent_id IS NULL OR EXISTS (
      SELECT 1 FROM public.mt5_agents a
      WHERE a.id = agent_id AND a.user_id = (SELECT auth.uid())))
  );

DROP POLICY IF EXISTS mt5_agents_insert ON public.mt5_agents;
CREATE POLICY mt5_agents_insert ON public.mt5_agents FOR INSERT TO authenticated
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (broker_connection_id IS NULL OR EXISTS (
      SELECT 1 FROM public.broker_connections b
      WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())))
  );

DROP POLICY IF EXISTS mt5_agents_update ON public.mt5_agents;
CREATE POLICY mt5_agents_update ON public.mt5_agents FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid()))
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (broker_connection_id IS NULL OR EXISTS (
      SELECT 1 FROM public.broker_connections b
      WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())))
  );
