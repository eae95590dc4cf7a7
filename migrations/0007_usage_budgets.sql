-- 0007_usage_budgets.sql — accounting of every LLM call, a price table, per-tenant budgets and
-- ingress request limits (issue 14; README "Usage, cost and budgets").

-- One row per LLM attempt that reached a provider (chat or embedding). The key identifies the
-- call inside its job, so a redelivered job that repeats a call writes nothing the second time
-- (INSERT ... ON CONFLICT DO NOTHING): job_id (the nil uuid for calls outside a job, such as
-- knowledge ingestion, whose call_key is then unique), part (MULTI_INTENT part, 0 otherwise),
-- purpose (intent, agent, fallback, embedding), seq (the call's place in the part), attempt
-- (retries of one call: 0, 1, ...). cost_usd is computed from model_prices when recorded.
CREATE TABLE usage_calls (
    tenant_id      text NOT NULL,
    job_id         uuid NOT NULL,
    part           integer NOT NULL DEFAULT 0,
    purpose        text NOT NULL CHECK (purpose IN ('intent', 'agent', 'fallback', 'embedding')),
    seq            integer NOT NULL DEFAULT 0,
    attempt        integer NOT NULL DEFAULT 0,
    call_key       text NOT NULL DEFAULT '',
    agent          text NOT NULL DEFAULT '',
    provider       text NOT NULL,
    model          text NOT NULL,
    input_tokens   bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens  bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    cost_usd       numeric(18, 8) NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    latency_ms     integer NOT NULL DEFAULT 0,
    outcome        text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, job_id, part, purpose, seq, attempt, call_key)
);
CREATE INDEX idx_usage_calls_tenant_time ON usage_calls (tenant_id, created_at);

-- Price per million tokens. The model name of a call is matched exactly, then by the longest
-- price row that is a prefix of it ("gpt-4o" prices "gpt-4o-2024-08-06"); no match costs 0.
-- Defaults: the seed's "Provider Comparison" figures (it gives GPT-4o-mini the GPT-4o price).
CREATE TABLE model_prices (
    model                 text PRIMARY KEY CHECK (length(model) BETWEEN 1 AND 200),
    input_usd_per_mtok    numeric(12, 6) NOT NULL CHECK (input_usd_per_mtok >= 0),
    output_usd_per_mtok   numeric(12, 6) NOT NULL CHECK (output_usd_per_mtok >= 0),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
INSERT INTO model_prices (model, input_usd_per_mtok, output_usd_per_mtok) VALUES
    ('gpt-4o', 2.50, 10.00),
    ('gpt-4o-mini', 2.50, 10.00),
    ('gemini-1.5-pro', 1.25, 3.75),
    ('claude-3-5-sonnet', 3.00, 15.00),
    ('claude-3.5-sonnet', 3.00, 15.00),
    ('anthropic/claude-3.5-sonnet', 3.00, 15.00),
    ('openai/gpt-4o', 2.50, 10.00),
    ('google/gemini-1.5-pro', 1.25, 3.75);

-- Per-tenant limits: ingress requests per minute (tenant, and per user), and a monthly budget
-- in tokens and/or US dollars (NULL: none) with its soft threshold in percent. Mirrored into
-- Redis (agenthub:{tenant}:limits) on every write; the ingress reads only Redis.
CREATE TABLE tenant_limits (
    tenant_id                 text PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    requests_per_minute       integer CHECK (requests_per_minute IS NULL OR requests_per_minute > 0),
    user_requests_per_minute  integer CHECK (user_requests_per_minute IS NULL
                                             OR user_requests_per_minute > 0),
    budget_tokens             bigint CHECK (budget_tokens IS NULL OR budget_tokens >= 0),
    budget_usd                numeric(14, 4) CHECK (budget_usd IS NULL OR budget_usd >= 0),
    soft_threshold_pct        integer NOT NULL DEFAULT 80
                              CHECK (soft_threshold_pct BETWEEN 1 AND 100),
    updated_at                timestamptz NOT NULL DEFAULT now()
);

-- Budget threshold events (soft, hard), at most one of each kind per tenant and month.
CREATE TABLE budget_events (
    tenant_id   text NOT NULL,
    period      text NOT NULL,                   -- 'YYYY-MM' (UTC)
    kind        text NOT NULL CHECK (kind IN ('soft', 'hard')),
    spent_tokens bigint NOT NULL,
    spent_usd   numeric(18, 8) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period, kind)
);
