-- pgTAP: roles, privileges and the search_path (issue 6, section 4).
--
--   * the three roles exist; a member of each can do what its role should
--     and is refused with 42501 for the rest, writing or reading the
--     extension's tables directly included; a role with no grant can use
--     only the pure functions (posterior types, OPE aggregates);
--   * a search_path attack: an unprivileged user owns a schema placed first
--     in an administrator's search_path and defines look-alikes of random(),
--     now(), nextval(), posterior_update(), linear_posterior_update() and
--     the operators =, +, /, <> for the types the extension's queries use;
--     the administrator's calls of every API function still use the real
--     ones (no look-alike is ever called, the results are right), while a
--     control shows the look-alikes do capture an unqualified call made
--     through that search_path.  (Built-in functions and operators of the
--     exact same signature cannot be shadowed at all: pg_catalog is searched
--     first when a path does not name it; the extension's own functions
--     can be, which the C functions prevent by running their queries under
--     an override path of pg_catalog and the extension's schema.)
\set ON_ERROR_STOP 1
BEGIN;
SELECT plan(47);

SELECT is((SELECT count(*) FROM pg_roles WHERE rolname IN ('bandit_admin', 'bandit_app', 'bandit_analyst')),
          3::bigint, 'the roles bandit_admin, bandit_app and bandit_analyst exist');
SELECT ok(pg_has_role('bandit_admin', 'bandit_app', 'MEMBER') AND pg_has_role('bandit_admin', 'bandit_analyst', 'MEMBER'),
          'bandit_admin is also a bandit_app and a bandit_analyst');

CREATE ROLE tap_admin IN ROLE bandit_admin;
CREATE ROLE tap_app IN ROLE bandit_app;
CREATE ROLE tap_analyst IN ROLE bandit_analyst;
CREATE ROLE tap_nobody;
CREATE ROLE tap_evil;
GRANT USAGE ON SCHEMA public TO tap_admin, tap_app, tap_analyst, tap_nobody, tap_evil;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO tap_evil', current_database()); END $$;

-- ---------------------------------------------------------------------------
-- bandit_admin
-- ---------------------------------------------------------------------------
SET LOCAL ROLE tap_admin;
SELECT lives_ok($$ SELECT bandit_create('sec_ts', ARRAY['a', 'b']) $$, 'admin: bandit_create');
SELECT lives_ok($$ SELECT bandit_create('sec_batch', ARRAY['a', 'b'], 'thompson', '{"update": "batch"}') $$,
                'admin: bandit_create (batch)');
SELECT lives_ok($$ SELECT bandit_add_arm('sec_ts', 'c') $$, 'admin: bandit_add_arm');
SELECT lives_ok($$ SELECT bandit_set_arm_enabled('sec_ts', 'c', false) $$, 'admin: bandit_set_arm_enabled');
SELECT lives_ok($$ SELECT bandit_reward(decision_id, 1) FROM bandit_select('sec_batch') $$,
                'admin: select and reward (a bandit_app too)');
SELECT lives_ok($$ SELECT bandit_refresh('sec_batch') $$, 'admin: bandit_refresh');
SELECT lives_ok($$ SELECT * FROM bandit_arm_stats('sec_ts') $$, 'admin: bandit_arm_stats (a bandit_analyst too)');
SELECT lives_ok($$ SELECT bandit_prune('sec_batch', now() - interval '1 year') $$, 'admin: bandit_prune');
SELECT lives_ok($$ SELECT bandit_pause('sec_batch', 'a'), bandit_resume('sec_batch') $$, 'admin: bandit_pause and bandit_resume');
SELECT lives_ok($$ SELECT bandit_set_guardrail('sec_batch', 0.01, 1000) $$, 'admin: bandit_set_guardrail');
SELECT throws_ok($$ SELECT * FROM bandit.experiment $$, '42501', NULL, 'admin: reading the tables directly is refused');
SELECT throws_ok($$ DELETE FROM bandit.decision $$, '42501', NULL, 'admin: writing the tables directly is refused');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- bandit_app
-- ---------------------------------------------------------------------------
SET LOCAL ROLE tap_app;
SELECT lives_ok($$ SELECT bandit_reward(decision_id, 0) FROM bandit_select('sec_ts') $$, 'app: select and reward');
SELECT throws_ok($$ SELECT bandit_create('x', ARRAY['a']) $$, '42501', NULL, 'app: bandit_create is refused');
SELECT throws_ok($$ SELECT bandit_refresh() $$, '42501', NULL, 'app: bandit_refresh is refused');
SELECT throws_ok($$ SELECT bandit_drop('sec_ts') $$, '42501', NULL, 'app: bandit_drop is refused');
SELECT throws_ok($$ SELECT bandit_prune('sec_ts', now()) $$, '42501', NULL, 'app: bandit_prune is refused');
SELECT lives_ok($$ SELECT bandit_reward_unit('sec_ts', 'nobody-seen', 1) $$, 'app: bandit_reward_unit');
SELECT throws_ok($$ SELECT bandit_pause('sec_ts', 'a') $$, '42501', NULL, 'app: bandit_pause is refused');
SELECT throws_ok($$ SELECT * FROM bandit_events('sec_ts') $$, '42501', NULL, 'app: bandit_events is refused');
SELECT throws_ok($$ SELECT * FROM bandit_arm_stats('sec_ts') $$, '42501', NULL, 'app: bandit_arm_stats is refused');
SELECT throws_ok($$ SELECT * FROM bandit_log $$, '42501', NULL, 'app: bandit_log is refused');
SELECT throws_ok($$ SELECT * FROM bandit_evaluate('sec_ts', 'uniform') $$, '42501', NULL, 'app: bandit_evaluate is refused');
SELECT throws_ok($$ INSERT INTO bandit.reward VALUES (1, 1, 1, 1) $$, '42501', NULL, 'app: writing the reward table is refused');
SELECT throws_ok($$ UPDATE bandit.arm SET enabled = true $$, '42501', NULL, 'app: writing the arm table is refused');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- bandit_analyst
-- ---------------------------------------------------------------------------
SET LOCAL ROLE tap_analyst;
SELECT lives_ok($$ SELECT * FROM bandit_arm_stats('sec_ts') $$, 'analyst: bandit_arm_stats');
SELECT is((SELECT count(*) FROM bandit_log WHERE experiment = 'sec_ts'), 1::bigint, 'analyst: reads bandit_log');
SELECT lives_ok($$ SELECT * FROM bandit_evaluate('sec_ts', 'uniform') $$, 'analyst: bandit_evaluate');
SELECT lives_ok($$ SELECT bandit_policy_prob('sec_ts', 'a') $$, 'analyst: bandit_policy_prob');
SELECT throws_ok($$ SELECT * FROM bandit_select('sec_ts') $$, '42501', NULL, 'analyst: bandit_select is refused');
SELECT throws_ok($$ SELECT bandit_reward(1, 1) $$, '42501', NULL, 'analyst: bandit_reward is refused');
SELECT throws_ok($$ SELECT bandit_add_arm('sec_ts', 'd') $$, '42501', NULL, 'analyst: bandit_add_arm is refused');
SELECT ok((SELECT count(*) FROM bandit_events('sec_ts')) >= 3, 'analyst: bandit_events');
SELECT throws_ok($$ SELECT bandit_set_guardrail('sec_ts', 0.1, 10) $$, '42501', NULL, 'analyst: bandit_set_guardrail is refused');
SELECT throws_ok($$ SELECT * FROM bandit.decision $$, '42501', NULL, 'analyst: reading the tables directly is refused');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- every function that acts or reads the tables (SECURITY DEFINER, or in
-- schema bandit): exactly the intended roles may execute it, PUBLIC none
-- (a function added without a decision here fails this test)
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE intended_grants (fn text, grantee text);
INSERT INTO intended_grants VALUES
    ('bandit_create', 'bandit_admin'), ('bandit_add_arm', 'bandit_admin'),
    ('bandit_set_arm_enabled', 'bandit_admin'), ('bandit_drop', 'bandit_admin'),
    ('bandit_refresh', 'bandit_admin'), ('bandit_prune', 'bandit_admin'),
    ('bandit_pause', 'bandit_admin'), ('bandit_resume', 'bandit_admin'),
    ('bandit_set_guardrail', 'bandit_admin'),
    ('bandit_select', 'bandit_app'), ('bandit_reward', 'bandit_app'), ('bandit_reward_unit', 'bandit_app'),
    ('bandit_arm_stats', 'bandit_analyst'), ('bandit_policy_prob', 'bandit_analyst'),
    ('bandit_evaluate', 'bandit_analyst'), ('bandit_replay', 'bandit_analyst'),
    ('bandit_events', 'bandit_analyst'), ('bandit_srm', 'bandit_analyst'),
    ('bandit_timeline', 'bandit_analyst'), ('bandit_regret', 'bandit_analyst'),
    ('bandit_drift', 'bandit_analyst');
SELECT set_eq(
    $$SELECT p.proname::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
        FROM pg_depend d JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'bandit'
        JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
        CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
       WHERE d.deptype = 'e' AND (p.prosecdef OR p.pronamespace = 'bandit'::regnamespace)
         AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner$$,
    $$SELECT fn, grantee FROM intended_grants
       WHERE fn IN (SELECT proname FROM pg_proc)$$,
    'every acting or reading function: EXECUTE for exactly its intended role, none for PUBLIC');

-- ---------------------------------------------------------------------------
-- no grant at all: only the pure functions
-- ---------------------------------------------------------------------------
SET LOCAL ROLE tap_nobody;
SELECT throws_ok($$ SELECT * FROM bandit_select('sec_ts') $$, '42501', NULL, 'nobody: bandit_select is refused');
SELECT lives_ok($$ SELECT posterior_mean('(alpha=2, beta=3, n=3)'::beta_posterior),
                          ope_ips(1, 0.5, 0.5), beta_posterior_agg(1) $$,
                'nobody: the posterior types and the OPE aggregates are for everyone');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- The search_path attack
-- ---------------------------------------------------------------------------
SET LOCAL ROLE tap_evil;
CREATE SCHEMA evil;
CREATE TABLE evil.calls (what text);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT INSERT, SELECT ON evil.calls TO PUBLIC;
CREATE FUNCTION evil.random() RETURNS float8 LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('random') RETURNING 0.0::float8 $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('now') RETURNING '2000-01-01'::timestamptz $$;
CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('nextval') RETURNING 1::bigint $$;
CREATE FUNCTION evil.posterior_update(beta_posterior, float8) RETURNS beta_posterior LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('posterior_update') RETURNING '(alpha=1000, beta=1, n=0)'::beta_posterior $$;
CREATE FUNCTION evil.linear_posterior_update(linear_posterior, float8[], float8) RETURNS linear_posterior LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('linear_posterior_update') RETURNING $1 $$;
CREATE FUNCTION evil.eq8(bigint, bigint) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('= bigint') RETURNING true $$;
CREATE FUNCTION evil.eq4(int, int) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('= int') RETURNING true $$;
CREATE FUNCTION evil.eqt(text, text) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('= text') RETURNING true $$;
CREATE FUNCTION evil.ne(text, text) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('<> text') RETURNING true $$;
CREATE FUNCTION evil.plus8(bigint, int) RETURNS bigint LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('+ bigint') RETURNING 0::bigint $$;
CREATE FUNCTION evil.div(float8, float8) RETURNS float8 LANGUAGE sql AS
$$ INSERT INTO evil.calls VALUES ('/ float8') RETURNING 0::float8 $$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq8);
CREATE OPERATOR evil.= (LEFTARG = int, RIGHTARG = int, FUNCTION = evil.eq4);
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eqt);
CREATE OPERATOR evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.ne);
CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = int, FUNCTION = evil.plus8);
CREATE OPERATOR evil./ (LEFTARG = float8, RIGHTARG = float8, FUNCTION = evil.div);
RESET ROLE;

