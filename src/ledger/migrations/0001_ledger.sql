-- The ledger's tables. Only src/ledger reads or writes them; other modules use its public API and
-- follow the journal through outbox cursors.

CREATE TABLE ledger_accounts (
  id uuid PRIMARY KEY,
  currency text NOT NULL,
  code text NOT NULL,
  bound text NOT NULL CHECK (bound IN ('unbounded', 'no_overdraft', 'overdraft_limit', 'credit_only', 'no_overcredit')),
  overdraft_limit int8 NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
  metadata jsonb NOT NULL DEFAULT '{}',
  debits_posted int8 NOT NULL DEFAULT 0,
  credits_posted int8 NOT NULL DEFAULT 0,
  debits_pending int8 NOT NULL DEFAULT 0,
  credits_pending int8 NOT NULL DEFAULT 0,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL
)
-- Room on each page for HOT updates: an account's totals change in every batch that touches it.
WITH (fillfactor = 70);

-- One row: the tip of the journal. Every batch locks it, which gives the journal a gapless sequence
-- committed in order (so outbox cursors never skip) and the hash chain a single predecessor.
CREATE TABLE ledger_head (
  id int PRIMARY KEY CHECK (id = 1),
  last_seq int8 NOT NULL,
  last_hash text NOT NULL,
  last_posted_at timestamptz NOT NULL
);
INSERT INTO ledger_head (id, last_seq, last_hash, last_posted_at)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', '1970-01-01T00:00:00Z');

-- The journal: append-only, never updated or deleted. `legs` is the legs exactly as hashed, in the
-- compact text form of entry-hash.ts (`DP <account> CNY 1000;CP <account> CNY 1000`): nothing
-- queries inside it, and jsonb parsing on every insert would cost throughput.
CREATE TABLE ledger_entries (
  seq int8 PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  kind text NOT NULL CHECK (kind IN ('entry', 'hold', 'hold_post', 'hold_void', 'hold_expire', 'reversal')),
  posted_at timestamptz NOT NULL,
  hold_id uuid,
  reverses_seq int8 UNIQUE,
  legs text NOT NULL,
  metadata jsonb NOT NULL,
  request_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX ledger_entries_posted_at ON ledger_entries (posted_at);

-- Per-account rows derived from the legs, with the posted balance after each one: statements and
-- balances as of a past instant are index range reads.
CREATE TABLE ledger_postings (
  account_id uuid NOT NULL,
  entry_seq int8 NOT NULL,
  leg_index int NOT NULL,
  side char(1) NOT NULL CHECK (side IN ('D', 'C')),
  phase char(1) NOT NULL CHECK (phase IN ('P', 'H', 'R')),
  amount int8 NOT NULL CHECK (amount > 0),
  debits_posted int8 NOT NULL,
  credits_posted int8 NOT NULL,
  PRIMARY KEY (account_id, entry_seq, leg_index)
);

-- Two-phase transfers. The hold id is the id of the entry that placed it.
CREATE TABLE ledger_holds (
  id uuid PRIMARY KEY,
  debit_account_id uuid NOT NULL,
  credit_account_id uuid NOT NULL,
  currency text NOT NULL,
  amount int8 NOT NULL CHECK (amount > 0),
  posted_amount int8 NOT NULL DEFAULT 0,
  status text NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
  expires_at timestamptz,
  created_seq int8 NOT NULL,
  resolved_seq int8
);
CREATE INDEX ledger_holds_pending_expiry ON ledger_holds (expires_at) WHERE status = 'pending';

-- Ids whose command failed on the ledger's state: they stay failed (TigerBeetle's semantics).
CREATE TABLE ledger_failed_entries (
  id uuid PRIMARY KEY,
  request_hash text NOT NULL,
  code text NOT NULL,
  message text NOT NULL,
  details jsonb,
  failed_at timestamptz NOT NULL
);

-- The outbox is the journal itself; each consumer keeps its cursor here.
CREATE TABLE ledger_outbox_cursors (
  consumer text PRIMARY KEY,
  last_seq int8 NOT NULL,
  updated_at timestamptz NOT NULL
);
