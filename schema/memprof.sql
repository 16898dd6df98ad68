-- The memprof trace database, schema version 1.
-- Every time is in nanoseconds since the trace started (meta 'start_time_ns'
-- is that moment as Unix time). Sizes are bytes the program asked for.
-- Documented table by table in schema/README.md.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,  -- format, schema_version, memprof_version, state,
    value TEXT               -- command, start_time_ns, duration_ns, max_depth, ...
);

-- One row per program image: a fork child is a new row, and so is each
-- exec (same pid, new argv).
CREATE TABLE processes (
    id              INTEGER PRIMARY KEY,
    pid             INTEGER NOT NULL,
    ppid            INTEGER,
    parent_id       INTEGER REFERENCES processes(id), -- forked/spawned by, or exec'd from
    origin          TEXT NOT NULL,     -- 'start' (the first), 'fork', 'exec', or 'spawn'
                                       -- (a new program started by a traced process)
    argv            TEXT NOT NULL,     -- JSON array of strings
    start_ns        INTEGER NOT NULL,
    end_ns          INTEGER,
    ended_by        TEXT NOT NULL,     -- 'exit', 'signal', 'exec', 'unknown', or 'running'
                                       -- (in a trace checkpointed while it ran)
    exit_status     INTEGER,           -- exit code when ended_by = 'exit'
    signal          INTEGER,           -- signal number when ended_by = 'signal'
    allocations     INTEGER NOT NULL,  -- calls to allocation functions
    frees           INTEGER NOT NULL,
    allocated_bytes INTEGER NOT NULL,
    peak_bytes      INTEGER NOT NULL,  -- largest total of live requested bytes
    peak_time_ns    INTEGER NOT NULL,
    leaked_bytes    INTEGER NOT NULL,  -- live at the end (0 for an image that exec'd)
    leaked_blocks   INTEGER NOT NULL,
    temporary       INTEGER NOT NULL,
    threads         INTEGER NOT NULL,
    unmatched_frees INTEGER NOT NULL   -- frees of blocks never seen allocated
);

CREATE TABLE threads (
    id              INTEGER PRIMARY KEY,
    process_id      INTEGER NOT NULL REFERENCES processes(id),
    tid             INTEGER NOT NULL,
    allocations     INTEGER NOT NULL,
    frees           INTEGER NOT NULL,
    allocated_bytes INTEGER NOT NULL,
    leaked_bytes    INTEGER NOT NULL,
    leaked_blocks   INTEGER NOT NULL,
    temporary       INTEGER NOT NULL
);

CREATE TABLE modules (
    id       INTEGER PRIMARY KEY,
    path     TEXT NOT NULL,
    build_id TEXT              -- hex, NULL when the object has none
);

-- One row per distinct code address (module, offset); symbols resolved
-- when the trace was finished, so the file alone answers every query.
CREATE TABLE frames (
    id        INTEGER PRIMARY KEY,
    module_id INTEGER REFERENCES modules(id),  -- NULL: address in no known module
    address   INTEGER NOT NULL,  -- offset in the module's ELF image (absolute when no module)
    function  TEXT,              -- NULL when unknown
    file      TEXT,              -- source file, NULL when no debug info
    line      INTEGER,
    inlined   TEXT               -- inlined callees at this address, innermost first:
                                 -- JSON array of {"function","file","line"}, or NULL
);

-- Call stacks as a trie: a stack's id names its innermost frame; parent_id
-- leads to its caller, up to the root (id 0, no frame). Frame id 0 in a
-- stack means the stack was cut at the depth limit there.
CREATE TABLE stacks (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL,
    frame_id  INTEGER NOT NULL
);
CREATE INDEX stacks_parent ON stacks(parent_id);

-- Figures per allocation site (a full stack) and process.
CREATE TABLE sites (
    process_id    INTEGER NOT NULL REFERENCES processes(id),
    stack_id      INTEGER NOT NULL REFERENCES stacks(id),
    allocations   INTEGER NOT NULL,
    frees         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    peak_bytes    INTEGER NOT NULL,  -- live at the process's peak
    peak_blocks   INTEGER NOT NULL,
    leaked_bytes  INTEGER NOT NULL,
    leaked_blocks INTEGER NOT NULL,
    temporary     INTEGER NOT NULL,
    PRIMARY KEY (process_id, stack_id)
) WITHOUT ROWID;

-- Blocks released by a function that does not match the one that
-- allocated them (free of a new block, delete of a new[] or malloc block,
-- delete[] of a new or malloc block), per process, allocating stack,
-- deallocating stack and the two kinds.
CREATE TABLE mismatches (
    process_id     INTEGER NOT NULL REFERENCES processes(id),
    alloc_stack_id INTEGER NOT NULL,  -- stacks.id of the allocation
    free_stack_id  INTEGER,           -- stacks.id of the deallocation; NULL when it recorded
                                      -- no stack (free, realloc: only delete and delete[] do)
    alloc_kind     TEXT NOT NULL,     -- as allocations.kind: 'new', 'new[]', 'malloc', ...
    free_kind      TEXT NOT NULL,     -- 'free' (free, realloc, dallocx, sdallocx), 'delete', 'delete[]'
    count          INTEGER NOT NULL,  -- blocks so released
    bytes          INTEGER NOT NULL   -- their requested bytes
);

-- Live heap over time, at most one sample per 10 ms of a process and at its peak.
CREATE TABLE heap_samples (
    process_id   INTEGER NOT NULL REFERENCES processes(id),
    time_ns      INTEGER NOT NULL,
    heap_bytes   INTEGER NOT NULL,  -- requested
    usable_bytes INTEGER NOT NULL   -- as malloc_usable_size reports
);

-- Every allocation, in compressed columnar chunks (lib/store.c). Read them
-- as rows through the virtual table `allocations` (memprof sql, or the
-- SQLite extension memprof_sqlite.so), or `memprof sql --materialize`.
CREATE TABLE alloc_chunks (
    id         INTEGER PRIMARY KEY,
    process_id INTEGER NOT NULL REFERENCES processes(id),
    count      INTEGER NOT NULL,
    data       BLOB NOT NULL
);
