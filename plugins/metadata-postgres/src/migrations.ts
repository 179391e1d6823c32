/**
 * Versioned schema migrations. Each runs once per schema, in order, recorded
 * in `<schema>.schema_migrations`; never edit a released one — add the next version.
 * `{s}` stands for the quoted schema name.
 *
 * Records are stored as `json`, not `jsonb`: nothing queries inside them, and
 * `json` gives back exactly what was written (key order included).
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'runs, executions, artifacts, lineage, cache, registry',
    sql: `
-- Ids and ISO times sort as bytes (COLLATE "C"), the way every other store compares strings.
CREATE TABLE {s}.runs (
  id text COLLATE "C" PRIMARY KEY,
  pipeline text NOT NULL,
  env text NOT NULL,
  status text NOT NULL,
  started_at text NOT NULL,
  finished_at text,
  git json,
  versions json NOT NULL,
  configs json NOT NULL,
  counts json,
  tags json,
  host json,
  error text
);
-- listRuns: newest first, optionally filtered (the primary key serves the unfiltered case).
CREATE INDEX runs_pipeline ON {s}.runs (pipeline, id);
CREATE INDEX runs_status ON {s}.runs (status, id);
CREATE INDEX runs_env ON {s}.runs (env, id);

CREATE TABLE {s}.executions (
  seq bigserial NOT NULL UNIQUE,
  id text PRIMARY KEY,
  run_id text NOT NULL,
  step text NOT NULL,
  status text NOT NULL,
  cache_key text NOT NULL,
  cacheable boolean NOT NULL,
  cached_from text,
  inputs json NOT NULL,
  outputs json NOT NULL,
  config_digest text,
  started_at text NOT NULL,
  finished_at text,
  duration_ms double precision,
  attempts integer NOT NULL,
  error json
);
CREATE INDEX executions_run ON {s}.executions (run_id, seq);

CREATE TABLE {s}.artifacts (
  seq bigserial NOT NULL,
  digest text PRIMARY KEY,
  type text NOT NULL,
  size bigint NOT NULL,
  metadata json,
  producer_run_id text,
  producer_step text,
  producer_output text,
  producer_execution_id text,
  created_at text COLLATE "C" NOT NULL
);
-- listArtifacts: newest first, optionally by type (by run goes through lineage).
CREATE INDEX artifacts_newest ON {s}.artifacts (created_at DESC, seq DESC);
CREATE INDEX artifacts_type_newest ON {s}.artifacts (type, created_at DESC, seq DESC);

-- Lineage edges: role 'input' is artifact -> execution, 'output' is execution -> artifact.
CREATE TABLE {s}.execution_artifacts (
  execution_id text NOT NULL REFERENCES {s}.executions (id),
  role text NOT NULL CHECK (role IN ('input', 'output')),
  name text NOT NULL,
  digest text NOT NULL,
  PRIMARY KEY (execution_id, role, name)
);
-- Lineage both ways: from an execution (primary key) and from an artifact (this one).
CREATE INDEX execution_artifacts_digest ON {s}.execution_artifacts (digest, role, execution_id);

-- One entry per key; outputs are copied so a lookup is one primary-key read.
CREATE TABLE {s}.cache_entries (
  cache_key text PRIMARY KEY,
  execution_id text NOT NULL REFERENCES {s}.executions (id),
  run_id text NOT NULL,
  outputs json NOT NULL,
  created_at text NOT NULL
);

-- One row per model: the row every registration and transition of that model locks.
CREATE TABLE {s}.models (
  model text PRIMARY KEY
);
CREATE TABLE {s}.model_versions (
  model text NOT NULL REFERENCES {s}.models (model),
  version integer NOT NULL,
  digest text NOT NULL,
  stage text NOT NULL CHECK (stage IN ('none', 'staging', 'production', 'archived')),
  metrics json NOT NULL,
  run_id text,
  created_at text NOT NULL,
  description text,
  PRIMARY KEY (model, version),
  UNIQUE (model, digest)
);
CREATE INDEX model_versions_stage ON {s}.model_versions (model, stage, version);
CREATE TABLE {s}.stage_transitions (
  seq bigserial PRIMARY KEY,
  model text NOT NULL,
  version integer NOT NULL,
  from_stage text NOT NULL,
  to_stage text NOT NULL,
  reason text NOT NULL,
  actor text NOT NULL,
  at text NOT NULL,
  accepted boolean NOT NULL,
  FOREIGN KEY (model, version) REFERENCES {s}.model_versions (model, version)
);
CREATE INDEX stage_transitions_model ON {s}.stage_transitions (model, seq);
`,
  },
  {
    version: 2,
    name: 'one config bundle artifact per run',
    sql: `ALTER TABLE {s}.runs ADD COLUMN config_bundle text;`,
  },
  {
    version: 3,
    name: 'run leases and why each execution ran',
    sql: `
ALTER TABLE {s}.runs ADD COLUMN heartbeat_at text;
-- Compared as bytes with the judge's ISO time, like every other store.
ALTER TABLE {s}.runs ADD COLUMN lease_expires_at text COLLATE "C";
ALTER TABLE {s}.executions ADD COLUMN reason text;
`,
  },
];