SET LOCAL ROLE tap_admin;
SET LOCAL search_path = evil, public;
SELECT lives_ok($$ SELECT bandit_create('sec_attack', ARRAY['a', 'b']) $$,
                'attacked admin: bandit_create');
SELECT lives_ok($$ SELECT bandit_create('sec_attack_ctx', ARRAY['a', 'b'], 'linucb', '{"context_dim": 2}') $$,
                'attacked admin: bandit_create (linucb)');
SELECT lives_ok($$
    SELECT bandit_reward(decision_id, 1) FROM bandit_select('sec_attack');
    SELECT bandit_reward(decision_id, 1) FROM bandit_select('sec_attack_ctx', ARRAY[1, 0]::float8[]);
    SELECT bandit_reward(decision_id, 1) FROM bandit_select('sec_batch');
    SELECT bandit_refresh();
    SELECT bandit_add_arm('sec_attack', 'c');
    SELECT bandit_set_arm_enabled('sec_attack', 'c', false);
    SELECT * FROM bandit_arm_stats('sec_attack');
    SELECT bandit_policy_prob('sec_attack', 'a');
    SELECT * FROM bandit_evaluate('sec_attack', 'epsilon_greedy');
    SELECT bandit_drop('sec_attack_ctx');
$$, 'attacked admin: every API function runs');
SELECT is((SELECT sum(pulls) FROM bandit_arm_stats('sec_attack')), 1::numeric,
          'attacked admin: the decision was logged once');
RESET ROLE;
RESET search_path;
SELECT is((SELECT count(*) FROM evil.calls), 0::bigint, 'no look-alike function or operator was ever called');
SELECT is((SELECT count(*) FROM bandit.arm a JOIN bandit.experiment e ON e.id = a.experiment_id
            WHERE e.name = 'sec_attack' AND a.beta::text LIKE '(alpha=2, beta=1, n=1)'), 1::bigint,
          'the online update used the real posterior_update');
-- control: the look-alikes are live; an unqualified call resolved through
-- the attacker's path (as an unpinned function's would be) does reach them
SET LOCAL search_path = evil, public;
SELECT posterior_update('(alpha=1, beta=1, n=0)'::beta_posterior, 1);
RESET search_path;
SELECT is((SELECT count(*) FROM evil.calls WHERE what = 'posterior_update'), 1::bigint,
          'control: through the attacker''s search_path an unqualified posterior_update is the look-alike');

SELECT * FROM finish();
ROLLBACK;
